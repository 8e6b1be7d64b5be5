//! The local SQLite database: a consistent snapshot to upload, and an atomic replacement on
//! restore that never leaves the new file beside a stale `-wal`, `-shm` or `-journal`.
//!
//! testmon keeps its database in WAL mode, so recent rows may sit in `.testmondata-wal`. Copying
//! the main file alone loses them; SQLite's online backup API reads the database as a connection
//! would (main file plus WAL) inside one read transaction, so a concurrent writer cannot tear it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::StepResult;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result, io_error};

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The files SQLite may keep beside a database, any of which would be replayed onto it.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn sqlite_error(action: &str, path: &Path, err: rusqlite::Error) -> Error {
    Error::failure(format!("cannot {action} {}: {err}", path.display()))
}

/// Copy the database at `source` (with whatever its WAL holds) into a new self-contained file in
/// `dir`, in rollback-journal mode so that it is one file. The source is only read.
pub fn take(source: &Path, dir: &Path) -> Result<tempfile::NamedTempFile> {
    check_header(source)?;
    // Read-write (never create) so that, as the last connection, SQLite cleans up the -wal and
    // -shm files its open made: the user's directory is left as it was. Read-only as a fallback
    // for read-only file systems.
    let src = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .or_else(|_| Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY))
        .map_err(|err| sqlite_error("open", source, err))?;
    src.busy_timeout(Duration::from_secs(30))
        .map_err(|err| sqlite_error("open", source, err))?;
    let temp = tempfile::Builder::new()
        .prefix(".tmnet-snapshot-")
        .tempfile_in(dir)
        .map_err(|err| io_error("create a file in", dir, err))?;
    let mut dst =
        Connection::open(temp.path()).map_err(|err| sqlite_error("create", temp.path(), err))?;
    {
        let backup = rusqlite::backup::Backup::new(&src, &mut dst)
            .map_err(|err| sqlite_error("snapshot", source, err))?;
        // All pages in one step: one read transaction, hence one consistent state even while
        // testmon is still writing.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match backup
                .step(-1)
                .map_err(|err| sqlite_error("snapshot", source, err))?
            {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    return Err(Error::failure(format!(
                        "cannot snapshot {}: the database stayed locked for 30 s",
                        source.display()
                    )));
                }
            }
        }
    }
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(|err| sqlite_error("finish", temp.path(), err))?;
    dst.close()
        .map_err(|(_, err)| sqlite_error("finish", temp.path(), err))?;
    Ok(temp)
}

/// A database file starts with SQLite's magic string; anything else is not testmon data.
pub fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut magic = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|err| io_error("read", path, err))?;
    let read = file
        .read(&mut magic)
        .map_err(|err| io_error("read", path, err))?;
    if read == 16 && &magic == SQLITE_MAGIC {
        Ok(())
    } else {
        Err(Error::failure(format!(
            "{} is not an SQLite database",
            path.display()
        )))
    }
}

/// `PRAGMA quick_check` on a file: used for original-layout objects, which carry no digest.
pub fn quick_check(path: &Path) -> Result<()> {
    check_header(path)?;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|err| sqlite_error("open", path, err))?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|err| sqlite_error("check", path, err))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(Error::failure(format!(
            "{} fails SQLite's quick_check: {verdict}",
            path.display()
        )))
    }
}

/// Replace `target` with the downloaded file atomically.
///
/// Order matters for a crash at any point: first fold the old database's own WAL into it (so
/// the old file stays complete on its own), then delete the side files, then rename the new file
/// over the old one. A new database is never beside an old WAL.
pub fn install(downloaded: tempfile::NamedTempFile, target: &Path) -> Result<()> {
    if target.exists() && side_file(target, "-wal").exists() {
        // Best effort: a WAL that cannot be checkpointed is deleted below either way.
        if let Ok(conn) = Connection::open_with_flags(target, OpenFlags::SQLITE_OPEN_READ_WRITE) {
            let _ = conn.busy_timeout(Duration::from_secs(5));
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            let _ = conn.close();
        }
    }
    for suffix in SIDE_FILES {
        let side = side_file(target, suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_error("remove the stale", &side, err)),
        }
    }
    downloaded
        .persist(target)
        .map_err(|err| io_error("replace", target, err.error))?;
    if let Some(dir) = target.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(path: &Path) -> Vec<i64> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn snapshot_includes_rows_pending_in_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(".testmondata");
        let writer = Connection::open(&db).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t(v INTEGER); INSERT INTO t VALUES (1), (2);")
            .unwrap();
        assert!(
            side_file(&db, "-wal").metadata().unwrap().len() > 0,
            "rows are in the WAL"
        );
        let snap = take(&db, dir.path()).unwrap();
        assert_eq!(rows(snap.path()), vec![1, 2]);
        assert!(!side_file(snap.path(), "-wal").exists());
        drop(writer);
    }

    #[test]
    fn install_removes_stale_side_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(".testmondata");
        std::fs::write(side_file(&target, "-wal"), b"stale").unwrap();
        std::fs::write(side_file(&target, "-shm"), b"stale").unwrap();
        let new = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        std::fs::write(new.path(), b"new").unwrap();
        install(new, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!side_file(&target, "-wal").exists() && !side_file(&target, "-shm").exists());
        assert!(check_header(&target).is_err());
    }
}
