//! Where objects live: an S3 bucket (through `object_store`) or a local directory.
//!
//! Both offer the same small set of operations the protocol needs: whole reads of small objects
//! with a version, conditional writes (create-if-absent, replace-if-unchanged), streamed reads and
//! writes of data objects, listing, deleting. The local directory honours the conditions with a
//! lock file and atomic renames, so it is safe on a disk shared by several runners.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, UpdateVersion,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::cli::Addressing;
use crate::config::{S3Config, StoreConfig};
use crate::error::{Error, Result};

/// Chunk size for streamed reads from the local store.
const CHUNK: usize = 1 << 20;
/// Multipart part size for S3 uploads (also the threshold below which one PUT is used).
const PART_SIZE: usize = 16 << 20;

/// A version token for conditional replacement: an ETag for S3, a content digest locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(String);

/// How a small write behaves if the object already exists.
#[derive(Debug, Clone)]
pub enum WriteMode {
    Overwrite,
    /// Fail with [`Written::Conflict`] if the object exists.
    Create,
    /// Fail with [`Written::Conflict`] unless the object is still at this version.
    Update(Version),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Done,
    Conflict,
}

pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// A piece of a streamed upload. The object is committed only after [`Piece::End`]: if the
/// producer fails and drops its sender early, nothing partial is ever stored.
#[derive(Debug)]
pub enum Piece {
    Data(Bytes),
    End,
}

pub enum Store {
    S3(S3Store),
    Local(LocalStore),
}

pub struct S3Store {
    inner: Arc<AmazonS3>,
    bucket: String,
    endpoint: Option<String>,
    /// Redacted from every message, in case a server echoes it.
    secret: Option<String>,
    /// Where the bucket, endpoint and credentials came from, for error hints.
    origins: Origins,
}

#[derive(Clone)]
struct Origins {
    bucket: String,
    endpoint: String,
    credentials: String,
}

