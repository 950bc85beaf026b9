//! The stream multiplexer: yamux (`/yamux/1.0.0`, the same wire protocol every libp2p node
//! speaks), driven through the `yamux` crate directly so that weft can choose how large the
//! data frames it sends are.
//!
//! The `yamux` crate splits what a stream writes into frames of at most 16 KiB, and
//! `libp2p-yamux` does not let that be changed. Each frame is then two TLS records (its
//! 12-byte header and its body), each encrypted and written by a system call of its own, and
//! yamux flushes after every frame: that per-frame cost dominated both ends of a bulk transfer,
//! and frames of [`SPLIT_SEND_BYTES`] cut it (`docs/measurements.md`). Receivers accept any frame up to their stream's window (256 KiB at first, and
//! `yamux` takes bodies up to 1 MiB), so peers that split at 16 KiB interoperate unchanged.
//!
//! The cost is head-of-line blocking: a small frame of another stream may wait behind one
//! large frame, 128 ms at 1 MB/s. The kernel's send buffer on such a link already holds more
//! than that.
//!
//! What a peer can make a connection hold is bounded here: every inbound stream may carry
//! 256 KiB (the yamux window every stream starts with) before anyone reads it, so at most
//! [`MAX_INBOUND_STREAMS`] inbound streams live at once per connection, from the moment yamux
//! hands them over (still unnegotiated) until they are dropped; more are reset on arrival,
//! counted (`weft_peer_events_total{kind="stream_refused"}`) and logged at most once per
//! peer per minute, however many connections it comes back on (one limiter for every
//! connection, keyed by the peer each serves: [`Config::serving`]). Across connections, an
//! inbound stream also needs a place in the node-wide budget of unnegotiated streams
//! ([`crate::unnegotiated`]) until it has negotiated its protocol; past it, it is reset too
//! (`stream_budget`). yamux's own limit ([`MAX_STREAMS`], both directions) and its
//! connection window (`MAX_STREAMS` × 256 KiB, instead of 1 GiB) stay as a backstop.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures::future::{self, Ready};
use futures::{AsyncRead, AsyncWrite, ready};
use libp2p::PeerId;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use yamux::{Connection, ConnectionError, Mode, Stream};

use crate::peer_log::{PeerEvents, PeerLog};
use crate::unnegotiated::{Budget, Confirmation, MAX_UNNEGOTIATED, Ticket};

/// The protocol name negotiated for the multiplexer.
pub const PROTOCOL: &str = "/yamux/1.0.0";
/// The largest data frame weft sends.
pub const SPLIT_SEND_BYTES: usize = 128 * 1024;
/// Inbound streams alive at once per connection, negotiated or not; more are reset.
pub const MAX_INBOUND_STREAMS: usize = 32;
/// Streams per connection in both directions, yamux's own limit (it ends the connection).
pub const MAX_STREAMS: usize = 128;

/// The multiplexer upgrade: yamux with weft's frame size and stream limits.
#[derive(Clone, Debug)]
pub struct Config {
    yamux: yamux::Config,
    /// Refused streams, for every connection: counted, logged once a minute per peer.
    refused: PeerLog<Option<PeerId>>,
    /// Unnegotiated inbound streams of every connection.
    budget: Budget,
    /// Streams refused by that budget: counted, logged once a minute per peer.
    over_budget: PeerLog<Option<PeerId>>,
    /// Connections ended by a yamux protocol error: logged once a minute per peer.
    failed: PeerLog<Option<PeerId>>,
    /// The peer the connection serves, once known.
    peer: Option<PeerId>,
}

impl Config {
    /// yamux's defaults, but data frames of up to [`SPLIT_SEND_BYTES`], and the stream
    /// limits above.
    #[must_use]
    pub fn new() -> Self {
        let mut c = yamux::Config::default();
        c.set_split_send_size(SPLIT_SEND_BYTES);
        c.set_max_num_streams(MAX_STREAMS);
        c.set_max_connection_receive_window(Some(MAX_STREAMS * yamux::DEFAULT_CREDIT as usize));
        Config {
            yamux: c,
            refused: PeerLog::new("stream_refused", PeerEvents::default()),
            budget: Budget::default(),
            over_budget: PeerLog::new("stream_budget", PeerEvents::default()),
            failed: PeerLog::new("muxer_error", PeerEvents::default()),
            peer: None,
        }
    }

