//! Settings: where they are found and which one wins.
//!
//! The settings file is found the way pytest finds its config: walking up from the working
//! directory, in each directory trying `pytest.ini`, `.pytest.ini`, `pyproject.toml`, `tox.ini`,
//! `setup.cfg`. The first file that pytest would take as its config, or that holds a tmnet
//! section, is read: INI files use `[pytest.tmnet]`, pyproject.toml `[tool.tmnet]` or
//! `[pytest.tmnet]`. Keys are case-insensitive, as with Python's configparser.
//!
//! The project root (where testmon keeps `.testmondata`) is pytest's rootdir, computed by pytest's
//! own rules for a run without arguments: the directory of pytest's config file; else of the first
//! `pyproject.toml` above; else of the first `setup.py` above; else the working directory.
//!
//! Precedence, highest first: the `TMNET_S3_SECRET_KEY` variable (secret only), command-line
//! options, the settings file, the AWS environment (credentials, region), defaults.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::cli::{Addressing, Cli};
use crate::error::{Error, Result};

/// Config file names in the order pytest tries them inside one directory.
const CONFIG_NAMES: [&str; 5] = [
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
];

/// Every setting the `[pytest.tmnet]` section may hold (compared case-insensitively).
pub const SETTING_NAMES: [&str; 8] = [
    "TMNET_S3_REGION",
    "TMNET_S3_ENDPOINT",
    "TMNET_S3_BUCKET",
    "TMNET_S3_ACCESS_ID",
    "TMNET_S3_SECRET_KEY",
    "TMNET_S3_ADDRESSING",
    "TMNET_STORE",
    "TMNET_COMPAT",
];

/// The variable that overrides both the file and `--s3-secret`.
pub const SECRET_ENV: &str = "TMNET_S3_SECRET_KEY";

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Option(&'static str),
    File { path: PathBuf, key: &'static str },
    Env(&'static str),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Option(name) => write!(f, "option {name}"),
            Origin::File { path, key } => write!(f, "{key} in {}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: Origin,
}

/// A secret string that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// S3 connection settings after layering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: Sourced<String>,
    pub region: Option<Sourced<String>>,
    pub endpoint: Option<Sourced<String>>,
    pub access_id: Option<Sourced<String>>,
    pub secret: Option<Sourced<Secret>>,
    pub addressing: Addressing,
}

/// Where the data is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A directory on a local or shared disk: the embedded default.
    Local(Sourced<PathBuf>),
    S3(Box<S3Config>),
}

/// Everything a restore or upload needs to know, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub env: String,
    pub store: StoreConfig,
    pub compat: bool,
    pub rootdir: PathBuf,
    pub datafile: Sourced<PathBuf>,
    pub config_file: Option<PathBuf>,
}

/// The raw key/value pairs of a tmnet section, keys upper-cased, with the file they came from.
#[derive(Debug, Default, Clone)]
pub struct FileSettings {
    pub path: Option<PathBuf>,
    values: BTreeMap<&'static str, String>,
}

impl FileSettings {
    fn get(&self, key: &'static str) -> Option<Sourced<String>> {
        let value = self.values.get(key)?.trim().to_string();
        let path = self.path.clone()?;
        (!value.is_empty()).then_some(Sourced {
            value,
            origin: Origin::File { path, key },
        })
    }
}

/// What walking up from the working directory found.
#[derive(Debug, Clone)]
pub struct Located {
    pub rootdir: PathBuf,
    pub settings: FileSettings,
}

/// A parsed candidate file: whether pytest takes it as its config, and its tmnet section.
struct Candidate {
    is_pytest_config: bool,
    tmnet: Option<Vec<(String, String)>>,
}

