//! Restore: find the newest ancestor of HEAD with stored data and put that data in place.
//!
//! The candidates are the union of the index and the per-upload manifests listed from the
//! store, so an upload whose index update was lost (a store that ignores preconditions, a
//! process killed before its last step) still restores. A miss is not an error.

use std::path::Path;

use crate::error::{Error, Result, io_error};
use crate::flow::{Context, human_size, load_catalog, short};
use crate::index::{self, Choice, Encoding, StoredFile, Upload};
use crate::snapshot;
use crate::transfer;

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// Data of `commit` was installed; `distance` commits back from HEAD (0 = HEAD itself).
    Hit {
        commit: String,
        distance: usize,
        bytes: u64,
    },
    Miss,
}

pub async fn restore(ctx: &Context) -> Result<Restored> {
    let env = &ctx.settings.env;
    let head = ctx.repo.head()?;
    let catalog = load_catalog(ctx).await?;
    let store = ctx.store.describe();
    if catalog.is_empty() {
        ctx.say(format!("no data stored for {env} in {store} yet: nothing to restore (run `tmnet {env} --upload` after pytest)"));
        return Ok(Restored::Miss);
    }
    let walk = ctx.repo.find_ancestor(&head, |sha| catalog.lookup(sha))?;
    let Some((commit, choice)) = walk.found else {
        if ctx.repo.is_shallow()? {
            return Err(Error::failure(format!(
                "this shallow clone's history ends after {} commits, before any of the {} commits stored for {env} in {store}: fetch more history (`git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout)",
                walk.walked,
                catalog.len()
            )));
        }
        ctx.say(format!(
            "no data for {env} among the {} ancestors of HEAD ({}) in {store} ({} commits stored): nothing to restore",
            walk.walked,
            short(&head),
            catalog.len()
        ));
        return Ok(Restored::Miss);
    };
    let distance = walk.walked - 1;
    let target = &ctx.settings.datafile.value;
    let bytes = match choice {
        Choice::Upload(upload) => restore_upload(ctx, &upload, target).await?,
        Choice::Manifest { commit, id } => {
            let upload = fetch_manifest(ctx, &commit, &id).await?;
            restore_upload(ctx, &upload, target).await?
        }
        Choice::Legacy { key, files } => {
            let local_name = target
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(".testmondata");
            let Some(name) = index::legacy_file(&files, local_name) else {
                ctx.say(format!(
                    "the entry {key:?} for {env} lists no file named {local_name:?} or .testmondata ({files:?}): nothing to restore"
                ));
                return Ok(Restored::Miss);
            };
            let object = index::legacy_object_key(env, &key, name);
            let (temp, digest) = download(ctx, &object, Encoding::Identity, None, target).await?;
            // Original-layout objects carry no digest: at least insist on an intact database.
            snapshot::quick_check(temp.path()).map_err(|err| {
                Error::failure(format!("object {object} is not a usable testmon database ({err}): the local file is unchanged"))
            })?;
            snapshot::install(temp, target)?;
            digest.size
        }
    };
    let back = match distance {
        0 => "HEAD".to_string(),
        1 => "1 commit back".to_string(),
        n => format!("{n} commits back"),
    };
    ctx.say(format!(
        "restored {env} data of commit {} ({back}) from {store} to {} ({})",
        short(&commit),
        target.display(),
        human_size(bytes)
    ));
    Ok(Restored::Hit {
        commit,
        distance,
        bytes,
    })
}

async fn fetch_manifest(ctx: &Context, commit: &str, id: &str) -> Result<Upload> {
    let key = index::manifest_key(&ctx.settings.env, commit, id);
    let Some((bytes, _)) = ctx.store.get_small(&key, index::MAX_INDEX_BYTES).await? else {
        return Err(Error::failure(format!(
            "manifest {key} disappeared while restoring: run tmnet again"
        )));
    };
    Upload::from_manifest(&bytes, commit, id).map_err(|why| {
        Error::failure(format!(
            "manifest {key} is not a valid upload record: {why}"
        ))
    })
}

async fn restore_upload(ctx: &Context, upload: &Upload, target: &Path) -> Result<u64> {
    let file = &upload.files[0];
    let object = index::object_key(&ctx.settings.env, upload, file);
    let (temp, _) = download(ctx, &object, file.encoding, Some(file), target).await?;
    snapshot::install(temp, target)?;
    Ok(file.size)
}

/// Download into a temporary file beside `target` (it disappears unless installed), verified
/// against `expect` when the upload recorded a digest.
async fn download(
    ctx: &Context,
    object: &str,
    encoding: Encoding,
    expect: Option<&StoredFile>,
    target: &Path,
) -> Result<(tempfile::NamedTempFile, transfer::Digest256)> {
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|err| io_error("create", dir, err))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = tempfile::Builder::new()
        .prefix(&format!("{name}.tmnet-"))
        .tempfile_in(dir)
        .map_err(|err| io_error("create a file in", dir, err))?;
    let out = temp
        .reopen()
        .map_err(|err| io_error("open", temp.path(), err))?;
    let digest = transfer::download_file(&ctx.store, object, encoding, expect, out).await?;
    Ok((temp, digest))
}
