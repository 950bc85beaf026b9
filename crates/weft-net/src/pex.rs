//! Peer exchange: after connecting to a peer it found by bootstrap, mDNS or its peer book, a
//! node asks that peer whom it is connected to, and dials them. One request, one reply of at
//! most [`MAX_PEERS`] entries, on [`PROTOCOL`]. The reply names only peers whose identify
//! lists one of weft's protocols ([`crate::overlay::membership::speaks_weft`]): a libp2p node
//! that speaks none of them is of no use to the asker, and handing it out would spread it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::debug;
use weft_core::peer::Discovery;
use weft_core::wire;

use crate::driver::Command;
use crate::framing::{read_frame, write_last_frame};
use crate::overlay::membership::speaks_weft;
use crate::state::NetState;

/// The peer-exchange protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/pex/1");
/// Most peers in one reply.
pub const MAX_PEERS: usize = 32;
/// Most addresses per peer in one reply.
pub const MAX_ADDRS: usize = 8;
/// Largest reply accepted.
const MAX_REPLY: usize = 64 * 1024;
/// How long one exchange may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The reply: peers the responder is connected to, with their listen addresses.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct PexReply {
    /// `(peer id bytes, multiaddr bytes...)`.
    pub peers: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
}

/// Serves peer-exchange requests from the shared state.
pub async fn serve(inbound: crate::inbound::Inbound, state: Arc<RwLock<NetState>>) {
    let Ok(mut incoming) = inbound.accept(PROTOCOL, crate::inbound::DEFAULT_BACKLOG) else {
        return;
    };
    while let Some((peer, mut stream)) = incoming.next().await {
        let reply = reply_for(&state.read().unwrap_or_else(|p| p.into_inner()), &peer);
        tokio::spawn(async move {
            let Ok(bytes) = wire::encode(&reply, MAX_REPLY) else {
                return;
            };
            let _ = tokio::time::timeout(TIMEOUT, write_last_frame(&mut stream, &bytes)).await;
        });
    }
}

/// The reply to `asker`: connected peers that speak weft and told us where they listen, the
/// asker left out.
fn reply_for(state: &NetState, asker: &PeerId) -> PexReply {
    let asker = asker.to_string();
    let peers = state
        .peers
        .values()
        .filter(|p| p.peer_id != asker && !p.listen_addrs.is_empty())
        .filter(|p| speaks_weft(&p.protocols))
        .take(MAX_PEERS)
        .filter_map(|p| {
            let id = p.peer_id.parse::<PeerId>().ok()?;
            let addrs = p
                .listen_addrs
                .iter()
                .take(MAX_ADDRS)
                .filter_map(|a| a.parse::<Multiaddr>().ok().map(|a| a.to_vec()))
                .collect();
            Some((id.to_bytes(), addrs))
        })
        .collect();
    PexReply { peers }
}

/// Asks `peer` for its peers and queues a dial for each.
pub async fn ask(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    commands: mpsc::Sender<Command>,
) {
    let exchange = async {
        let mut stream = control
            .open_stream(peer, PROTOCOL)
            .await
            .map_err(|e| e.to_string())?;
        let bytes = read_frame(&mut stream, MAX_REPLY)
            .await
            .map_err(|e| e.to_string())?;
        wire::decode::<PexReply>(&bytes, MAX_REPLY).map_err(|e| e.to_string())
    };
    let reply = match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return debug!(%peer, "peer exchange failed: {e}"),
        Err(_) => return debug!(%peer, "peer exchange timed out"),
    };
    for (id, addrs) in reply.peers.into_iter().take(MAX_PEERS) {
        // A peer that sends garbage ids or addresses gets them skipped, nothing more.
        let Ok(id) = PeerId::from_bytes(&id) else {
            continue;
        };
        let addrs: Vec<Multiaddr> = addrs
            .into_iter()
            .take(MAX_ADDRS)
            .filter_map(|a| Multiaddr::try_from(a).ok())
            .collect();
        if !addrs.is_empty() {
            let _ = commands
                .send(Command::Dial {
                    peer: id,
                    addrs,
                    source: Discovery::Peer,
                })
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::{peer, state};

    #[test]
    fn the_reply_names_only_weft_peers_and_not_the_asker() {
        let weft = peer(&["/ipfs/id/1.0.0", "/weft/kad/1"]);
        let asker = peer(&["/weft/kad/1"]);
        let foreign = peer(&["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]);
        let unidentified = peer(&[]);
        let (weft_id, asker_id): (PeerId, PeerId) = (
            weft.peer_id.parse().unwrap(),
            asker.peer_id.parse().unwrap(),
        );
        let s = state(vec![weft, asker, foreign, unidentified]);
        let reply = reply_for(&s, &asker_id);
        let named: Vec<PeerId> = reply
            .peers
            .iter()
            .map(|(id, _)| PeerId::from_bytes(id).unwrap())
            .collect();
        assert_eq!(named, vec![weft_id]);
        assert_eq!(reply.peers[0].1.len(), 1, "with its listen address");
    }
}