/// Find pytest's rootdir and the tmnet settings file, starting at `cwd` (absolute).
pub fn locate(cwd: &Path) -> Result<Located> {
    let mut settings_file: Option<(PathBuf, Vec<(String, String)>)> = None;
    let mut settings_done = false;
    let mut first_pyproject: Option<PathBuf> = None;
    let mut pytest_dir: Option<PathBuf> = None;

    'walk: for dir in cwd.ancestors() {
        for name in CONFIG_NAMES {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            if name == "pyproject.toml" && first_pyproject.is_none() {
                first_pyproject = Some(dir.to_path_buf());
            }
            let candidate = read_candidate(&path)?;
            if !settings_done && (candidate.is_pytest_config || candidate.tmnet.is_some()) {
                settings_done = true;
                if let Some(section) = candidate.tmnet {
                    settings_file = Some((path.clone(), section));
                }
            }
            if candidate.is_pytest_config {
                pytest_dir = Some(dir.to_path_buf());
                break 'walk;
            }
        }
    }

    let rootdir = pytest_dir
        .or(first_pyproject)
        .or_else(|| {
            cwd.ancestors()
                .find(|dir| dir.join("setup.py").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| cwd.to_path_buf());

    let settings = match settings_file {
        None => FileSettings::default(),
        Some((path, pairs)) => file_settings(path, pairs)?,
    };
    Ok(Located { rootdir, settings })
}

fn file_settings(path: PathBuf, pairs: Vec<(String, String)>) -> Result<FileSettings> {
    let mut values = BTreeMap::new();
    for (key, value) in pairs {
        let upper = key.trim().to_ascii_uppercase();
        let Some(known) = SETTING_NAMES.iter().find(|name| **name == upper) else {
            return Err(Error::usage(format!(
                "unknown setting {key:?} in the tmnet section of {}: known settings are {}",
                path.display(),
                SETTING_NAMES.join(", ")
            )));
        };
        values.insert(*known, value);
    }
    Ok(FileSettings {
        path: Some(path),
        values,
    })
}

fn read_candidate(path: &Path) -> Result<Candidate> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Error::usage(format!("cannot read config file {}: {err}", path.display()))
    })?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name == "pyproject.toml" {
        toml_candidate(path, &text)
    } else {
        ini_candidate(path, name, &text)
    }
}

fn ini_candidate(path: &Path, name: &str, text: &str) -> Result<Candidate> {
    let options = ini::ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        ..Default::default()
    };
    let parsed = ini::Ini::load_from_str_opt(text, options).map_err(|err| {
        Error::usage(format!(
            "cannot parse config file {}: {err}",
            path.display()
        ))
    })?;
    let has_section = |wanted: &str| parsed.sections().flatten().any(|s| s == wanted);
    let is_pytest_config = match name {
        "pytest.ini" | ".pytest.ini" => true,
        "tox.ini" => has_section("pytest"),
        "setup.cfg" => has_section("tool:pytest"),
        _ => false,
    };
    let tmnet = has_section("pytest.tmnet").then(|| {
        parsed
            .section_all(Some("pytest.tmnet"))
            .flat_map(|props| props.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    });
    Ok(Candidate {
        is_pytest_config,
        tmnet,
    })
}

fn toml_candidate(path: &Path, text: &str) -> Result<Candidate> {
    let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
        Error::usage(format!(
            "cannot parse config file {}: {}",
            path.display(),
            err.message()
        ))
    })?;
    let sub = |outer: &str, inner: &str| table.get(outer)?.as_table()?.get(inner)?.as_table();
    let is_pytest_config = sub("tool", "pytest").is_some();
    let section = sub("tool", "tmnet").or_else(|| sub("pytest", "tmnet"));
    let tmnet = match section {
        None => None,
        Some(section) => {
            let mut pairs = Vec::new();
            for (key, value) in section {
                let value = match value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    _ => {
                        return Err(Error::usage(format!(
                            "setting {key} in {} must be a string, not a {}",
                            path.display(),
                            value.type_str()
                        )));
                    }
                };
                pairs.push((key.clone(), value));
            }
            Some(pairs)
        }
    };
    Ok(Candidate {
        is_pytest_config,
        tmnet,
    })
}

