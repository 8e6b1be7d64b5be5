//! The bucket layout and the index `<env>/_tmnet.json` (format v2, see docs/FORMAT.md).
//!
//! The index is a JSON object keyed by commit. The original script wrote abbreviated SHAs with
//! a list of file names (`{"1a2b3c4": [".testmondata"]}`, object `<env>/<sha>_<name>`); tmnet
//! writes full SHAs with an upload record that names the object, its digest, size and encoding.
//! Entries this module does not understand are kept verbatim when the index is rewritten.
//!
//! Everything here is pure: it parses, validates, merges and matches, and never does I/O.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The upload record format this version writes.
pub const FORMAT: u32 = 2;
/// Refuse indexes and manifests larger than this: a hostile bucket must not exhaust memory.
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// Upper bound on a stored file's size, far above any real testmon database.
pub const MAX_FILE_BYTES: u64 = 1 << 40;
/// Git abbreviates to at least 4 hex digits.
const MIN_ABBREV: usize = 4;

/// How a stored object's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Zstd,
    Identity,
}

impl Encoding {
    fn suffix(self) -> &'static str {
        match self {
            Encoding::Zstd => ".zst",
            Encoding::Identity => "",
        }
    }
}

/// One stored file of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Base name of the local file (informational: restore writes to the configured data file).
    pub name: String,
    /// Size of the decoded file.
    pub size: u64,
    /// SHA-256 of the decoded file, lowercase hex.
    pub sha256: String,
    pub encoding: Encoding,
    /// Size of the object as stored.
    pub stored_size: u64,
}

/// One upload: the value of a v2 index entry and the body of its manifest object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub format: u32,
    /// Full commit SHA.
    pub commit: String,
    /// Unique per upload, sortable by time: objects are never overwritten.
    pub id: String,
    /// RFC 3339 UTC.
    pub uploaded_at: String,
    /// `tmnet <version>`.
    pub tool: String,
    pub files: Vec<StoredFile>,
}

impl Upload {
    /// Parse and check the manifest stored under `<commit>_<id>.json`: it must be a valid record
    /// of exactly that upload.
    pub fn from_manifest(bytes: &[u8], commit: &str, id: &str) -> Result<Upload, String> {
        let upload: Upload = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
        upload.validate()?;
        if upload.commit != commit || upload.id != id {
            return Err("it describes another upload".into());
        }
        Ok(upload)
    }

    /// Check everything that came from the bucket before any of it is used.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("unsupported format {}", self.format));
        }
        if !is_full_sha(&self.commit) {
            return Err(format!("commit {:?} is not a full SHA", self.commit));
        }
        if !is_upload_id(&self.id) {
            return Err(format!("upload id {:?} is malformed", self.id));
        }
        if self.files.is_empty() || self.files.len() > 16 {
            return Err(format!("{} files listed", self.files.len()));
        }
        for file in &self.files {
            if !is_safe_name(&file.name) {
                return Err(format!(
                    "file name {:?} is not a plain file name",
                    file.name
                ));
            }
            if file.sha256.len() != 64 || !is_lower_hex(&file.sha256) {
                return Err(format!("digest of {:?} is not a SHA-256", file.name));
            }
            if file.size > MAX_FILE_BYTES || file.stored_size > MAX_FILE_BYTES {
                return Err(format!("size of {:?} is out of bounds", file.name));
            }
        }
        Ok(())
    }
}

pub fn index_key(env: &str) -> String {
    format!("{env}/_tmnet.json")
}

/// Object of an upload's file: `<env>/<commit>_<id>_<name>[.zst]`, unique per upload.
pub fn object_key(env: &str, upload: &Upload, file: &StoredFile) -> String {
    data_key(env, &upload.commit, &upload.id, &file.name, file.encoding)
}

/// The same key, from its parts (before the upload record exists).
pub fn data_key(env: &str, commit: &str, id: &str, name: &str, encoding: Encoding) -> String {
    format!("{env}/{commit}_{id}_{name}{}", encoding.suffix())
}

