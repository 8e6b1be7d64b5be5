//! The core contract (issue 2): usage, settings, history walk, original layout, errors —
//! against moto's S3 server and the local directory store.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;

fn project_with(settings: &str) -> Project {
    let project = Project::new();
    project.write(
        "pytest.ini",
        format!("[pytest]\naddopts = -q\n\n{settings}"),
    );
    project.write("src/app.py", "X = 1\n");
    project.commit("initial");
    project
}

#[test]
fn upload_then_restore_in_a_fresh_clone_through_pytest_ini_only() {
    let bucket = moto().bucket();
    let project = project_with(&bucket.settings());
    fs::copy(networkx_db(), project.path_of(".testmondata")).unwrap();
    let said = project.tmnet_ok(&["linux-py311", "--upload"]);
    assert!(
        said.contains("uploaded linux-py311 data of commit"),
        "{said}"
    );
    for side in [".testmondata-wal", ".testmondata-shm"] {
        assert!(!project.path_of(side).exists(), "upload left {side} behind");
    }

    let clone = project.clone_fresh();
    let before: Vec<_> = fs::read_dir(&clone.path)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let said = clone.tmnet_ok(&["linux-py311"]);
    assert!(
        said.contains("restored linux-py311 data") && said.contains("(HEAD)"),
        "{said}"
    );
    assert_eq!(dump(&clone.path_of(".testmondata")), dump(&networkx_db()));
    assert!(integrity_ok(&clone.path_of(".testmondata")));
    // Nothing but the database appears in the working tree (the original left _tmnet.json).
    let mut after: Vec<_> = fs::read_dir(&clone.path)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    after.retain(|name| name != ".testmondata");
    assert_eq!(before.len(), after.len(), "{after:?}");

    // The index keeps the contract: commits as keys, and the object it names exists.
    let index = bucket.index("linux-py311");
    let entry = &index[&project.head()];
    let keys = bucket.keys("linux-py311/");
    assert!(keys.iter().any(
        |k| k.starts_with(&format!("linux-py311/{}_", project.head())) && k.ends_with(".zst")
    ));
    assert_eq!(entry["files"][0]["size"], 4_702_208);
}

#[test]
fn data_uploaded_sixty_commits_before_head_restores() {
    let bucket = moto().bucket();
    let project = project_with(&bucket.settings());
    let uploaded = project.head();
    marker_db(&project.path_of(".testmondata"), "old");
    project.tmnet_ok(&["env", "--upload"]);
    for i in 0..60 {
        project.write("src/app.py", format!("X = {i}\n"));
        project.commit(&format!("change {i}"));
    }
    let clone = project.clone_fresh();
    let said = clone.tmnet_ok(&["env"]);
    assert!(said.contains("60 commits back"), "{said}");
    assert!(said.contains(&uploaded[..10]), "{said}");
    assert_eq!(marker_of(&clone.path_of(".testmondata")), "old");
}

#[test]
fn newest_ancestor_wins_and_merged_branches_are_searched() {
    let bucket = moto().bucket();
    let project = project_with(&bucket.settings());
    marker_db(&project.path_of(".testmondata"), "main-1");
    project.tmnet_ok(&["env", "--upload"]);
    project.git(&["checkout", "-q", "-b", "feature"]);
    project.write("src/feature.py", "F = 1\n");
    project.commit("feature work");
    marker_db(&project.path_of(".testmondata"), "feature");
    project.tmnet_ok(&["env", "--upload"]);
    project.git(&["checkout", "-q", "main"]);
    project.write("src/other.py", "O = 1\n");
    project.commit("main work");
    project.git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "merge",
        "feature",
    ]);
    let clone = project.clone_fresh();
    clone.tmnet_ok(&["env"]);
    // The merge's second parent (feature) is newer than main's first upload.
    assert_eq!(marker_of(&clone.path_of(".testmondata")), "feature");
}