#[derive(Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl Store {
    pub fn open(config: &StoreConfig, var: &dyn Fn(&str) -> Option<String>) -> Result<Store> {
        match config {
            StoreConfig::Local(root) => Ok(Store::Local(LocalStore {
                root: root.value.clone(),
            })),
            StoreConfig::S3(s3) => open_s3(s3, var).map(Store::S3),
        }
    }

    /// Where the data lives, for messages: `s3://bucket (endpoint)` or `file:///dir`.
    pub fn describe(&self) -> String {
        match self {
            Store::S3(s) => match &s.endpoint {
                Some(endpoint) => format!("s3://{} at {endpoint}", s.bucket),
                None => format!("s3://{}", s.bucket),
            },
            Store::Local(l) => format!("file://{}", l.root.display()),
        }
    }

    /// Read a small object whole, with its version; None if it does not exist.
    pub async fn get_small(&self, key: &str, limit: u64) -> Result<Option<(Bytes, Version)>> {
        match self {
            Store::S3(s) => {
                let result = match s.inner.get(&object_path(key)?).await {
                    Ok(result) => result,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(err) => return Err(s.error("read", key, err)),
                };
                if result.meta.size > limit {
                    return Err(too_large(key, result.meta.size, limit));
                }
                let version = Version(result.meta.e_tag.clone().unwrap_or_default());
                let bytes = result
                    .bytes()
                    .await
                    .map_err(|err| s.error("read", key, err))?;
                Ok(Some((bytes, version)))
            }
            Store::Local(l) => {
                let path = l.path(key)?;
                match fs::metadata(&path) {
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(err) => return Err(crate::error::io_error("read", &path, err)),
                    Ok(meta) if meta.len() > limit => {
                        return Err(too_large(key, meta.len(), limit));
                    }
                    Ok(_) => {}
                }
                match fs::read(&path) {
                    Ok(bytes) => {
                        let version = content_version(&bytes);
                        Ok(Some((Bytes::from(bytes), version)))
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(err) => Err(crate::error::io_error("read", &path, err)),
                }
            }
        }
    }

    /// Write a small object in one request, honouring `mode` where the store can.
    pub async fn put_small(&self, key: &str, bytes: Bytes, mode: WriteMode) -> Result<Written> {
        match self {
            Store::S3(s) => {
                let mode = match mode {
                    WriteMode::Overwrite => PutMode::Overwrite,
                    WriteMode::Create => PutMode::Create,
                    WriteMode::Update(Version(etag)) => PutMode::Update(UpdateVersion {
                        e_tag: Some(etag),
                        version: None,
                    }),
                };
                let options = PutOptions {
                    mode,
                    ..Default::default()
                };
                match s
                    .inner
                    .put_opts(&object_path(key)?, PutPayload::from(bytes), options)
                    .await
                {
                    Ok(_) => Ok(Written::Done),
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => Ok(Written::Conflict),
                    Err(err) => Err(s.error("write", key, err)),
                }
            }
            Store::Local(l) => {
                let l = l.clone();
                let key = key.to_string();
                blocking(move || l.put_small(&key, &bytes, mode)).await
            }
        }
    }

    /// Names of the objects directly or indirectly under `prefix` (which ends with `/`),
    /// relative to it.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        match self {
            Store::S3(s) => {
                let path = object_path(prefix.trim_end_matches('/'))?;
                let metas: Vec<_> = s
                    .inner
                    .list(Some(&path))
                    .try_collect()
                    .await
                    .map_err(|err| s.error("list", prefix, err))?;
                Ok(metas
                    .into_iter()
                    .filter_map(|meta| {
                        meta.location
                            .as_ref()
                            .strip_prefix(prefix)
                            .map(str::to_string)
                    })
                    .collect())
            }
            Store::Local(l) => {
                let dir = l.path(prefix.trim_end_matches('/'))?;
                let entries = match fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
                    Err(err) => return Err(crate::error::io_error("list", &dir, err)),
                };
                Ok(entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|name| !name.starts_with(".tmnet-"))
                    .collect())
            }
        }
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        match self {
            Store::S3(s) => match s.inner.delete(&object_path(key)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(err) => Err(s.error("delete", key, err)),
            },
            Store::Local(l) => {
                let path = l.path(key)?;
                match fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(err) => Err(crate::error::io_error("delete", &path, err)),
                }
            }
        }
    }

    /// Stream an object's bytes. A missing object is an error that names it.
    pub async fn download(&self, key: &str) -> Result<ByteStream> {
        match self {
            Store::S3(s) => {
                let result = s
                    .inner
                    .get(&object_path(key)?)
                    .await
                    .map_err(|err| s.error("read", key, err))?;
                let secret = s.secret.clone();
                let describe = s.describe_key(key);
                Ok(result
                    .into_stream()
                    .map_err(move |err| s3_error(&describe, "read", err, secret.as_deref()))
                    .boxed())
            }
            Store::Local(l) => {
                let path = l.path(key)?;
                let file = fs::File::open(&path).map_err(|err| {
                    if err.kind() == std::io::ErrorKind::NotFound {
                        Error::failure(format!("object {key} is missing from {}", self.describe()))
                    } else {
                        crate::error::io_error("read", &path, err)
                    }
                })?;
                let stream =
                    futures::stream::try_unfold((file, path), |(mut file, path)| async move {
                        let mut buf = vec![0u8; CHUNK];
                        let n = file
                            .read(&mut buf)
                            .map_err(|err| crate::error::io_error("read", &path, err))?;
                        buf.truncate(n);
                        Ok((n > 0).then(|| (Bytes::from(buf), (file, path))))
                    });
                Ok(stream.boxed())
            }
        }
    }

    /// Store the chunks received on `chunks` as one object, atomically: readers see the whole
    /// object or nothing. Data objects have unique keys, so this never replaces anything.
    pub async fn upload(&self, key: &str, mut pieces: mpsc::Receiver<Piece>) -> Result<()> {
        match self {
            Store::S3(s) => {
                let store: Arc<dyn ObjectStore> = s.inner.clone();
                let mut writer = BufWriter::with_capacity(store, object_path(key)?, PART_SIZE)
                    .with_max_concurrency(4);
                loop {
                    match pieces.recv().await {
                        Some(Piece::Data(chunk)) => {
                            if let Err(err) = writer.put(chunk).await {
                                let _ = writer.abort().await;
                                return Err(s.error("write", key, err));
                            }
                        }
                        Some(Piece::End) => break,
                        None => {
                            let _ = writer.abort().await;
                            return Err(Error::failure(format!(
                                "upload of {} was interrupted",
                                s.describe_key(key)
                            )));
                        }
                    }
                }
                writer.shutdown().await.map_err(|err| {
                    let detail = summarize(&s.redact(&error_chain(&err)));
                    s.explain(Error::failure(format!(
                        "cannot write {}: {detail}",
                        s.describe_key(key)
                    )))
                })
            }
            Store::Local(l) => {
                let path = l.path(key)?;
                let dir = path.parent().expect("keys have a directory").to_path_buf();
                fs::create_dir_all(&dir)
                    .map_err(|err| crate::error::io_error("create", &dir, err))?;
                let mut temp = tempfile::Builder::new()
                    .prefix(".tmnet-")
                    .tempfile_in(&dir)
                    .map_err(|err| crate::error::io_error("create a file in", &dir, err))?;
                loop {
                    match pieces.recv().await {
                        Some(Piece::Data(chunk)) => temp
                            .write_all(&chunk)
                            .map_err(|err| crate::error::io_error("write", temp.path(), err))?,
                        Some(Piece::End) => break,
                        None => {
                            return Err(Error::failure(format!("upload of {key} was interrupted")));
                        }
                    }
                }
                temp.as_file()
                    .sync_all()
                    .map_err(|err| crate::error::io_error("sync", temp.path(), err))?;
                temp.persist(&path)
                    .map_err(|err| crate::error::io_error("write", &path, err.error))?;
                Ok(())
            }
        }
    }
}

