//! Decoder targets for the communication layer: peer-exchange replies and length-prefixed
//! frames.

use futures::executor::block_on;
use futures::io::Cursor;
use weft_net::framing::{FrameError, read_frame};
use weft_net::pex::{MAX_ADDRS, MAX_PEERS, PexReply};
use weft_net::{Multiaddr, PeerId};

use crate::codec::{decode, round_trip};
use crate::input::Input;

/// The largest peer-exchange reply a node accepts (`weft_net::pex`'s private `MAX_REPLY`).
pub const MAX_PEX_REPLY: usize = 64 * 1024;

/// What `weft_net::pex::ask` does with a reply: decode it, then parse at most
/// [`MAX_PEERS`] peer ids and [`MAX_ADDRS`] addresses each, skipping garbage.
pub fn pex_reply(data: &[u8]) {
    let Some(reply) = decode::<PexReply>(data, MAX_PEX_REPLY) else {
        return;
    };
    round_trip(&reply);
    for (id, addrs) in reply.peers.into_iter().take(MAX_PEERS) {
        let Ok(id) = PeerId::from_bytes(&id) else {
            continue;
        };
        let addrs: Vec<Multiaddr> = addrs
            .into_iter()
            .take(MAX_ADDRS)
            .filter_map(|a| Multiaddr::try_from(a).ok())
            .collect();
        for a in &addrs {
            // What the dialler and the logs do with them.
            let _ = a.to_string();
            let _ = a.iter().count();
        }
        let _ = id.to_string();
    }
}

/// The frame limits the protocols use, selected by the first input byte.
pub const FRAME_LIMITS: [usize; 5] = [0, 16, 1024, 64 * 1024, 1 << 20];

/// [`read_frame`] over an in-memory stream: byte 0 selects a limit of [`FRAME_LIMITS`], the
/// rest is the stream, read frame after frame until an error. Every frame returned must be
/// within the limit, and a frame announced over the limit must be refused as such.
pub fn read_frames(data: &[u8]) {
    let mut input = Input::new(data);
    let max = FRAME_LIMITS[usize::from(input.byte()) % FRAME_LIMITS.len()];
    let stream = input.rest();
    let mut cursor = Cursor::new(stream);
    let mut consumed = 0usize;
    loop {
        let before = cursor.position();
        match block_on(read_frame(&mut cursor, max)) {
            Ok(frame) => {
                assert!(frame.len() <= max, "frame over the limit");
                consumed += 4 + frame.len();
                assert_eq!(cursor.position() as usize, consumed);
            }
            Err(FrameError::TooLarge { len, max: m }) => {
                assert!(len > m && m == max);
                assert_eq!(
                    cursor.position() - before,
                    4,
                    "read past an oversized header"
                );
                break;
            }
            Err(FrameError::Io(_)) => break,
        }
    }
}
