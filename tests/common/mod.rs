//! Test harness: real servers (moto, Garage) on loopback, real git repositories, the real
//! `tmnet` binary, and a Python venv with moto, pytest and pytest-testmon from PyPI.
//!
//! Servers start once per test binary and die with it (a watchdog shell kills them when the
//! test process exits). Each test gets its own bucket and its own temporary projects.
#![allow(dead_code)]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn tmnet_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tmnet"))
}

/// A private copy of the real networkx testmon database (4,770 tests), so that SQLite never
/// creates `-wal`/`-shm` files beside the checked-in original.
pub fn networkx_db() -> PathBuf {
    static COPY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    COPY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("networkx.testmondata");
        fs::copy(repo_root().join("tests/data/networkx.testmondata"), &path).unwrap();
        (dir, path)
    })
    .1
    .clone()
}

/// Run a command, panic with its output if it fails, return stdout.
pub fn run(command: &mut Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        describe(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The test venv: `.venv` in the checkout (or `$TMNET_TEST_VENV`), created from
/// tests/requirements.txt if it is missing or out of date. `.ci/run` creates the same one.
pub fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = std::env::var_os("TMNET_TEST_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".venv"));
        let requirements = repo_root().join("tests/requirements.txt");
        let wanted = fs::read_to_string(&requirements).unwrap();
        let marker = venv.join(".tmnet-requirements");
        fs::create_dir_all(repo_root().join("target")).unwrap();
        let lock = fs::File::create(repo_root().join("target/.venv.lock")).unwrap();
        lock.lock().unwrap();
        if fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
            run(Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "-r"])
                .arg(&requirements));
            fs::write(&marker, &wanted).unwrap();
        }
        venv
    })
}

pub fn python() -> PathBuf {
    venv().join("bin/python")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}:\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Start `program args…` in the background, killed when this test process exits.
fn spawn_guarded(program: &Path, args: &[String], log: &Path) {
    // The outer shell returns at once; the watchdog subshell lives on beside the server.
    let script = r#"prog="$1"; log="$2"; parent="$3"; shift 3
(
"$prog" "$@" >"$log" 2>&1 &
child=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
kill "$child" 2>/dev/null
) &"#;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(program)
        .arg(log)
        .arg(std::process::id().to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
}

/// An S3-compatible server and the credentials to use it.
pub struct Server {
    pub name: &'static str,
    pub endpoint: String,
    pub region: String,
    pub key_id: String,
    pub secret: String,
    /// Garage's CLI and config, to create buckets.
    garage: Option<(PathBuf, PathBuf)>,
    _dir: tempfile::TempDir,
}

static BUCKETS: AtomicUsize = AtomicUsize::new(0);

impl Server {
    /// A new empty bucket on this server.
    pub fn bucket(&'static self) -> Bucket {
        let n = BUCKETS.fetch_add(1, Ordering::SeqCst);
        let name = format!("tmnet-{}-{n}", std::process::id());
        match &self.garage {
            Some((bin, config)) => {
                run(Command::new(bin)
                    .arg("-c")
                    .arg(config)
                    .args(["bucket", "create", &name]));
                run(Command::new(bin).arg("-c").arg(config).args([
                    "bucket",
                    "allow",
                    "--read",
                    "--write",
                    "--owner",
                    &name,
                    "--key",
                    "tmnet-test",
                ]));
            }
            None => {
                let bucket = Bucket {
                    server: self,
                    name: name.clone(),
                };
                bucket.tool(&["mkbucket"]);
            }
        }
        Bucket { server: self, name }
    }
}

/// moto's S3 server: honours If-Match / If-None-Match, accepts any credentials.
pub fn moto() -> &'static Server {
    static MOTO: OnceLock<Server> = OnceLock::new();
    MOTO.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("moto.log");
        spawn_guarded(
            &venv().join("bin/moto_server"),
            &[
                "-H".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
            ],
            &log,
        );
        wait_for_port(port, "moto_server", &log);
        Server {
            name: "moto",
            endpoint: format!("http://127.0.0.1:{port}"),
            region: "us-east-1".into(),
            key_id: "testing-key".into(),
            secret: "testing-secret".into(),
            garage: None,
            _dir: dir,
        }
    })
}