impl S3Store {
    fn describe_key(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn redact(&self, message: &str) -> String {
        redact(message, self.secret.as_deref())
    }

    fn error(&self, action: &str, key: &str, err: object_store::Error) -> Error {
        self.explain(s3_error(
            &self.describe_key(key),
            action,
            err,
            self.secret.as_deref(),
        ))
    }

    /// Add where the setting behind a failure came from.
    fn explain(&self, err: Error) -> Error {
        let message = err.message();
        let origin = if message.contains("check the bucket name") {
            Some(&self.origins.bucket)
        } else if message.contains("check the endpoint") {
            Some(&self.origins.endpoint)
        } else if message.contains("check the access key id") {
            Some(&self.origins.credentials)
        } else {
            None
        };
        match origin {
            Some(origin) => Error::failure(format!("{message}; it came from {origin}")),
            None => err,
        }
    }
}

fn redact(message: &str, secret: Option<&str>) -> String {
    match secret {
        // Very short strings would match everywhere; no real secret is that short.
        Some(secret) if secret.len() >= 6 => message.replace(secret, "<redacted>"),
        _ => message.to_string(),
    }
}

fn s3_error(what: &str, action: &str, err: object_store::Error, secret: Option<&str>) -> Error {
    let detail = match &err {
        object_store::Error::NotFound { .. } => "it does not exist".to_string(),
        _ => summarize(&redact(&error_chain(&err), secret)),
    };
    Error::failure(format!("cannot {action} {what}: {detail}"))
}

/// The useful part of an S3 client error: the server's error code and message, or the
/// connection failure, instead of the whole request dump.
fn summarize(chain: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = chain.find(&open)? + open.len();
        let end = chain[start..].find(&format!("</{name}>"))? + start;
        Some(chain[start..end].to_string())
    };
    let retries = chain
        .find("after ")
        .and_then(|i| chain[i..].split(',').next())
        .unwrap_or("")
        .trim();
    if let Some(code) = tag("Code") {
        let message = tag("Message").unwrap_or_default();
        let hint = match code.as_str() {
            "NoSuchBucket" => " (check the bucket name)",
            "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied" | "Forbidden" => {
                " (check the access key id, the secret key and the region)"
            }
            _ => "",
        };
        return format!("the server answered {code}: {message}{hint}");
    }
    for (needle, say) in [
        ("Connection refused", "connection refused"),
        ("dns error", "the endpoint's host name does not resolve"),
        ("timed out", "the connection timed out"),
        ("tcp connect error", "cannot connect"),
        (
            "invalid peer certificate",
            "the endpoint's TLS certificate is not trusted",
        ),
    ] {
        if chain.contains(needle) {
            let url = chain
                .split_whitespace()
                .find(|w| w.starts_with("http://") || w.starts_with("https://"));
            let at = url
                .map(|u| format!(" at {}", endpoint_of(u)))
                .unwrap_or_default();
            let tries = if retries.is_empty() {
                String::new()
            } else {
                format!(" ({retries})")
            };
            return format!("{say}{at}{tries}: check the endpoint and that the server is up");
        }
    }
    if let Some(status) = chain.find("Server returned non-2xx status code: ") {
        let rest = &chain[status + 37..];
        return format!(
            "the server answered {}",
            rest.split(':').next().unwrap_or(rest).trim()
        );
    }
    chain.to_string()
}

