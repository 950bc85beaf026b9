//! Golden bytes: each protocol's wire encoding, pinned. The schema is the order of each
//! message enum's variants and fields (postcard behind weft-core's version byte); reordering
//! a variant, a field or a type changes these bytes, and a node of the old build could no
//! longer talk to one of the new. Change an expected string only together with the wire
//! version.

use weft_core::id::Key256;
use weft_core::wire;
use weft_overlay::{can, chord, directory, flood, freenet, kademlia, pastry};

/// The encoded frame of `msg`, in hex.
fn hex<T: serde::Serialize>(msg: &T) -> String {
    let bytes = wire::encode(msg, 1 << 16).expect("encodes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn chord_lookup() {
    let msg = chord::Message::Lookup {
        req: 1,
        key: 300,
        origin: chord::Node { id: 3, addr: 4u32 },
        hops: 5,
    };
    assert_eq!(hex(&msg), "010001ac02030405");
}

#[test]
fn pastry_route() {
    let msg = pastry::Message::Route {
        req: 1,
        key: 2,
        origin: pastry::Node { id: 3, addr: 4u32 },
        hops: 5,
        join: true,
    };
    assert_eq!(hex(&msg), "0100010203040501");
}

#[test]
fn can_delivered() {
    let msg: can::Message<u32> = can::Message::Delivered {
        req: 1,
        owner: 4,
        hops: 5,
    };
    assert_eq!(hex(&msg), "0101010405");
}

#[test]
fn kademlia_find_node() {
    let msg: kademlia::Message<u64, u32> = kademlia::Message {
        sender: 7,
        body: kademlia::Body::FindNode {
            req: 1,
            target: 1 << 63,
        },
    };
    assert_eq!(hex(&msg), "0107020180808080808080808001");
}

#[test]
fn flood_hello() {
    let msg: flood::Message<u32> = flood::Message::Hello {
        role: flood::Role::Ultrapeer,
        leaf_slots: 300,
    };
    assert_eq!(hex(&msg), "010001ac02");
}

#[test]
fn freenet_request() {
    let msg: freenet::Message<u32> = freenet::Message::Request {
        id: freenet::RequestId(9),
        key: Key256::hash(b"k"),
        htl: 10,
    };
    assert_eq!(
        hex(&msg),
        "0100095cbcb0cee824b91866cd67f57a6643ddcb7cd4382029039043513953c759246b0a"
    );
}

#[test]
fn directory_query() {
    let msg: directory::Message<u32> = directory::Message::Query {
        query: 2,
        keywords: vec!["blue".into()],
        max: 20,
    };
    assert_eq!(hex(&msg), "0102020104626c756514");
}
