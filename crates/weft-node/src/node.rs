//! `weft up`: opens the data folder, starts the network and the API, keeps the peer book,
//! and stops cleanly on SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use prometheus_client::registry::Registry;
use tokio::sync::broadcast;
use tracing::{info, warn};
use weft_core::peer::{Direction, Discovery, NatStatus, Role};
use weft_net::overlay::{Overlay, OverlayConfig};
use weft_net::{
    Command, Multiaddr, NetConfig, NetEvent, NetHandle, NetSettings, Network, parse_peer_multiaddr,
};
use weft_overlay::flood::{Capacity, Reachability};
use weft_store::{Migration, Store};

use weft_api::node::NodeSummary;

use crate::api::{self, ApiState};
use crate::book::{BookKeeper, with_peer};
use crate::config::NodeConfig;
use crate::events::ApiEvent;
use crate::home::{Addrs, Home};
use crate::metrics::Gauges;

/// How often the peer book is checked for peers to re-dial.
const REDIAL_INTERVAL: Duration = Duration::from_secs(5);
/// How often a leaf tells its flood engine its capacity; the ultrapeer election runs on each.
const CAPACITY_INTERVAL: Duration = Duration::from_secs(60);
/// How many remembered peers are dialed per check.
const REDIAL_BATCH: u32 = 8;

/// Command-line overrides for `weft up`; `None` or empty keeps the config file's value.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// The data folder.
    pub home: PathBuf,
    /// `--listen` addresses (replace the configured ones if any are given).
    pub listen: Vec<String>,
    /// `--bootstrap` addresses (added to the configured ones).
    pub bootstrap: Vec<String>,
    /// `--api` address.
    pub api: Option<String>,
    /// `--no-mdns`.
    pub no_mdns: bool,
    /// `--relay-server`.
    pub relay_server: bool,
    /// `--role`.
    pub role: Option<Role>,
    /// `--directory` (a directory server's multiaddr).
    pub directory: Option<String>,
    /// `--worker` and `--worker-cores`.
    pub worker: crate::compute::WorkerOptions,
}

impl UpOptions {
    fn apply(&self, mut config: NodeConfig) -> NodeConfig {
        if !self.listen.is_empty() {
            config.listen = self.listen.clone();
        }
        config.bootstrap.extend(self.bootstrap.iter().cloned());
        if let Some(api) = &self.api {
            config.api = api.clone();
        }
        if self.no_mdns {
            config.mdns = false;
        }
        if self.relay_server {
            config.relay_server = true;
        }
        if let Some(role) = self.role {
            config.role = role;
        }
        if let Some(d) = &self.directory {
            config.directory = Some(d.clone());
        }
        config
    }
}

/// Migrations of every service that keeps tables in the node's database, each service's in
/// its own order.
pub fn migrations() -> Vec<Migration> {
    [
        crate::share::migrations(),
        crate::compute::migrations(),
        crate::collab::migrations(),
    ]
    .concat()
}