/// `scheme://host[:port]` of a request URL.
fn endpoint_of(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// The error and its sources on one line (object_store hides the HTTP cause in `source`).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

fn too_large(key: &str, size: u64, limit: u64) -> Error {
    Error::failure(format!(
        "object {key} is {size} bytes, more than the {limit} bytes allowed: refusing to read it"
    ))
}

fn object_path(key: &str) -> Result<ObjectPath> {
    ObjectPath::parse(key)
        .map_err(|err| Error::failure(format!("invalid object key {key:?}: {err}")))
}

fn content_version(bytes: &[u8]) -> Version {
    let digest = Sha256::digest(bytes);
    Version(digest.iter().map(|b| format!("{b:02x}")).collect())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Error::failure(format!("internal task failed: {err}")))?
}

fn open_s3(s3: &S3Config, var: &dyn Fn(&str) -> Option<String>) -> Result<S3Store> {
    let bucket = s3.bucket.value.clone();
    // Static keys from tmnet's settings; otherwise the AWS chain: AWS_* variables, web identity
    // (OIDC in CI), container and instance credentials.
    let mut builder = match (&s3.access_id, &s3.secret) {
        (Some(id), Some(secret)) => AmazonS3Builder::new()
            .with_access_key_id(id.value.clone())
            .with_secret_access_key(secret.value.expose().to_string()),
        _ => AmazonS3Builder::from_env(),
    };
    let region = s3
        .region
        .as_ref()
        .map(|r| r.value.clone())
        .or_else(|| var("AWS_REGION"))
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_string());
    builder = builder.with_bucket_name(bucket.clone()).with_region(region);
    let virtual_hosted = s3.addressing == Addressing::Virtual;
    builder = builder.with_virtual_hosted_style_request(virtual_hosted);
    let mut allow_http = false;
    if let Some(endpoint) = &s3.endpoint {
        allow_http = endpoint.value.starts_with("http://");
        let url = endpoint.value.trim_end_matches('/');
        let url = match (virtual_hosted, url.split_once("://")) {
            (true, Some((scheme, host))) => format!("{scheme}://{bucket}.{host}"),
            _ => url.to_string(),
        };
        builder = builder.with_endpoint(url);
    }
    let client = ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(30 * 60));
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(4),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
    };
    let inner = builder
        .with_client_options(client)
        .with_retry(retry)
        .build()
        .map_err(|err| {
            let origin = &s3.bucket.origin;
            Error::usage(format!(
                "cannot configure the S3 client for bucket {bucket} ({origin}): {}",
                error_chain(&err)
            ))
        })?;
    let origins = Origins {
        bucket: s3.bucket.origin.to_string(),
        endpoint: s3
            .endpoint
            .as_ref()
            .map_or("the AWS default endpoint".to_string(), |e| {
                e.origin.to_string()
            }),
        credentials: match (&s3.access_id, &s3.secret) {
            (Some(id), Some(secret)) => format!("{} and {}", id.origin, secret.origin),
            _ => "the AWS credential chain (AWS_* variables, profile, web identity, instance role)"
                .to_string(),
        },
    };
    Ok(S3Store {
        origins,
        inner: Arc::new(inner),
        bucket,
        endpoint: s3.endpoint.as_ref().map(|e| e.value.clone()),
        secret: s3.secret.as_ref().map(|s| s.value.expose().to_string()),
    })
}

