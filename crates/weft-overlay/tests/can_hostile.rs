//! CAN against a hostile peer: zones, lists and handoffs that break the zone invariant are
//! dropped and counted, and routing over what is left never panics.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use proptest::prelude::*;
use weft_overlay::Engine;
use weft_overlay::can::{Can, Config, MAX_DIMS, MAX_ENTRIES, Message, Point, Zone};
use weft_vnet::VNet;

#[path = "support/lookup.rs"]
mod support;
#[path = "support/can.rs"]
mod support_can;

use support_can::owner_of;

type Net = VNet<Can<u32>>;

const D: usize = 2;

fn network(n: u32) -> Net {
    let config = Arc::new(Config {
        dims: D,
        ..Config::default()
    });
    let addrs: Vec<u32> = (0..n).collect();
    let mut net: Net = VNet::uniform(7, (1, 20));
    for node in Can::converged_network(config, 7, &addrs) {
        net.add(node);
    }
    net
}

/// Looks `key` up from `from`; the owner it reports.
fn lookup(net: &mut Net, from: u32, key: u64) -> Option<u32> {
    support::lookup(net, from, key).map(|(owner, _)| owner)
}

/// Feeds `msg` to `to` as if `from` had sent it.
fn deliver(net: &mut Net, to: u32, from: u32, msg: Message<u32>) {
    net.poke(to, |e, now| e.handle_message(now, from, msg));
}

/// A zone that abuts `z` on the face above it in dimension 1 and spans all of dimension 0
/// starting at the misaligned `2^31 + 1`: it wraps past `2^32`, which made `distance2`
/// subtract with overflow for points below `2^31` (the fuzz crash).
fn misaligned_above(z: &Zone) -> Zone {
    let mut h = *z;
    h.level[0] = 0;
    h.lo[0] = (1 << 31) + 1;
    let side1 = 1u64 << (32 - u32::from(z.level[1]));
    h.lo[1] = ((u64::from(z.lo[1]) + side1) % (1 << 32)) as u32;
    h
}

#[test]
fn misaligned_update_is_dropped_and_lookups_still_route() {
    let mut net = network(32);
    let me = 0;
    let node = net.engine(me).unwrap();
    let mine = node.zones()[0];
    let (peer, _) = node.neighbours()[0];
    let before = node.neighbours().to_vec();
    let hostile = misaligned_above(&mine);
    // the old receive path only checked `abuts`, which this zone passes
    assert!(mine.abuts(&hostile, D));
    assert!(!hostile.is_valid(D));

    deliver(
        &mut net,
        me,
        peer,
        Message::Update {
            zones: vec![hostile],
        },
    );
    let node = net.engine(me).unwrap();
    assert_eq!(node.invalid_messages(), 1);
    assert_eq!(
        node.neighbours(),
        &before[..],
        "invalid update changed the table"
    );

    // lookups from the node that got the update (and the rest) still reach the owner
    let mut delivered = 0;
    for key in 0..200u64 {
        let from = (key % 32) as u32;
        let from = if key % 2 == 0 { me } else { from };
        assert_eq!(
            lookup(&mut net, from, key),
            Some(owner_of(&net, key, D)),
            "key {key}"
        );
        delivered += 1;
    }
    assert_eq!(delivered, 200);
}

#[test]
fn valid_update_still_accepted_after_invalid_ones() {
    let mut net = network(32);
    let node = net.engine(0).unwrap();
    let (peer, peer_zone) = node.neighbours()[0];
    // an invalid update from the peer must not drop its existing entry
    let mut wrong_dims = peer_zone;
    wrong_dims.lo[MAX_DIMS - 1] = 1;
    deliver(
        &mut net,
        0,
        peer,
        Message::Update {
            zones: vec![wrong_dims],
        },
    );
    let too_long = vec![peer_zone; MAX_ENTRIES + 1];
    deliver(&mut net, 0, peer, Message::Update { zones: too_long });
    let mut too_deep = peer_zone;
    too_deep.level[0] = 33;
    deliver(
        &mut net,
        0,
        peer,
        Message::Update {
            zones: vec![too_deep],
        },
    );
    let node = net.engine(0).unwrap();
    assert_eq!(node.invalid_messages(), 3);
    assert!(node.neighbours().contains(&(peer, peer_zone)));
    // the honest update goes through and is not counted
    deliver(
        &mut net,
        0,
        peer,
        Message::Update {
            zones: vec![peer_zone],
        },
    );
    let node = net.engine(0).unwrap();
    assert_eq!(node.invalid_messages(), 3);
    assert!(node.neighbours().contains(&(peer, peer_zone)));
}

