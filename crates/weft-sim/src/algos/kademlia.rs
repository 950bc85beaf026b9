//! Kademlia (`weft_overlay::kademlia`) as a simulated [`Algorithm`].
//!
//! Nodes have 64-bit ids (`BLAKE3(seed ‖ "kad" ‖ index)`, the engine's `u64` keyspace for
//! large simulations) and are addressed by index. A lookup is a `FindNode` for the key's first
//! 64 bits; it succeeds when the engine returns closest peers, and its hops are the engine's
//! (the length of the chain of requests that led to the closest answering peer, see the
//! engine's docs). Messages per lookup are the engine's requests plus the answers received.
//!
//! # Expected figures
//!
//! - hops ≈ `log2(N) / log2(k)`: each round resolves about `log2 k` more bits of the target,
//!   because the bucket covering the target holds `k` random nodes of that subtree and the
//!   closest of them shares about `log2 k` further bits — Kademlia's "log N over the bucket
//!   width" with `k = 20`;
//! - state ≈ `k · (log2(N/k) + 1)`: about `log2(N/k)` full buckets of `k` contacts plus
//!   partly filled near buckets holding about `k` more in all.

use std::sync::Arc;

use weft_core::time::Time;
use weft_overlay::QueryId;
use weft_overlay::kademlia::{
    Body, Command, Config, Contact, Event, KadKey, Kademlia, Message, QueryResult,
};

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::simulation::MessageClass;
use crate::workload::Draw;

/// The engine as simulated: 64-bit ids, `u32` addresses.
pub type KadNode = Kademlia<u64, u32>;

/// Kademlia with a shared configuration.
#[derive(Clone, Debug)]
pub struct KademliaAlgo {
    /// The engine configuration shared by every node.
    pub config: Arc<Config>,
    /// The run's seed (ids are derived from it).
    pub seed: u64,
}

impl KademliaAlgo {
    /// Kademlia with the engine's default configuration (k = 20, α = 3).
    pub fn new(seed: u64) -> Self {
        KademliaAlgo {
            config: Arc::new(Config::default()),
            seed,
        }
    }

    /// Node `index`'s id.
    pub fn id_of(&self, index: u32) -> u64 {
        super::node_id(self.seed, "kad", index)
    }
}

impl Algorithm for KademliaAlgo {
    type E = KadNode;

    fn name(&self) -> &'static str {
        "kademlia"
    }

    fn classify(msg: &Message<u64, u32>) -> MessageClass {
        let (kind, lookup) = match &msg.body {
            Body::Ping { .. } => (1, false),
            Body::Pong { .. } => (2, false),
            Body::FindNode { .. } => (3, true),
            Body::Nodes { .. } => (4, true),
            Body::GetRecord { .. } => (5, true),
            Body::Record { .. } => (6, true),
            Body::PutRecord { .. } => (7, false),
            Body::PutAck { .. } => (8, false),
            Body::AddProvider { .. } => (9, false),
            Body::GetProviders { .. } => (10, true),
            Body::Providers { .. } => (11, true),
            Body::StorePostings { .. } => (12, false),
            Body::GetPostings { .. } => (13, true),
            Body::Postings { .. } => (14, true),
        };
        MessageClass { kind, lookup }
    }

    fn build_converged(&self, n: usize, seed: u64) -> Vec<KadNode> {
        let config = &self.config;
        super::converged_by_address(
            n,
            |i| self.id_of(i),
            |nodes| Kademlia::converged_network(config.clone(), seed, nodes),
            |e| e.local().addr,
            |i| {
                Kademlia::new(
                    config.clone(),
                    Contact {
                        key: self.id_of(i),
                        addr: i,
                    },
                    seed,
                )
            },
        )
    }

    fn joiner(
        &self,
        index: u32,
        seed: u64,
        bootstrap: Option<u32>,
        now: Time,
    ) -> (KadNode, Option<Command<u64>>) {
        let mut e = Kademlia::new(
            self.config.clone(),
            Contact {
                key: self.id_of(index),
                addr: index,
            },
            seed,
        );
        match bootstrap {
            Some(b) => {
                e.add_peer(now, self.id_of(b), b);
                (e, Some(Command::Bootstrap))
            }
            None => (e, None),
        }
    }

    fn lookup(&self, draw: &Draw, _origin: u32) -> Command<u64> {
        Command::FindNode(u64::from_key256(&draw.key))
    }

    fn outcome(&self, ev: &Event<u64, u32>) -> Option<(QueryId, Outcome)> {
        let Event::QueryFinished { id, result, stats } = ev;
        match result {
            QueryResult::FindNode(Ok(_)) => Some((
                *id,
                Outcome::Success {
                    hops: stats.hops,
                    messages: Some(stats.messages + stats.responses),
                },
            )),
            QueryResult::FindNode(Err(_)) => Some((*id, Outcome::Failure)),
            _ => None,
        }
    }

    fn state_size(&self, engine: &KadNode) -> usize {
        engine.state_size()
    }

    fn expected(&self, n: usize) -> Expected {
        let k = self.config.k as f64;
        let n = n as f64;
        Expected {
            hops: Some(n.log2() / k.log2()),
            state: Some(
                if n <= k {
                    n - 1.0
                } else {
                    k * ((n / k).log2() + 1.0)
                }
                .min(n - 1.0),
            ),
            hops_formula: "log2 N / log2 k (k=20)",
            state_formula: "k·(log2(N/k)+1)",
        }
    }
}