    /// Counts refused streams in `events` (registered in `/metrics`); clones of the result
    /// share one log limiter.
    #[must_use]
    pub fn counting(mut self, events: &PeerEvents) -> Self {
        self.refused = PeerLog::new("stream_refused", events.clone());
        self.over_budget = PeerLog::new("stream_budget", events.clone());
        self.failed = PeerLog::new("muxer_error", events.clone());
        self
    }

    /// The same configuration for a connection to `peer` (what it causes is logged per peer).
    #[must_use]
    pub fn serving(mut self, peer: PeerId) -> Self {
        self.peer = Some(peer);
        self
    }

    fn muxer<C>(self, socket: C, mode: Mode) -> Muxer<C>
    where
        C: AsyncRead + AsyncWrite + Unpin,
    {
        Muxer {
            connection: Connection::new(socket, self.yamux, mode),
            inbound: VecDeque::new(),
            inbound_waker: None,
            live_inbound: Arc::new(()),
            unnegotiated_here: Arc::new(()),
            refused: self.refused,
            budget: self.budget,
            over_budget: self.over_budget,
            failed: self.failed,
            peer: self.peer,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl UpgradeInfo for Config {
    type Info = &'static str;
    type InfoIter = std::iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once(PROTOCOL)
    }
}

impl<C> InboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = Ready<Result<Muxer<C>, io::Error>>;

    fn upgrade_inbound(self, socket: C, _: Self::Info) -> Self::Future {
        future::ready(Ok(self.muxer(socket, Mode::Server)))
    }
}

impl<C> OutboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = Ready<Result<Muxer<C>, io::Error>>;

    fn upgrade_outbound(self, socket: C, _: Self::Info) -> Self::Future {
        future::ready(Ok(self.muxer(socket, Mode::Client)))
    }
}

/// One multiplexed connection.
///
/// `yamux` makes progress on a connection only while it is asked for the next inbound stream,
/// while libp2p polls the muxer in general ([`StreamMuxer::poll`]) apart from asking for
/// inbound streams. Streams that arrive during a general poll wait in a backlog.
pub struct Muxer<C> {
    connection: Connection<C>,
    inbound: VecDeque<Substream>,
    inbound_waker: Option<Waker>,
    /// One clone per live inbound stream: the count is `strong_count - 1`.
    live_inbound: Arc<()>,
    /// One clone per inbound stream of this connection still negotiating.
    unnegotiated_here: Arc<()>,
    /// Refused streams of every connection: counted, logged once a minute per peer.
    refused: PeerLog<Option<PeerId>>,
    budget: Budget,
    over_budget: PeerLog<Option<PeerId>>,
    failed: PeerLog<Option<PeerId>>,
    peer: Option<PeerId>,
}

/// A yamux stream; an inbound one holds its place in the connection's count until dropped,
/// and its place in the node-wide budget until it has negotiated a protocol.
#[derive(Debug)]
pub struct Substream {
    inner: Stream,
    _inbound: Option<Arc<()>>,
    negotiating: Option<Negotiating>,
}

#[derive(Debug)]
struct Negotiating {
    watch: Confirmation,
    _budget: Ticket,
    _here: Arc<()>,
}

impl AsyncRead for Substream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Substream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let (Poll::Ready(Ok(n)), Some(negotiating)) = (&written, self.negotiating.as_mut())
            && negotiating.watch.wrote(&buf[..*n])
        {
            self.negotiating = None;
        }
        written
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl<C> Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    /// The next stream the peer opened within the limits; the connection running meanwhile.
    /// Streams over [`MAX_INBOUND_STREAMS`] or the node-wide budget of unnegotiated streams
    /// are reset (dropped) as they arrive. A connection that has ended is
    /// [`ConnectionError::Closed`].
    fn next_inbound(&mut self, cx: &mut Context<'_>) -> Poll<Result<Substream, ConnectionError>> {
        loop {
            let peer = || {
                self.peer
                    .map_or_else(|| "unknown".into(), |p| p.to_string())
            };
            let stream = match ready!(self.connection.poll_next_inbound(cx)) {
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    // the peer broke the protocol (a hang-up or a clean close is no error)
                    if !matches!(e, ConnectionError::Io(_) | ConnectionError::Closed) {
                        crate::peer_log::muxer_error();
                        if let Some(repeats) = self.failed.event(&self.peer) {
                            tracing::info!(peer = %peer(), repeats, "connection ended by a yamux error: {e}");
                        }
                    }
                    return Poll::Ready(Err(e));
                }
                None => return Poll::Ready(Err(ConnectionError::Closed)),
            };
            let live = Arc::strong_count(&self.live_inbound) - 1;
            if live >= MAX_INBOUND_STREAMS {
                if let Some(repeats) = self.refused.event(&self.peer) {
                    tracing::info!(
                        peer = %peer(),
                        %stream,
                        repeats,
                        "peer opened more than {MAX_INBOUND_STREAMS} streams on one connection: stream reset"
                    );
                }
                continue;
            }
            let held = Arc::strong_count(&self.unnegotiated_here) - 1;
            let Some(ticket) = self.budget.take(held) else {
                if let Some(repeats) = self.over_budget.event(&self.peer) {
                    tracing::info!(
                        peer = %peer(),
                        %stream,
                        repeats,
                        "{MAX_UNNEGOTIATED} unnegotiated inbound streams node-wide already: stream reset"
                    );
                }
                continue;
            };
            return Poll::Ready(Ok(Substream {
                inner: stream,
                _inbound: Some(self.live_inbound.clone()),
                negotiating: Some(Negotiating {
                    watch: Confirmation::default(),
                    _budget: ticket,
                    _here: self.unnegotiated_here.clone(),
                }),
            }));
        }
    }
}