#[test]
fn a_bucket_written_by_the_original_layout_restores_and_survives_rewrites() {
    let bucket = moto().bucket();
    let project = project_with(&bucket.settings());
    let abbrev = project.git(&["log", "-1", "--format=%h"]);
    // Exactly what the original wrote: abbreviated key, list value, raw object.
    bucket.put(
        "env/_tmnet.json",
        format!("{{\"{abbrev}\": [\".testmondata\"]}}").as_bytes(),
    );
    bucket.put(
        &format!("env/{abbrev}_.testmondata"),
        &fs::read(networkx_db()).unwrap(),
    );
    project.write("src/app.py", "X = 2\n");
    project.commit("later");

    let clone = project.clone_fresh();
    let said = clone.tmnet_ok(&["env"]);
    assert!(said.contains("1 commit back"), "{said}");
    assert_eq!(dump(&clone.path_of(".testmondata")), dump(&networkx_db()));

    // A tmnet upload rewrites the index and keeps the original entry exactly.
    clone.tmnet_ok(&["env", "--upload"]);
    let index = bucket.index("env");
    assert_eq!(index[&abbrev], serde_json::json!([".testmondata"]));
    assert!(index.contains_key(&clone.head()));
}

#[test]
fn a_miss_says_what_was_looked_for_and_exits_zero() {
    let bucket = moto().bucket();
    let project = project_with(&bucket.settings());
    let said = project.tmnet_ok(&["env"]);
    assert!(said.contains("no data stored for env"), "{said}");
    assert!(!project.path_of(".testmondata").exists());

    // Data for another environment is not a hit.
    marker_db(&project.path_of(".testmondata"), "x");
    project.tmnet_ok(&["other", "--upload"]);
    fs::remove_file(project.path_of(".testmondata")).unwrap();
    assert!(
        project
            .tmnet_ok(&["env"])
            .contains("no data stored for env")
    );

    // Data for a commit that is not an ancestor is not a hit either.
    project.git(&["checkout", "-q", "-b", "side"]);
    project.commit("side");
    marker_db(&project.path_of(".testmondata"), "side");
    project.tmnet_ok(&["env", "--upload"]);
    project.git(&["checkout", "-q", "main"]);
    fs::remove_file(project.path_of(".testmondata")).unwrap();
    let said = project.tmnet_ok(&["env"]);
    assert!(
        said.contains("no data for env among the 1 ancestors of HEAD"),
        "{said}"
    );
}

#[test]
fn options_override_the_file() {
    let bucket = moto().bucket();
    let wrong = bucket.settings().replace(&bucket.name, "no-such-bucket");
    let project = project_with(&wrong);
    marker_db(&project.path_of(".testmondata"), "x");
    let failed = project.tmnet(&["env", "--upload"]).output().unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("no-such-bucket"), "{err}");
    project.tmnet_ok(&["env", "--upload", "--s3-bucket", &bucket.name]);
    assert!(bucket.index("env").contains_key(&project.head()));
}

#[test]
fn the_local_directory_store_round_trips() {
    let store = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    let project = project_with("");
    fs::copy(networkx_db(), project.path_of(".testmondata")).unwrap();
    project.tmnet_ok(&["env", "--upload", "--store", &url]);
    let clone = project.clone_fresh();
    clone.tmnet_ok(&["env", "--store", &url]);
    assert_eq!(dump(&clone.path_of(".testmondata")), dump(&networkx_db()));

    // The same store as a setting, and the default store under HOME with no settings at all.
    let configured = project_with(&format!("[pytest.tmnet]\nTMNET_STORE = {url}\n"));
    assert!(configured.tmnet_ok(&["env"]).contains(&format!("in {url}")));
    let plain = project_with("");
    marker_db(&plain.path_of(".testmondata"), "home");
    let said = plain.tmnet_ok(&["env", "--upload"]);
    assert!(
        said.contains(&plain.home.join(".cache/tmnet").display().to_string()),
        "{said}"
    );
    fs::remove_file(plain.path_of(".testmondata")).unwrap();
    plain.tmnet_ok(&["env"]);
    assert_eq!(marker_of(&plain.path_of(".testmondata")), "home");
}

fn fails(project: &Project, args: &[&str], code: i32, needle: &str) -> String {
    let output = project.tmnet(args).output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{}", describe(&output));
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line:\n{err}");
    err
}

