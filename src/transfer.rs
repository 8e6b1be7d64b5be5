//! Streaming a file to and from the store, encoding and hashing on the way.
//!
//! Network I/O runs on the async runtime while compression, hashing and disk I/O run on a
//! blocking thread; a bounded channel between them keeps memory flat whatever the file size.
//! Download verifies size and SHA-256 of the decoded bytes against the upload record, and stops
//! as soon as more bytes arrive than were recorded.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::error::{Error, Result, io_error};
use crate::index::{Encoding, StoredFile};
use crate::store::{Piece, Store};

/// Read and encode in pieces of this size.
const PIECE: usize = 1 << 20;
/// Pieces in flight between the network and the encoder/decoder.
const IN_FLIGHT: usize = 8;
/// zstd level: 3 is the library default, fast to write and about 4x smaller on testmon data.
const ZSTD_LEVEL: i32 = 3;

/// Size and SHA-256 of decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest256 {
    pub size: u64,
    pub sha256: String,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Upload `path` to `key` with `encoding`; returns the record of what was stored.
pub async fn upload_file(
    store: &Store,
    key: &str,
    path: &Path,
    name: &str,
    encoding: Encoding,
) -> Result<StoredFile> {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let source = path.to_path_buf();
    let producer = tokio::task::spawn_blocking(move || encode(&source, encoding, tx));
    let uploaded = store.upload(key, rx).await;
    let produced = producer
        .await
        .map_err(|err| Error::failure(format!("internal task failed: {err}")))?;
    // A read error is the root cause when both sides fail.
    let (digest, stored_size) = produced?;
    uploaded?;
    Ok(StoredFile {
        name: name.to_string(),
        size: digest.size,
        sha256: digest.sha256,
        encoding,
        stored_size,
    })
}

/// Sends pieces of the encoded file; returns the decoded digest and the encoded size.
fn encode(path: &Path, encoding: Encoding, tx: mpsc::Sender<Piece>) -> Result<(Digest256, u64)> {
    let file = File::open(path).map_err(|err| io_error("read", path, err))?;
    let mut reader = BufReader::with_capacity(PIECE, file);
    let uploader = tx.clone();
    let mut sink = PieceWriter::new(u64::MAX, move |piece| {
        uploader
            .blocking_send(Piece::Data(Bytes::from(piece)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    });
    let write_error =
        |err: io::Error| Error::failure(format!("cannot encode {}: {err}", path.display()));
    let digest = match encoding {
        Encoding::Zstd => {
            let mut encoder =
                zstd::stream::write::Encoder::new(&mut sink, ZSTD_LEVEL).map_err(write_error)?;
            let digest = pump(path, &mut reader, &mut encoder)?;
            encoder.finish().map_err(write_error)?;
            digest
        }
        Encoding::Identity => pump(path, &mut reader, &mut sink)?,
    };
    sink.flush().map_err(write_error)?;
    let stored = sink.size;
    drop(sink);
    tx.blocking_send(Piece::End)
        .map_err(|_| Error::failure("upload stopped before the end of the file"))?;
    Ok((digest, stored))
}

/// Copy `reader` into `out`, hashing and counting the bytes read.
fn pump(path: &Path, reader: &mut impl Read, out: &mut impl Write) -> Result<Digest256> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|err| io_error("read", path, err))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        out.write_all(&buf[..n])
            .map_err(|err| Error::failure(format!("cannot encode {}: {err}", path.display())))?;
    }
    Ok(Digest256 {
        size,
        sha256: hex(&hasher.finalize()),
    })
}

