//! What restore and upload share: the resolved context and reading what the store knows.

use crate::config::Settings;
use crate::error::Result;
use crate::git::Repo;
use crate::index::{self, Catalog, Index};
use crate::store::{Store, Version};

/// Everything a flow works with, opened once.
pub struct Context {
    pub settings: Settings,
    pub store: Store,
    pub repo: Repo,
    pub quiet: bool,
}

impl Context {
    /// Progress and outcome lines go to stderr, so stdout stays free for callers.
    pub fn say(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("tmnet: {}", message.as_ref());
        }
    }
}

/// The index as stored: parsed, or why it could not be, and the version to update it from.
pub struct StoredIndex {
    pub parsed: std::result::Result<Index, String>,
    pub version: Version,
}

pub async fn read_index(ctx: &Context) -> Result<Option<StoredIndex>> {
    let key = index::index_key(&ctx.settings.env);
    let found = ctx.store.get_small(&key, index::MAX_INDEX_BYTES).await?;
    Ok(found.map(|(bytes, version)| StoredIndex {
        parsed: Index::parse(&bytes),
        version,
    }))
}

/// The manifests listed for the environment, as `(commit, id)`.
pub async fn list_manifests(ctx: &Context) -> Result<Vec<(String, String)>> {
    let names = ctx
        .store
        .list(&index::manifest_prefix(&ctx.settings.env))
        .await?;
    Ok(names
        .iter()
        .filter_map(|name| index::parse_manifest_name(name))
        .collect())
}

/// Index and manifest listing, fetched concurrently and merged. An unreadable index is reported
/// and skipped: the manifests still say what can be restored.
pub async fn load_catalog(ctx: &Context) -> Result<Catalog> {
    let (stored, manifests) = tokio::join!(read_index(ctx), list_manifests(ctx));
    let key = index::index_key(&ctx.settings.env);
    let mut catalog = match stored? {
        None => Catalog::default(),
        Some(StoredIndex {
            parsed: Ok(index), ..
        }) => Catalog::from_index(&index),
        Some(StoredIndex {
            parsed: Err(why), ..
        }) => {
            ctx.say(format!("warning: ignoring index {key}: {why}"));
            Catalog::default()
        }
    };
    if let Some(first) = catalog.ignored.first() {
        ctx.say(format!(
            "warning: ignored {} unusable entries in {key} (first: {first})",
            catalog.ignored.len()
        ));
    }
    for (commit, id) in manifests? {
        catalog.add_manifest(commit, id);
    }
    Ok(catalog)
}

/// The first 10 digits of a SHA, for messages.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

/// `4.7 MB`-style sizes for messages.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_naturally() {
        assert_eq!(super::human_size(999), "999 B");
        assert_eq!(super::human_size(4_702_208), "4.7 MB");
    }
}
