//! `/weft/content/1`: verified ranges over libp2p streams.
//!
//! A stream carries a sequence of requests. The downloader writes [`TransferRequest`] frames,
//! as many ahead as it likes; the provider answers them in order, each with a
//! [`TransferResponse`] frame and, after `Slice`, exactly `encoded_len` bytes of bao slice read
//! from the shared file (rechecked first, checked against its hash tree while it is encoded).
//! It encodes the next answer while it sends the current one, and closes its side when the
//! downloader closes its own or stays silent. The downloader verifies every slice against the
//! content hash before it hands on a single byte: [`fetch`] for one range, and
//! [`super::session`] for downloads, which pipeline their requests on one stream per source.
//!
//! Uploads are bounded by [`Uploads`]: a number of slots for all downloaders together, a fair
//! share of them per downloader when several want them (the others are answered `Busy`), and
//! an optional token-bucket rate limit that every upload draws from in turn (the bucket's lock
//! is FIFO, so downloaders are served alternately).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p_stream::Control;
use serde::Serialize;
use tracing::debug;
use weft_core::id::Key256;
use weft_net::PeerId;
use weft_net::framing::{FrameError, read_frame, write_frame};
use weft_net::libp2p::StreamProtocol;
use weft_share::config::ShareConfig;
use weft_share::index::{Index, IndexError};
use weft_share::verify::{self, Outboard};
use weft_share::wire::{
    self, MAX_TRANSFER_FRAME, TransferError, TransferRequest, TransferResponse,
};

use super::per_peer::{self, PerPeer, Ticket};
use super::{Share, ShareError};

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/content/1");
/// Inbound streams open at once (beyond the upload slots, requests on them get `Busy`).
const MAX_INBOUND: u32 = 256;
/// Inbound streams one peer may hold open (a download uses one per source).
const MAX_STREAMS_PER_PEER: u32 = 16;
/// Time a downloader has to send its (next) request before the stream is closed.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time one upload may take before the provider gives up on a slow reader.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Bytes written per rate-limit grant.
const WRITE_CHUNK: usize = 64 * 1024;
/// Hash trees kept in memory for serving.
const OUTBOARD_CACHE: usize = 8;
/// Suggested wait for a downloader told `Busy`.
const BUSY_RETRY_MS: u32 = 500;
/// Time to reach a provider that is not connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Test-only fault injection: flip a byte in the slices sent (`WEFT_TEST_CORRUPT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// Honest.
    None,
    /// Every slice is corrupted.
    Every,
    /// One slice in this many is corrupted.
    OneIn(u64),
}

impl Corruption {
    /// Reads `WEFT_TEST_CORRUPT` (`every` or `1in50`; anything else is honest).
    pub fn from_env() -> Self {
        match std::env::var("WEFT_TEST_CORRUPT").as_deref() {
            Ok("every") => Corruption::Every,
            Ok("1in50") => Corruption::OneIn(50),
            _ => Corruption::None,
        }
    }
}

/// Counters of what this node uploaded.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct UploadStats {
    /// Slices sent.
    pub slices: u64,
    /// Bytes of slices sent.
    pub bytes: u64,
    /// Requests answered `Busy`.
    pub busy: u64,
    /// Slices corrupted on purpose (`WEFT_TEST_CORRUPT`).
    pub corrupted: u64,
}

struct Bucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

/// Upload slots, fairness and rate.
pub struct Uploads {
    slots: u32,
    per_peer: u32,
    active: PerPeer,
    bucket: Option<tokio::sync::Mutex<Bucket>>,
    corruption: Corruption,
    served: AtomicU64,
    bytes: AtomicU64,
    busy: AtomicU64,
    corrupted: AtomicU64,
    outboards: Mutex<Vec<Arc<Outboard>>>,
}

/// A granted upload slot; freed on drop.
pub type Slot = Ticket;

impl Uploads {
    /// Slots and rate from `config`.
    pub fn new(config: &ShareConfig, corruption: Corruption) -> Self {
        Uploads {
            slots: config.upload_slots.max(1),
            per_peer: config.upload_slots_per_peer.max(1),
            active: PerPeer::default(),
            bucket: (config.upload_rate > 0).then(|| {
                tokio::sync::Mutex::new(Bucket {
                    rate: config.upload_rate,
                    tokens: 0.0,
                    last: Instant::now(),
                })
            }),
            corruption,
            served: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            corrupted: AtomicU64::new(0),
            outboards: Mutex::new(Vec::new()),
        }
    }

