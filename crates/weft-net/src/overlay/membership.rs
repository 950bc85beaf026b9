//! Which connected peers take part in which overlay: those whose identify lists the overlay's
//! protocol. A connection alone is not enough — a libp2p node that speaks none of weft's
//! protocols would otherwise fill the Kademlia routing table and the flood neighbour set, and
//! every lookup and query sent to it would be lost.
//!
//! This is the node's peer-protocol view, fed by identify; the overlay's drivers learn of a
//! peer from it and from nothing else. The same test ([`speaks`], [`speaks_weft`]) chooses
//! the peers handed out by peer exchange ([`crate::pex`]), the mailbox peers of collab
//! ([`crate::NetState::peers_speaking`]) and the peers that claim weft for the incoming slots
//! ([`crate::slots`]).

use std::collections::BTreeMap;

use libp2p::{PeerId, StreamProtocol};

use weft_overlay::PeerEvent;

/// Whether a peer whose identify lists `protocols` takes part in `protocol`: it lists it.
pub fn speaks(protocols: &[StreamProtocol], protocol: &StreamProtocol) -> bool {
    protocols.contains(protocol)
}

/// Whether a peer whose identify lists `protocols` says it speaks any of weft's protocols
/// (`/weft/…`). Saying so is all this checks: what a peer does is another matter.
pub fn speaks_weft(protocols: &[StreamProtocol]) -> bool {
    protocols.iter().any(|p| p.as_ref().starts_with("/weft/"))
}

/// The overlays each identified peer takes part in, as a set of driver indexes (bits).
#[derive(Debug, Default)]
pub(crate) struct Membership {
    /// Only connected peers that identified; removed when they disconnect.
    by_peer: BTreeMap<PeerId, u32>,
}

impl Membership {
    /// `peer` says it speaks `protocols`; `overlays[i]` is driver `i`'s protocol. Returns each
    /// driver's change: [`PeerEvent::Connected`] for an overlay it joins, and
    /// [`PeerEvent::Unreachable`] for one it no longer speaks.
    pub fn identified(
        &mut self,
        peer: PeerId,
        protocols: &[StreamProtocol],
        overlays: &[StreamProtocol],
    ) -> Vec<(usize, PeerEvent)> {
        let old = self.by_peer.get(&peer).copied().unwrap_or(0);
        let mut new = 0u32;
        for (i, p) in overlays.iter().enumerate().take(32) {
            if speaks(protocols, p) {
                new |= 1 << i;
            }
        }
        self.by_peer.insert(peer, new);
        (0..overlays.len().min(32))
            .filter_map(|i| {
                let (was, is) = (old & (1 << i) != 0, new & (1 << i) != 0);
                match (was, is) {
                    (false, true) => Some((i, PeerEvent::Connected)),
                    (true, false) => Some((i, PeerEvent::Unreachable)),
                    _ => None,
                }
            })
            .collect()
    }

    /// `peer`'s last connection closed: the drivers it had joined.
    pub fn disconnected(&mut self, peer: &PeerId) -> Vec<usize> {
        let bits = self.by_peer.remove(peer).unwrap_or(0);
        (0..32).filter(|i| bits & (1 << i) != 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAD: StreamProtocol = StreamProtocol::new("/weft/kad/1");
    const FLOOD: StreamProtocol = StreamProtocol::new("/weft/flood/1");
    const PING: StreamProtocol = StreamProtocol::new("/ipfs/ping/1.0.0");

    #[test]
    fn only_peers_that_speak_an_overlay_join_it() {
        let mut m = Membership::default();
        let overlays = [KAD, FLOOD];
        let foreign = PeerId::random();
        assert!(m.identified(foreign, &[PING], &overlays).is_empty());
        assert!(m.disconnected(&foreign).is_empty());

        let weft = PeerId::random();
        assert_eq!(
            m.identified(weft, &[PING, KAD], &overlays),
            vec![(0, PeerEvent::Connected)]
        );
        assert!(
            m.identified(weft, &[KAD], &overlays).is_empty(),
            "no change, no event"
        );
        assert_eq!(
            m.identified(weft, &[FLOOD], &overlays),
            vec![(0, PeerEvent::Unreachable), (1, PeerEvent::Connected)]
        );
        assert_eq!(m.disconnected(&weft), vec![1]);
        assert!(m.by_peer.is_empty());
    }

    #[test]
    fn weft_is_any_protocol_under_slash_weft() {
        assert!(speaks_weft(&[PING, KAD]));
        assert!(!speaks_weft(&[PING]));
        assert!(!speaks_weft(&[StreamProtocol::new("/weftish/1")]));
        assert!(speaks(&[PING, KAD], &KAD) && !speaks(&[PING], &KAD));
    }
}
