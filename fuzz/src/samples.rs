//! One valid value of every message variant, the material of the seed inputs.
//!
//! Addresses name the honest nodes of [`crate::scenarios`] (`0..6`) and the hostile peer (`6`),
//! and request ids are small, so that replayed and injected samples often match a request
//! in flight.

use weft_core::id::Key256;
use weft_overlay::flood::qrp::{QrpTable, QrpUpdate};
use weft_overlay::{can, chord, directory, flood, freenet, kademlia, lookup, pastry};
use weft_share::wire::{
    Publish, PublishItem, SearchQuery, SearchResult, SearchResults, TransferError, TransferRequest,
    TransferResponse,
};

use crate::overlay::KadMessage;

fn k(i: u8) -> Key256 {
    Key256::hash(&[i])
}

/// Kademlia messages.
pub fn kademlia() -> Vec<KadMessage> {
    use kademlia::{Body, Contact, PostingValue, PublisherPostings, WireRecord};
    let c = |i: u8| Contact {
        key: Key256::hash(&u32::from(i).to_be_bytes()),
        addr: u32::from(i),
    };
    let record = WireRecord {
        value: b"blue train".to_vec(),
        ttl_secs: 3600,
    };
    let bodies = vec![
        Body::Ping { req: 0 },
        Body::Pong { req: 0 },
        Body::FindNode {
            req: 1,
            target: k(3),
        },
        Body::Nodes {
            req: 0,
            closer: vec![c(1), c(2), c(6)],
        },
        Body::GetRecord { req: 1, key: k(1) },
        Body::Record {
            req: 0,
            record: Some(record.clone()),
            closer: vec![c(3)],
        },
        Body::PutRecord {
            req: 2,
            key: k(2),
            record,
        },
        Body::PutAck {
            req: 0,
            stored: true,
        },
        Body::AddProvider {
            key: k(4),
            ttl_secs: u64::MAX,
        },
        Body::GetProviders { req: 3, key: k(4) },
        Body::Providers {
            req: 0,
            providers: vec![c(6)],
            closer: vec![c(0), c(5)],
        },
        Body::StorePostings {
            req: 4,
            key: k(5),
            ttl_secs: 3600,
            values: vec![
                PostingValue {
                    id: 1,
                    value: b"blue train".to_vec(),
                },
                PostingValue {
                    id: 2,
                    value: b"giant steps".to_vec(),
                },
            ],
        },
        Body::GetPostings { req: 5, key: k(5) },
        Body::Postings {
            req: 0,
            postings: vec![PublisherPostings {
                publisher: c(6),
                values: vec![PostingValue {
                    id: 1,
                    value: b"blue train".to_vec(),
                }],
            }],
            closer: vec![c(2)],
            more: true,
        },
    ];
    bodies
        .into_iter()
        .map(|body| kademlia::Message {
            sender: Key256::hash(b"hostile"),
            body,
        })
        .collect()
}

/// Directory messages.
pub fn directory() -> Vec<directory::Message<u32>> {
    use directory::{Hit, Item, Message, Refusal};
    let item = Item {
        hash: k(1),
        name: "Blue Train.flac".into(),
        size: 30_000_000,
        keywords: vec!["blue".into(), "train".into()],
    };
    vec![
        Message::Publish {
            items: vec![item.clone(), item],
        },
        Message::Unpublish {
            hashes: vec![k(1), k(2)],
        },
        Message::Query {
            query: 0,
            keywords: vec!["blue".into()],
            max: 10,
        },
        Message::Results {
            query: 0,
            hits: vec![Hit {
                peer: 6,
                hash: k(1),
                name: "Blue Train.flac".into(),
                size: 1,
                score: 9,
            }],
            more: true,
        },
        Message::Ping { nonce: 1 },
        Message::Pong { nonce: 1 },
        Message::Refused {
            reason: Refusal::Full,
        },
    ]
}

/// Flood messages, including a route-table reset and both kinds of patch.
pub fn flood() -> Vec<flood::Message<u32>> {
    use flood::{Criteria, Guid, HitItem, Message, Role};
    let mut out = vec![
        Message::Hello {
            role: Role::Ultrapeer,
            leaf_slots: 4,
        },
        Message::Hello {
            role: Role::Leaf,
            leaf_slots: 0,
        },
        Message::Query {
            guid: Guid([7; 16]),
            ttl: 7,
            hops: 0,
            criteria: Criteria {
                keywords: vec!["blue".into(), "train".into()],
                hash: None,
                max_items: 64,
            },
        },
        Message::Query {
            guid: Guid([8; 16]),
            ttl: 255,
            hops: 255,
            criteria: Criteria {
                keywords: vec![],
                hash: Some(k(2)),
                max_items: 0,
            },
        },
        Message::QueryHit {
            guid: Guid([7; 16]),
            ttl: 3,
            hops: 1,
            responder: 6,
            items: vec![HitItem {
                hash: k(1),
                name: "Blue Train.flac".into(),
                size: 1,
            }],
            more: true,
        },
    ];
    out.extend(qrp_updates().into_iter().map(Message::RouteTable));
    out
}