    /// A slot for `peer`, unless all are taken or `peer` holds its fair share while others
    /// are served: with `n` downloaders active, each may hold `slots / n` (at least one, at
    /// most `upload_slots_per_peer`).
    pub fn admit(&self, peer: PeerId) -> Option<Slot> {
        let slot = self.active.take(peer, |c| {
            let fair = (self.slots / c.holders.max(1)).clamp(1, self.per_peer);
            c.total < self.slots && c.mine < fair
        });
        if slot.is_none() {
            self.busy.fetch_add(1, Ordering::Relaxed);
        }
        slot
    }

    /// Waits until `bytes` may be sent under the rate limit.
    async fn grant(&self, bytes: usize) {
        let Some(bucket) = &self.bucket else { return };
        let mut b = bucket.lock().await;
        let now = Instant::now();
        let rate = b.rate as f64;
        // The bucket holds a tenth of a second of the rate (at least one chunk), so an idle
        // node starts near its cap instead of with a one-second burst.
        let burst = (rate / 10.0).max(WRITE_CHUNK as f64);
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(burst);
        b.last = now;
        let want = bytes as f64;
        if b.tokens < want {
            let wait = Duration::from_secs_f64((want - b.tokens) / rate);
            tokio::time::sleep(wait).await;
            b.tokens = want;
            b.last = Instant::now();
        }
        b.tokens -= want;
    }

