//! Keeps connections to known peers open: the dialing side opens one stream on
//! [`PROTOCOL`] and holds it; a libp2p connection stays alive while it has an open stream.
//! The accepting side holds the stream until the remote closes it. Nothing is ever sent.

use futures::{AsyncReadExt, StreamExt};
use libp2p::{PeerId, StreamProtocol};
use tracing::debug;

/// The keep-alive protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/keepalive/1");

/// Opens and holds a keep-alive stream to `peer` until the connection ends.
pub async fn hold(mut control: libp2p_stream::Control, peer: PeerId) {
    match control.open_stream(peer, PROTOCOL).await {
        Ok(mut stream) => {
            let mut buf = [0u8; 64];
            // Returns when the remote closes the stream or the connection drops.
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }
        Err(e) => debug!(%peer, "keep-alive stream refused: {e}"),
    }
}

/// Accepts incoming keep-alive streams and holds each until the remote closes it.
pub async fn serve(inbound: crate::inbound::Inbound) {
    let Ok(mut incoming) = inbound.accept(PROTOCOL, crate::inbound::DEFAULT_BACKLOG) else {
        return;
    };
    while let Some((peer, mut stream)) = incoming.next().await {
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            debug!(%peer, "keep-alive stream closed");
        });
    }
}
