//! A snapshot of what the swarm knows, shared with readers (the HTTP API) behind a lock.

use std::collections::BTreeMap;

use libp2p::{PeerId, StreamProtocol};
use serde::Serialize;
use weft_core::peer::{Direction, Discovery, NatStatus};

use crate::overlay::membership::{speaks, speaks_weft};

/// One connected peer, as shown by `weft peers`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConnectedPeer {
    /// The peer's id.
    pub peer_id: String,
    /// The address of the first open connection.
    pub addr: String,
    /// `outbound` if we dialed, `inbound` if it dialed us.
    pub direction: Direction,
    /// How the peer was found.
    pub source: Discovery,
    /// Open connections to it.
    pub connections: u32,
    /// Last round-trip time measured by ping, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Its agent string, once identify has run.
    pub agent: Option<String>,
    /// Unix seconds when the first open connection was established.
    pub since: i64,
    /// The addresses it listens on, as it told us (identify).
    pub listen_addrs: Vec<String>,
    /// The protocols its identify lists (at most [`crate::MAX_PROTOCOLS_FROM_PEER`]; empty
    /// until it has identified). Not shown by the API.
    #[serde(skip)]
    pub protocols: Vec<StreamProtocol>,
}

/// What the swarm knows right now.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NetState {
    /// This node's peer id.
    pub peer_id: String,
    /// Addresses the swarm is listening on, each ending in `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// Addresses other peers observed for us (identify), confirmed or not.
    pub external: Vec<String>,
    /// Connected peers by id.
    pub peers: BTreeMap<String, ConnectedPeer>,
    /// AutoNAT's verdict.
    pub nat: NatStatus,
}

impl NetState {
    /// Connected peers whose identify lists `protocol` ([`speaks`]).
    pub fn peers_speaking(&self, protocol: &StreamProtocol) -> Vec<PeerId> {
        self.identified_peers(|p| speaks(p, protocol))
    }

    /// Connected peers whose identify lists any of weft's protocols ([`speaks_weft`]).
    pub fn weft_peers(&self) -> Vec<PeerId> {
        self.identified_peers(speaks_weft)
    }

    fn identified_peers(&self, keep: impl Fn(&[StreamProtocol]) -> bool) -> Vec<PeerId> {
        self.peers
            .values()
            .filter(|p| keep(&p.protocols))
            .filter_map(|p| p.peer_id.parse().ok())
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A connected peer that identified with `protocols`.
    pub(crate) fn peer(protocols: &[&'static str]) -> ConnectedPeer {
        ConnectedPeer {
            peer_id: PeerId::random().to_string(),
            addr: "/ip4/127.0.0.1/tcp/1".into(),
            direction: Direction::Inbound,
            source: Discovery::Inbound,
            connections: 1,
            rtt_ms: None,
            agent: None,
            since: 0,
            listen_addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            protocols: protocols.iter().map(|p| StreamProtocol::new(p)).collect(),
        }
    }

    /// A state holding `peers`.
    pub(crate) fn state(peers: Vec<ConnectedPeer>) -> NetState {
        NetState {
            peers: peers.into_iter().map(|p| (p.peer_id.clone(), p)).collect(),
            ..NetState::default()
        }
    }

    #[test]
    fn only_peers_that_list_a_protocol_are_taken_for_it() {
        let msg = StreamProtocol::new("/weft/msg/1");
        let weft = peer(&["/ipfs/id/1.0.0", "/weft/kad/1", "/weft/msg/1"]);
        let kad_only = peer(&["/weft/kad/1"]);
        let foreign = peer(&["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]);
        let silent = peer(&[]);
        let ids: Vec<PeerId> = [&weft, &kad_only]
            .iter()
            .map(|p| p.peer_id.parse().unwrap())
            .collect();
        let s = state(vec![weft, kad_only, foreign, silent]);
        assert_eq!(s.peers_speaking(&msg), vec![ids[0]]);
        let (mut both, mut got) = (ids.clone(), s.weft_peers());
        both.sort();
        got.sort();
        assert_eq!(got, both);
    }
}