    /// Whether the next slice is to be corrupted (test fault injection).
    fn corrupt_next(&self) -> bool {
        let n = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        match self.corruption {
            Corruption::None => false,
            Corruption::Every => true,
            Corruption::OneIn(k) => n.is_multiple_of(k),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> UploadStats {
        UploadStats {
            slices: self.served.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            busy: self.busy.load(Ordering::Relaxed),
            corrupted: self.corrupted.load(Ordering::Relaxed),
        }
    }

    fn cached_outboard(&self, hash: &Key256) -> Option<Arc<Outboard>> {
        let cache = self.outboards.lock().unwrap_or_else(|p| p.into_inner());
        cache.iter().find(|o| o.root == *hash).cloned()
    }

    fn cache_outboard(&self, outboard: Arc<Outboard>) {
        let mut cache = self.outboards.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|o| o.root != outboard.root);
        if cache.len() >= OUTBOARD_CACHE {
            cache.remove(0);
        }
        cache.push(outboard);
    }
}

/// Why the server stopped serving a stream (logged at debug level: a peer's doing).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A request frame could not be read.
    #[error("cannot read a request: {0}")]
    Frame(#[from] FrameError),
    /// A request did not decode.
    #[error("malformed request: {0}")]
    Request(#[from] wire::WireError),
    /// An answer could not be encoded.
    #[error("cannot encode an answer: {0}")]
    Encode(#[from] weft_core::wire::EncodeError),
    /// The stream failed while an answer was written.
    #[error("cannot send: {0}")]
    Io(#[from] std::io::Error),
    /// The downloader did not take an answer in time.
    #[error("upload timed out")]
    Timeout,
    /// Reading the slice did not finish.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Serves `/weft/content/1` until the swarm stops.
pub(crate) fn spawn_server(share: Share) -> Result<(), ShareError> {
    let incoming = share
        .net()
        .inbound()
        .accept(PROTOCOL, weft_net::inbound::DEFAULT_BACKLOG)
        .map_err(|_| ShareError::AlreadyRegistered("/weft/content/1"))?;
    per_peer::spawn_bounded_server(
        incoming,
        "content",
        MAX_INBOUND,
        MAX_STREAMS_PER_PEER,
        move |peer, stream| {
            let share = share.clone();
            async move {
                if let Err(e) = serve_stream(&share, peer, stream).await {
                    debug!(%peer, "content request: {e}");
                }
            }
        },
    );
    Ok(())
}

/// Serves one stream: requests are answered in the order they arrive, each with a header and,
/// after `Slice`, its bytes. The next request is read and encoded while the current answer is
/// being sent, so a downloader that pipelines its requests keeps the stream busy. The stream
/// ends when the downloader closes it or stays silent for [`REQUEST_READ_TIMEOUT`].
async fn serve_stream(
    share: &Share,
    peer: PeerId,
    stream: weft_net::libp2p::Stream,
) -> Result<(), ServeError> {
    let (mut reader, mut writer) = stream.split();
    let uploads = share.uploads();
    // One answer ready while the one before it is written.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Reply>(1);
    let produce = async move {
        loop {
            let frame = match tokio::time::timeout(
                REQUEST_READ_TIMEOUT,
                read_frame(&mut reader, MAX_TRANSFER_FRAME),
            )
            .await
            {
                Err(_) => return Ok(()),
                Ok(Err(FrameError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(frame)) => frame,
            };
            let request: TransferRequest = wire::decode(&frame, MAX_TRANSFER_FRAME)?;
            share.net().mark_useful(&peer);
            let reply = reply(share, peer, request).await?;
            if tx.send(reply).await.is_err() {
                return Ok(());
            }
        }
    };
    let consume = async {
        while let Some(reply) = rx.recv().await {
            send_header(&mut writer, &reply.header).await?;
            let send = async {
                for chunk in reply.slice.chunks(WRITE_CHUNK) {
                    uploads.grant(chunk.len()).await;
                    writer.write_all(chunk).await?;
                }
                writer.flush().await
            };
            tokio::time::timeout(UPLOAD_TIMEOUT, send)
                .await
                .map_err(|_| ServeError::Timeout)??;
            uploads
                .bytes
                .fetch_add(reply.slice.len() as u64, Ordering::Relaxed);
        }
        writer.close().await.map_err(ServeError::from)
    };
    let (produced, consumed) = futures::join!(produce, consume);
    produced.and(consumed)
}

/// A reply ready to be sent: the header, the slice (empty for errors), and the upload slot it
/// holds until it is sent.
struct Reply {
    header: TransferResponse,
    slice: Vec<u8>,
    _slot: Option<Slot>,
}

/// Admits and encodes the reply to one request.
async fn reply(share: &Share, peer: PeerId, request: TransferRequest) -> Result<Reply, ServeError> {
    let uploads = share.uploads();
    let error = |e| Reply {
        header: TransferResponse::Error(e),
        slice: Vec::new(),
        _slot: None,
    };
    let Some(slot) = uploads.admit(peer) else {
        return Ok(error(TransferError::Busy {
            retry_after_ms: BUSY_RETRY_MS,
        }));
    };
    let TransferRequest::Range { hash, start, end } = request;
    let s = share.clone();
    let encoded = tokio::task::spawn_blocking(move || encode(&s, hash, start..end)).await?;
    let (size, mut slice) = match encoded {
        Ok(v) => v,
        Err(err) => return Ok(error(err)),
    };
    if uploads.corrupt_next()
        && let Some(last) = slice.last_mut()
    {
        *last ^= 0x5a;
        uploads.corrupted.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Reply {
        header: TransferResponse::Slice {
            size,
            start,
            end,
            encoded_len: slice.len() as u64,
        },
        slice,
        _slot: Some(slot),
    })
}

async fn send_header(
    stream: &mut (impl futures::AsyncWrite + Unpin),
    header: &TransferResponse,
) -> Result<(), ServeError> {
    let bytes = weft_core::wire::encode(header, MAX_TRANSFER_FRAME)?;
    Ok(write_frame(stream, &bytes).await?)
}

/// The shared file holding `hash` (rechecked) and its hash tree, if this node shares it
/// (blocking). Whoever reads the file for others checks what it reads against the tree: the
/// file may have changed in a way the recheck does not see.
///
/// # Errors
/// An index error.
pub(crate) fn local_source(
    share: &Share,
    hash: &Key256,
) -> Result<Option<(PathBuf, Arc<Outboard>)>, IndexError> {
    let conn = share.db();
    let index = Index::new(&conn);
    let Some(path) = index.recheck(hash)? else {
        return Ok(None);
    };
    let outboard = match share.uploads().cached_outboard(hash) {
        Some(o) => o,
        None => {
            let Some(o) = index.outboard(hash)? else {
                return Ok(None);
            };
            let o = Arc::new(o);
            share.uploads().cache_outboard(o.clone());
            o
        }
    };
    Ok(Some((path, outboard)))
}

/// Reads and encodes the slice for `range` of `hash` from the shared file (blocking).
fn encode(share: &Share, hash: Key256, range: Range<u64>) -> Result<(u64, Vec<u8>), TransferError> {
    let (path, outboard) = local_source(share, &hash)
        .map_err(|_| TransferError::Internal)?
        .ok_or(TransferError::NotFound)?;
    let size = outboard.size;
    let len = verify::encoded_len(size, range.clone()).map_err(|_| TransferError::BadRange)?;
    let file = std::fs::File::open(&path).map_err(|_| TransferError::NotFound)?;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    verify::encode_range(&file, &outboard, range, &mut out).map_err(|e| match e {
        verify::ServeError::OutOfBounds { .. } => TransferError::BadRange,
        verify::ServeError::Changed => {
            share.file_no_longer_matches(&hash, &path);
            TransferError::NotFound
        }
        verify::ServeError::Io(_) => TransferError::Internal,
    })?;
    Ok((size, out))
}

/// How fetching a range failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The peer could not be reached or the stream broke.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The slice did not verify, or the header did not fit the request.
    #[error("corrupt data")]
    Corrupt,
    /// The peer has no free upload slot.
    #[error("busy")]
    Busy,
    /// The peer does not have the content.
    #[error("not found")]
    NotFound,
}

/// A verified range.
#[derive(Debug)]
pub struct Fetched {
    /// The content size the provider stated (and the slice verified against).
    pub size: u64,
    /// Exactly the bytes of the range asked for.
    pub bytes: Vec<u8>,
}

/// Makes sure `peer` is connected (dialing its known addresses) before a stream is opened.
pub(crate) async fn connect(share: &Share, peer: PeerId) -> Result<(), FetchError> {
    share
        .overlay()
        .connect(peer, CONNECT_TIMEOUT)
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))
}

/// Fetches and verifies `range` of `hash` from `peer`. With `size` unknown (`None`), the
/// provider's stated size is used for verification: check it with a second range that
/// reaches the end of the content before trusting it (see [`probe_size`]).
///
/// One stream, no retry: the provider queues inbound streams in a bounded backlog and
/// refuses, counted and logged, what finds it full (`weft_net::inbound`), so a stream that
/// breaks is a real failure for the downloader's source policy (`docs/measurements.md`).
///
/// # Errors
/// [`FetchError`] saying what went wrong.
pub async fn fetch(
    share: &Share,
    peer: PeerId,
    hash: Key256,
    size: Option<u64>,
    range: Range<u64>,
) -> Result<Fetched, FetchError> {
    let mut stream = open_stream(share, peer).await?;
    write_request(&mut stream, hash, range.clone()).await?;
    // One request on this stream: the provider sees its end once it has answered.
    stream
        .close()
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))?;
    let (size, encoded) = match read_answer(&mut stream, hash, size, range.clone()).await? {
        Answer::Slice { size, encoded } => (size, encoded),
        Answer::Refused(e) => return Err(e),
    };
    let bytes = tokio::task::spawn_blocking(move || {
        verify::decode_range(hash, size, range, &encoded).map_err(|_| FetchError::Corrupt)
    })
    .await
    .map_err(|e| FetchError::Unreachable(e.to_string()))??;
    Ok(Fetched { size, bytes })
}

/// Connects to `peer` if needed and opens a `/weft/content/1` stream to it.
pub(crate) async fn open_stream(
    share: &Share,
    peer: PeerId,
) -> Result<weft_net::libp2p::Stream, FetchError> {
    connect(share, peer).await?;
    let mut control: Control = share.net().stream_control();
    tokio::time::timeout(CONNECT_TIMEOUT, control.open_stream(peer, PROTOCOL))
        .await
        .map_err(|_| FetchError::Unreachable("stream open timed out".into()))?
        .map_err(|e| FetchError::Unreachable(e.to_string()))
}

/// Writes the request for `range` of `hash`.
pub(crate) async fn write_request(
    writer: &mut (impl futures::AsyncWrite + Unpin),
    hash: Key256,
    range: Range<u64>,
) -> Result<(), FetchError> {
    let request = TransferRequest::Range {
        hash,
        start: range.start,
        end: range.end,
    };
    let bytes = weft_core::wire::encode(&request, MAX_TRANSFER_FRAME)
        .map_err(|e| FetchError::Unreachable(e.to_string()))?;
    write_frame(writer, &bytes)
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))
}

