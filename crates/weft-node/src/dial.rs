//! Reaching a peer before a stream is opened to it.

use std::time::Duration;

use weft_net::overlay::Overlay;
use weft_net::{Command, NetHandle, PeerId};

/// How often the connection table is looked at while a dial is under way.
const POLL: Duration = Duration::from_millis(50);

/// Makes sure `peer` is connected, dialing the addresses the overlays know for it and waiting
/// at most `limit` for the connection.
///
/// # Errors
/// A short reason: no known address, or the dial timed out.
pub async fn connect(
    net: &NetHandle,
    overlay: &Overlay,
    peer: PeerId,
    limit: Duration,
) -> Result<(), String> {
    let key = peer.to_string();
    if net.state().peers.contains_key(&key) {
        return Ok(());
    }
    let addrs = overlay.addresses(&peer);
    if addrs.is_empty() {
        return Err("no known address".into());
    }
    net.send(Command::Dial {
        peer,
        addrs,
        source: weft_core::peer::Discovery::Peer,
    })
    .await;
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if net.state().peers.contains_key(&key) {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    Err("dial timed out".into())
}