/// A route-table transfer: a reset, then patches with toggles and with dense words.
pub fn qrp_updates() -> Vec<QrpUpdate> {
    let empty = QrpTable::new(10);
    let few = QrpTable::from_keywords(10, ["blue", "train"]);
    let many_words: Vec<String> = (0..400).map(|i| format!("w{i}")).collect();
    let many = QrpTable::from_keywords(10, many_words.iter().map(String::as_str));
    let mut out = vec![QrpUpdate::Reset { log2_size: 10 }];
    out.extend(empty.patches_to(&few));
    out.extend(few.patches_to(&many));
    out
}

/// Node `i` of the Chord and Pastry scenarios, at the position it has there.
fn ring_node(i: u32) -> lookup::Node<u32> {
    lookup::Node {
        id: Key256::hash(&i.to_be_bytes()).prefix_u64(),
        addr: i,
    }
}

/// Chord messages.
pub fn chord() -> Vec<chord::Message<u32>> {
    use chord::Message;
    vec![
        Message::Lookup {
            req: 0,
            key: k(1).prefix_u64(),
            origin: ring_node(6),
            hops: 0,
        },
        Message::Found {
            req: 0,
            owner: ring_node(6),
            hops: 1,
        },
        Message::GetNeighbours {
            req: 0,
            from: ring_node(6),
        },
        Message::Neighbours {
            req: 0,
            from: ring_node(1),
            pred: Some(ring_node(6)),
            succs: vec![ring_node(2), ring_node(3)],
        },
        Message::Notify { node: ring_node(6) },
        Message::Ping { req: 1 },
        Message::Pong { req: 0 },
        Message::Leaving {
            node: ring_node(2),
            pred: Some(ring_node(6)),
            succs: vec![ring_node(6), ring_node(3)],
        },
        Message::Ack {
            req: 0,
            origin: ring_node(6).id,
        },
    ]
}

/// Pastry messages.
pub fn pastry() -> Vec<pastry::Message<u32>> {
    use pastry::Message;
    vec![
        Message::Route {
            req: 0,
            key: k(1).prefix_u64(),
            origin: ring_node(6),
            hops: 0,
            join: false,
        },
        Message::Route {
            req: 0,
            key: ring_node(6).id,
            origin: ring_node(6),
            hops: 0,
            join: true,
        },
        Message::Delivered {
            req: 0,
            owner: ring_node(6),
            hops: 2,
        },
        Message::State {
            req: 0,
            nodes: vec![ring_node(1), ring_node(6)],
            last: true,
            hops: 1,
        },
        Message::Announce { node: ring_node(6) },
        Message::Ping {
            req: 0,
            from: ring_node(6),
        },
        Message::Pong { req: 0 },
        Message::GetLeaves { from: ring_node(6) },
        Message::Leaves {
            nodes: vec![ring_node(6), ring_node(2)],
        },
        Message::Leaving {
            node: ring_node(1),
            leaves: vec![ring_node(6)],
        },
        Message::Ack {
            req: 0,
            origin: ring_node(6).id,
        },
    ]
}

/// CAN messages.
pub fn can() -> Vec<can::Message<u32>> {
    use can::{Message, Zone};
    let (low, high) = Zone::WHOLE.split(2).unwrap_or((Zone::WHOLE, Zone::WHOLE));
    vec![
        Message::Route {
            req: 0,
            point: can::point_of(1),
            origin: 6,
            hops: 0,
            join: false,
        },
        Message::Route {
            req: 0,
            point: can::point_of(6),
            origin: 6,
            hops: 0,
            join: true,
        },
        Message::Delivered {
            req: 0,
            owner: 6,
            hops: 1,
        },
        Message::Accept {
            req: 0,
            zone: high,
            neighbours: vec![(0, low)],
            hops: 1,
        },
        Message::Update {
            zones: vec![Zone::WHOLE],
        },
        Message::Handoff {
            zones: vec![low],
            neighbours: vec![(1, high)],
        },
        Message::Leaving,
    ]
}

