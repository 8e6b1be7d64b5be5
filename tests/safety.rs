//! Never lose an upload or a byte (issue 3), on moto (honours If-Match / If-None-Match) and on
//! Garage 2.5 (ignores both): concurrent uploads, verified restores, consistent snapshots,
//! stale WAL files, processes killed between upload steps, hostile indexes.

mod common;

use std::fs;
use std::process::{Child, Command};

use common::*;
use sha2::{Digest, Sha256};

fn project_on(server: &'static Server) -> (Project, Bucket) {
    let bucket = server.bucket();
    let project = Project::new();
    project.write("pytest.ini", format!("[pytest]\n\n{}", bucket.settings()));
    project.write("app.py", "X = 0\n");
    project.commit("initial");
    (project, bucket)
}

/// Start `tmnet env --upload` in every project at once, then require every one to succeed.
fn upload_concurrently(projects: &[Project]) {
    let children: Vec<Child> = projects
        .iter()
        .map(|p| {
            p.tmnet(&["env", "--upload"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let name = format!("uploader {i}");
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{name} failed:\n{}",
            describe(&output)
        );
    }
}

/// Every v2 entry in the index and every manifest names an object whose bytes match its digest.
fn assert_every_record_matches_its_object(bucket: &Bucket, env: &str) {
    let mut records: Vec<serde_json::Value> = bucket
        .index(env)
        .into_iter()
        .filter(|(_, v)| v.is_object())
        .map(|(_, v)| v)
        .collect();
    for key in bucket.keys(&format!("{env}/_tmnet/uploads/")) {
        records.push(serde_json::from_slice(&bucket.get(&key)).unwrap());
    }
    assert!(!records.is_empty());
    for record in records {
        let (commit, id) = (
            record["commit"].as_str().unwrap(),
            record["id"].as_str().unwrap(),
        );
        let file = &record["files"][0];
        let object = format!("{env}/{commit}_{id}_{}.zst", file["name"].as_str().unwrap());
        let decoded = zstd::decode_all(&bucket.get(&object)[..]).unwrap();
        let digest: String = Sha256::digest(&decoded)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, file["sha256"].as_str().unwrap(), "{object}");
        assert_eq!(decoded.len() as u64, file["size"].as_u64().unwrap());
    }
}

fn concurrent_uploads_of_distinct_commits_all_restore(server: &'static Server) {
    let (project, bucket) = project_on(server);
    let commits: Vec<String> = (0..12)
        .map(|i| {
            project.write("app.py", format!("X = {i}\n"));
            project.commit(&format!("commit {i}"))
        })
        .collect();
    let clones: Vec<Project> = commits
        .iter()
        .enumerate()
        .map(|(i, sha)| {
            let clone = project.clone_fresh();
            clone.git(&["checkout", "-q", "--detach", sha]);
            marker_db(&clone.path_of(".testmondata"), &format!("c{i}"));
            clone
        })
        .collect();
    upload_concurrently(&clones);

    for (i, clone) in clones.iter().enumerate() {
        fs::remove_file(clone.path_of(".testmondata")).unwrap();
        let said = clone.tmnet_ok(&["env"]);
        assert!(said.contains("(HEAD)"), "commit {i}: {said}");
        assert_eq!(marker_of(&clone.path_of(".testmondata")), format!("c{i}"));
    }
    assert_every_record_matches_its_object(&bucket, "env");
    let index = bucket.index("env");
    let indexed = commits
        .iter()
        .filter(|sha| index.contains_key(*sha))
        .count();
    eprintln!(
        "{}: {indexed} of 12 concurrent uploads in the index before any repair",
        server.name
    );
    if server.name == "moto" {
        // With preconditions honoured the index itself lost nothing.
        for sha in &commits {
            assert!(index.contains_key(sha), "index lost {sha}");
        }
    }
    // One more upload repairs whatever a store without preconditions let writers drop.
    let last = project.clone_fresh();
    marker_db(&last.path_of(".testmondata"), "last");
    let said = last.tmnet_ok(&["env", "--upload"]);
    // The probe tells the two kinds of store apart.
    assert_eq!(
        said.contains("ignores conditional writes"),
        server.name == "garage",
        "{said}"
    );
    let index = bucket.index("env");
    for sha in &commits {
        assert!(
            index.contains_key(sha),
            "index still lacks {sha} after a repairing upload"
        );
    }
}

fn concurrent_uploads_of_one_commit_stay_consistent(server: &'static Server) {
    let (project, bucket) = project_on(server);
    let clones: Vec<Project> = (0..6)
        .map(|i| {
            let clone = project.clone_fresh();
            marker_db(&clone.path_of(".testmondata"), &format!("s{i}"));
            clone
        })
        .collect();
    upload_concurrently(&clones);
    assert_every_record_matches_its_object(&bucket, "env");
    let fresh = project.clone_fresh();
    fresh.tmnet_ok(&["env"]);
    let marker = marker_of(&fresh.path_of(".testmondata"));
    assert!((0..6).any(|i| marker == format!("s{i}")), "{marker}");
}

fn tampered_objects_are_refused_and_the_local_file_kept(server: &'static Server) {
    let (project, bucket) = project_on(server);
    marker_db(&project.path_of(".testmondata"), "uploaded");
    project.tmnet_ok(&["env", "--upload"]);
    let object = bucket
        .keys("env/")
        .into_iter()
        .find(|k| k.ends_with(".zst"))
        .unwrap();

    let other = tempfile::tempdir().unwrap();
    let other_db = other.path().join("db");
    marker_db(&other_db, "attacker");
    let valid_zstd_of_other_data = zstd::encode_all(&fs::read(&other_db).unwrap()[..], 3).unwrap();
    for replacement in [valid_zstd_of_other_data, b"not zstd at all".to_vec()] {
        bucket.put(&object, &replacement);
        let clone = project.clone_fresh();
        marker_db(&clone.path_of(".testmondata"), "local");
        let before = fs::read(clone.path_of(".testmondata")).unwrap();
        let output = clone.tmnet(&["env"]).output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert!(
            err.contains(&object) && err.contains("local file is unchanged"),
            "{err}"
        );
        assert_eq!(fs::read(clone.path_of(".testmondata")).unwrap(), before);
        let leftovers: Vec<_> = fs::read_dir(&clone.path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("tmnet"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

fn rows_pending_in_the_wal_are_uploaded(server: &'static Server) {
    let (project, _bucket) = project_on(server);
    let db = project.path_of(".testmondata");
    // A live writer whose rows sit only in the WAL, like testmon in the middle of a run.
    let writer = rusqlite::Connection::open(&db).unwrap();
    writer
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE marker(v TEXT); INSERT INTO marker VALUES ('in-wal');
             CREATE TABLE t(x); INSERT INTO t SELECT value FROM generate_series(1, 500);",
        )
        .unwrap_or_else(|_| {
            writer
                .execute_batch(
                    "CREATE TABLE IF NOT EXISTS marker(v TEXT); INSERT INTO marker VALUES ('in-wal');
                     CREATE TABLE IF NOT EXISTS t(x);
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t SELECT i FROM n;",
                )
                .unwrap()
        });
    assert!(
        fs::metadata(project.path_of(".testmondata-wal"))
            .unwrap()
            .len()
            > 0
    );
    let expected = dump(&db);
    project.tmnet_ok(&["env", "--upload"]);
    drop(writer);
    let clone = project.clone_fresh();
    clone.tmnet_ok(&["env"]);
    assert_eq!(dump(&clone.path_of(".testmondata")), expected);
    assert_eq!(marker_of(&clone.path_of(".testmondata")), "in-wal");
}

fn a_stale_local_wal_never_mixes_into_the_restored_file(server: &'static Server) {
    let (project, _bucket) = project_on(server);
    fs::copy(networkx_db(), project.path_of(".testmondata")).unwrap();
    project.tmnet_ok(&["env", "--upload"]);
    let clone = project.clone_fresh();
    // A process killed mid-run leaves a database with a non-empty -wal beside it.
    let script = r#"
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode = WAL")
c.execute("PRAGMA wal_autocheckpoint = 0")
c.execute("CREATE TABLE stale(v)")
c.executemany("INSERT INTO stale VALUES (?)", [(i,) for i in range(1000)])
c.commit()
os._exit(0)
"#;
    run(Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(clone.path_of(".testmondata")));
    assert!(
        fs::metadata(clone.path_of(".testmondata-wal"))
            .unwrap()
            .len()
            > 0,
        "a stale WAL exists"
    );
    clone.tmnet_ok(&["env"]);
    let restored = clone.path_of(".testmondata");
    assert!(
        !clone.path_of(".testmondata-wal").exists() && !clone.path_of(".testmondata-shm").exists()
    );
    assert!(integrity_ok(&restored));
    assert_eq!(dump(&restored), dump(&networkx_db()));
}

fn a_process_killed_between_upload_steps_leaves_a_consistent_bucket(server: &'static Server) {
    for step in ["after-object", "after-manifest"] {
        let (project, bucket) = project_on(server);
        marker_db(&project.path_of(".testmondata"), "v1");
        project.tmnet_ok(&["env", "--upload"]);
        project.write("app.py", "X = 2\n");
        project.commit("second");
        marker_db(&project.path_of(".testmondata"), "v2");
        let output = project
            .tmnet(&["env", "--upload"])
            .env("TMNET_FAILPOINT", step)
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{step}: the failpoint must kill the upload"
        );

        // The index still parses and names only complete uploads.
        assert_every_record_matches_its_object(&bucket, "env");
        let clone = project.clone_fresh();
        let said = clone.tmnet_ok(&["env"]);
        let expected = if step == "after-object" { "v1" } else { "v2" };
        assert_eq!(
            marker_of(&clone.path_of(".testmondata")),
            expected,
            "{step}: {said}"
        );

        // The next upload goes through and is indexed.
        project.tmnet_ok(&["env", "--upload"]);
        assert!(bucket.index("env").contains_key(&project.head()), "{step}");
    }
}

fn hostile_index_entries_cannot_choose_local_paths(server: &'static Server) {
    let (project, bucket) = project_on(server);
    let abbrev = project.git(&["log", "-1", "--format=%h"]);
    let head = project.head();
    let outside = project.path.parent().unwrap().join("pwned");
    let evil_name =
        "../../../../../../../../../../../../../..".to_string() + &outside.display().to_string();
    let index = serde_json::json!({
        abbrev.clone(): [evil_name.clone()],
        head.clone(): {"format": 2, "commit": head, "id": "0-1", "uploaded_at": "x", "tool": "x",
                 "files": [{"name": "../../pwned", "size": 1, "sha256": "0".repeat(64), "encoding": "zstd", "stored_size": 1}]}
    });
    bucket.put("env/_tmnet.json", index.to_string().as_bytes());
    bucket.put(
        &format!("env/{abbrev}_{evil_name}"),
        b"SQLite format 3\0 evil",
    );
    let said = project.tmnet_ok(&["env"]);
    assert!(
        said.contains("ignored 1 unusable entries") && said.contains("nothing to restore"),
        "{said}"
    );
    assert!(!outside.exists());
    assert!(!project.path_of(".testmondata").exists());
}

macro_rules! on_both_servers {
    ($($case:ident),* $(,)?) => {
        mod on_moto {
            $(#[test] fn $case() { super::$case(super::moto()) })*
        }
        mod on_garage {
            $(#[test] fn $case() { super::$case(super::garage()) })*
        }
    };
}

on_both_servers!(
    concurrent_uploads_of_distinct_commits_all_restore,
    concurrent_uploads_of_one_commit_stay_consistent,
    tampered_objects_are_refused_and_the_local_file_kept,
    rows_pending_in_the_wal_are_uploaded,
    a_stale_local_wal_never_mixes_into_the_restored_file,
    a_process_killed_between_upload_steps_leaves_a_consistent_bucket,
    hostile_index_entries_cannot_choose_local_paths,
);

#[test]
fn garage_checks_credentials_and_the_secret_variable_overrides_file_and_option() {
    let server = garage();
    let bucket = server.bucket();
    let project = Project::new();
    let wrong = bucket
        .settings()
        .replace(&server.secret, "wrong-secret-in-file-0123456789");
    project.write("pytest.ini", format!("[pytest]\n\n{wrong}"));
    project.commit("initial");
    marker_db(&project.path_of(".testmondata"), "x");

    let output = project.tmnet(&["env", "--upload"]).output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        err.contains("check the access key id") && err.contains("TMNET_S3_SECRET_KEY in"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-secret-in-file"),
        "the secret leaked: {err}"
    );

    // The option beats the file; the variable beats both.
    project.tmnet_ok(&["env", "--upload", "--s3-secret", &server.secret]);
    let output = project
        .tmnet(&["env", "--upload", "--s3-secret", "wrong-option-secret-0123"])
        .env("TMNET_S3_SECRET_KEY", &server.secret)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let output = project
        .tmnet(&["env", "--s3-secret", &server.secret])
        .env("TMNET_S3_SECRET_KEY", "wrong-env-secret-0123")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "the variable wins even over a right option"
    );
}
