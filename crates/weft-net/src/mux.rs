//! The stream multiplexer: yamux (`/yamux/1.0.0`, the same wire protocol every libp2p node
//! speaks), driven through the `yamux` crate directly so that weft can choose how large the
//! data frames it sends are.
//!
//! The `yamux` crate splits what a stream writes into frames of at most 16 KiB, and
//! `libp2p-yamux` does not let that be changed. Each frame is then two TLS records (its
//! 12-byte header and its body), each encrypted and written by a system call of its own, and
//! yamux flushes after every frame. Profiles of a 1 GiB transfer showed that per-frame cost
//! dominating both ends. Frames of [`SPLIT_SEND_BYTES`] cut the source's CPU per GiB by about
//! a quarter. Receivers accept any frame up to their stream's window (256 KiB at first, and
//! `yamux` takes bodies up to 1 MiB), so peers that split at 16 KiB interoperate unchanged.
//!
//! The cost is head-of-line blocking: a small frame of another stream may wait behind one
//! large frame, 128 ms at 1 MB/s. The kernel's send buffer on such a link already holds more
//! than that.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::future::{self, Ready};
use futures::{AsyncRead, AsyncWrite, ready};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use yamux::{Connection, ConnectionError, Mode, Stream};

/// The protocol name negotiated for the multiplexer.
pub const PROTOCOL: &str = "/yamux/1.0.0";
/// The largest data frame weft sends.
pub const SPLIT_SEND_BYTES: usize = 128 * 1024;
/// Inbound streams kept while nobody asks for them; more are refused (dropped).
const INBOUND_BACKLOG: usize = 256;

/// The multiplexer upgrade: yamux with weft's frame size.
#[derive(Clone, Debug)]
pub struct Config(yamux::Config);

impl Config {
    /// yamux's defaults, but data frames of up to [`SPLIT_SEND_BYTES`].
    #[must_use]
    pub fn new() -> Self {
        let mut c = yamux::Config::default();
        c.set_split_send_size(SPLIT_SEND_BYTES);
        Config(c)
    }

    fn muxer<C>(self, socket: C, mode: Mode) -> Muxer<C>
    where
        C: AsyncRead + AsyncWrite + Unpin,
    {
        Muxer {
            connection: Connection::new(socket, self.0, mode),
            inbound: VecDeque::new(),
            inbound_waker: None,
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
    inbound: VecDeque<Stream>,
    inbound_waker: Option<Waker>,
}

impl<C> Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    /// The next stream the peer opened; the connection running meanwhile. A connection that
    /// has ended is [`ConnectionError::Closed`].
    fn next_inbound(&mut self, cx: &mut Context<'_>) -> Poll<Result<Stream, ConnectionError>> {
        self.connection
            .poll_next_inbound(cx)
            .map(|next| next.unwrap_or(Err(ConnectionError::Closed)))
    }
}

impl<C> StreamMuxer for Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    type Substream = Stream;
    type Error = ConnectionError;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Stream, ConnectionError>> {
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
    ) -> Poll<Result<Stream, ConnectionError>> {
        self.get_mut().connection.poll_new_outbound(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionError>> {
        self.get_mut().connection.poll_close(cx)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, ConnectionError>> {
        let this = self.get_mut();
        let stream = ready!(this.next_inbound(cx))?;
        if this.inbound.len() < INBOUND_BACKLOG {
            this.inbound.push_back(stream);
            if let Some(waker) = this.inbound_waker.take() {
                waker.wake();
            }
        } else {
            tracing::debug!(%stream, "inbound stream backlog full: stream dropped");
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
