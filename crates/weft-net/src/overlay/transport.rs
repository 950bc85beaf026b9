//! Overlay messages over libp2p streams: one frame per message ([`crate::framing`]).
//!
//! Outbound, each peer gets one sender task that holds one stream per protocol, opens it on
//! the first message (dialing the peer first if it is not connected and its addresses are
//! known), and closes it after [`IDLE`] without traffic. Its queue holds at most
//! [`PEER_QUEUE`] frames; a message to a full queue is dropped and counted, never waited for,
//! so a slow peer cannot stall an engine. At most [`MAX_OUTBOUND_PEERS`] sender tasks run per
//! protocol.
//!
//! Inbound, each accepted stream gets a reader task (at most [`MAX_INBOUND_STREAMS`] per
//! protocol and [`MAX_INBOUND_PER_PEER`] per peer; more are refused) that reads frames of at most the protocol's limit and hands
//! decoded messages to the driver. A frame over the limit or one that does not decode closes
//! the stream and is counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncWriteExt, StreamExt};
use libp2p::swarm::Stream;
use libp2p::{PeerId, StreamProtocol};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use tokio::sync::{Semaphore, mpsc};
use tracing::debug;
use weft_core::peer::Discovery;
use weft_core::wire;

use super::peer_changes::PeerChanges;
use super::peers::PeerTable;
use crate::driver::{Command, NetHandle};
use crate::framing::{FrameError, read_frame, write_frame};
use weft_overlay::PeerEvent;

/// Frames queued per peer before further messages to it are dropped.
pub const PEER_QUEUE: usize = 256;
/// Sender tasks (peers with a queue) per protocol.
pub const MAX_OUTBOUND_PEERS: usize = 512;
/// Inbound streams read at once per protocol.
pub const MAX_INBOUND_STREAMS: usize = 512;
/// Inbound streams read at once per protocol from one peer (a peer normally keeps one).
pub const MAX_INBOUND_PER_PEER: usize = 8;
/// An outbound stream unused this long is closed.
pub const IDLE: Duration = Duration::from_secs(60);
/// An inbound stream silent this long is dropped.
const READ_IDLE: Duration = Duration::from_secs(300);
/// How long to wait for a connection to a peer we dial.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing one frame may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Traffic counters of one protocol.
#[derive(Debug, Default)]
pub struct Counters {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    bad_frames: AtomicU64,
    dropped: AtomicU64,
    open_failures: AtomicU64,
    refused_streams: AtomicU64,
}

/// A snapshot of one protocol's [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolStats {
    /// Messages received and decoded.
    pub frames_in: u64,
    /// Messages written to a stream.
    pub frames_out: u64,
    /// Frames over the size limit, undecodable, or refused by the adapter (the stream or the
    /// message was dropped).
    pub bad_frames: u64,
    /// Outgoing messages dropped: queue full, too many peers, too large, or unwritable.
    pub dropped: u64,
    /// Outgoing streams that could not be opened (peer unreachable or not speaking the protocol).
    pub open_failures: u64,
    /// Inbound streams refused because too many were open.
    pub refused_streams: u64,
}

impl Counters {
    /// A snapshot.
    pub fn snapshot(&self) -> ProtocolStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProtocolStats {
            frames_in: g(&self.frames_in),
            frames_out: g(&self.frames_out),
            bad_frames: g(&self.bad_frames),
            dropped: g(&self.dropped),
            open_failures: g(&self.open_failures),
            refused_streams: g(&self.refused_streams),
        }
    }

    pub(crate) fn bad_frame(&self) {
        self.bad_frames.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn drop_out(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }
}

/// What every stream task of one protocol shares.
#[derive(Clone)]
pub(crate) struct Link {
    pub protocol: StreamProtocol,
    pub max_frame: usize,
    pub net: NetHandle,
    pub peers: Arc<PeerTable>,
    pub counters: Arc<Counters>,
}

/// The per-peer sender tasks of one protocol.
pub(crate) struct Outbound {
    link: Link,
    queues: BTreeMap<PeerId, mpsc::Sender<Vec<u8>>>,
    /// Peers whose stream could not be opened, reported to the driver.
    unreachable: PeerChanges,
}

impl Outbound {
    pub fn new(link: Link, unreachable: PeerChanges) -> Self {
        Outbound {
            link,
            queues: BTreeMap::new(),
            unreachable,
        }
    }

    /// Queues `frame` for `to`; drops it (counted) if that is not possible right now.
    pub fn send(&mut self, to: PeerId, mut frame: Vec<u8>) {
        if to == self.link.peers.local() {
            self.link.counters.drop_out(1);
            return;
        }
        if let Some(queue) = self.queues.get(&to) {
            match queue.try_send(frame) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.link.counters.drop_out(1);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(f)) => {
                    frame = f;
                    self.queues.remove(&to);
                }
            }
        }
        if self.queues.len() >= MAX_OUTBOUND_PEERS {
            self.queues.retain(|_, q| !q.is_closed());
            if self.queues.len() >= MAX_OUTBOUND_PEERS {
                self.link.counters.drop_out(1);
                return;
            }
        }
        let (tx, rx) = mpsc::channel(PEER_QUEUE);
        // a fresh channel has room
        let _ = tx.try_send(frame);
        self.queues.insert(to, tx);
        tokio::spawn(send_loop(
            self.link.clone(),
            to,
            rx,
            self.unreachable.clone(),
        ));
    }
}