/// The `garage` binary: on PATH or in cargo's bin directory (`.ci/run` installs it there).
pub fn garage_bin() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("garage"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin/garage")))
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/garage")));
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "garage not found: install it with `cargo install garage --version 2.5.0 --locked` (.ci/run does)"
    );
}

/// A single-node Garage 2.5: checks signatures, ignores If-Match / If-None-Match.
pub fn garage() -> &'static Server {
    static GARAGE: OnceLock<Server> = OnceLock::new();
    GARAGE.get_or_init(|| {
        let bin = garage_bin();
        let dir = tempfile::tempdir().unwrap();
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        let root = dir.path().display();
        fs::write(
            &config,
            format!(
                r#"metadata_dir = "{root}/meta"
data_dir = "{root}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
                secret = "4f".repeat(32)
            ),
        )
        .unwrap();
        let log = dir.path().join("garage.log");
        spawn_guarded(
            &bin,
            &["-c".into(), config.display().to_string(), "server".into()],
            &log,
        );
        wait_for_port(s3, "garage", &log);
        let cli = |args: &[&str]| run(Command::new(&bin).arg("-c").arg(&config).args(args));
        let deadline = Instant::now() + Duration::from_secs(60);
        let node = loop {
            let status = Command::new(&bin)
                .arg("-c")
                .arg(&config)
                .arg("status")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&status.stdout);
            let id = text
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .find(|w| w.len() >= 16 && w.chars().all(|c| c.is_ascii_hexdigit()));
            if let Some(id) = id {
                break id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "garage status never showed a node:\n{}",
                describe(&status)
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        cli(&["layout", "apply", "--version", "1"]);
        let key = cli(&["key", "create", "tmnet-test"]);
        let field = |label: &str| {
            key.lines()
                .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("no {label} in `garage key create` output:\n{key}"))
        };
        let key_id = field("Key ID:");
        let secret = field("Secret key:");
        Server {
            name: "garage",
            endpoint: format!("http://127.0.0.1:{s3}"),
            region: "garage".into(),
            key_id,
            secret,
            garage: Some((bin, config)),
            _dir: dir,
        }
    })
}

/// One bucket on one server.
pub struct Bucket {
    pub server: &'static Server,
    pub name: String,
}

impl Bucket {
    /// `[pytest.tmnet]` settings that point at this bucket.
    pub fn settings(&self) -> String {
        let s = self.server;
        format!(
            "[pytest.tmnet]\nTMNET_S3_BUCKET = {}\nTMNET_S3_ENDPOINT = {}\nTMNET_S3_REGION = {}\nTMNET_S3_ACCESS_ID = {}\nTMNET_S3_SECRET_KEY = {}\n",
            self.name, s.endpoint, s.region, s.key_id, s.secret
        )
    }

    /// Run tests/support/s3tool.py against this bucket.
    pub fn tool(&self, args: &[&str]) -> String {
        let s = self.server;
        run(Command::new(python())
            .arg(repo_root().join("tests/support/s3tool.py"))
            .arg(&s.endpoint)
            .arg(&self.name)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &s.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &s.secret)
            .env("AWS_REGION", &s.region))
    }

    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.tool(&["ls", prefix])
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn get(&self, key: &str) -> Vec<u8> {
        let file = tempfile::NamedTempFile::new().unwrap();
        self.tool(&["get", key, file.path().to_str().unwrap()]);
        fs::read(file.path()).unwrap()
    }

    pub fn put(&self, key: &str, bytes: &[u8]) {
        let file = tempfile::NamedTempFile::new().unwrap();
        fs::write(file.path(), bytes).unwrap();
        self.tool(&["put", key, file.path().to_str().unwrap()]);
    }

    pub fn index(&self, env: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_slice(&self.get(&format!("{env}/_tmnet.json"))).unwrap()
    }

    /// Environment for the model of the original script.
    pub fn original_env(&self, command: &mut Command) {
        let s = self.server;
        command
            .env("ORIG_ENDPOINT", &s.endpoint)
            .env("ORIG_BUCKET", &self.name)
            .env("AWS_ACCESS_KEY_ID", &s.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &s.secret)
            .env("AWS_REGION", &s.region);
    }
}