/// Object of a file in the original layout: `<env>/<sha>_<name>`.
pub fn legacy_object_key(env: &str, sha: &str, name: &str) -> String {
    format!("{env}/{sha}_{name}")
}

/// Folder of per-upload manifests: immutable, so the index can always be repaired from them.
pub fn manifest_prefix(env: &str) -> String {
    format!("{env}/_tmnet/uploads/")
}

pub fn manifest_key(env: &str, commit: &str, id: &str) -> String {
    format!("{}{commit}_{id}.json", manifest_prefix(env))
}

/// `(commit, id)` from a manifest key's file name; None for anything else.
pub fn parse_manifest_name(name: &str) -> Option<(String, String)> {
    let stem = name.strip_suffix(".json")?;
    let (commit, id) = stem.split_once('_')?;
    (is_full_sha(commit) && is_upload_id(id)).then(|| (commit.to_string(), id.to_string()))
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// 40 (sha1) or 64 (sha256) lowercase hex digits.
pub fn is_full_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && is_lower_hex(s)
}

pub fn is_upload_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
}

/// A plain file name: it may only ever become part of an object key, never a local path.
pub fn is_safe_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// The parsed index, with unknown entries preserved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Index {
    entries: Map<String, Value>,
}

impl Index {
    pub fn parse(bytes: &[u8]) -> Result<Index, String> {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(entries)) => Ok(Index { entries }),
            Ok(_) => Err("it is valid JSON but not an object".into()),
            Err(err) => Err(format!("it is not valid JSON ({err})")),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes =
            serde_json::to_vec_pretty(&self.entries).expect("a JSON map always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// The v2 upload recorded for `commit`, if any and valid.
    pub fn upload(&self, commit: &str) -> Option<Upload> {
        let upload: Upload = serde_json::from_value(self.entries.get(commit)?.clone()).ok()?;
        (upload.validate().is_ok() && upload.commit == commit).then_some(upload)
    }

    /// Record an upload under its full SHA. Between two uploads of one commit the later id
    /// wins, so that concurrent writers converge on the same entry whatever their order.
    pub fn insert_upload(&mut self, upload: &Upload) -> bool {
        if let Some(existing) = self.upload(&upload.commit)
            && existing.id >= upload.id
        {
            return false;
        }
        let value = serde_json::to_value(upload).expect("an upload always serializes");
        self.entries.insert(upload.commit.clone(), value);
        true
    }

    /// Record a file in the original layout: `{"<abbrev>": ["<name>", ...]}`.
    /// Returns whether the index changed.
    pub fn insert_legacy(&mut self, abbrev: &str, name: &str) -> bool {
        let value = self
            .entries
            .entry(abbrev.to_string())
            .or_insert_with(|| Value::Array(vec![]));
        match value {
            Value::Array(names) if names.iter().any(|n| n.as_str() == Some(name)) => false,
            Value::Array(names) => {
                names.push(Value::String(name.to_string()));
                true
            }
            other => {
                *other = Value::Array(vec![Value::String(name.to_string())]);
                true
            }
        }
    }
}

/// What restore can fetch for one commit, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// A v2 entry read from the index.
    Upload(Upload),
    /// A v2 upload known only from its manifest's key (the index missed it): fetch the manifest.
    Manifest { commit: String, id: String },
    /// An entry in the original layout: unverified raw objects.
    Legacy { key: String, files: Vec<String> },
}

/// Every commit the bucket knows for one environment, ready for matching against history.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Best v2 choice per full SHA.
    uploads: HashMap<String, Choice>,
    /// Original-layout entries by key length, then key (lowercased hex).
    legacy: HashMap<usize, HashMap<String, (String, Vec<String>)>>,
    /// Keys that were ignored, with the reason (hostile or unreadable entries).
    pub ignored: Vec<String>,
}