#[test]
fn git_problems_get_clear_errors() {
    let store = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    let args = ["env", "--store", url.as_str()];

    let not_repo = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(tmnet_bin())
        .args(args)
        .current_dir(not_repo.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not inside a git repository"));

    let empty = Project::new();
    fails(&empty, &args, 1, "has no commits yet");

    // Another user owns the repository: git refuses it, as in many CI containers.
    let foreign = project_with("");
    // Giving files away needs root (CI runs as root); elsewhere this one check is skipped.
    let chowned = std::process::Command::new("chown")
        .args(["-R", "12345:12345"])
        .arg(&foreign.path)
        .output()
        .unwrap();
    if chowned.status.success() {
        fails(&foreign, &args, 1, "safe.directory");
    } else {
        eprintln!("skipping the dubious-ownership check: chown needs root");
    }

    // A shallow clone whose history stops before the only stored commit.
    let project = project_with("");
    marker_db(&project.path_of(".testmondata"), "x");
    project.tmnet_ok(&["env", "--upload", "--store", &url]);
    for i in 0..3 {
        project.commit(&format!("c{i}"));
    }
    let shallow = Project::new();
    fs::remove_dir_all(&shallow.path).unwrap();
    let source = format!("file://{}", project.path.display());
    run(std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", &source])
        .arg(&shallow.path));
    fails(&shallow, &args, 1, "fetch more history");
}

#[test]
fn bad_settings_and_stores_get_one_line_naming_their_origin() {
    let project = project_with(
        "[pytest.tmnet]\nTMNET_S3_BUCKET = b-b-b\nTMNET_S3_SECRET_KEY = SUPERSECRET-123\nTMNET_S3_ACCESS_ID = id\n",
    );
    fails(&project, &["../escape"], 2, "invalid environment name");
    fails(
        &project,
        &["env", "--s3-addressing", "sideways"],
        2,
        "sideways",
    );
    fails(
        &project,
        &["env", "--s3-endpoint", "127.0.0.1:9"],
        2,
        "option --s3-endpoint",
    );

    // Unreachable endpoint: fails fast, names the object, never prints the secret.
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let err = fails(
        &project,
        &["env", "--s3-endpoint", &endpoint],
        1,
        "_tmnet.json",
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(!err.contains("SUPERSECRET"), "{err}");

    // Upload without testmon data.
    let store = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    fails(
        &project,
        &["env", "--upload", "--store", &url],
        1,
        "run `pytest --testmon`",
    );

    // A config file that does not parse.
    let broken = project_with("");
    broken.write("pyproject.toml", "[tool.tmnet\n");
    broken.write("pytest.ini", "");
    fs::remove_file(broken.path_of("pytest.ini")).unwrap();
    fails(&broken, &["env"], 2, "pyproject.toml");
}

#[test]
fn a_corrupt_index_is_skipped_on_restore_and_never_overwritten() {
    let bucket = moto().bucket();
    let project = project_with(&bucket.settings());
    marker_db(&project.path_of(".testmondata"), "kept");
    project.tmnet_ok(&["env", "--upload"]);
    bucket.put("env/_tmnet.json", b"{ this is not json");

    // Restore still finds the upload through its manifest.
    let clone = project.clone_fresh();
    let said = clone.tmnet_ok(&["env"]);
    assert!(
        said.contains("warning: ignoring index env/_tmnet.json"),
        "{said}"
    );
    assert_eq!(marker_of(&clone.path_of(".testmondata")), "kept");

    // Upload refuses to replace what it cannot read, and says how to recover.
    let err = fails(&project, &["env", "--upload"], 1, "unreadable");
    assert!(err.contains("delete the index"), "{err}");
    assert_eq!(bucket.get("env/_tmnet.json"), b"{ this is not json");

    // Deleted, it is rebuilt from the manifests by the next upload.
    let first = project.head();
    bucket.tool(&["rm", "env/_tmnet.json"]);
    project.commit("next");
    project.tmnet_ok(&["env", "--upload"]);
    let index = bucket.index("env");
    assert!(
        index.contains_key(&first) && index.contains_key(&project.head()),
        "{index:?}"
    );
}