impl<C> StreamMuxer for Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    type Substream = Substream;
    type Error = ConnectionError;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Substream, ConnectionError>> {
        let this = self.get_mut();
        if let Some(stream) = this.inbound.pop_front() {
            return Poll::Ready(Ok(stream));
        }
        let next = this.next_inbound(cx);
        if next.is_pending() {
            this.inbound_waker = Some(cx.waker().clone());
        }
        next
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Substream, ConnectionError>> {
        self.get_mut()
            .connection
            .poll_new_outbound(cx)
            .map_ok(|inner| Substream {
                inner,
                _inbound: None,
                negotiating: None,
            })
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionError>> {
        self.get_mut().connection.poll_close(cx)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, ConnectionError>> {
        let this = self.get_mut();
        // The backlog is bounded by the live inbound count (each stream in it holds a place).
        let stream = ready!(this.next_inbound(cx))?;
        this.inbound.push_back(stream);
        if let Some(waker) = this.inbound_waker.take() {
            waker.wake();
        }
        // Come back at once: the connection may have more to do, but others get a turn first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::{AsyncReadExt, AsyncWriteExt, FutureExt};
    use libp2p::core::muxing::StreamMuxerExt;
    use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

    use super::*;

    /// A socket end that remembers its largest single write.
    struct Recording {
        inner: Compat<tokio::io::DuplexStream>,
        largest: Arc<AtomicUsize>,
    }

    impl AsyncRead for Recording {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Recording {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let r = Pin::new(&mut self.inner).poll_write(cx, buf);
            if let Poll::Ready(Ok(n)) = r {
                self.largest.fetch_max(n, Ordering::Relaxed);
            }
            r
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_close(cx)
        }
    }

    /// A connected pair of socket ends; the first remembers its largest write.
    fn sockets() -> (Recording, Compat<tokio::io::DuplexStream>, Arc<AtomicUsize>) {
        let (a, b) = tokio::io::duplex(4 << 20);
        let largest = Arc::new(AtomicUsize::new(0));
        let a = Recording {
            inner: a.compat(),
            largest: largest.clone(),
        };
        (a, b.compat(), largest)
    }

    /// Sends `data` over one stream from `client` to `server` and returns what arrived.
    async fn carry<A, B>(mut client: A, mut server: B, data: Vec<u8>) -> Vec<u8>
    where
        A: StreamMuxer + Unpin + Send + 'static,
        A::Substream: Unpin + Send,
        A::Error: Debug,
        B: StreamMuxer + Unpin,
        B::Substream: Unpin,
        B::Error: Debug,
    {
        let sender = tokio::spawn(async move {
            let mut out = future::poll_fn(|cx| client.poll_outbound_unpin(cx))
                .await
                .unwrap();
            let write = async {
                out.write_all(&data).await.unwrap();
                out.close().await.unwrap();
                future::pending::<()>().await;
            };
            // The connection runs while the stream is written, and on until aborted.
            let drive = future::poll_fn(|cx| client.poll_unpin(cx).map(|_| ()));
            futures::select! {
                () = write.fuse() => {},
                () = drive.fuse() => {},
            }
        });
        let mut inbound = future::poll_fn(|cx| server.poll_inbound_unpin(cx))
            .await
            .unwrap();
        let mut got = Vec::new();
        {
            let read = inbound.read_to_end(&mut got).fuse();
            let drive = future::poll_fn(|cx| server.poll_unpin(cx).map(|_| ())).fuse();
            futures::pin_mut!(read, drive);
            futures::select! {
                r = read => { r.unwrap(); },
                () = drive => panic!("the server's connection ended first"),
            }
        }
        sender.abort();
        got
    }

    fn data() -> Vec<u8> {
        (0..3 * SPLIT_SEND_BYTES + 77)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn data_is_sent_in_frames_larger_than_yamux_default() {
        let (a, b, largest) = sockets();
        let client = Config::new().muxer(a, Mode::Client);
        let server = Config::new().muxer(b, Mode::Server);
        assert_eq!(carry(client, server, data()).await, data());
        // yamux writes a frame's body in one write: the largest is a whole frame's.
        assert_eq!(largest.load(Ordering::Relaxed), SPLIT_SEND_BYTES);
    }

    #[tokio::test]
    async fn an_inbound_stream_leaves_the_budget_once_negotiated_and_counts_till_then() {
        use multistream_select::{Version, dialer_select_proto, listener_select_proto};

        let (a, b, _) = sockets();
        let mut client = Config::new().muxer(a, Mode::Client);
        let server_config = Config::new();
        let budget = server_config.budget.clone();
        let mut server = server_config.muxer(b, Mode::Server);
        let client_task = tokio::spawn(async move {
            let out = future::poll_fn(|cx| client.poll_outbound_unpin(cx))
                .await
                .unwrap();
            let negotiate = dialer_select_proto(out, ["/weft/x/1"], Version::V1);
            let drive = future::poll_fn(|cx| client.poll_unpin(cx).map(|_| ()));
            futures::pin_mut!(negotiate);
            let (_, mut stream) = futures::select! {
                r = negotiate.fuse() => r.unwrap(),
                () = drive.fuse() => panic!("the client's connection ended"),
            };
            stream.write_all(b"after").await.unwrap();
            stream.flush().await.unwrap();
            let drive = future::poll_fn(|cx| client.poll_unpin(cx).map(|_| ()));
            drive.await;
        });
        let inbound = future::poll_fn(|cx| server.poll_inbound_unpin(cx))
            .await
            .unwrap();
        assert_eq!(
            budget.in_use(),
            1,
            "a stream still negotiating holds a place"
        );
        let (protocol, mut stream) = {
            let negotiate = listener_select_proto(inbound, ["/weft/x/1"]).fuse();
            let drive = future::poll_fn(|cx| server.poll_unpin(cx).map(|_| ())).fuse();
            futures::pin_mut!(negotiate, drive);
            futures::select! {
                r = negotiate => r.unwrap(),
                () = drive => panic!("the server's connection ended"),
            }
        };
        assert_eq!(protocol, "/weft/x/1");
        // the confirmation may still sit in the negotiation's buffer: read to flush it
        let mut got = [0u8; 5];
        {
            let read = stream.read_exact(&mut got).fuse();
            let drive = future::poll_fn(|cx| server.poll_unpin(cx).map(|_| ())).fuse();
            futures::pin_mut!(read, drive);
            futures::select! {
                r = read => r.unwrap(),
                () = drive => panic!("the server's connection ended"),
            }
        }
        assert_eq!(&got, b"after");
        assert_eq!(
            budget.in_use(),
            0,
            "negotiated, the stream is out of the budget"
        );
        drop(stream);
        client_task.abort();
    }

    #[tokio::test]
    async fn interoperates_with_libp2p_yamux_both_ways() {
        let (a, b, _) = sockets();
        let ours = Config::new().muxer(a, Mode::Client);
        let theirs = libp2p::yamux::Config::default().upgrade_inbound(b, PROTOCOL);
        assert_eq!(carry(ours, theirs.await.unwrap(), data()).await, data());

        let (a, b, largest) = sockets();
        let theirs = libp2p::yamux::Config::default().upgrade_outbound(a, PROTOCOL);
        let ours = Config::new().muxer(b, Mode::Server);
        assert_eq!(carry(theirs.await.unwrap(), ours, data()).await, data());
        assert_eq!(
            largest.load(Ordering::Relaxed),
            16 * 1024,
            "stock yamux splits at 16 KiB"
        );
    }
}