/// One answer read off a stream.
pub(crate) enum Answer {
    /// A slice of the right length for the request, not yet verified, and the content size
    /// it is to be verified against.
    Slice {
        /// The content size (the caller's, or the one the provider stated).
        size: u64,
        /// The encoded slice.
        encoded: Vec<u8>,
    },
    /// The provider refused the request (busy, not found); the stream stays usable.
    Refused(FetchError),
}

/// Reads the answer to the request for `range` of `hash`: the header, checked against the
/// request, then exactly the slice's bytes. With `size` unknown (`None`), the provider's
/// stated size is used.
///
/// # Errors
/// [`FetchError::Unreachable`] if the stream fails, [`FetchError::Corrupt`] if the header
/// does not decode or does not fit the request.
pub(crate) async fn read_answer(
    reader: &mut (impl futures::AsyncRead + Unpin),
    hash: Key256,
    size: Option<u64>,
    range: Range<u64>,
) -> Result<Answer, FetchError> {
    let header = read_frame(reader, MAX_TRANSFER_FRAME)
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))?;
    let response: TransferResponse =
        wire::decode(&header, MAX_TRANSFER_FRAME).map_err(|_| FetchError::Corrupt)?;
    let stated = match &response {
        TransferResponse::Slice { size, .. } => *size,
        TransferResponse::Error(TransferError::Busy { .. }) => {
            return Ok(Answer::Refused(FetchError::Busy));
        }
        TransferResponse::Error(_) => return Ok(Answer::Refused(FetchError::NotFound)),
    };
    let size = size.unwrap_or(stated);
    let request = TransferRequest::Range {
        hash,
        start: range.start,
        end: range.end,
    };
    let len = wire::expect_slice(&request, size, &response)
        .map_err(|_| FetchError::Corrupt)?
        .ok_or(FetchError::NotFound)?;
    let mut encoded = vec![0u8; usize::try_from(len).map_err(|_| FetchError::Corrupt)?];
    reader
        .read_exact(&mut encoded)
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))?;
    Ok(Answer::Slice { size, encoded })
}