/// Runs a node until SIGINT or SIGTERM.
///
/// # Errors
/// A one-line, user-facing reason if the node cannot start (folder in use, bad config,
/// bad address, port taken).
pub async fn run(opts: UpOptions) -> anyhow::Result<()> {
    let home = Home::open(&opts.home)?;
    let config = opts.apply(home.config()?);
    let mut settings = NetSettings::parse(NetConfig {
        listen: &config.listen,
        bootstrap: &config.bootstrap,
        mdns: config.mdns,
        relay_server: config.relay_server,
        limits: &config.limits,
    })?;
    let directory = match &config.directory {
        Some(d) => {
            let (peer, addr) =
                parse_peer_multiaddr(d).map_err(|e| anyhow::anyhow!("directory address: {e}"))?;
            // the directory server is dialed (and re-dialed) like a bootstrap peer
            settings.bootstrap.push((peer, addr.clone()));
            Some((peer, addr))
        }
        None => None,
    };
    let api_addr: SocketAddr = config.api.parse().with_context(|| {
        format!(
            "API address '{}' is not host:port; use e.g. --api 127.0.0.1:7733",
            config.api
        )
    })?;
    if !api_addr.ip().is_loopback() {
        bail!(
            "API address {api_addr} is not a loopback address; the API only listens on 127.0.0.1 or ::1"
        );
    }
    let started = Instant::now();
    let key = home.identity()?;
    let token = home.api_token()?;
    let store = Store::open(&home.db_path(), &migrations())
        .with_context(|| format!("cannot open {}", home.db_path().display()))?;
    let listener = tokio::net::TcpListener::bind(api_addr).await.with_context(|| {
        format!("cannot listen for the API on {api_addr}; pick another with --api 127.0.0.1:PORT (0 picks a free one)")
    })?;
    let api_addr = listener.local_addr()?;

    let book = BookKeeper::start(
        store.clone(),
        config.clone(),
        settings.bootstrap.iter().map(|(peer, _)| *peer).collect(),
    )?;
    book.forget_stale();
    // In the book before the first dial, so that a bootstrap peer down at start is re-dialed
    // with backoff like any other peer the book holds.
    for (peer, addr) in &settings.bootstrap {
        book.remember_bootstrap(*peer, addr);
    }

    let mut registry = Registry::default();
    let gauges = Gauges::register(&mut registry);
    let (net, mut net_events, net_task) = Network::spawn(key.clone(), settings, &mut registry)?;
    info!(peer_id = %net.local_peer_id, api = %api_addr, home = %home.dir().display(), role = %config.role, "node starting");
    let overlay_config = OverlayConfig::new(&net.local_peer_id, config.role, directory);
    let (overlay, matches) = Overlay::spawn(&net, overlay_config)?;
    let share = crate::share::Share::start(
        home.db_path(),
        home.dir(),
        net.clone(),
        overlay.clone(),
        config.share.clone(),
        matches,
    )?;
    let compute = crate::compute::Compute::start(&home.db_path(), net.clone(), opts.worker)?;
    let counters = (overlay.clone(), share.clone());
    crate::metrics::NodeCounters::new(
        move || counters.0.stats(),
        move || counters.1.upload_stats(),
    )
    .register(&mut registry);

    let (events, _) = broadcast::channel(256);
    let collab = crate::collab::Collab::start(
        &home.db_path(),
        &key,
        net.clone(),
        overlay.clone(),
        events.clone(),
    )?;
    let state = Arc::new(ApiState {
        net: net.clone(),
        store: store.clone(),
        token,
        token_file: home.dir().join("api.token"),
        events: events.clone(),
        registry: Arc::new(registry),
        gauges,
        started,
        api_addr: api_addr.to_string(),
        role: NodeSummary {
            mdns: config.mdns,
            relay_server: config.relay_server,
            role: config.role,
        },
        overlay: overlay.clone(),
    });
    let services = axum::Router::new()
        .merge(share.router())
        .merge(compute.router())
        .merge(collab.router());
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api_task = tokio::spawn(async move {
        let serve = axum::serve(listener, api::router(state, services))
            .with_graceful_shutdown(async { drop(api_stopped.await) });
        if let Err(e) = serve.await {
            warn!("API server stopped: {e}");
        }
    });

    let mut redial = tokio::time::interval(REDIAL_INTERVAL);
    let mut first_redial = true;
    // A node started as a leaf may be elected ultrapeer by its capacity (FastTrack's rule);
    // one given another role keeps it.
    let stands_for_election = config.role == Role::Leaf;
    let mut capacity_tick = tokio::time::interval(CAPACITY_INTERVAL);
    let mut terminate = terminate_signal()?;
    loop {
        tokio::select! {
            Some(event) = net_events.recv() => {
                overlay.observe(&event);
                compute.observe(&event);
                collab.observe(&event);
                on_net_event(&home, &book, &events, &net, api_addr, event);
            }
            _ = redial.tick() => {
                let batch = if first_redial { config.peer_book.redial_at_start } else { REDIAL_BATCH };
                first_redial = false;
                book.redial(&net, batch);
            }
            _ = capacity_tick.tick(), if stands_for_election => {
                let capacity = capacity(started.elapsed(), net.state().nat, config.share.upload_rate);
                if let Err(e) = overlay.flood.set_capacity(capacity).await {
                    warn!("cannot tell the flood engine its capacity: {e}");
                }
            }
            _ = tokio::signal::ctrl_c() => { info!("interrupted; stopping"); break; }
            _ = terminate.recv() => { info!("terminated; stopping"); break; }
        }
    }
    home.clear_addrs();
    let _ = stop_api.send(());
    net.send(Command::Shutdown).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), net_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), api_task).await;
    info!("node stopped");
    Ok(())
}