impl Catalog {
    pub fn from_index(index: &Index) -> Catalog {
        let mut catalog = Catalog::default();
        for (key, value) in &index.entries {
            match value {
                Value::Array(names) => catalog.add_legacy(key, names),
                Value::Object(_) => match index.upload(key) {
                    Some(upload) => catalog.offer(
                        upload.commit.clone(),
                        upload.id.clone(),
                        Choice::Upload(upload),
                    ),
                    None => catalog
                        .ignored
                        .push(format!("{key}: not a valid v{FORMAT} entry")),
                },
                _ => catalog.ignored.push(format!("{key}: unexpected value")),
            }
        }
        catalog
    }

    fn add_legacy(&mut self, key: &str, names: &[Value]) {
        let lower = key.to_ascii_lowercase();
        if !(MIN_ABBREV..=64).contains(&lower.len()) || !is_lower_hex(&lower) {
            self.ignored.push(format!("{key}: not a commit SHA"));
            return;
        }
        let names: Vec<String> = names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        self.legacy
            .entry(lower.len())
            .or_default()
            .insert(lower, (key.to_string(), names));
    }

    /// Add a manifest seen in a listing; it wins over an index entry only if it is newer.
    pub fn add_manifest(&mut self, commit: String, id: String) {
        self.offer(commit.clone(), id.clone(), Choice::Manifest { commit, id });
    }

