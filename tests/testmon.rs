//! Proven with the real client (issue 4): pytest and pytest-testmon from PyPI select fewer
//! tests after `tmnet ENV` restores, in every supported setup; and the original script's
//! layout interoperates both ways.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;

const CALC_TESTS: [&str; 3] = ["test_add", "test_mul", "test_neg"];
const STRING_TESTS: [&str; 2] = ["test_shout", "test_whisper"];

/// Where the settings live in a project.
#[derive(Clone, Copy)]
enum ConfigFile {
    PytestIni,
    Pyproject,
    ToxIni,
    SetupCfg,
}

fn python_project(bucket: &Bucket, config: ConfigFile) -> Project {
    let project = Project::new();
    project.write(
        ".gitignore",
        ".testmondata*\n__pycache__/\n.pytest_cache/\ndata/\n",
    );
    project.write("pkg/__init__.py", "");
    project.write(
        "pkg/calc.py",
        "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n",
    );
    project.write(
        "pkg/strings.py",
        "def shout(s):\n    return s.upper()\n\n\ndef whisper(s):\n    return s.lower()\n",
    );
    project.write(
        "tests/test_calc.py",
        "from pkg.calc import add, mul\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n\n\ndef test_neg():\n    assert add(-1, 1) == 0\n",
    );
    project.write(
        "tests/test_strings.py",
        "from pkg.strings import shout, whisper\n\n\ndef test_shout():\n    assert shout('a') == 'A'\n\n\ndef test_whisper():\n    assert whisper('A') == 'a'\n",
    );
    let settings = bucket.settings();
    match config {
        ConfigFile::PytestIni => project.write(
            "pytest.ini",
            format!("[pytest]\npythonpath = .\n\n{settings}"),
        ),
        ConfigFile::ToxIni => project.write(
            "tox.ini",
            format!("[tox]\nenvlist = py3\n\n[pytest]\npythonpath = .\n\n{settings}"),
        ),
        ConfigFile::SetupCfg => project.write(
            "setup.cfg",
            format!("[metadata]\nname = demo\n\n[tool:pytest]\npythonpath = .\n\n{settings}"),
        ),
        ConfigFile::Pyproject => {
            let toml: String = settings
                .lines()
                .skip(1)
                .map(|line| {
                    let (key, value) = line.split_once(" = ").unwrap();
                    format!("{key} = \"{value}\"\n")
                })
                .collect();
            project.write(
                "pyproject.toml",
                format!("[project]\nname = \"demo\"\nversion = \"0\"\n\n[tool.pytest.ini_options]\npythonpath = [\".\"]\n\n[tool.tmnet]\n{toml}"),
            )
        }
    }
    project.commit("python project");
    project
}