#[test]
fn overlapping_handoff_and_invalid_accept_are_dropped() {
    let mut net = network(16);
    let node = net.engine(0).unwrap();
    let mine = node.zones().to_vec();
    let (peer, peer_zone) = node.neighbours()[0];
    // a handoff of our own zone would make two owners of it
    let msg = Message::Handoff {
        zones: vec![mine[0]],
        neighbours: Vec::new(),
    };
    deliver(&mut net, 0, peer, msg);
    // a handoff of the same zone twice
    let msg = Message::Handoff {
        zones: vec![peer_zone, peer_zone],
        neighbours: Vec::new(),
    };
    deliver(&mut net, 0, peer, msg);
    // a handoff with a misaligned neighbour entry
    let msg = Message::Handoff {
        zones: vec![peer_zone],
        neighbours: vec![(5, misaligned_above(&mine[0]))],
    };
    deliver(&mut net, 0, peer, msg);
    // an accept (even one matching no join) with a misaligned zone
    let msg = Message::Accept {
        req: 0,
        zone: misaligned_above(&mine[0]),
        neighbours: Vec::new(),
        hops: 1,
    };
    deliver(&mut net, 0, peer, msg);
    let node = net.engine(0).unwrap();
    assert_eq!(node.invalid_messages(), 4);
    assert_eq!(node.zones(), &mine[..]);
    for key in 0..50u64 {
        assert_eq!(lookup(&mut net, 0, key), Some(owner_of(&net, key, D)));
    }
}

/// Reference torus distance in one dimension, in signed 128-bit arithmetic.
fn reference_dist(lo: u32, level: u8, x: u32) -> u128 {
    let m = 1i128 << 32;
    let side = 1i128 << (32 - i128::from(level.min(32)));
    let offset = (i128::from(x) - i128::from(lo)).rem_euclid(m);
    if offset < side {
        return 0;
    }
    let below = (i128::from(lo) - i128::from(x)).rem_euclid(m);
    let above = (i128::from(x) - (i128::from(lo) + side - 1)).rem_euclid(m);
    below.min(above) as u128
}

#[test]
fn distance_on_wrapping_zones() {
    let mut z = Zone::WHOLE;
    z.lo[0] = u32::MAX;
    z.level[0] = 31; // side 2: covers u32::MAX and 0
    let at = |x: u32| -> Point { [x, 0, 0, 0, 0, 0, 0, 0] };
    assert_eq!(z.distance2(&at(0), 1), 0);
    assert_eq!(z.distance2(&at(u32::MAX), 1), 0);
    assert_eq!(z.distance2(&at(1), 1), 1);
    assert_eq!(z.distance2(&at(u32::MAX - 3), 1), 9);
    let mut far = Zone::WHOLE;
    far.lo[0] = (1 << 31) + 1;
    assert_eq!(far.distance2(&at(0), 1), 0, "a full side covers everything");
}

proptest! {
    /// Zone arithmetic is total on any bit pattern (zones come straight off the wire), and
    /// `distance2` is the torus distance even on zones that wrap.
    #[test]
    fn zone_arithmetic_never_panics(
        lo in any::<[u32; MAX_DIMS]>(),
        level in any::<[u8; MAX_DIMS]>(),
        lo2 in any::<[u32; MAX_DIMS]>(),
        p in any::<[u32; MAX_DIMS]>(),
        d in 0usize..=MAX_DIMS + 2,
    ) {
        let z = Zone { lo, level };
        let o = Zone { lo: lo2, level };
        let _ = (z.volume_exponent(d), z.contains(&p, d), z.split(d), z.merge(&o, d));
        let _ = (z.abuts(&o, d), z.is_valid(d));
        let want: u128 = (0..d.min(MAX_DIMS))
            .map(|i| reference_dist(lo[i], level[i], p[i]).pow(2))
            .sum();
        prop_assert_eq!(z.distance2(&p, d), want);
    }

    /// Halving keeps a zone valid, and a valid zone never wraps.
    #[test]
    fn halves_of_valid_zones_are_valid(point in any::<[u32; MAX_DIMS]>(), d in 1usize..=MAX_DIMS, depth in 0usize..200) {
        let mut z = Zone::WHOLE;
        for _ in 0..depth {
            prop_assert!(z.is_valid(d));
            prop_assert!(z.contains(&point, d));
            let Some((a, b)) = z.split(d) else { break };
            z = if a.contains(&point, d) { a } else { b };
        }
        prop_assert!(z.is_valid(d));
    }
}
