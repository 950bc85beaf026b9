//! Decoder targets for the routing engines' messages: decode with the codec's frame limit, run
//! the message's own checks where it has them, and re-encode.
//!
//! Addresses are `u32` here (what the simulator uses); the node's adapters may pick another
//! address type, whose decoding postcard handles the same way.

use weft_core::id::Key256;
use weft_core::wire::DEFAULT_MAX_FRAME;
use weft_overlay::flood::qrp::{QrpTable, QrpUpdate};
use weft_overlay::{can, chord, directory, flood, freenet, kademlia, pastry};

use crate::codec::{decode, round_trip};
use crate::input::Input;

/// The frame limit of the overlay protocols.
pub const MAX_FRAME: usize = DEFAULT_MAX_FRAME;

/// The `k` a node validates Kademlia replies with.
pub const KADEMLIA_K: usize = 20;

/// A Kademlia message as the node carries it.
pub type KadMessage = kademlia::Message<Key256, u32>;

/// Kademlia: decode, [`kademlia::Message::validate`], round trip.
pub fn kademlia_message(data: &[u8]) {
    if let Some(m) = decode::<KadMessage>(data, MAX_FRAME) {
        let _ = m.validate(KADEMLIA_K);
        round_trip(&m);
    }
}

/// Directory: decode, [`directory::Message::check`], round trip.
pub fn directory_message(data: &[u8]) {
    if let Some(m) = decode::<directory::Message<u32>>(data, MAX_FRAME) {
        let _ = m.check();
        round_trip(&m);
    }
}

/// Flood: decode, [`flood::Message::check`], round trip; a route-table update is applied to
/// a table as an ultrapeer does.
pub fn flood_message(data: &[u8]) {
    if let Some(m) = decode::<flood::Message<u32>>(data, MAX_FRAME) {
        let ok = m.check().is_ok();
        round_trip(&m);
        if let (true, flood::Message::RouteTable(update)) = (ok, &m) {
            let mut table = Some(QrpTable::new(flood::qrp::DEFAULT_LOG2_SIZE));
            apply_route_update(&mut table, update);
        }
    }
}

/// Applies one checked update to a leaf's table the way the flood engine does: a reset
/// replaces it, a patch needs a table and a failed patch drops it.
fn apply_route_update(table: &mut Option<QrpTable>, update: &QrpUpdate) {
    let result = match (update, table.as_mut()) {
        (QrpUpdate::Reset { log2_size }, _) => {
            *table = Some(QrpTable::new(*log2_size));
            Ok(())
        }
        (_, Some(t)) => t.apply(update),
        (_, None) => Err(flood::qrp::QrpError::NoTable),
    };
    if result.is_err() {
        *table = None;
    }
}

/// A sequence of flood frames (each a `u16` length and the bytes) from one leaf: every route
/// table update that decodes and checks is applied to the leaf's table in turn, and the table
/// is queried after each.
pub fn flood_qrp(data: &[u8]) {
    let mut input = Input::new(data);
    let mut table: Option<QrpTable> = None;
    while !input.is_empty() {
        let frame = input.frame();
        let Some(flood::Message::RouteTable(update)) =
            decode::<flood::Message<u32>>(frame, MAX_FRAME)
        else {
            continue;
        };
        if update.check().is_err() {
            table = None;
            continue;
        }
        apply_route_update(&mut table, &update);
        if let Some(t) = &table {
            let size = 1u64 << t.log2_size();
            assert_eq!(
                t.heap_bytes() as u64 * 8,
                size,
                "table size changed by a patch"
            );
            assert!(u64::from(t.set_bits()) <= size);
            let _ = t.matches_all(["blue", "train", "urn:00"].into_iter());
        }
    }
}

/// Chord: decode, round trip (the engine cuts lists itself).
pub fn chord_message(data: &[u8]) {
    if let Some(m) = decode::<chord::Message<u32>>(data, MAX_FRAME) {
        round_trip(&m);
    }
}

/// Pastry: decode, round trip.
pub fn pastry_message(data: &[u8]) {
    if let Some(m) = decode::<pastry::Message<u32>>(data, MAX_FRAME) {
        round_trip(&m);
    }
}

/// CAN: decode, round trip, and the zone arithmetic a receiver does on received zones.
pub fn can_message(data: &[u8]) {
    if let Some(m) = decode::<can::Message<u32>>(data, MAX_FRAME) {
        round_trip(&m);
        let zones: Vec<can::Zone> = match &m {
            can::Message::Accept {
                zone, neighbours, ..
            } => std::iter::once(*zone)
                .chain(neighbours.iter().map(|(_, z)| *z))
                .collect(),
            can::Message::Update { zones } => zones.clone(),
            can::Message::Handoff { zones, neighbours } => zones
                .iter()
                .copied()
                .chain(neighbours.iter().map(|(_, z)| *z))
                .collect(),
            _ => Vec::new(),
        };
        let zones = &zones[..zones.len().min(can::MAX_ENTRIES)];
        let p = can::point_of(zones.len() as u64);
        for d in 1..=can::MAX_DIMS {
            for (z, next) in zones.iter().zip(zones.iter().cycle().skip(1)) {
                let _ = z.volume_exponent(d);
                let _ = z.contains(&p, d);
                let _ = z.distance2(&p, d);
                let _ = z.split(d);
                let _ = z.merge(next, d);
                let _ = z.abuts(next, d);
            }
        }
    }
}

/// Freenet: decode, round trip.
pub fn freenet_message(data: &[u8]) {
    if let Some(m) = decode::<freenet::Message<u32>>(data, MAX_FRAME) {
        round_trip(&m);
    }
}
