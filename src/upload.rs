//! Upload: store this run's data under HEAD without ever losing a concurrent upload.
//!
//! Steps, in this order (docs/FORMAT.md):
//! 1. snapshot the database with SQLite's backup API;
//! 2. write the data object under a key unique to this upload (never overwritten);
//! 3. write the upload's manifest (immutable, create-only);
//! 4. in compatibility mode, write the original layout's raw object;
//! 5. add the entry to the index: compare-and-swap on stores that honour `If-Match` /
//!    `If-None-Match`; on stores that ignore them (detected by a probe), read-merge-write with
//!    verification, repairing entries other writers lost from their manifests.
//!
//! A crash after any step leaves at worst unreferenced objects; readers find complete uploads
//! through the manifests even when step 5 never happened.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::flow::{Context, StoredIndex, human_size, list_manifests, read_index, short};
use crate::index::{self, Encoding, Index, Upload};
use crate::snapshot;
use crate::store::{Store, WriteMode, Written};
use crate::transfer;

/// How long to keep retrying the index update under contention.
const INDEX_DEADLINE: Duration = Duration::from_secs(120);
/// Manifests fetched at most per upload when repairing an index on a store without preconditions.
const MAX_REPAIRS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub upload: Upload,
    /// Whether the store honoured conditional writes.
    pub conditional: bool,
}

pub async fn upload(ctx: &Context) -> Result<Uploaded> {
    let settings = &ctx.settings;
    let env = &settings.env;
    let datafile = &settings.datafile;
    if !datafile.value.is_file() {
        return Err(Error::failure(format!(
            "no testmon data at {} ({}): run `pytest --testmon` before `tmnet {env} --upload`",
            datafile.value.display(),
            match &datafile.origin {
                crate::config::Origin::Default =>
                    format!("the project root {}", settings.rootdir.display()),
                other => other.to_string(),
            }
        )));
    }
    let commit = ctx.repo.head()?;
    let abbrev = if settings.compat {
        Some(ctx.repo.abbrev(&commit)?)
    } else {
        None
    };
    let name = datafile
        .value
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(".testmondata")
        .to_string();
    let name = if index::is_safe_name(&name) {
        name
    } else {
        ".testmondata".to_string()
    };

    let temp_dir = std::env::temp_dir();
    let snap = snapshot::take(&datafile.value, &temp_dir)?;

    let mut upload = Upload {
        format: index::FORMAT,
        commit: commit.clone(),
        id: new_upload_id(),
        uploaded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tool: format!("tmnet {}", env!("CARGO_PKG_VERSION")),
        files: vec![],
    };
    let object = index::data_key(env, &commit, &upload.id, &name, Encoding::Zstd);
    let stored =
        transfer::upload_file(&ctx.store, &object, snap.path(), &name, Encoding::Zstd).await?;
    upload.files.push(stored);
    failpoint("after-object");

    let manifest = index::manifest_key(env, &commit, &upload.id);
    let body =
        Bytes::from(serde_json::to_vec_pretty(&upload).expect("an upload always serializes"));
    if ctx
        .store
        .put_small(&manifest, body, WriteMode::Create)
        .await?
        == Written::Conflict
    {
        return Err(Error::failure(format!(
            "manifest {manifest} already exists: upload ids must be unique"
        )));
    }
    failpoint("after-manifest");

    if let Some(abbrev) = &abbrev {
        let legacy = index::legacy_object_key(env, abbrev, &name);
        transfer::upload_file(&ctx.store, &legacy, snap.path(), &name, Encoding::Identity).await?;
    }

    let conditional = honours_preconditions(&ctx.store, env).await?;
    update_index(
        ctx,
        &upload,
        abbrev.as_deref().map(|a| (a, name.as_str())),
        conditional,
    )
    .await?;

    let file = &upload.files[0];
    let mut message = format!(
        "uploaded {env} data of commit {} to {} ({}, {} stored)",
        short(&commit),
        ctx.store.describe(),
        human_size(file.size),
        human_size(file.stored_size)
    );
    if let Some(abbrev) = &abbrev {
        message.push_str(&format!("; also in the original layout as {abbrev}"));
    }
    ctx.say(message);
    if !conditional {
        ctx.say("note: this store ignores conditional writes (If-Match/If-None-Match); the index is repaired from per-upload manifests instead");
    }
    Ok(Uploaded {
        upload,
        conditional,
    })
}