/// What the ultrapeer election weighs: uptime, the upload limit in bytes/s (unlimited, 0,
/// counts as enough), and whether AutoNAT found the node reachable from outside (`nat`).
fn capacity(uptime: Duration, nat: NatStatus, upload_rate: u64) -> Capacity {
    let bandwidth_kbps = match upload_rate {
        0 => u32::MAX,
        rate => u32::try_from(rate.saturating_mul(8) / 1000).unwrap_or(u32::MAX),
    };
    Capacity {
        uptime,
        bandwidth_kbps,
        reachability: if nat == NatStatus::Public {
            Reachability::Public
        } else {
            Reachability::Firewalled
        },
    }
}

#[cfg(unix)]
fn terminate_signal() -> anyhow::Result<tokio::signal::unix::Signal> {
    Ok(tokio::signal::unix::signal(
        tokio::signal::unix::SignalKind::terminate(),
    )?)
}

fn on_net_event(
    home: &Home,
    book: &BookKeeper,
    events: &broadcast::Sender<ApiEvent>,
    net: &NetHandle,
    api_addr: SocketAddr,
    event: NetEvent,
) {
    match event {
        NetEvent::Listening { .. } => {
            let state = net.state();
            let addrs = Addrs {
                peer_id: state.peer_id,
                listen: state.listen,
                api: api_addr.to_string(),
            };
            if let Err(e) = home.write_addrs(&addrs) {
                warn!("cannot write addrs.json: {e}");
            }
        }
        NetEvent::Connected {
            peer,
            addr,
            outbound,
            source,
        } => {
            let addrs = if outbound {
                vec![with_peer(addr.clone(), peer)]
            } else {
                Vec::new()
            };
            book.seen(peer, &addrs, source);
            let _ = events.send(ApiEvent::PeerConnected {
                peer_id: peer.to_string(),
                addr: addr.to_string(),
                direction: Direction::of(outbound),
                source,
            });
        }
        NetEvent::Disconnected { peer } => {
            let _ = events.send(ApiEvent::PeerDisconnected {
                peer_id: peer.to_string(),
            });
        }
        NetEvent::Identified {
            peer, listen_addrs, ..
        } => {
            let addrs: Vec<Multiaddr> = listen_addrs
                .into_iter()
                .map(|a| with_peer(a, peer))
                .collect();
            book.seen(peer, &addrs, Discovery::Peer);
        }
        NetEvent::DialFailed {
            peer: Some(peer),
            error,
        } => book.dial_failed(peer, &error),
        NetEvent::DialFailed { peer: None, .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_reads_the_upload_limit_and_the_nat_verdict() {
        let hour = Duration::from_secs(3600);
        let c = capacity(hour, NatStatus::Public, 0);
        assert_eq!(c.bandwidth_kbps, u32::MAX, "no limit counts as enough");
        assert_eq!(c.reachability, Reachability::Public);
        assert_eq!(c.uptime, hour);
        let c = capacity(hour, NatStatus::Private, 125_000);
        assert_eq!(c.bandwidth_kbps, 1000);
        assert_eq!(c.reachability, Reachability::Firewalled);
        assert_eq!(
            capacity(hour, NatStatus::Unknown, 1).reachability,
            Reachability::Firewalled
        );
        assert_eq!(
            capacity(hour, NatStatus::Public, u64::MAX).bandwidth_kbps,
            u32::MAX
        );
    }
}