/// The size of `hash` as `peer` states it, verified: the first byte is fetched with the stated
/// size, then the last byte, whose position in the hash tree pins the size down.
///
/// # Errors
/// [`FetchError`] if the peer fails either request or sends data that does not verify.
pub async fn probe_size(share: &Share, peer: PeerId, hash: Key256) -> Result<u64, FetchError> {
    let first = fetch(share, peer, hash, None, 0..1).await?;
    if first.size > 1 {
        fetch(
            share,
            peer,
            hash,
            Some(first.size),
            first.size - 1..first.size,
        )
        .await?;
    }
    Ok(first.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_share_the_slots_fairly() {
        let config = ShareConfig {
            upload_slots: 4,
            upload_slots_per_peer: 3,
            upload_rate: 0,
        };
        let up = Uploads::new(&config, Corruption::None);
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        // Alone, a peer may hold up to its per-peer cap.
        let mut a_slots: Vec<Slot> = (0..3).map(|_| up.admit(a).unwrap()).collect();
        assert!(up.admit(a).is_none(), "per-peer cap");
        // A second downloader gets a slot; then each may hold 4 / 2 = 2.
        let b1 = up.admit(b).unwrap();
        assert!(up.admit(c).is_none(), "all 4 slots taken");
        a_slots.pop();
        assert!(
            up.admit(a).is_none(),
            "a holds its fair share (2) while b is served"
        );
        let _b2 = up.admit(b).unwrap();
        assert!(up.admit(b).is_none());
        drop((a_slots, b1));
        assert_eq!(up.stats().busy, 4);
    }
}