    fn offer(&mut self, commit: String, id: String, choice: Choice) {
        let newer = match self.uploads.get(&commit) {
            None => true,
            Some(Choice::Upload(u)) => id > u.id,
            Some(Choice::Manifest { id: known, .. }) => id > *known,
            Some(Choice::Legacy { .. }) => true,
        };
        if newer {
            self.uploads.insert(commit, choice);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty() && self.legacy.is_empty()
    }

    /// Number of distinct keys known.
    pub fn len(&self) -> usize {
        self.uploads.len() + self.legacy.values().map(HashMap::len).sum::<usize>()
    }

    /// The choice for a full SHA from history: a v2 upload first, else an original-layout entry
    /// whose key is the SHA or a prefix of it.
    pub fn lookup(&self, sha: &str) -> Option<Choice> {
        if let Some(choice) = self.uploads.get(sha) {
            return Some(choice.clone());
        }
        let mut lengths: Vec<&usize> = self.legacy.keys().collect();
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        for len in lengths {
            if let Some((key, files)) = sha
                .get(..*len)
                .and_then(|prefix| self.legacy[len].get(prefix))
            {
                return Some(Choice::Legacy {
                    key: key.clone(),
                    files: files.clone(),
                });
            }
        }
        None
    }
}

/// Which file of an original-layout entry is the data file: the one named like the local data
/// file, else `.testmondata`. Names that are not plain file names are never used.
pub fn legacy_file<'a>(files: &'a [String], local_name: &str) -> Option<&'a str> {
    let safe = || files.iter().map(String::as_str).filter(|n| is_safe_name(n));
    safe()
        .find(|n| *n == local_name)
        .or_else(|| safe().find(|n| *n == ".testmondata"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "1234567890abcdef1234567890abcdef12345678";

    fn upload(commit: &str, id: &str) -> Upload {
        Upload {
            format: FORMAT,
            commit: commit.into(),
            id: id.into(),
            uploaded_at: "2026-11-25T00:00:00Z".into(),
            tool: "tmnet test".into(),
            files: vec![StoredFile {
                name: ".testmondata".into(),
                size: 10,
                sha256: "0".repeat(64),
                encoding: Encoding::Zstd,
                stored_size: 5,
            }],
        }
    }

    #[test]
    fn original_entries_survive_a_rewrite() {
        let original = br#"{"1234567": [".testmondata"], "zzz": {"x": 1}}"#;
        let mut index = Index::parse(original).unwrap();
        index.insert_upload(&upload(A, "01"));
        let reparsed = Index::parse(&index.to_bytes()).unwrap();
        assert_eq!(
            reparsed.entries["1234567"],
            serde_json::json!([".testmondata"])
        );
        assert_eq!(reparsed.entries["zzz"], serde_json::json!({"x": 1}));
        assert_eq!(reparsed.upload(A).unwrap().id, "01");
    }

    #[test]
    fn later_upload_of_a_commit_wins_in_any_order() {
        let mut one = Index::default();
        one.insert_upload(&upload(A, "02"));
        assert!(!one.insert_upload(&upload(A, "01")));
        let mut two = Index::default();
        two.insert_upload(&upload(A, "01"));
        assert!(two.insert_upload(&upload(A, "02")));
        assert_eq!(one, two);
    }

    #[test]
    fn lookup_matches_full_and_abbreviated_keys_preferring_v2() {
        let mut index =
            Index::parse(br#"{"1234567": [".testmondata"], "ABCDEF12": ["x"]}"#).unwrap();
        let catalog = Catalog::from_index(&index);
        assert_eq!(
            catalog.lookup(B),
            Some(Choice::Legacy {
                key: "1234567".into(),
                files: vec![".testmondata".into()]
            })
        );
        assert!(catalog.lookup(A).is_none());
        assert!(
            catalog.lookup(&format!("abcdef12{}", &A[8..])).is_some(),
            "keys match case-insensitively"
        );

        index.insert_upload(&upload(B, "01"));
        let mut catalog = Catalog::from_index(&index);
        assert_eq!(catalog.lookup(B), Some(Choice::Upload(upload(B, "01"))));
        catalog.add_manifest(B.into(), "00".into());
        assert_eq!(
            catalog.lookup(B),
            Some(Choice::Upload(upload(B, "01"))),
            "older manifest loses"
        );
        catalog.add_manifest(B.into(), "02".into());
        assert_eq!(
            catalog.lookup(B),
            Some(Choice::Manifest {
                commit: B.into(),
                id: "02".into()
            })
        );
    }

    #[test]
    fn hostile_entries_are_ignored_not_used() {
        let mut evil = upload(A, "01");
        evil.files[0].name = "../../etc/passwd".into();
        let text =
            serde_json::json!({ A: evil, "not-a-sha": [".testmondata"], "123": ["x"] }).to_string();
        let catalog = Catalog::from_index(&Index::parse(text.as_bytes()).unwrap());
        assert!(catalog.lookup(A).is_none());
        assert_eq!(catalog.ignored.len(), 3);
        assert_eq!(
            legacy_file(&["../x".into(), ".testmondata".into()], "db"),
            Some(".testmondata")
        );
        assert_eq!(legacy_file(&["db".into()], "db"), Some("db"));
        assert_eq!(legacy_file(&["/etc/passwd".into()], "/etc/passwd"), None);
        assert!(Index::parse(b"[1]").is_err() && Index::parse(b"{").is_err());
    }

    #[test]
    fn keys_and_manifest_names_round_trip() {
        let up = upload(A, "0190-ab");
        assert_eq!(
            object_key("e", &up, &up.files[0]),
            format!("e/{A}_0190-ab_.testmondata.zst")
        );
        let key = manifest_key("e", A, "0190-ab");
        let name = key.strip_prefix(&manifest_prefix("e")).unwrap();
        assert_eq!(
            parse_manifest_name(name),
            Some((A.into(), "0190-ab".into()))
        );
        assert_eq!(parse_manifest_name("x_y.json"), None);
        let body = serde_json::to_vec(&up).unwrap();
        assert_eq!(Upload::from_manifest(&body, A, "0190-ab"), Ok(up.clone()));
        assert!(Upload::from_manifest(&body, A, "0190-ac").is_err());
        assert!(Upload::from_manifest(b"{}", A, "0190-ab").is_err());
        let mut index = Index::default();
        assert!(index.insert_legacy("1234567", ".testmondata"));
        assert!(!index.insert_legacy("1234567", ".testmondata"));
        assert_eq!(
            index.entries["1234567"],
            serde_json::json!([".testmondata"])
        );
    }
}
