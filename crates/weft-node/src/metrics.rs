//! weft's own metrics, beside the ones libp2p registers (bandwidth as
//! `libp2p_bandwidth_bytes_total{direction="Inbound"|"Outbound"}`, connections, protocols):
//! [`Gauges`] set at each scrape, and [`NodeCounters`], the overlay and upload counters read
//! from their owners at each scrape.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use weft_net::NetState;
use weft_net::overlay::OverlayStats;
use weft_net::overlay::transport::ProtocolStats;

use crate::share::content::UploadStats;

/// Gauges refreshed when `/metrics` is scraped.
#[derive(Clone, Default)]
pub struct Gauges {
    peers_connected: Gauge,
    uptime_seconds: Gauge<f64, AtomicU64>,
}

impl Gauges {
    /// Creates the gauges and registers them under the `weft` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let g = Gauges::default();
        let weft = registry.sub_registry_with_prefix("weft");
        weft.register(
            "peers_connected",
            "Peers with an open connection",
            g.peers_connected.clone(),
        );
        weft.register(
            "uptime_seconds",
            "Seconds since the node started",
            g.uptime_seconds.clone(),
        );
        g
    }

    /// Sets the gauges from the current state.
    pub fn refresh(&self, net: &NetState, uptime: Duration) {
        self.peers_connected
            .set(i64::try_from(net.peers.len()).unwrap_or(i64::MAX));
        self.uptime_seconds.set(uptime.as_secs_f64());
    }
}

/// The counters other parts of the node keep, read when `/metrics` is scraped and encoded as
/// OpenMetrics counters (nothing is copied between scrapes, so they never drift from their
/// source):
///
/// - `weft_overlay_messages_sent_total{protocol}`, `weft_overlay_messages_received_total`,
///   `weft_overlay_bad_frames_total`, `weft_overlay_dropped_total`,
///   `weft_overlay_open_failures_total`, `weft_overlay_refused_streams_total`, with `protocol`
///   one of `kad`, `flood`, `directory` (from [`Overlay::stats`](weft_net::overlay::Overlay::stats));
/// - `weft_share_upload_slices_total`, `weft_share_upload_bytes_total`,
///   `weft_share_upload_busy_total` (from [`Share::upload_stats`](crate::share::Share::upload_stats)).
pub struct NodeCounters {
    overlay: Box<dyn Fn() -> OverlayStats + Send + Sync>,
    uploads: Box<dyn Fn() -> UploadStats + Send + Sync>,
}

impl std::fmt::Debug for NodeCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCounters").finish_non_exhaustive()
    }
}

/// One overlay counter: its name (without `weft_` and `_total`), its help, and where it lives
/// in a protocol's stats.
type OverlayCounter = (&'static str, &'static str, fn(&ProtocolStats) -> u64);

/// The overlay counters, each labelled by protocol.
const OVERLAY_COUNTERS: &[OverlayCounter] = &[
    (
        "overlay_messages_sent",
        "Overlay messages written to a stream",
        |p| p.frames_out,
    ),
    (
        "overlay_messages_received",
        "Overlay messages received and decoded",
        |p| p.frames_in,
    ),
    (
        "overlay_bad_frames",
        "Overlay frames over the size limit, undecodable or refused",
        |p| p.bad_frames,
    ),
    (
        "overlay_dropped",
        "Outgoing overlay messages dropped (queue full, too many peers, too large, unwritable)",
        |p| p.dropped,
    ),
    (
        "overlay_open_failures",
        "Outgoing overlay streams that could not be opened",
        |p| p.open_failures,
    ),
    (
        "overlay_refused_streams",
        "Inbound overlay streams refused because too many were open",
        |p| p.refused_streams,
    ),
];

impl NodeCounters {
    /// Counters read from `overlay` and `uploads` at each scrape.
    pub fn new(
        overlay: impl Fn() -> OverlayStats + Send + Sync + 'static,
        uploads: impl Fn() -> UploadStats + Send + Sync + 'static,
    ) -> Self {
        NodeCounters {
            overlay: Box::new(overlay),
            uploads: Box::new(uploads),
        }
    }

    /// Registers the counters under the `weft` prefix.
    pub fn register(self, registry: &mut Registry) {
        registry
            .sub_registry_with_prefix("weft")
            .register_collector(Box::new(self));
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    let metric = encoder.encode_descriptor(name, help, unit, c.metric_type())?;
    c.encode(metric)
}

impl Collector for NodeCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let overlay = (self.overlay)();
        let protocols = [
            ("kad", &overlay.kad),
            ("flood", &overlay.flood),
            ("directory", &overlay.directory),
        ];
        for (name, help, field) in OVERLAY_COUNTERS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (protocol, stats) in protocols {
                let labels = [("protocol", protocol)];
                ConstCounter::new(field(stats)).encode(family.encode_family(&labels)?)?;
            }
        }
        let up = (self.uploads)();
        counter(
            &mut encoder,
            "share_upload_slices",
            "Content slices uploaded to peers",
            None,
            up.slices,
        )?;
        counter(
            &mut encoder,
            "share_upload",
            "Bytes of content slices uploaded to peers",
            Some(&Unit::Bytes),
            up.bytes,
        )?;
        counter(
            &mut encoder,
            "share_upload_busy",
            "Content requests refused because every upload slot was taken",
            None,
            up.busy,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_at_each_scrape_and_labelled_by_protocol() {
        let sent = std::sync::Arc::new(AtomicU64::new(0));
        let mut registry = Registry::default();
        let s = sent.clone();
        NodeCounters::new(
            move || {
                let mut o = OverlayStats::default();
                o.kad.frames_out = s.load(std::sync::atomic::Ordering::Relaxed);
                o.flood.frames_in = 7;
                o.directory.refused_streams = 2;
                o
            },
            || UploadStats {
                slices: 3,
                bytes: 4096,
                busy: 1,
                corrupted: 0,
            },
        )
        .register(&mut registry);
        let scrape = || {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
            text
        };
        let first = scrape();
        assert!(first.ends_with("# EOF\n"), "{first}");
        for line in [
            "# TYPE weft_overlay_messages_sent counter",
            "weft_overlay_messages_sent_total{protocol=\"kad\"} 0",
            "weft_overlay_messages_sent_total{protocol=\"directory\"} 0",
            "weft_overlay_messages_received_total{protocol=\"flood\"} 7",
            "weft_overlay_refused_streams_total{protocol=\"directory\"} 2",
            "weft_overlay_bad_frames_total{protocol=\"kad\"} 0",
            "weft_overlay_dropped_total{protocol=\"flood\"} 0",
            "weft_overlay_open_failures_total{protocol=\"kad\"} 0",
            "weft_share_upload_slices_total 3",
            "# UNIT weft_share_upload_bytes bytes",
            "weft_share_upload_bytes_total 4096",
            "weft_share_upload_busy_total 1",
        ] {
            assert!(first.lines().any(|l| l == line), "no '{line}' in:\n{first}");
        }
        sent.store(42, std::sync::atomic::Ordering::Relaxed);
        let second = scrape();
        assert!(
            second
                .lines()
                .any(|l| l == "weft_overlay_messages_sent_total{protocol=\"kad\"} 42"),
            "{second}"
        );
    }
}