/// Environment names become object key prefixes: keep them to one safe path segment.
pub fn validate_env_name(env: &str) -> Result<()> {
    let ok = !env.is_empty()
        && env.len() <= 128
        && env != "."
        && env != ".."
        && !env.starts_with('_')
        && env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "invalid environment name {env:?}: use 1 to 128 letters, digits, '.', '_' or '-' (not '.' or '..', not starting with '_')"
        )))
    }
}

/// Layer the command line, the environment and the settings file into [`Settings`].
///
/// `var` looks up an environment variable; it is a parameter so the rules can be unit tested.
pub fn resolve(
    cli: &Cli,
    located: &Located,
    cwd: &Path,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings> {
    validate_env_name(&cli.env)?;
    let file = &located.settings;
    let option = |value: &Option<String>, name: &'static str| {
        value
            .clone()
            .filter(|v| !v.is_empty())
            .map(|value| Sourced {
                value,
                origin: Origin::Option(name),
            })
    };

    let bucket = option(&cli.s3_bucket, "--s3-bucket").or_else(|| file.get("TMNET_S3_BUCKET"));
    let region = option(&cli.s3_region, "--s3-region").or_else(|| file.get("TMNET_S3_REGION"));
    let endpoint =
        option(&cli.s3_endpoint, "--s3-endpoint").or_else(|| file.get("TMNET_S3_ENDPOINT"));
    let access_id =
        option(&cli.s3_access_id, "--s3-access-id").or_else(|| file.get("TMNET_S3_ACCESS_ID"));
    let secret = var(SECRET_ENV)
        .filter(|v| !v.is_empty())
        .map(|value| Sourced {
            value,
            origin: Origin::Env(SECRET_ENV),
        })
        .or_else(|| option(&cli.s3_secret, "--s3-secret"))
        .or_else(|| file.get("TMNET_S3_SECRET_KEY"))
        .map(|s| Sourced {
            value: Secret(s.value),
            origin: s.origin,
        });
    let addressing = match cli.s3_addressing {
        Some(style) => Some(style),
        None => match file.get("TMNET_S3_ADDRESSING") {
            None => None,
            Some(s) => Some(parse_addressing(&s)?),
        },
    };
    let compat = cli.compat
        || match file.get("TMNET_COMPAT") {
            None => false,
            Some(s) => parse_bool(&s)?,
        };

    // Which store: an explicit --store or --s3-bucket on the command line beats the file; within
    // one layer, a store URL and a bucket must not disagree.
    let cli_store = option(&cli.store, "--store");
    let file_store = file.get("TMNET_STORE");
    let store_url = match (&cli_store, &bucket) {
        (Some(_), _) => cli_store.clone(),
        (None, Some(b)) if matches!(b.origin, Origin::Option(_)) => None,
        _ => file_store,
    };
    if let (Some(url), Some(b)) = (&cli_store, &bucket)
        && matches!(b.origin, Origin::Option(_))
    {
        return Err(Error::usage(format!(
            "{} and {} both choose where data is kept: give only one",
            url.origin, b.origin
        )));
    }

    let s3 = |bucket: Sourced<String>| -> Result<StoreConfig> {
        validate_bucket(&bucket)?;
        if access_id.is_some() != secret.is_some() {
            let (given, missing) = match (&access_id, &secret) {
                (Some(id), None) => (
                    id.origin.to_string(),
                    "a secret key (TMNET_S3_SECRET_KEY or --s3-secret)",
                ),
                (None, Some(s)) => (
                    s.origin.to_string(),
                    "an access key id (TMNET_S3_ACCESS_ID or --s3-access-id)",
                ),
                _ => unreachable!(),
            };
            return Err(Error::usage(format!(
                "static credentials are incomplete: {given} is set but {missing} is missing"
            )));
        }
        if let Some(ep) = &endpoint
            && !(ep.value.starts_with("http://") || ep.value.starts_with("https://"))
        {
            return Err(Error::usage(format!(
                "endpoint {:?} ({}) must start with http:// or https://",
                ep.value, ep.origin
            )));
        }
        let addressing = addressing.unwrap_or(if endpoint.is_some() {
            Addressing::Path
        } else {
            Addressing::Virtual
        });
        Ok(StoreConfig::S3(Box::new(S3Config {
            bucket,
            region: region.clone(),
            endpoint: endpoint.clone(),
            access_id: access_id.clone(),
            secret: secret.clone(),
            addressing,
        })))
    };

    let store = match store_url {
        Some(url) => match parse_store_url(&url, cwd)? {
            StoreUrl::Local(path) => StoreConfig::Local(Sourced {
                value: path,
                origin: url.origin,
            }),
            StoreUrl::S3(name) => s3(Sourced {
                value: name,
                origin: url.origin,
            })?,
        },
        None => match bucket {
            Some(bucket) => s3(bucket)?,
            None => {
                if let Some(stray) = [&endpoint, &region, &access_id]
                    .into_iter()
                    .flatten()
                    .next()
                {
                    return Err(Error::usage(format!(
                        "{} is set but no bucket is: set TMNET_S3_BUCKET or --s3-bucket",
                        stray.origin
                    )));
                }
                StoreConfig::Local(Sourced {
                    value: default_local_store(var)?,
                    origin: Origin::Default,
                })
            }
        },
    };

    let datafile = match var("TESTMON_DATAFILE").filter(|v| !v.is_empty()) {
        // testmon joins the variable onto the rootdir, so a relative value is relative to it.
        Some(value) => Sourced {
            value: located.rootdir.join(value),
            origin: Origin::Env("TESTMON_DATAFILE"),
        },
        None => Sourced {
            value: located.rootdir.join(".testmondata"),
            origin: Origin::Default,
        },
    };

    Ok(Settings {
        env: cli.env.clone(),
        store,
        compat,
        rootdir: located.rootdir.clone(),
        datafile,
        config_file: file.path.clone(),
    })
}

