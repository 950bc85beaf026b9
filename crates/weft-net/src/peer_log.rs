//! Log lines that remote peers cause, rate-limited: what a peer does wrong is counted every
//! time (in `/metrics`), but logged at most once per peer (or address group) per
//! [`INTERVAL`], with the number of repeats left unlogged since; and each kind of event gets
//! at most [`MAX_LINES`] lines per interval in all, so peers that come back under new
//! identities or on new connections cannot multiply the lines either. A peer that provokes an
//! error on purpose thousands of times a second costs one line per interval, not one per error.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// At most one line per key per this interval.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// Keys remembered at once; past this the table is cleared (and each key may log once more).
pub const MAX_KEYS: usize = 4096;
/// Lines per kind of event per interval, whatever the keys.
pub const MAX_LINES: u32 = 16;

/// Errors of the yamux protocol on any connection of this process (see [`muxer_error`]).
static MUXER_ERRORS: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Counts one yamux protocol error caused by a remote peer: a line the `yamux` crate writes
/// at error level (a stream over its limit, an invalid stream id, a bad window update: each
/// one ends the connection or refuses a stream), or a connection [`crate::mux`] saw end with
/// such an error. The `yamux` crate's lines are one per offence and name no peer, so the
/// node's log leaves them out (`yamux=off`) and counts them instead: its log subscriber calls
/// this for each. Counted in `weft_muxer_errors_total`, for the whole process.
pub fn muxer_error() {
    MUXER_ERRORS.inc();
}

/// How many [`muxer_error`]s were counted in this process.
pub fn muxer_errors() -> u64 {
    MUXER_ERRORS.get()
}

/// The kind of a peer-caused event, the `kind` label of `weft_peer_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventKind {
    /// e.g. `stream_refused`, `handshake_dropped`, `incoming_full`, `evicted`.
    pub kind: &'static str,
}

/// Counts of peer-caused events and of the log lines they were not given. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct PeerEvents {
    events: Family<EventKind, Counter>,
    suppressed: Counter,
}

impl PeerEvents {
    /// Registers `weft_peer_events_total{kind}` and `weft_peer_log_suppressed_total`.
    pub fn register(registry: &mut Registry) -> Self {
        let p = PeerEvents::default();
        let weft = registry.sub_registry_with_prefix("weft");
        weft.register(
            "peer_events",
            "Events caused by remote peers (refused streams and connections, evictions)",
            p.events.clone(),
        );
        weft.register(
            "muxer_errors",
            "yamux protocol errors caused by remote peers (the yamux crate's error lines, not logged, and connections ended by such an error)",
            MUXER_ERRORS.clone(),
        );
        weft.register(
            "peer_log_suppressed",
            "Log lines about remote peers left out by the per-peer rate limit",
            p.suppressed.clone(),
        );
        p
    }

    /// How many events of `kind` were counted.
    pub fn count(&self, kind: &'static str) -> u64 {
        self.events.get_or_create(&EventKind { kind }).get()
    }
}

/// A per-key rate limit on log lines, counting each event of its kind.
#[derive(Clone, Debug)]
pub struct PeerLog<K> {
    kind: &'static str,
    counters: PeerEvents,
    table: Arc<Mutex<Table<K>>>,
}

#[derive(Debug)]
struct Table<K> {
    /// When each key last logged, and its events left unlogged since.
    last: BTreeMap<K, (Instant, u64)>,
    /// The start of the current interval of the kind, and its lines so far.
    window: Option<(Instant, u32)>,
}

impl<K: Ord + Clone> PeerLog<K> {
    /// A limiter for events of `kind`, counted in `counters`.
    pub fn new(kind: &'static str, counters: PeerEvents) -> Self {
        PeerLog {
            kind,
            counters,
            table: Arc::new(Mutex::new(Table {
                last: BTreeMap::new(),
                window: None,
            })),
        }
    }

    /// Counts one event caused by `key`; returns `Some(repeats)` if a line should be logged
    /// now (`repeats`: events of this key left unlogged since its last line), `None` if not.
    pub fn event(&self, key: &K) -> Option<u64> {
        self.event_at(key, Instant::now())
    }

    fn event_at(&self, key: &K, now: Instant) -> Option<u64> {
        self.counters
            .events
            .get_or_create(&EventKind { kind: self.kind })
            .inc();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let window = match table.window {
            Some((start, lines)) if now.saturating_duration_since(start) < INTERVAL => {
                (start, lines)
            }
            _ => (now, 0),
        };
        table.window = Some(window);
        let due = match table.last.get(key) {
            Some((at, _)) => now.saturating_duration_since(*at) >= INTERVAL,
            None => true,
        };
        if !due || window.1 >= MAX_LINES {
            if let Some((_, repeats)) = table.last.get_mut(key) {
                *repeats += 1;
            }
            self.counters.suppressed.inc();
            return None;
        }
        table.window = Some((window.0, window.1 + 1));
        if !table.last.contains_key(key) && table.last.len() >= MAX_KEYS {
            table.last.clear();
        }
        let repeats = table
            .last
            .insert(key.clone(), (now, 0))
            .map_or(0, |(_, r)| r);
        Some(repeats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_key_per_interval_and_every_event_counted() {
        let counters = PeerEvents::default();
        let log = PeerLog::new("stream_refused", counters.clone());
        let t0 = Instant::now();
        let lines = (0..1000)
            .filter(|_| log.event_at(&1u32, t0).is_some())
            .count();
        assert_eq!(lines, 1);
        assert_eq!(
            log.event_at(&2u32, t0),
            Some(0),
            "another peer logs its own"
        );
        assert_eq!(log.event_at(&1u32, t0 + INTERVAL), Some(999));
        assert_eq!(counters.count("stream_refused"), 1002);
        assert_eq!(counters.suppressed.get(), 999);
    }

    #[test]
    fn the_key_table_is_bounded() {
        let log = PeerLog::new("x", PeerEvents::default());
        let t0 = Instant::now();
        for k in 0..(MAX_KEYS as u64 * 3) {
            // one interval each, so that the per-kind cap does not hide the table's bound
            log.event_at(&k, t0 + INTERVAL * u32::try_from(k).unwrap());
        }
        assert!(log.table.lock().unwrap().last.len() <= MAX_KEYS);
    }

    #[test]
    fn lines_of_one_kind_are_capped_whatever_the_keys() {
        let log = PeerLog::new("x", PeerEvents::default());
        let t0 = Instant::now();
        let lines = (0..1000u32)
            .filter(|k| log.event_at(k, t0).is_some())
            .count();
        assert_eq!(lines, MAX_LINES as usize);
        assert_eq!(
            log.event_at(&5000, t0 + INTERVAL),
            Some(0),
            "a new interval logs again"
        );
    }
}
