//! The event log hash: a BLAKE3 digest over the run's label and every delivered event.
//!
//! The hash starts with the run's label (the algorithm and its parameters, e.g.
//! `pastry b=4 L=16 M=16 prefix`), length-prefixed. Each event then contributes 26 bytes,
//! little-endian: time in microseconds (u64), sequence number (u64), kind (u16), sender (u32),
//! receiver (u32); a delivered message adds its contents, postcard-encoded, after a u32 length
//! ([`TraceHash::record_message`]). Two runs with the same seed and the same code produce the
//! same hash; another algorithm or parameter, any change in scheduling, in what an engine
//! sends or in an RNG draw changes it.

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

impl TraceHash {
    /// A hash that starts with `label`: what was run (the algorithm and its parameters).
    pub fn new(label: &str) -> Self {
        let mut buf = Vec::with_capacity(BUF + 1024);
        buf.extend_from_slice(&(label.len() as u64).to_le_bytes());
        buf.extend_from_slice(label.as_bytes());
        TraceHash {
            hasher: blake3::Hasher::new(),
            buf,
            events: 0,
        }
    }
}

const BUF: usize = 26 * 2048;

impl TraceHash {
    /// Records one event that carries no message (a timer, command, join, leave, control).
    pub fn record(&mut self, time_us: u64, seq: u64, kind: u16, from: u32, to: u32) {
        self.header(time_us, seq, kind, from, to);
        self.flush_if_full();
    }

    /// Records one delivered message with its encoded contents.
    pub fn record_message(
        &mut self,
        time_us: u64,
        seq: u64,
        kind: u16,
        from: u32,
        to: u32,
        contents: &[u8],
    ) {
        self.header(time_us, seq, kind, from, to);
        self.buf
            .extend_from_slice(&(contents.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(contents);
        self.flush_if_full();
    }

    fn header(&mut self, time_us: u64, seq: u64, kind: u16, from: u32, to: u32) {
        self.buf.extend_from_slice(&time_us.to_le_bytes());
        self.buf.extend_from_slice(&seq.to_le_bytes());
        self.buf.extend_from_slice(&kind.to_le_bytes());
        self.buf.extend_from_slice(&from.to_le_bytes());
        self.buf.extend_from_slice(&to.to_le_bytes());
        self.events += 1;
    }

    fn flush_if_full(&mut self) {
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
        let mut a = TraceHash::new("ring");
        let mut direct = blake3::Hasher::new();
        direct.update(&4u64.to_le_bytes());
        direct.update(b"ring");
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

    #[test]
    fn the_label_and_message_contents_change_the_hash() {
        let hash = |label: &str, contents: &[u8]| {
            let mut t = TraceHash::new(label);
            t.record_message(1, 2, 3, 4, 5, contents);
            t.hex()
        };
        assert_eq!(hash("chord", b"abc"), hash("chord", b"abc"));
        assert_ne!(hash("chord", b"abc"), hash("pastry", b"abc"));
        assert_ne!(hash("chord", b"abc"), hash("chord", b"abd"));
        // The length prefix keeps contents from running into the next event.
        assert_ne!(hash("chord", b""), hash("chord", b"\0"));
    }
}
