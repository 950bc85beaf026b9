//! The node-wide budget of inbound streams that have not finished protocol negotiation.
//!
//! Until multistream-select has settled a protocol, an inbound stream is nobody's: no
//! protocol reads it, and what the peer sent sits in buffers (the negotiation's reader, yamux's
//! window). [`crate::mux`] bounds live inbound streams per connection; this bounds the
//! unnegotiated ones across all connections, so that the memory they pin does not grow with
//! the number of connections: at most [`MAX_UNNEGOTIATED`] at once. Past [`SOFT_LIMIT`], a
//! connection already holding [`RESERVED_PER_CONNECTION`] of them gets no more, so that
//! connections that fill the budget do not lock out the one stream at a time of everyone
//! else. Streams past the budget are reset, counted (`stream_budget`) and logged per peer.
//!
//! When is a stream negotiated? When the local side, the listener, confirms a protocol: it
//! echoes the dialer's proposal (the multistream-select specification). [`Confirmation`]
//! watches what the local side writes on the stream, message by message (a varint length,
//! then the message): the multistream header, `na` and a protocol list (`ls`'s answer, which
//! starts with a length byte, never `/`) are not a confirmation; a message `/…\n` is.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Unnegotiated inbound streams at once, node-wide.
pub const MAX_UNNEGOTIATED: usize = 256;
/// Past this many, only connections holding fewer than [`RESERVED_PER_CONNECTION`] get one.
pub const SOFT_LIMIT: usize = MAX_UNNEGOTIATED * 3 / 4;
/// Unnegotiated streams a connection may always hold while the budget is not exhausted.
pub const RESERVED_PER_CONNECTION: usize = 2;

/// The largest multistream-select message (two varint bytes of length).
const MAX_MESSAGE: usize = 16 * 1024;
const HEADER: &[u8] = b"/multistream/1.0.0\n";

/// The node-wide count. Cheap to clone; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Budget(Arc<AtomicUsize>);

impl Budget {
    /// Takes a place for a new stream of a connection that holds `held` unnegotiated streams
    /// already, or `None` if the budget refuses it.
    pub fn take(&self, held: usize) -> Option<Ticket> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                let fits =
                    n < SOFT_LIMIT || (n < MAX_UNNEGOTIATED && held < RESERVED_PER_CONNECTION);
                fits.then_some(n + 1)
            })
            .ok()?;
        Some(Ticket(self.0.clone()))
    }

    /// Unnegotiated inbound streams now.
    pub fn in_use(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// A place in the budget, given back when dropped.
#[derive(Debug)]
pub struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Watches what the local side writes on an inbound stream, for the confirmation of a
/// protocol (sans-IO).
#[derive(Debug, Default)]
pub struct Confirmation {
    /// The message being written: its bytes so far (the varint first).
    partial: Vec<u8>,
}

impl Confirmation {
    /// The local side wrote `bytes`; true once they hold a protocol's confirmation (then stop
    /// calling: what follows is the protocol's own data).
    pub fn wrote(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            let Some((len, varint)) = varint(&self.partial) else {
                if self.partial.len() >= 3 {
                    return true; // not multistream-select's framing: nothing to wait for
                }
                self.partial.push(bytes[0]);
                bytes = &bytes[1..];
                continue;
            };
            if len > MAX_MESSAGE {
                return true;
            }
            let missing = varint + len - self.partial.len();
            let take = missing.min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() < varint + len {
                return false;
            }
            let message = &self.partial[varint..];
            let confirmed = message.first() == Some(&b'/')
                && message.last() == Some(&b'\n')
                && message != HEADER;
            if confirmed {
                return true;
            }
            self.partial.clear();
        }
        false
    }
}

/// The unsigned varint at the start of `bytes` and its length, once complete (at most 2
/// bytes count; a third continuation makes it too large).
fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, b) in bytes.iter().take(3).enumerate() {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_AVAILABLE: &[u8] = b"na\n";

    fn message(body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        let mut n = body.len();
        loop {
            let b = u8::try_from(n & 0x7f).unwrap();
            n >>= 7;
            m.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn a_confirmed_protocol_ends_negotiation_and_header_na_and_ls_do_not() {
        let mut c = Confirmation::default();
        assert!(!c.wrote(&message(HEADER)));
        assert!(!c.wrote(&message(NOT_AVAILABLE)));
        // ls's answer: length-prefixed names inside one message
        let mut list = message(b"/weft/kad/1\n");
        list.extend_from_slice(&message(b"/ipfs/id/1.0.0\n"));
        list.push(b'\n');
        assert!(!c.wrote(&message(&list)));
        assert!(c.wrote(&message(b"/weft/kad/1\n")));
    }

    #[test]
    fn messages_may_be_split_and_joined_any_way() {
        let mut all = message(HEADER);
        all.extend_from_slice(&message(b"/weft/pex/1\n"));
        all.extend_from_slice(b"protocol data");
        for split in 0..all.len() {
            let mut c = Confirmation::default();
            let (a, b) = all.split_at(split);
            let done = c.wrote(a) || c.wrote(b);
            assert!(done, "split at {split}");
        }
        let mut c = Confirmation::default();
        assert!(!all[..all.len() - 14].iter().any(|b| c.wrote(&[*b])));
        assert!(
            c.wrote(&all[all.len() - 14..all.len() - 13]),
            "byte by byte"
        );
    }

    #[test]
    fn a_long_message_is_framed_by_a_two_byte_varint() {
        let mut name = b"/".to_vec();
        name.resize(300, b'a');
        name.push(b'\n');
        let m = message(&name);
        assert_eq!(m[0] & 0x80, 0x80);
        let mut c = Confirmation::default();
        assert!(!c.wrote(&m[..200]));
        assert!(c.wrote(&m[200..]));
    }

    #[test]
    fn the_budget_is_shared_and_keeps_a_reserve() {
        let b = Budget::default();
        let held: Vec<Ticket> = (0..SOFT_LIMIT).map(|_| b.take(0).unwrap()).collect();
        assert!(
            b.take(RESERVED_PER_CONNECTION).is_none(),
            "a connection that holds two"
        );
        let reserve: Vec<Ticket> = (SOFT_LIMIT..MAX_UNNEGOTIATED)
            .map(|_| b.clone().take(1).unwrap())
            .collect();
        assert!(b.take(0).is_none(), "nobody past the budget");
        drop(reserve);
        drop(held);
        assert_eq!(b.in_use(), 0);
    }
}