/// Add the entry (and the original-layout entry in compatibility mode) to the index.
async fn update_index(
    ctx: &Context,
    upload: &Upload,
    legacy: Option<(&str, &str)>,
    conditional: bool,
) -> Result<()> {
    let key = index::index_key(&ctx.settings.env);
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let stored = read_index(ctx).await?;
        let (mut index, mode) = match stored {
            None => (Index::default(), WriteMode::Create),
            Some(stored) => match stored.parsed {
                Ok(index) => (index, WriteMode::Update(stored.version)),
                Err(why) => {
                    return Err(Error::failure(format!(
                        "index {key} in {} is unreadable ({why}): refusing to overwrite it. Your data is stored and restorable; delete the index and the next upload rebuilds it from the manifests",
                        ctx.store.describe()
                    )));
                }
            },
        };
        let mut changed = index.insert_upload(upload);
        if let Some((abbrev, name)) = legacy {
            changed |= index.insert_legacy(abbrev, name);
        }
        // Repair from the manifests where writers may have lost entries, and when there is no
        // index at all (first upload, or one deleted after corruption): that rebuilds it.
        if !conditional || matches!(mode, WriteMode::Create) {
            changed |= repair(ctx, &mut index).await? > 0;
        }
        if !changed && has_entry(&index, upload) {
            return Ok(());
        }
        let mode = if conditional {
            mode
        } else {
            WriteMode::Overwrite
        };
        let written = ctx
            .store
            .put_small(&key, Bytes::from(index.to_bytes()), mode)
            .await?;
        if written == Written::Done {
            if conditional {
                return Ok(());
            }
            // Without preconditions a concurrent writer may have replaced our write: check.
            tokio::time::sleep(backoff(attempt)).await;
            if let Some(StoredIndex {
                parsed: Ok(now), ..
            }) = read_index(ctx).await?
                && has_entry(&now, upload)
            {
                return Ok(());
            }
        }
        if started.elapsed() > INDEX_DEADLINE {
            return Err(Error::failure(format!(
                "could not update index {key} within {}s of contention: the data is stored and restorable through its manifest",
                INDEX_DEADLINE.as_secs()
            )));
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
}

/// The index holds this upload or a newer one of the same commit.
fn has_entry(index: &Index, upload: &Upload) -> bool {
    index
        .upload(&upload.commit)
        .is_some_and(|u| u.id >= upload.id)
}

/// Merge manifests missing from the index (lost updates on stores without preconditions).
async fn repair(ctx: &Context, index: &mut Index) -> Result<usize> {
    let env = &ctx.settings.env;
    let mut repaired = 0;
    for (commit, id) in list_manifests(ctx).await? {
        if repaired >= MAX_REPAIRS {
            break;
        }
        if index.upload(&commit).is_some_and(|u| u.id >= id) {
            continue;
        }
        let key = index::manifest_key(env, &commit, &id);
        let Some((bytes, _)) = ctx.store.get_small(&key, index::MAX_INDEX_BYTES).await? else {
            continue;
        };
        if let Ok(found) = Upload::from_manifest(&bytes, &commit, &id)
            && index.insert_upload(&found)
        {
            repaired += 1;
        }
    }
    Ok(repaired)
}

/// Whether the store refuses a second create of the same key. AWS S3, MinIO, R2, Ceph and moto
/// do; Garage 2.5 accepts it silently. Probed on every upload: three tiny requests.
async fn honours_preconditions(store: &Store, env: &str) -> Result<bool> {
    if matches!(store, Store::Local(_)) {
        return Ok(true);
    }
    let key = format!("{env}/_tmnet/probe-{}", new_upload_id());
    let first = store
        .put_small(&key, Bytes::from_static(b"probe"), WriteMode::Create)
        .await?;
    let second = store
        .put_small(&key, Bytes::from_static(b"probe"), WriteMode::Create)
        .await?;
    store.delete(&key).await?;
    Ok(first == Written::Done && second == Written::Conflict)
}

/// Exponential backoff with jitter, capped at two seconds.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.min(5);
    let jitter = random_u64() % base.max(1);
    Duration::from_millis((base + jitter).min(2000))
}

/// Unique, time-sortable id: 12 hex digits of milliseconds, then 16 random hex digits.
pub fn new_upload_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{millis:012x}-{:016x}", random_u64())
}

/// 64 random bits from the standard library's randomly seeded hasher, mixed with time and pid.
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Test hook: `TMNET_FAILPOINT=<step>` kills the process right after that step, the way a
/// cancelled CI job would, so the suite can prove that no step leaves the bucket inconsistent.
fn failpoint(step: &str) {
    if std::env::var("TMNET_FAILPOINT").is_ok_and(|v| v == step) {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_are_unique_valid_and_time_ordered() {
        let a = new_upload_id();
        std::thread::sleep(Duration::from_millis(2));
        let b = new_upload_id();
        assert!(index::is_upload_id(&a) && index::is_upload_id(&b));
        assert!(a < b);
    }
}
