//! weft's own metrics, beside the ones libp2p registers (bandwidth as
//! `libp2p_bandwidth_bytes_total{direction="Inbound"|"Outbound"}`, connections, protocols).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use weft_net::NetState;

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
