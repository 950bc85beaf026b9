//! Three real swarms on loopback, each with its overlay: queries of every model cross
//! real sockets.

use std::time::Duration;

use crate::Limits;
use libp2p::{Multiaddr, PeerId};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, timeout};
use weft_core::id::Key256;
use weft_core::peer::Role;
use weft_overlay::directory::Item;
use weft_overlay::flood::{Criteria, HitItem};

use super::*;
use crate::{NetSettings, Network};

struct TestNode {
    net: NetHandle,
    overlay: Overlay,
    matches: Option<mpsc::Receiver<MatchRequest>>,
    addr: Multiaddr,
}

impl TestNode {
    fn peer(&self) -> PeerId {
        self.net.local_peer_id
    }
}

async fn start(role: Role, bootstrap: &[&TestNode], directory: Option<&TestNode>) -> TestNode {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let settings = NetSettings {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap: bootstrap
            .iter()
            .map(|n| (n.peer(), n.addr.clone()))
            .collect(),
        mdns: false,
        relay_server: false,
        limits: Limits::default(),
    };
    let (net, mut events, _task) = Network::spawn(key, settings, &mut Registry::default()).unwrap();
    let mut config = OverlayConfig::new(
        &net.local_peer_id,
        role,
        directory.map(|d| (d.peer(), d.addr.clone())),
    );
    config.flood.query_timeout = Duration::from_secs(2);
    config.kademlia.request_timeout = Duration::from_secs(2);
    let (overlay, matches) = Overlay::spawn(&net, config).unwrap();
    let (addr_tx, mut addr_rx) = watch::channel(None);
    let forward = overlay.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            forward.observe(&e);
            if let NetEvent::Listening { addr } = e {
                addr_tx.send_replace(Some(addr));
            }
        }
    });
    let addr = timeout(Duration::from_secs(10), async {
        loop {
            if let Some(a) = addr_rx.borrow_and_update().clone() {
                return a;
            }
            addr_rx.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    TestNode {
        net,
        overlay,
        matches: Some(matches),
        addr,
    }
}

/// Opens a DHT stream to `peer` and writes `bytes` on it, on a fresh stream again if the
/// first was reset (a stream the peer refused reads as "connection is closed"); 10 tries.
async fn send_raw(control: &mut libp2p_stream::Control, peer: PeerId, bytes: &[u8]) {
    for _ in 0..10 {
        if let Ok(mut s) = control.open_stream(peer, super::dht::PROTOCOL).await {
            let sent = futures::AsyncWriteExt::write_all(&mut s, bytes)
                .await
                .is_ok()
                && futures::AsyncWriteExt::flush(&mut s).await.is_ok();
            if sent {
                // Keep the stream open until the peer has read it.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    drop(s);
                });
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not send raw bytes to {peer}");
}

/// Waits until `f` returns `Some`, retrying every 200 ms for at most 20 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn item(name: &str) -> Item {
    Item {
        hash: Key256::hash(name.as_bytes()),
        name: name.into(),
        size: 1234,
        keywords: weft_overlay::flood::keywords(name),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_and_flood_queries_cross_sockets() {
    let server = start(Role::Directory, &[], None).await;
    let mut holder = start(Role::Leaf, &[&server], Some(&server)).await;
    let asker = start(Role::Leaf, &[&server], Some(&server)).await;
    assert!(server.overlay.directory.as_ref().unwrap().is_server());

    // directory: the holder publishes, the asker's query names the holder
    let shared = item("blue train.flac");
    let holder_dir = holder.overlay.directory.clone().unwrap();
    holder_dir.publish(vec![shared.clone()]).await.unwrap();
    let asker_dir = asker.overlay.directory.clone().unwrap();
    let hits = eventually("a directory hit", || {
        let d = asker_dir.clone();
        async move {
            let hits = d
                .query(vec!["blue".into(), "train".into()], 10)
                .await
                .ok()?
                .hits;
            (!hits.is_empty()).then_some(hits)
        }
    })
    .await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].peer, holder.peer());
    assert_eq!(hits[0].hash, shared.hash);
    assert!(
        asker_dir
            .query(vec!["nothing".into()], 10)
            .await
            .unwrap()
            .hits
            .is_empty()
    );
    let load = server
        .overlay
        .directory
        .as_ref()
        .unwrap()
        .load()
        .await
        .unwrap();
    assert!(load.items >= 1 && load.queries >= 2, "{load:?}");

    // flood: the holder (a leaf) answers what its ultrapeer forwards to it
    holder
        .overlay
        .flood
        .set_keywords(shared.keywords.clone())
        .await
        .unwrap();
    let mut matches = holder.matches.take().unwrap();
    let responder = holder.overlay.flood.clone();
    let answered = shared.clone();
    tokio::spawn(async move {
        while let Some(m) = matches.recv().await {
            let all = m
                .criteria
                .keywords
                .iter()
                .all(|k| answered.keywords.contains(k));
            let items = if all {
                vec![HitItem {
                    hash: answered.hash,
                    name: answered.name.clone(),
                    size: answered.size,
                }]
            } else {
                Vec::new()
            };
            responder.respond(m.request, items, false).await.unwrap();
        }
    });
    let flood = asker.overlay.flood.clone();
    let hit = eventually("a flood hit", || {
        let f = flood.clone();
        async move {
            let mut hits = f
                .query(Criteria::from_text("Blue Train"), None)
                .await
                .unwrap();
            timeout(Duration::from_secs(2), hits.recv()).await.ok()?
        }
    })
    .await;
    assert_eq!(hit.responder, holder.peer());
    assert_eq!(hit.items[0].hash, shared.hash);
    assert!(hit.hops >= 1);
    let info = server.overlay.flood.info().await.unwrap();
    assert_eq!(info.role, weft_overlay::flood::Role::Ultrapeer);
    assert!(info.stats.queries_received >= 1, "{info:?}");
    assert!(server.overlay.stats().flood.frames_in > 0);
    // the holder's address travelled with the hit
    assert!(!asker.overlay.addresses(&holder.peer()).is_empty());
    // an invalid query is refused before it reaches the engine
    assert!(matches!(
        flood.query(Criteria::default(), None).await,
        Err(OverlayError::Flood(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dht_records_cross_sockets_and_bad_frames_are_dropped() {
    let a = start(Role::Leaf, &[], None).await;
    let b = start(Role::Ultrapeer, &[&a], None).await;
    let c = start(Role::Leaf, &[&b], None).await;
    let key = super::dht::user_key("the answer");
    let stored = eventually("a stored record", || {
        let dht = a.overlay.dht.clone();
        async move {
            dht.put(key, b"42".to_vec(), Duration::from_secs(600))
                .await
                .ok()
        }
    })
    .await;
    assert!(stored >= 1);
    let value = eventually("the record", || {
        let dht = c.overlay.dht.clone();
        async move { dht.get(key).await.ok().flatten() }
    })
    .await;
    assert_eq!(value, b"42");
    assert_eq!(
        c.overlay.dht.get(Key256::hash(b"absent")).await.unwrap(),
        None
    );
    assert!(c.overlay.dht.info().await.unwrap().contacts >= 1);

    // garbage on the DHT protocol: the stream is dropped and counted, the node keeps working
    let before = b.overlay.stats().kad.bad_frames;
    let mut control = a.net.stream_control();
    // a frame of 4 bytes that is not a message
    send_raw(&mut control, b.peer(), &[0, 0, 0, 4, 1, 0xff, 0xff, 0xff]).await;
    // announces a frame over the limit
    send_raw(&mut control, b.peer(), &u32::MAX.to_be_bytes()).await;
    eventually("bad frames counted", || {
        let st = b.overlay.stats().kad.bad_frames;
        async move { (st >= before + 2).then_some(()) }
    })
    .await;
    let value = c.overlay.dht.get(key).await.unwrap();
    assert_eq!(value.as_deref(), Some(&b"42"[..]));

    // one peer holding many idle streams is refused beyond its share
    let before = b.overlay.stats().kad.refused_streams;
    let mut held = Vec::new();
    for _ in 0..super::transport::MAX_INBOUND_PER_PEER + 4 {
        let mut s = control
            .open_stream(b.peer(), super::dht::PROTOCOL)
            .await
            .unwrap();
        // Half a length prefix: negotiation is lazy, so the listener sees the stream only once
        // bytes flow; its reader then waits for the rest, holding the stream open.
        // A refused stream may already be reset by the time we write.
        let _ = futures::AsyncWriteExt::write_all(&mut s, &[0, 0]).await;
        let _ = futures::AsyncWriteExt::flush(&mut s).await;
        held.push(s);
    }
    eventually("streams refused", || {
        let st = b.overlay.stats().kad.refused_streams;
        async move { (st >= before + 4).then_some(()) }
    })
    .await;
    // other peers are still served
    let value = c.overlay.dht.get(Key256::hash(b"absent")).await.unwrap();
    assert_eq!(value, None);
    drop(held);
}