enum StoreUrl {
    Local(PathBuf),
    S3(String),
}

fn parse_store_url(url: &Sourced<String>, cwd: &Path) -> Result<StoreUrl> {
    let value = url.value.as_str();
    if let Some(bucket) = value.strip_prefix("s3://") {
        return Ok(StoreUrl::S3(bucket.trim_end_matches('/').to_string()));
    }
    let path = value.strip_prefix("file://").unwrap_or(value);
    if path.is_empty() || value.contains("://") && !value.starts_with("file://") {
        return Err(Error::usage(format!(
            "store {value:?} ({}) is not understood: use file:///path/to/dir or s3://bucket",
            url.origin
        )));
    }
    // A relative directory in the file is relative to the file, on the command line to the cwd.
    let base = match &url.origin {
        Origin::File { path, .. } => path.parent().unwrap_or(cwd),
        _ => cwd,
    };
    Ok(StoreUrl::Local(base.join(path)))
}

fn default_local_store(var: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf> {
    let non_empty = |name| var(name).filter(|v: &String| !v.is_empty());
    if let Some(cache) = non_empty("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(cache).join("tmnet"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(PathBuf::from(home).join(".cache").join("tmnet"));
    }
    Err(Error::usage(
        "no store configured and no HOME to put a local one in: set TMNET_S3_BUCKET or --store",
    ))
}

fn validate_bucket(bucket: &Sourced<String>) -> Result<()> {
    let name = &bucket.value;
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "bucket name {name:?} ({}) is not valid: 3 to 63 lowercase letters, digits, '.', '-' or '_'",
            bucket.origin
        )))
    }
}

fn parse_addressing(value: &Sourced<String>) -> Result<Addressing> {
    match value.value.to_ascii_lowercase().as_str() {
        "path" => Ok(Addressing::Path),
        "virtual" => Ok(Addressing::Virtual),
        other => Err(Error::usage(format!(
            "{} is {other:?}: use path or virtual",
            value.origin
        ))),
    }
}