/// Freenet messages.
pub fn freenet() -> Vec<freenet::Message<u32>> {
    use freenet::{Failure, Message, RequestId};
    vec![
        Message::Request {
            id: RequestId(1),
            key: k(1),
            htl: 10,
        },
        Message::Insert {
            id: RequestId(2),
            key: k(2),
            data: b"kind of blue".to_vec(),
            htl: 10,
            source: 6,
        },
        Message::Data {
            id: RequestId(1),
            key: k(1),
            data: b"blue train".to_vec(),
            source: 6,
            htl: 3,
            depth: 1,
        },
        Message::Failed {
            id: RequestId(1),
            htl: 5,
            reason: Failure::DeadEnd,
        },
        Message::Failed {
            id: RequestId(1),
            htl: 5,
            reason: Failure::Loop,
        },
        Message::InsertDone {
            id: RequestId(2),
            depth: 2,
        },
    ]
}

/// Transfer requests.
pub fn transfer_requests() -> Vec<TransferRequest> {
    vec![
        TransferRequest::Range {
            hash: k(1),
            start: 0,
            end: 16_384,
        },
        TransferRequest::Range {
            hash: k(1),
            start: 1000,
            end: 16 << 20,
        },
    ]
}

/// Transfer responses (for the fallback request of [`crate::share::own_request`]).
pub fn transfer_responses() -> Vec<TransferResponse> {
    let (start, end, size) = (16_384, 40_000, 100_000);
    let encoded_len = weft_share::verify::encoded_len(size, start..end).unwrap_or(0);
    vec![
        TransferResponse::Slice {
            size,
            start,
            end,
            encoded_len,
        },
        TransferResponse::Error(TransferError::NotFound),
        TransferResponse::Error(TransferError::Busy {
            retry_after_ms: 500,
        }),
        TransferResponse::Error(TransferError::BadRange),
        TransferResponse::Error(TransferError::Internal),
    ]
}

/// Search queries.
pub fn search_queries() -> Vec<SearchQuery> {
    vec![SearchQuery {
        text: "blue train".into(),
        max_results: 50,
    }]
}

/// Search results.
pub fn search_results() -> Vec<SearchResults> {
    vec![SearchResults {
        results: vec![SearchResult {
            hash: k(1),
            size: 30_000_000,
            names: vec!["Blue Train.flac".into(), "blue_train.flac".into()],
            mime: "audio/flac".into(),
            sources: 3,
        }],
        more: true,
    }]
}

/// Publish messages.
pub fn publishes() -> Vec<Publish> {
    vec![
        Publish::Reset,
        Publish::Add(vec![PublishItem {
            hash: k(1),
            size: 30_000_000,
            name: "Blue Train.flac".into(),
            mime: "audio/flac".into(),
            keywords: vec!["blue".into(), "train".into(), "coltrane".into()],
        }]),
        Publish::Remove(vec![k(1), k(2)]),
    ]
}

/// A signed heartbeat and an envelope-shaped value (signed by a fixed identity; its ciphertext
/// is arbitrary, which only the recipient's decryption can tell).
fn collab_parts() -> (
    weft_collab::envelope::Envelope,
    weft_collab::presence::Heartbeat,
) {
    use weft_collab::keys::Identity;
    let alice = Identity::from_seed(&[7; 32]);
    let bob = Identity::from_seed(&[8; 32]);
    let mut env = weft_collab::envelope::Envelope {
        from: alice.peer_key(),
        to: bob.peer_key(),
        seq: 1,
        enc: vec![9; weft_collab::keys::ENC_BYTES],
        ciphertext: vec![1, 2, 3],
        sig: Vec::new(),
    };
    env.sig = alice.sign(&env.signed_bytes()).to_vec();
    (env, weft_collab::presence::Heartbeat::new(&alice, 1_000))
}

/// One of every `/weft/msg/1` request.
pub fn msg_requests() -> Vec<weft_collab::wire::MsgRequest> {
    use weft_collab::wire::MsgRequest;
    let (env, beat) = collab_parts();
    vec![
        MsgRequest::Deliver(vec![env.clone()]),
        MsgRequest::Deposit(vec![env.clone(), env.clone()]),
        MsgRequest::Collect,
        MsgRequest::MailboxAck {
            sender: env.from,
            up_to: 3,
        },
        MsgRequest::Receipt { up_to: 3 },
        MsgRequest::Heartbeat(beat),
    ]
}

/// One of every `/weft/msg/1` answer.
pub fn msg_responses() -> Vec<weft_collab::wire::MsgResponse> {
    use weft_collab::wire::MsgResponse;
    let (env, _) = collab_parts();
    vec![
        MsgResponse::Delivered { up_to: 2 },
        MsgResponse::Deposited {
            stored: 1,
            refused: Some(weft_collab::mailbox::Refusal::SenderQuota),
        },
        MsgResponse::Collected {
            envelopes: vec![env],
            more: true,
        },
        MsgResponse::Ok,
        MsgResponse::Refused("not a contact".into()),
    ]
}