impl LocalStore {
    /// Map a key to a path under the root; keys with empty, `.` or `..` segments are refused.
    fn path(&self, key: &str) -> Result<PathBuf> {
        let mut path = self.root.clone();
        for segment in key.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\') {
                return Err(Error::failure(format!("invalid object key {key:?}")));
            }
            path.push(segment);
        }
        Ok(path)
    }

    fn put_small(&self, key: &str, bytes: &[u8], mode: WriteMode) -> Result<Written> {
        let path = self.path(key)?;
        let dir = path.parent().expect("keys have a directory");
        fs::create_dir_all(dir).map_err(|err| crate::error::io_error("create", dir, err))?;
        // One writer at a time per object, across processes and machines sharing the disk.
        let lock_path = dir.join(format!(
            ".tmnet-lock-{}",
            path.file_name().unwrap().to_string_lossy()
        ));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|err| crate::error::io_error("open", &lock_path, err))?;
        lock.lock()
            .map_err(|err| crate::error::io_error("lock", &lock_path, err))?;
        let current = match fs::read(&path) {
            Ok(bytes) => Some(content_version(&bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(crate::error::io_error("read", &path, err)),
        };
        let allowed = match (&mode, &current) {
            (WriteMode::Overwrite, _) => true,
            (WriteMode::Create, current) => current.is_none(),
            (WriteMode::Update(expected), Some(current)) => expected == current,
            (WriteMode::Update(_), None) => false,
        };
        if !allowed {
            return Ok(Written::Conflict);
        }
        write_atomically(dir, &path, bytes)?;
        Ok(Written::Done)
    }
}

/// Write beside the target, sync, then rename over it.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix(".tmnet-")
        .tempfile_in(dir)
        .map_err(|err| crate::error::io_error("create a file in", dir, err))?;
    temp.write_all(bytes)
        .map_err(|err| crate::error::io_error("write", temp.path(), err))?;
    temp.as_file()
        .sync_all()
        .map_err(|err| crate::error::io_error("sync", temp.path(), err))?;
    temp.persist(path)
        .map_err(|err| crate::error::io_error("write", path, err.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Local(LocalStore {
            root: dir.path().to_path_buf(),
        });
        (dir, store)
    }

    #[tokio::test]
    async fn local_store_honours_conditions() {
        let (_dir, store) = local();
        assert_eq!(store.get_small("e/_tmnet.json", 100).await.unwrap(), None);
        let w = store
            .put_small(
                "e/_tmnet.json",
                Bytes::from_static(b"{}"),
                WriteMode::Create,
            )
            .await
            .unwrap();
        assert_eq!(w, Written::Done);
        let w = store
            .put_small(
                "e/_tmnet.json",
                Bytes::from_static(b"{}"),
                WriteMode::Create,
            )
            .await
            .unwrap();
        assert_eq!(w, Written::Conflict);
        let (_, version) = store
            .get_small("e/_tmnet.json", 100)
            .await
            .unwrap()
            .unwrap();
        let update = WriteMode::Update(version.clone());
        assert_eq!(
            store
                .put_small("e/_tmnet.json", Bytes::from_static(b"{\"a\":1}"), update)
                .await
                .unwrap(),
            Written::Done
        );
        let stale = WriteMode::Update(version);
        assert_eq!(
            store
                .put_small("e/_tmnet.json", Bytes::from_static(b"{}"), stale)
                .await
                .unwrap(),
            Written::Conflict
        );
        assert_eq!(
            store.list("e/").await.unwrap(),
            vec!["_tmnet.json".to_string()]
        );
        assert!(
            store.get_small("e/_tmnet.json", 2).await.is_err(),
            "size limit applies"
        );
    }

    #[test]
    fn client_errors_are_summarized() {
        let refused = "Generic S3 error: Error performing GET http://127.0.0.1:9/b/k in 5ms, after 4 retries, max_retries: 4 - HTTP error: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)";
        assert_eq!(
            summarize(refused),
            "connection refused at http://127.0.0.1:9 (after 4 retries): check the endpoint and that the server is up"
        );
        let denied = "Error performing GET http://h/b - Server returned non-2xx status code: 403 Forbidden: <Error><Code>AccessDenied</Code><Message>Denied</Message></Error>";
        assert!(
            summarize(denied)
                .starts_with("the server answered AccessDenied: Denied (check the access key id")
        );
        assert_eq!(
            redact("a secret-value here", Some("secret-value")),
            "a <redacted> here"
        );
        assert_eq!(redact("retry", Some("y")), "retry");
    }

    #[tokio::test]
    async fn local_store_refuses_escaping_keys() {
        let (_dir, store) = local();
        for key in ["../x", "e/../../x", "/abs", "e//x", "e/./x"] {
            assert!(
                store
                    .put_small(key, Bytes::new(), WriteMode::Overwrite)
                    .await
                    .is_err(),
                "{key}"
            );
        }
    }
}
