//! The composed libp2p behaviour of a weft node.

use libp2p::{
    autonat, connection_limits, dcutr, identify,
    identity::Keypair,
    mdns, ping, relay,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
};

use crate::peer_log::PeerEvents;
use crate::settings::NetSettings;
use crate::slots;

/// The identify protocol version weft nodes announce.
pub const PROTOCOL_VERSION: &str = "/weft/0.1.0";

/// Every protocol a weft node speaks, composed.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Connection limits (first, so it can deny before the others see a connection).
    pub limits: connection_limits::Behaviour,
    /// Incoming slots: who gives one up for a newcomer, by what peers did.
    pub slots: slots::Behaviour,
    /// Exchanges listen addresses, observed addresses and protocols.
    pub identify: identify::Behaviour,
    /// Liveness and round-trip time.
    pub ping: ping::Behaviour,
    /// LAN discovery (off with `--no-mdns`).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Reaching and being reached through relays.
    pub relay_client: relay::client::Behaviour,
    /// Relay server (on with `--relay-server`).
    pub relay_server: Toggle<relay::Behaviour>,
    /// Hole punching over a relayed connection.
    pub dcutr: dcutr::Behaviour,
    /// Is this node reachable from outside?
    pub autonat: autonat::Behaviour,
    /// Raw streams for weft's own protocols (outbound, and inbound for the protocols not
    /// accepted by `inbound`).
    pub stream: libp2p_stream::Behaviour,
    /// Inbound streams with a bounded, counted backlog per protocol.
    pub inbound: crate::inbound::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `key` with `settings` and `inbound`; what peers cost is
    /// counted in `events`.
    ///
    /// # Errors
    /// An I/O error if mDNS cannot bind its socket.
    pub fn new(
        key: &Keypair,
        relay_client: relay::client::Behaviour,
        settings: &NetSettings,
        events: &PeerEvents,
        inbound: crate::inbound::Behaviour,
    ) -> std::io::Result<Self> {
        let peer_id = key.public().to_peer_id();
        let l = &settings.limits;
        let limits = connection_limits::ConnectionLimits::default()
            // `handshakes` keeps incoming handshakes to `max_pending_incoming` by ending old
            // ones; until an ended one is reported it still counts here, hence the headroom
            .with_max_pending_incoming(Some(l.max_pending_incoming.saturating_mul(2)))
            .with_max_pending_outgoing(Some(l.max_pending_outgoing))
            .with_max_established(Some(l.max_established_total))
            // the incoming limit is `slots`', which makes room by priority instead of refusing
            .with_max_established_per_peer(Some(l.max_established_per_peer));
        let mdns = if settings.mdns {
            Some(mdns::tokio::Behaviour::new(
                mdns::Config::default(),
                peer_id,
            )?)
        } else {
            None
        };
        let relay_server = settings
            .relay_server
            .then(|| relay::Behaviour::new(peer_id, relay::Config::default()));
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            slots: slots::Behaviour::new(
                slots::Config {
                    max_incoming: l.max_established_incoming,
                    low_water: l.incoming_low_water,
                    protected: settings.bootstrap.iter().map(|(peer, _)| *peer).collect(),
                },
                events,
            ),
            identify: identify::Behaviour::new(
                identify::Config::new(PROTOCOL_VERSION.into(), key.public())
                    .with_agent_version(format!("weft/{}", env!("CARGO_PKG_VERSION"))),
            ),
            ping: ping::Behaviour::new(ping::Config::new()),
            mdns: mdns.into(),
            relay_client,
            relay_server: relay_server.into(),
            dcutr: dcutr::Behaviour::new(peer_id),
            autonat: autonat::Behaviour::new(peer_id, autonat::Config::default()),
            stream: libp2p_stream::Behaviour::new(),
            inbound,
        })
    }
}
