//! The event log hash: a BLAKE3 digest over every delivered event.
//!
//! Each event contributes 26 bytes, little-endian: time in microseconds (u64), sequence number
//! (u64), kind (u16), sender (u32), receiver (u32). Two runs with the same seed and the same
//! code produce the same hash; any change in scheduling, in an engine's behaviour, or in an RNG
//! draw changes it.

/// The trace kind of a timer firing (`from == to ==` the node).
pub const KIND_TIMER: u16 = 0xFFF0;
/// The trace kind of a command given to a node (`from == to ==` the node).
pub const KIND_COMMAND: u16 = 0xFFF1;
/// The trace kind of a node leaving (`from == to ==` the node).
pub const KIND_LEAVE: u16 = 0xFFF2;
/// The trace kind of a node joining (`from` = bootstrap or the node itself, `to` = the node).
pub const KIND_JOIN: u16 = 0xFFF3;
/// The trace kind of a control event of the experiment runner (`from == to == u32::MAX`).
pub const KIND_CONTROL: u16 = 0xFFF4;

/// Accumulates the event log hash, buffering records to keep BLAKE3 calls large.
pub struct TraceHash {
    hasher: blake3::Hasher,
    buf: Vec<u8>,
    events: u64,
}

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash {
            hasher: blake3::Hasher::new(),
            buf: Vec::with_capacity(BUF),
            events: 0,
        }
    }
}

const BUF: usize = 26 * 2048;

impl TraceHash {
    /// Records one event.
    pub fn record(&mut self, time_us: u64, seq: u64, kind: u16, from: u32, to: u32) {
        self.buf.extend_from_slice(&time_us.to_le_bytes());
        self.buf.extend_from_slice(&seq.to_le_bytes());
        self.buf.extend_from_slice(&kind.to_le_bytes());
        self.buf.extend_from_slice(&from.to_le_bytes());
        self.buf.extend_from_slice(&to.to_le_bytes());
        self.events += 1;
        if self.buf.len() >= BUF {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    /// Events recorded so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The hash of everything recorded so far, as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        let mut h = self.hasher.clone();
        h.update(&self.buf);
        h.finalize().to_hex().to_string()
    }
}

/// Combines several hashes (one per run) into one, in the given order.
pub fn combine<'a>(hashes: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = blake3::Hasher::new();
    for s in hashes {
        h.update(s.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffering_does_not_change_the_hash() {
        let mut a = TraceHash::default();
        let mut direct = blake3::Hasher::new();
        for i in 0..5000u64 {
            a.record(i, i * 2, (i % 7) as u16, i as u32, (i + 1) as u32);
            direct.update(&i.to_le_bytes());
            direct.update(&(i * 2).to_le_bytes());
            direct.update(&((i % 7) as u16).to_le_bytes());
            direct.update(&(i as u32).to_le_bytes());
            direct.update(&((i + 1) as u32).to_le_bytes());
        }
        assert_eq!(a.hex(), direct.finalize().to_hex().to_string());
        assert_eq!(a.events(), 5000);
    }
}