/// Booleans as configparser's `getboolean` reads them.
fn parse_bool(value: &Sourced<String>) -> Result<bool> {
    match value.value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        other => Err(Error::usage(format!(
            "{} is {other:?}: use true or false",
            value.origin
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::HashMap;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("tmnet").chain(args.iter().copied())).unwrap()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn s3(settings: &Settings) -> &S3Config {
        match &settings.store {
            StoreConfig::S3(s3) => s3,
            other => panic!("expected S3, got {other:?}"),
        }
    }

    const INI: &str = "[pytest]\naddopts = -q\n\n[pytest.tmnet]\ntmnet_s3_bucket = from-file\nTMNET_S3_REGION: eu-west-1\nTmnet_S3_Access_Id = file-id\nTMNET_S3_SECRET_KEY = file-secret\n";

    #[test]
    fn file_keys_are_case_insensitive_and_options_override_them() {
        let dir = tempfile::tempdir().unwrap();
        let ini = write(dir.path(), "pytest.ini", INI);
        let located = locate(dir.path()).unwrap();
        assert_eq!(located.rootdir, dir.path());
        let settings =
            resolve(&cli(&["e"]), &located, dir.path(), &vars(&[("HOME", "/h")])).unwrap();
        let s3c = s3(&settings);
        assert_eq!(s3c.bucket.value, "from-file");
        assert_eq!(
            s3c.bucket.origin,
            Origin::File {
                path: ini.clone(),
                key: "TMNET_S3_BUCKET"
            }
        );
        assert_eq!(s3c.region.as_ref().unwrap().value, "eu-west-1");
        assert_eq!(s3c.secret.as_ref().unwrap().value.expose(), "file-secret");

        let args = [
            "e",
            "--s3-bucket",
            "from-cli",
            "--s3-secret",
            "cli-secret",
            "--s3-region",
            "r2",
        ];
        let settings = resolve(&cli(&args), &located, dir.path(), &vars(&[])).unwrap();
        let s3c = s3(&settings);
        assert_eq!(s3c.bucket.value, "from-cli");
        assert_eq!(s3c.region.as_ref().unwrap().value, "r2");
        assert_eq!(s3c.secret.as_ref().unwrap().value.expose(), "cli-secret");

        // The variable beats both the option and the file.
        let settings = resolve(
            &cli(&args),
            &located,
            dir.path(),
            &vars(&[(SECRET_ENV, "env-secret")]),
        )
        .unwrap();
        let secret = s3(&settings).secret.clone().unwrap();
        assert_eq!(secret.value.expose(), "env-secret");
        assert_eq!(secret.origin, Origin::Env(SECRET_ENV));
        assert_eq!(format!("{:?}", secret.value), "<redacted>");
    }

    #[test]
    fn walks_up_like_pytest_and_skips_files_pytest_ignores() {
        let dir = tempfile::tempdir().unwrap();
        // tox.ini without [pytest] and setup.cfg without [tool:pytest] are not pytest configs.
        write(dir.path(), "proj/sub/tox.ini", "[tox]\nenvlist = py3\n");
        write(
            dir.path(),
            "proj/setup.cfg",
            "[tool:pytest]\n[pytest.tmnet]\nTMNET_S3_BUCKET = cfg-bucket\n",
        );
        write(dir.path(), "pytest.ini", "[pytest]\n");
        let cwd = dir.path().join("proj/sub");
        let located = locate(&cwd).unwrap();
        assert_eq!(located.rootdir, dir.path().join("proj"));
        let settings = resolve(&cli(&["e"]), &located, &cwd, &vars(&[])).unwrap();
        assert_eq!(s3(&settings).bucket.value, "cfg-bucket");
        assert_eq!(
            settings.datafile.value,
            dir.path().join("proj/.testmondata")
        );
    }

    #[test]
    fn pyproject_accepts_tool_tmnet_and_pytest_tmnet() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "pyproject.toml",
            "[tool.pytest.ini_options]\n[tool.tmnet]\ntmnet_s3_bucket = \"tool-b\"\n",
        );
        let located = locate(dir.path()).unwrap();
        let settings = resolve(&cli(&["e"]), &located, dir.path(), &vars(&[])).unwrap();
        assert_eq!(s3(&settings).bucket.value, "tool-b");

        write(
            dir.path(),
            "pyproject.toml",
            "[pytest.tmnet]\nTMNET_S3_BUCKET = \"pt-b\"\nTMNET_COMPAT = true\n",
        );
        let located = locate(dir.path()).unwrap();
        let settings = resolve(&cli(&["e"]), &located, dir.path(), &vars(&[])).unwrap();
        assert_eq!(s3(&settings).bucket.value, "pt-b");
        assert!(settings.compat);
    }

    #[test]
    fn rootdir_falls_back_to_pyproject_then_setup_py_then_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("a/b");
        std::fs::create_dir_all(&cwd).unwrap();
        assert_eq!(locate(&cwd).unwrap().rootdir, cwd);
        write(dir.path(), "setup.py", "");
        assert_eq!(locate(&cwd).unwrap().rootdir, dir.path());
        write(dir.path(), "a/pyproject.toml", "[project]\nname = \"x\"\n");
        assert_eq!(locate(&cwd).unwrap().rootdir, dir.path().join("a"));
    }

    #[test]
    fn default_is_a_local_store_and_testmon_datafile_is_joined_to_rootdir() {
        let dir = tempfile::tempdir().unwrap();
        let located = locate(dir.path()).unwrap();
        let env = vars(&[("HOME", "/home/u"), ("TESTMON_DATAFILE", "data/tm.db")]);
        let settings = resolve(&cli(&["e"]), &located, dir.path(), &env).unwrap();
        assert_eq!(
            settings.store,
            StoreConfig::Local(Sourced {
                value: PathBuf::from("/home/u/.cache/tmnet"),
                origin: Origin::Default
            })
        );
        assert_eq!(settings.datafile.value, dir.path().join("data/tm.db"));
        let settings = resolve(
            &cli(&["e", "--store", "file:///srv/cache"]),
            &located,
            dir.path(),
            &env,
        )
        .unwrap();
        assert!(
            matches!(settings.store, StoreConfig::Local(ref p) if p.value == Path::new("/srv/cache"))
        );
    }

    #[test]
    fn bad_inputs_are_usage_errors_naming_their_origin() {
        let dir = tempfile::tempdir().unwrap();
        let ini = write(
            dir.path(),
            "pytest.ini",
            "[pytest.tmnet]\nTMNET_S3_BUKET = x\n",
        );
        let err = locate(dir.path()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.message().contains("TMNET_S3_BUKET")
                && err.message().contains(&ini.display().to_string())
        );

        write(
            dir.path(),
            "pytest.ini",
            "[pytest.tmnet]\nTMNET_S3_ACCESS_ID = id\nTMNET_S3_BUCKET = bkt\n",
        );
        let located = locate(dir.path()).unwrap();
        let err = resolve(&cli(&["e"]), &located, dir.path(), &vars(&[])).unwrap_err();
        assert!(
            err.message().contains("TMNET_S3_ACCESS_ID in"),
            "{}",
            err.message()
        );

        let err = resolve(&cli(&["../x"]), &located, dir.path(), &vars(&[])).unwrap_err();
        assert!(err.message().contains("invalid environment name"));

        let empty = tempfile::tempdir().unwrap();
        let located_empty = locate(empty.path()).unwrap();
        let err = resolve(
            &cli(&["e", "--s3-endpoint", "http://h"]),
            &located_empty,
            empty.path(),
            &vars(&[("HOME", "/h")]),
        )
        .unwrap_err();
        assert!(
            err.message()
                .contains("option --s3-endpoint is set but no bucket"),
            "{}",
            err.message()
        );

        let err = resolve(
            &cli(&["e", "--s3-bucket", "Bad_Bucket"]),
            &located,
            dir.path(),
            &vars(&[]),
        )
        .unwrap_err();
        assert!(err.message().contains("option --s3-bucket"));
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "pytest.ini", INI);
        let located = locate(dir.path()).unwrap();
        let settings = resolve(&cli(&["e"]), &located, dir.path(), &vars(&[])).unwrap();
        assert!(!format!("{settings:?}").contains("file-secret"));
    }
}