/// Download `key` into `out`, decoding and hashing; verifies against `expect` when given
/// (original-layout objects carry no digest).
/// On any error the caller discards `out`.
pub async fn download_file(
    store: &Store,
    key: &str,
    encoding: Encoding,
    expect: Option<&StoredFile>,
    out: File,
) -> Result<Digest256> {
    let mut stream = store.download(key).await?;
    // Stop a download as soon as it grows past its recorded size.
    let limit = expect.map_or(crate::index::MAX_FILE_BYTES, |file| file.size);
    let (tx, mut rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
    let key_owned = key.to_string();
    let consumer =
        tokio::task::spawn_blocking(move || decode(&key_owned, encoding, limit, &mut rx, out));
    let mut received = 0u64;
    let mut network_error = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                received += chunk.len() as u64;
                if tx.send(chunk).await.is_err() {
                    break; // the decoder stopped: its error explains why
                }
            }
            Err(err) => {
                network_error = Some(err);
                break;
            }
        }
    }
    drop(tx);
    let decoded = consumer
        .await
        .map_err(|err| Error::failure(format!("internal task failed: {err}")))?;
    if let Some(err) = network_error {
        return Err(err);
    }
    let digest = decoded?;
    if let Some(file) = expect
        && (received != file.stored_size
            || digest.size != file.size
            || digest.sha256 != file.sha256)
    {
        return Err(Error::failure(format!(
            "object {key} does not match its upload record (expected {} bytes with sha256 {}, got {} bytes with sha256 {}): refusing it, the local file is unchanged",
            file.size, file.sha256, digest.size, digest.sha256
        )));
    }
    Ok(digest)
}

/// Decode on this thread; hash and write on another, so the two overlap (each alone is about
/// as fast as the network).
fn decode(
    key: &str,
    encoding: Encoding,
    limit: u64,
    rx: &mut mpsc::Receiver<Bytes>,
    out: File,
) -> Result<Digest256> {
    let (tx, decoded) = std::sync::mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
    let writer = std::thread::spawn(move || write_and_hash(out, decoded));
    let mut sink = PieceWriter::new(limit, move |piece| {
        tx.send(piece)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the writer stopped"))
    });
    let decoding = match encoding {
        Encoding::Zstd => zstd::stream::write::Decoder::new(&mut sink).and_then(|mut decoder| {
            while let Some(chunk) = rx.blocking_recv() {
                decoder.write_all(&chunk)?;
            }
            decoder.flush()
        }),
        Encoding::Identity => (|| {
            while let Some(chunk) = rx.blocking_recv() {
                sink.write_all(&chunk)?;
            }
            Ok(())
        })(),
    }
    .and_then(|()| sink.flush());
    drop(sink);
    let written = writer
        .join()
        .map_err(|_| Error::failure("internal writer thread failed"))?;
    // A write failure (disk full) stops decoding too: report the cause, not the symptom.
    let digest = written
        .map_err(|err| Error::failure(format!("cannot write the download of {key}: {err}")))?;
    decoding.map_err(|err| {
        Error::failure(format!(
            "object {key} is corrupt ({err}): refusing it, the local file is unchanged"
        ))
    })?;
    Ok(digest)
}

fn write_and_hash(
    mut out: File,
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
) -> io::Result<Digest256> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    for chunk in chunks {
        hasher.update(&chunk);
        out.write_all(&chunk)?;
        size += chunk.len() as u64;
    }
    out.sync_all()?;
    Ok(Digest256 {
        size,
        sha256: hex(&hasher.finalize()),
    })
}

/// Buffers writes into pieces of [`PIECE`] bytes for another thread, refusing more than
/// `limit` bytes in all (a download must not grow past its recorded size).
struct PieceWriter<F: FnMut(Vec<u8>) -> io::Result<()>> {
    send: F,
    buffer: Vec<u8>,
    size: u64,
    limit: u64,
}

impl<F: FnMut(Vec<u8>) -> io::Result<()>> PieceWriter<F> {
    fn new(limit: u64, send: F) -> Self {
        PieceWriter {
            send,
            buffer: Vec::with_capacity(PIECE),
            size: 0,
            limit,
        }
    }
}

impl<F: FnMut(Vec<u8>) -> io::Result<()>> Write for PieceWriter<F> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.size + data.len() as u64 > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than the {} bytes recorded", self.limit),
            ));
        }
        self.buffer.extend_from_slice(data);
        self.size += data.len() as u64;
        if self.buffer.len() >= PIECE {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.buffer, Vec::with_capacity(PIECE));
        (self.send)(piece)
    }
}
