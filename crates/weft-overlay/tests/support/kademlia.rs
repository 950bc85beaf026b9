//! Kademlia networks for the engine tests (`kademlia`, `kademlia_postings`), on the shared
//! one virtual network (`weft_vnet`). Included with `#[path]`.

use std::sync::Arc;

use weft_overlay::kademlia::{Config, Kademlia};

use weft_vnet::{VNet, ids};

/// A virtual network of Kademlia engines with `u64` ids and `u32` addresses.
pub type Net = VNet<Kademlia<u64, u32>>;

/// The default configuration without the refresh and republish timers.
pub fn quiet_config() -> Config {
    Config {
        refresh_interval: None,
        republish_interval: None,
        ..Config::default()
    }
}

/// `n` nodes with full routing tables, as after a long stable run, and their ids.
pub fn converged(seed: u64, n: usize, config: Config) -> (Net, Vec<(u64, u32)>) {
    let nodes = ids(seed, n);
    let mut net = VNet::uniform(seed, (5, 50));
    for e in Kademlia::converged_network(Arc::new(config), seed, &nodes) {
        net.add(e);
    }
    (net, nodes)
}