async fn send_loop(
    link: Link,
    peer: PeerId,
    mut queue: mpsc::Receiver<Vec<u8>>,
    unreachable: PeerChanges,
) {
    let mut control = link.net.stream_control();
    let mut stream: Option<Stream> = None;
    while let Ok(Some(frame)) = tokio::time::timeout(IDLE, queue.recv()).await {
        let mut written = false;
        for _attempt in 0..2 {
            let s = match stream.as_mut() {
                Some(s) => s,
                None => match open(&link, &mut control, peer).await {
                    Ok(s) => stream.insert(s),
                    Err(e) => {
                        debug!(%peer, protocol = %link.protocol, "cannot open stream: {e}");
                        link.counters.open_failures.fetch_add(1, Ordering::Relaxed);
                        queue.close();
                        let mut lost = 1;
                        while queue.try_recv().is_ok() {
                            lost += 1;
                        }
                        link.counters.drop_out(lost);
                        unreachable.post(peer, PeerEvent::Unreachable);
                        return;
                    }
                },
            };
            match tokio::time::timeout(WRITE_TIMEOUT, write_frame(s, &frame)).await {
                Ok(Ok(())) => {
                    written = true;
                    break;
                }
                // the stream broke (the connection may have been replaced): reopen once
                _ => stream = None,
            }
        }
        if written {
            link.counters.frames_out.fetch_add(1, Ordering::Relaxed);
        } else {
            link.counters.drop_out(1);
        }
    }
    if let Some(mut s) = stream {
        let _ = tokio::time::timeout(WRITE_TIMEOUT, s.close()).await;
    }
}

/// Opens a stream to `peer`, dialing it first if it is not connected.
/// Why [`dial_and_wait`] did not connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// Not connected, and no address of the peer is known.
    #[error("not connected and no known address")]
    NoAddress,
    /// The network task stopped.
    #[error("network stopped")]
    Stopped,
    /// No connection came up in time.
    #[error("dial timed out")]
    TimedOut,
}

/// Makes sure `peer` is connected: at once if it is, else dials its known addresses and
/// waits, woken by the connection (no polling), at most `timeout`. The one dial-and-wait of
/// the node: overlay streams and content fetches both go through it.
///
/// # Errors
/// [`DialError`] when no connection came up.
pub(crate) async fn dial_and_wait(
    net: &NetHandle,
    peers: &PeerTable,
    peer: PeerId,
    timeout: Duration,
) -> Result<(), DialError> {
    if peers.is_connected(&peer) {
        return Ok(());
    }
    let addrs = peers.addresses(&peer);
    if addrs.is_empty() {
        return Err(DialError::NoAddress);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let dial = Command::Dial {
        peer,
        addrs,
        source: Discovery::Peer,
    };
    if !net.send(dial).await {
        return Err(DialError::Stopped);
    }
    if peers.wait_connected(&peer, deadline).await {
        Ok(())
    } else {
        Err(DialError::TimedOut)
    }
}

async fn open(
    link: &Link,
    control: &mut libp2p_stream::Control,
    peer: PeerId,
) -> Result<Stream, String> {
    dial_and_wait(&link.net, &link.peers, peer, CONNECT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(
        OPEN_TIMEOUT,
        control.open_stream(peer, link.protocol.clone()),
    )
    .await
    {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// Accepts inbound streams of `link.protocol` and forwards each decoded message to `deliver`.
///
/// # Errors
/// If the protocol is already being accepted on this swarm.
pub(crate) fn accept<W: DeserializeOwned + Send + 'static>(
    link: Link,
    deliver: mpsc::Sender<(PeerId, W)>,
) -> Result<(), crate::inbound::AlreadyRegistered> {
    let mut incoming = link
        .net
        .inbound()
        .accept(link.protocol.clone(), crate::inbound::DEFAULT_BACKLOG)?;
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(MAX_INBOUND_STREAMS));
        let per_peer: Arc<Mutex<BTreeMap<PeerId, usize>>> = Arc::default();
        while let Some((peer, stream)) = incoming.next().await {
            if deliver.is_closed() {
                break;
            }
            let admitted = {
                let mut open = per_peer.lock().unwrap_or_else(|p| p.into_inner());
                let n = open.entry(peer).or_insert(0);
                (*n < MAX_INBOUND_PER_PEER).then(|| *n += 1)
            };
            let permit = permits.clone().try_acquire_owned();
            let (Some(()), Ok(permit)) = (admitted, permit) else {
                if admitted.is_some() {
                    release(&per_peer, peer);
                }
                link.counters
                    .refused_streams
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (link, deliver, per_peer) = (link.clone(), deliver.clone(), per_peer.clone());
            tokio::spawn(async move {
                read_loop(&link, peer, stream, &deliver).await;
                release(&per_peer, peer);
                drop(permit);
            });
        }
    });
    Ok(())
}

fn release(per_peer: &Mutex<BTreeMap<PeerId, usize>>, peer: PeerId) {
    let mut open = per_peer.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = open.get_mut(&peer) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            open.remove(&peer);
        }
    }
}

async fn read_loop<W: DeserializeOwned>(
    link: &Link,
    peer: PeerId,
    mut stream: Stream,
    deliver: &mpsc::Sender<(PeerId, W)>,
) {
    loop {
        let bytes = match tokio::time::timeout(READ_IDLE, read_frame(&mut stream, link.max_frame))
            .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(FrameError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Ok(Err(e)) => {
                debug!(%peer, protocol = %link.protocol, "dropping stream: {e}");
                if matches!(e, FrameError::TooLarge { .. }) {
                    link.counters.bad_frame();
                }
                break;
            }
            Err(_) => break,
        };
        match wire::decode::<W>(&bytes, link.max_frame) {
            Ok(msg) => {
                link.counters.frames_in.fetch_add(1, Ordering::Relaxed);
                link.net.mark_useful(&peer);
                if deliver.send((peer, msg)).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                debug!(%peer, protocol = %link.protocol, "dropping stream: {e}");
                link.counters.bad_frame();
                break;
            }
        }
    }
}
