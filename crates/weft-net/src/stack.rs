//! The connection stacks weft builds itself instead of taking libp2p's `SwarmBuilder`
//! shortcuts (`with_tcp`, `with_relay_client`), so that an incoming TCP socket gets a deadline
//! for its first bytes and a pending slot ([`crate::handshakes`]) and the muxer learns which
//! peer it serves ([`crate::mux`]). Otherwise the same layers: TCP (no Nagle), then
//! multistream-select (`V1Lazy`), [`crate::tls`] or Noise, then weft's yamux.

use futures::future::{BoxFuture, Either};
use futures::{AsyncRead, AsyncWrite, FutureExt, TryFutureExt};
use libp2p::core::Transport;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade::{
    InboundConnectionUpgrade, OutboundConnectionUpgrade, SelectUpgrade, UpgradeInfo, Version,
};
use libp2p::identity::Keypair;
use libp2p::{PeerId, noise, relay, tcp};

use crate::handshakes::{self, FIRST_BYTES, FirstBytes, Handshakes, INBOUND_HANDSHAKE};
use crate::peer_log::PeerEvents;
use crate::{mux, tls};

/// Why a stack could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The TLS certificate.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The Noise keys.
    #[error(transparent)]
    Noise(#[from] noise::Error),
}

/// TLS first, Noise second: whichever the peer speaks, as one upgrade with one output.
#[derive(Clone)]
pub struct Security(SelectUpgrade<tls::Config, noise::Config>);

impl Security {
    /// Both handshakes for `key`.
    ///
    /// # Errors
    /// [`StackError`] if either cannot be set up.
    pub fn new(key: &Keypair) -> Result<Self, StackError> {
        Ok(Security(SelectUpgrade::new(
            tls::Config::new(key)?,
            noise::Config::new(key)?,
        )))
    }
}

type Select = SelectUpgrade<tls::Config, noise::Config>;
/// The stream a secured connection carries.
pub type Secured<C> = Either<futures_rustls::TlsStream<C>, noise::Output<C>>;

impl UpgradeInfo for Security {
    type Info = <Select as UpgradeInfo>::Info;
    type InfoIter = <Select as UpgradeInfo>::InfoIter;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.protocol_info()
    }
}

fn one_output<C>(
    out: Either<(PeerId, futures_rustls::TlsStream<C>), (PeerId, noise::Output<C>)>,
) -> (PeerId, Secured<C>) {
    match out {
        Either::Left((peer, s)) => (peer, Either::Left(s)),
        Either::Right((peer, s)) => (peer, Either::Right(s)),
    }
}

impl<C> InboundConnectionUpgrade<C> for Security
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, Secured<C>);
    type Error = <Select as InboundConnectionUpgrade<C>>::Error;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, socket: C, info: Self::Info) -> Self::Future {
        self.0
            .upgrade_inbound(socket, info)
            .map_ok(one_output)
            .boxed()
    }
}

impl<C> OutboundConnectionUpgrade<C> for Security
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, Secured<C>);
    type Error = <Select as OutboundConnectionUpgrade<C>>::Error;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, socket: C, info: Self::Info) -> Self::Future {
        self.0
            .upgrade_outbound(socket, info)
            .map_ok(one_output)
            .boxed()
    }
}

/// TCP: incoming sockets must speak within [`FIRST_BYTES`] and finish their handshake within
/// [`INBOUND_HANDSHAKE`], holding a pending slot by `limits` meanwhile; `mux` multiplexes.
///
/// # Errors
/// [`StackError`] if the security handshakes cannot be set up.
pub fn tcp(
    key: &Keypair,
    limits: handshakes::Limits,
    mux: mux::Config,
    events: &PeerEvents,
) -> Result<Handshakes<Boxed<(PeerId, StreamMuxerBox)>>, StackError> {
    let first_bytes = events.clone();
    let inner = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .map(move |socket, endpoint| FirstBytes::new(socket, &endpoint, FIRST_BYTES, &first_bytes))
        .upgrade(Version::V1Lazy)
        .authenticate(Security::new(key)?)
        .multiplex_ext(move |peer, _| mux.clone().serving(*peer))
        .inbound_timeout(INBOUND_HANDSHAKE)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed();
    Ok(Handshakes::new(inner, limits, events))
}

/// Connections through a relay (the circuit relay client's transport), secured and
/// multiplexed as TCP's are.
///
/// # Errors
/// [`StackError`] if the security handshakes cannot be set up.
pub fn relayed(
    transport: relay::client::Transport,
    key: &Keypair,
    mux: mux::Config,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, StackError> {
    Ok(transport
        .upgrade(Version::V1Lazy)
        .authenticate(Security::new(key)?)
        .multiplex_ext(move |peer, _| mux.clone().serving(*peer))
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}
