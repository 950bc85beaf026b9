//! Two real swarms on loopback: inbound streams past a protocol's backlog are refused and
//! counted, never dropped unseen, and the streams within it all reach the accept loop.

use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::time::{Instant, timeout};
use weft_net::Limits;
use weft_net::libp2p::futures::StreamExt;
use weft_net::libp2p::{Multiaddr, StreamProtocol};
use weft_net::{NetEvent, NetHandle, NetSettings, Network};

const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/test-backlog/1");

async fn start(bootstrap: Option<(&NetHandle, &Multiaddr)>) -> (NetHandle, Multiaddr, Registry) {
    let settings = NetSettings {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a multiaddr")],
        bootstrap: bootstrap
            .map(|(n, a)| (n.local_peer_id, a.clone()))
            .into_iter()
            .collect(),
        mdns: false,
        relay_server: false,
        limits: Limits::default(),
    };
    let mut registry = Registry::default();
    let key = weft_net::Keypair::generate_ed25519();
    let (net, mut events, _task) =
        Network::spawn(key, settings, &mut registry).expect("the swarm starts");
    let addr = timeout(Duration::from_secs(10), async {
        loop {
            if let Some(NetEvent::Listening { addr }) = events.recv().await {
                return addr;
            }
        }
    })
    .await
    .expect("a listen address within 10 s");
    // The node loop drains events; here nobody needs them.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    (net, addr, registry)
}

fn refused(registry: &Registry) -> u64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("metrics encode");
    text.lines()
        .find(|l| l.starts_with("weft_inbound_refused_total{protocol=\"/weft/test-backlog/1\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_past_the_backlog_are_refused_and_counted() {
    let (b, b_addr, b_registry) = start(None).await;
    let (a, _, _) = start(Some((&b, &b_addr))).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !a.state().peers.contains_key(&b.local_peer_id.to_string()) {
        assert!(Instant::now() < deadline, "a did not connect to b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut incoming = b.inbound().accept(PROTOCOL, 2).unwrap();
    assert!(
        b.inbound().accept(PROTOCOL, 2).is_err(),
        "one accept loop per protocol"
    );

    // Nobody reads b's queue: two streams wait in it, the other three are refused.
    let mut control = a.stream_control();
    let mut opened = Vec::new();
    for _ in 0..5 {
        let s = timeout(
            Duration::from_secs(10),
            control.open_stream(b.local_peer_id, PROTOCOL),
        )
        .await
        .expect("negotiated within 10 s")
        .expect("b supports the protocol");
        opened.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused(&b_registry) < 3 {
        assert!(
            Instant::now() < deadline,
            "refusals counted: {}",
            refused(&b_registry)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..2 {
        let (peer, _stream) = timeout(Duration::from_secs(5), incoming.next())
            .await
            .expect("a queued stream")
            .expect("the queue is open");
        assert_eq!(peer, a.local_peer_id);
    }
    assert_eq!(
        refused(&b_registry),
        3,
        "exactly the streams past the backlog"
    );

    // Room again: the next stream is queued, not refused.
    let _s = control
        .open_stream(b.local_peer_id, PROTOCOL)
        .await
        .expect("b supports the protocol");
    let (peer, _stream) = timeout(Duration::from_secs(5), incoming.next())
        .await
        .expect("the new stream")
        .expect("the queue is open");
    assert_eq!(peer, a.local_peer_id);
    assert_eq!(refused(&b_registry), 3);

    // Dropping the accept loop stops the protocol: the next stream does not negotiate.
    drop(incoming);
    let r = timeout(
        Duration::from_secs(10),
        control.open_stream(b.local_peer_id, PROTOCOL),
    )
    .await
    .expect("an answer within 10 s");
    assert!(r.is_err(), "b no longer offers the protocol");
}
