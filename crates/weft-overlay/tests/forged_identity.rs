//! Chord and Pastry take a peer's identity from the authenticated sender (`from`), never from
//! a node named in the message body: a peer that names another node in a request gets the
//! answer itself, and cannot make a node forget, adopt or learn a node on its behalf.

use std::sync::Arc;

use weft_overlay::chord::{self, Chord};
use weft_overlay::pastry::{self, Pastry};
use weft_overlay::{Engine, Time};

/// Who the forger is (no node of the ring).
const FORGER: u32 = 9;

fn chord_ring() -> Vec<Chord<u32>> {
    let config = Arc::new(chord::Config {
        stabilize_interval: None,
        fix_fingers_interval: None,
        check_predecessor_interval: None,
        ..chord::Config::default()
    });
    let nodes: Vec<(u64, u32)> = (0..4).map(|i| (100 * (u64::from(i) + 1), i)).collect();
    Chord::converged_network(config, 1, &nodes)
}

fn sent<E: Engine>(e: &mut E) -> Vec<(E::Addr, E::Message)> {
    std::iter::from_fn(|| e.poll_transmit()).collect()
}

#[test]
fn chord_refuses_a_forged_body_identity() {
    let mut ring = chord_ring();
    let e = &mut ring[1];
    let pred = chord::Node { id: 100, addr: 0 };
    assert_eq!(e.predecessor(), Some(pred));

    // a request naming node 0 as the asker is answered to the sender
    e.handle_message(
        Time::ZERO,
        FORGER,
        chord::Message::GetNeighbours { req: 5, from: pred },
    );
    let out = sent(e);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, FORGER, "the answer goes to the sender");

    // "node 0 leaves", said by someone else, is ignored
    let leaving = chord::Message::Leaving {
        node: pred,
        pred: None,
        succs: Vec::new(),
    };
    e.handle_message(Time::ZERO, FORGER, leaving.clone());
    assert_eq!(e.predecessor(), Some(pred), "a forged leave is ignored");

    // a notify naming a node at another address does not make it the predecessor
    let closer = chord::Node { id: 150, addr: 0 };
    e.handle_message(Time::ZERO, FORGER, chord::Message::Notify { node: closer });
    assert_eq!(e.predecessor(), Some(pred), "a forged notify is ignored");

    // the same messages from the node itself are taken
    e.handle_message(Time::ZERO, 0, chord::Message::Notify { node: closer });
    assert_eq!(e.predecessor(), Some(closer));
    e.handle_message(
        Time::ZERO,
        0,
        chord::Message::Leaving {
            node: closer,
            pred: None,
            succs: Vec::new(),
        },
    );
    assert_eq!(e.predecessor(), None, "a node's own leave is taken");
}

fn pastry_network() -> Vec<Pastry<u32>> {
    let config = Arc::new(pastry::Config {
        maintenance_interval: None,
        ..pastry::Config::default()
    });
    let nodes: Vec<(u64, u32)> = (0..8u32).map(|i| (u64::from(i + 1) << 60, i)).collect();
    Pastry::converged_network(config, 1, &nodes)
}

#[test]
fn pastry_refuses_a_forged_body_identity() {
    let mut net = pastry_network();
    let e = &mut net[3];
    let leaf = e.leaves()[0];
    let holds = |e: &Pastry<u32>, id: u64| e.leaves().iter().any(|n| n.id == id);

    // a leaf request naming a leaf as the asker is answered to the sender
    e.handle_message(
        Time::ZERO,
        FORGER,
        pastry::Message::GetLeaves { from: leaf },
    );
    let out = sent(e);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, FORGER, "the answer goes to the sender");

    // "this leaf leaves", said by someone else, is ignored
    let leaving = pastry::Message::Leaving {
        node: leaf,
        leaves: Vec::new(),
    };
    e.handle_message(Time::ZERO, FORGER, leaving.clone());
    assert!(holds(e, leaf.id), "a forged leave is ignored");

    // a node announced (or pinging) under another node's address is not learnt
    let stranger = pastry::Node {
        id: (4 << 60) | 1,
        addr: 5,
    };
    e.handle_message(
        Time::ZERO,
        FORGER,
        pastry::Message::Announce { node: stranger },
    );
    e.handle_message(
        Time::ZERO,
        FORGER,
        pastry::Message::Ping {
            req: 1,
            from: stranger,
        },
    );
    assert!(
        !holds(e, stranger.id),
        "a forged announcement is not learnt"
    );

    // the same from the node itself is taken
    e.handle_message(Time::ZERO, 5, pastry::Message::Announce { node: stranger });
    assert!(holds(e, stranger.id), "a node's own announcement is learnt");
    e.handle_message(Time::ZERO, leaf.addr, leaving);
    assert!(!holds(e, leaf.id), "a node's own leave is taken");
}