/// A git repository in a temporary directory.
pub struct Project {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    /// HOME for tmnet: keeps the default local store out of the real home.
    pub home: PathBuf,
}

impl Project {
    pub fn new() -> Project {
        let project = Project::empty();
        project.git(&["init", "-q", "-b", "main"]);
        // Like real projects, keep testmon's files out of git.
        project.write(".gitignore", ".testmondata*\n*.db*\n");
        project
    }

    fn empty() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("project");
        let home = dir.path().join("home");
        fs::create_dir_all(&path).unwrap();
        fs::create_dir_all(&home).unwrap();
        Project {
            _dir: dir,
            path,
            home,
        }
    }

    pub fn git(&self, args: &[&str]) -> String {
        run(Command::new("git")
            .args([
                "-c",
                "user.name=tmnet",
                "-c",
                "user.email=tmnet@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(&self.path))
        .trim()
        .to_string()
    }

    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.path.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    /// Commit everything (or nothing) and return the full SHA.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// A fresh clone at another path, like a new CI job's checkout.
    pub fn clone_fresh(&self) -> Project {
        let clone = Project::empty();
        fs::remove_dir(&clone.path).unwrap();
        run(Command::new("git")
            .args(["clone", "-q"])
            .arg(&self.path)
            .arg(&clone.path));
        clone
    }

    /// The tmnet binary, run here, with a clean environment for its settings.
    pub fn tmnet(&self, args: &[&str]) -> Command {
        let mut command = Command::new(tmnet_bin());
        command
            .args(args)
            .current_dir(&self.path)
            .env("HOME", &self.home)
            .stdin(Stdio::null());
        for var in ["TMNET_S3_SECRET_KEY", "TESTMON_DATAFILE", "XDG_CACHE_HOME"] {
            command.env_remove(var);
        }
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("AWS_") {
                command.env_remove(var);
            }
        }
        command
    }

    /// Run tmnet and require success; returns stderr (where tmnet reports).
    pub fn tmnet_ok(&self, args: &[&str]) -> String {
        let output = self.tmnet(args).output().unwrap();
        assert!(
            output.status.success(),
            "tmnet {args:?} failed:\n{}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    pub fn path_of(&self, relative: &str) -> PathBuf {
        self.path.join(relative)
    }
}

/// Every row of every table, as sorted text: equal dumps mean equal database contents.
pub fn dump(path: &Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |row| {
                let values: Vec<String> = (0..columns)
                    .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                    .collect();
                Ok(format!("{table}: {}", values.join(" | ")))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        out.extend(rows);
    }
    out
}

pub fn integrity_ok(path: &Path) -> bool {
    let conn = rusqlite::Connection::open(path).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    verdict == "ok"
}

/// A small testmon-like database with a marker row, distinct per `marker`.
pub fn marker_db(path: &Path, marker: &str) {
    let _ = fs::remove_file(path);
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; CREATE TABLE marker(v TEXT); CREATE TABLE filler(b BLOB);",
    )
    .unwrap();
    conn.execute("INSERT INTO marker VALUES (?1)", [marker])
        .unwrap();
    conn.execute("INSERT INTO filler VALUES (randomblob(20000))", [])
        .unwrap();
}

pub fn marker_of(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT v FROM marker", [], |r| r.get(0))
        .unwrap()
}
