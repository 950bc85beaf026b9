//! The central directory (`weft_overlay::directory`, Napster) as a simulated [`Algorithm`].
//!
//! Node 0 is the server and never leaves; every other node is a client connected to it that
//! shares [`DirectoryAlgo::items_per_user`] catalogue items (item `i` carries the keyword
//! `item<i>`) and publishes them when it connects. A lookup is a keyword query for one item;
//! it succeeds when the server's answer has a hit. Connections coming up and going down
//! (joins and churn) are told to both ends.
//!
//! # Expected figures
//!
//! - hops 1 and 2 messages per query (query and results), whatever the size;
//! - server state `users·(1 + items·(1 + keywords))` entries (a client, its items, one posting
//!   per item keyword): linear in users. `mean_state` averages over all nodes, so the server's
//!   own figures are reported in the extra fields `server_state`, `server_items`,
//!   `server_messages_in`, `server_scanned_per_query` and `server_clients`.

use std::collections::BTreeMap;

use weft_core::time::Time;
use weft_overlay::directory::{Command, Config, Directory, Event, Item, Message, Role};
use weft_overlay::{Engine, PeerEvent, QueryId};

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::workload::{Draw, item_key};
use weft_vnet::{MessageClass, VNet};

/// The directory: server at node 0.
#[derive(Clone, Debug)]
pub struct DirectoryAlgo {
    /// Items each client shares.
    pub items_per_user: u32,
    /// Catalogue size.
    pub items: u64,
    /// The seed.
    pub seed: u64,
    /// Engine settings.
    pub config: Config,
}

/// The server's address.
pub const SERVER: u32 = 0;

impl DirectoryAlgo {
    /// A directory whose clients share 10 items each of a 10,000-item catalogue.
    pub fn new(seed: u64) -> Self {
        DirectoryAlgo {
            items_per_user: 10,
            items: 10_000,
            seed,
            config: Config::default(),
        }
    }

    /// The items client `index` shares.
    pub fn items_of(&self, index: u32) -> Vec<Item> {
        (0..self.items_per_user)
            .map(|j| {
                let h = item_key(self.seed ^ 0xd1d1, (u64::from(index) << 16) | u64::from(j))
                    .prefix_u64();
                let i = h % self.items;
                Item {
                    hash: item_key(self.seed, i),
                    name: format!("item{i}"),
                    size: 1,
                    keywords: vec![format!("item{i}")],
                }
            })
            .collect()
    }

    fn engine(&self, index: u32) -> Directory<u32> {
        let role = if index == SERVER {
            Role::Server
        } else {
            Role::Client(SERVER)
        };
        Directory::new(index, role, self.config.clone())
    }
}

impl Algorithm for DirectoryAlgo {
    type E = Directory<u32>;

    fn name(&self) -> &'static str {
        "directory"
    }

    fn classify(msg: &Message<u32>) -> MessageClass {
        let (kind, lookup) = match msg {
            Message::Publish { .. } => (1, false),
            Message::Unpublish { .. } => (2, false),
            Message::Query { .. } => (3, true),
            Message::Results { .. } => (4, true),
            Message::Ping { .. } => (5, false),
            Message::Pong { .. } => (6, false),
            Message::Refused { .. } => (7, false),
        };
        MessageClass { kind, lookup }
    }

    fn build_converged(&self, n: usize, _seed: u64) -> Vec<Directory<u32>> {
        let mut nodes: Vec<Directory<u32>> = (0..n as u32).map(|i| self.engine(i)).collect();
        for i in 1..n as u32 {
            let Some(server) = nodes.get_mut(0) else {
                break;
            };
            server.handle_peer(Time::ZERO, i, PeerEvent::Connected);
            let client = &mut nodes[i as usize];
            client.handle_command(Time::ZERO, Command::Publish(self.items_of(i)));
        }
        nodes
    }

    fn joiner(
        &self,
        index: u32,
        _seed: u64,
        _bootstrap: Option<u32>,
        _now: Time,
    ) -> (Directory<u32>, Option<Command>) {
        let publish = (index != SERVER).then(|| Command::Publish(self.items_of(index)));
        (self.engine(index), publish)
    }

    fn on_join(&self, sim: &mut VNet<Directory<u32>>, index: u32) {
        if index != SERVER {
            sim.poke(SERVER, |e, now| {
                e.handle_peer(now, index, PeerEvent::Connected)
            });
            sim.poke(index, |e, now| {
                e.handle_peer(now, SERVER, PeerEvent::Connected)
            });
        }
    }

    fn on_leave(&self, sim: &mut VNet<Directory<u32>>, index: u32) {
        sim.poke(SERVER, |e, now| {
            e.handle_peer(now, index, PeerEvent::Disconnected)
        });
    }

    fn is_permanent(&self, index: u32) -> bool {
        index == SERVER
    }

    fn origin(&self, candidate: u32) -> u32 {
        if candidate == SERVER { 1 } else { candidate }
    }

    fn lookup(&self, draw: &Draw, _origin: u32) -> Command {
        let item = draw.item.unwrap_or(draw.key.prefix_u64()) % self.items;
        Command::Query {
            keywords: vec![format!("item{item}")],
            max: 10,
        }
    }

    fn outcome(&self, ev: &Event<u32>) -> Option<(QueryId, Outcome)> {
        match ev {
            Event::Results { id, hits, .. } if !hits.is_empty() => Some((
                *id,
                Outcome::Success {
                    hops: 1,
                    messages: Some(2),
                    answer: crate::oracle::Answer::Unjudged,
                },
            )),
            Event::Results { id, .. }
            | Event::QueryFailed { id }
            | Event::Refused { id: Some(id), .. } => Some((*id, Outcome::Failure)),
            Event::Refused { id: None, .. } | Event::ServerRefused { .. } => None,
        }
    }

    fn state_size(&self, engine: &Directory<u32>) -> usize {
        engine.state_size()
    }

    fn extra(&self, sim: &VNet<Directory<u32>>) -> BTreeMap<String, serde_json::Value> {
        let mut m = BTreeMap::new();
        if let Some(server) = sim.engine(SERVER) {
            let load = server.load();
            m.insert("server_state".into(), server.state_size().into());
            m.insert("server_clients".into(), load.clients.into());
            m.insert("server_items".into(), load.items.into());
            m.insert("server_messages_in".into(), load.messages_in.into());
            let per_query = if load.queries == 0 {
                0.0
            } else {
                load.scanned as f64 / load.queries as f64
            };
            m.insert(
                "server_scanned_per_query".into(),
                crate::report::round(per_query, 2).into(),
            );
            m.insert("server_queries".into(), load.queries.into());
        }
        m.insert(
            "expected_server_state".into(),
            self.expected_server_state(sim.alive()).into(),
        );
        m
    }

    fn expected(&self, _n: usize) -> Expected {
        Expected {
            hops: Some(1.0),
            state: None,
            hops_formula: "1 (client→server), 2 messages",
            state_formula: "server: users·(1+2·items)",
            ..Expected::default()
        }
    }
}

impl DirectoryAlgo {
    /// The server state the literature's model gives for `nodes` nodes (one of them the
    /// server): every client, each distinct item it shares, one posting per item keyword.
    pub fn expected_server_state(&self, nodes: usize) -> f64 {
        let users = nodes.saturating_sub(1) as f64;
        users * (1.0 + 2.0 * f64::from(self.items_per_user))
    }
}