/// Run `pytest --testmon` in the project root; returns the names of the tests that ran.
fn pytest_testmon(project: &Project, envs: &[(&str, &str)]) -> BTreeSet<String> {
    let mut command = Command::new(python());
    command
        .args(["-m", "pytest", "--testmon", "-v", "-p", "no:randomly"])
        .current_dir(&project.path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("TESTMON_DATAFILE");
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    // 0: tests passed; 5: testmon deselected every test.
    assert!(
        matches!(output.status.code(), Some(0) | Some(5)),
        "pytest failed:\n{}",
        describe(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter(|line| line.contains(" PASSED"))
        .filter_map(|line| {
            line.split("::")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .collect()
}

fn names(tests: &[&str]) -> BTreeSet<String> {
    tests.iter().map(|t| t.to_string()).collect()
}

fn all_tests() -> BTreeSet<String> {
    names(&CALC_TESTS)
        .union(&names(&STRING_TESTS))
        .cloned()
        .collect()
}

/// The whole story: run, upload, restore in a fresh clone elsewhere, nothing runs; change one
/// module, exactly its tests run.
fn fewer_tests_after_restore(config: ConfigFile, tmnet_dir: &str, envs: &[(&str, &str)]) {
    let bucket = moto().bucket();
    let project = python_project(&bucket, config);
    // testmon needs the data file's directory; in the clone, tmnet creates it.
    std::fs::create_dir_all(project.path_of("data")).unwrap();
    assert_eq!(pytest_testmon(&project, envs), all_tests());
    let tmnet = |p: &Project, args: &[&str]| {
        let mut command = p.tmnet(args);
        command.current_dir(p.path.join(tmnet_dir));
        for (key, value) in envs {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "tmnet {args:?}:\n{}",
            describe(&output)
        );
    };
    tmnet(&project, &["linux-py311", "--upload"]);

    let clone = project.clone_fresh();
    tmnet(&clone, &["linux-py311"]);
    assert_eq!(
        pytest_testmon(&clone, envs),
        BTreeSet::new(),
        "a restored clone runs no test"
    );

    // A module-level change: every test that imports the module depends on it.
    clone.write("pkg/strings.py", "LOUD = True\n\n\ndef shout(s):\n    return s.upper()\n\n\ndef whisper(s):\n    return s.lower()\n");
    assert_eq!(
        pytest_testmon(&clone, envs),
        names(&STRING_TESTS),
        "exactly the tests of the changed module run"
    );
}

#[test]
fn restored_data_means_no_test_runs_and_a_change_runs_only_its_tests() {
    fewer_tests_after_restore(ConfigFile::PytestIni, ".", &[]);
}

#[test]
fn testmon_datafile_elsewhere() {
    fewer_tests_after_restore(
        ConfigFile::PytestIni,
        ".",
        &[("TESTMON_DATAFILE", "data/testmon.db")],
    );
}

#[test]
fn settings_in_pyproject_toml() {
    fewer_tests_after_restore(ConfigFile::Pyproject, ".", &[]);
}

#[test]
fn settings_in_tox_ini() {
    fewer_tests_after_restore(ConfigFile::ToxIni, ".", &[]);
}

#[test]
fn settings_in_setup_cfg() {
    fewer_tests_after_restore(ConfigFile::SetupCfg, ".", &[]);
}

#[test]
fn tmnet_run_from_a_subdirectory() {
    fewer_tests_after_restore(ConfigFile::PytestIni, "tests", &[]);
}

#[test]
fn two_environments_never_see_each_others_data() {
    let bucket = moto().bucket();
    let project = python_project(&bucket, ConfigFile::PytestIni);
    // env-all knows every test; env-strings only ran the string tests.
    assert_eq!(pytest_testmon(&project, &[]), all_tests());
    project.tmnet_ok(&["env-all", "--upload"]);
    std::fs::remove_file(project.path_of(".testmondata")).unwrap();
    let mut only_strings = Command::new(python());
    only_strings
        .args(["-m", "pytest", "--testmon", "-q", "tests/test_strings.py"])
        .current_dir(&project.path)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run(&mut only_strings);
    project.tmnet_ok(&["env-strings", "--upload"]);

    let strings_clone = project.clone_fresh();
    strings_clone.tmnet_ok(&["env-strings"]);
    assert_eq!(
        pytest_testmon(&strings_clone, &[]),
        names(&CALC_TESTS),
        "env-strings never ran the calc tests"
    );
    let all_clone = project.clone_fresh();
    all_clone.tmnet_ok(&["env-all"]);
    assert_eq!(pytest_testmon(&all_clone, &[]), BTreeSet::new());
    for key in bucket.keys("env-all/") {
        assert!(!key.contains("env-strings"), "{key}");
    }
}

fn original(project: &Project, bucket: &Bucket, args: &[&str]) -> String {
    let mut command = Command::new(python());
    command
        .arg(repo_root().join("tests/support/original_tmnet.py"))
        .args(args)
        .current_dir(&project.path);
    bucket.original_env(&mut command);
    run(&mut command)
}

#[test]
fn a_bucket_written_by_the_original_script_restores() {
    let bucket = moto().bucket();
    let project = python_project(&bucket, ConfigFile::PytestIni);
    pytest_testmon(&project, &[]);
    assert!(original(&project, &bucket, &["env", "--upload"]).starts_with("uploaded"));
    let index = bucket.index("env");
    let key = project.git(&["log", "-1", "--format=%h"]);
    assert_eq!(
        index[&key],
        serde_json::json!([".testmondata"]),
        "the original's layout"
    );

    let clone = project.clone_fresh();
    clone.tmnet_ok(&["env"]);
    assert_eq!(pytest_testmon(&clone, &[]), BTreeSet::new());
}

#[test]
fn compat_mode_writes_what_the_original_script_reads() {
    for how in ["option", "setting"] {
        let bucket = moto().bucket();
        let project = python_project(&bucket, ConfigFile::PytestIni);
        pytest_testmon(&project, &[]);
        if how == "option" {
            project.tmnet_ok(&["env", "--upload", "--compat"]);
        } else {
            let ini = std::fs::read_to_string(project.path_of("pytest.ini")).unwrap();
            project.write("pytest.ini", format!("{ini}TMNET_COMPAT = true\n"));
            project.tmnet_ok(&["env", "--upload"]);
        }
        let abbrev = project.git(&["log", "-1", "--format=%h"]);
        let index = bucket.index("env");
        assert_eq!(index[&abbrev], serde_json::json!([".testmondata"]), "{how}");
        assert!(
            index.contains_key(&project.head()),
            "the verified v2 entry is written too"
        );

        let clone = project.clone_fresh();
        assert!(
            original(&clone, &bucket, &["env"]).starts_with(&format!("restored {abbrev}")),
            "{how}"
        );
        assert_eq!(
            pytest_testmon(&clone, &[]),
            BTreeSet::new(),
            "{how}: the original's restore works"
        );
    }
}

#[test]
fn the_original_script_sees_a_v2_only_bucket_as_a_plain_miss() {
    let bucket = moto().bucket();
    let project = python_project(&bucket, ConfigFile::PytestIni);
    pytest_testmon(&project, &[]);
    project.tmnet_ok(&["env", "--upload"]);
    let clone = project.clone_fresh();
    assert_eq!(original(&clone, &bucket, &["env"]).trim(), "miss");
    assert!(!clone.path_of(".testmondata").exists());
}
