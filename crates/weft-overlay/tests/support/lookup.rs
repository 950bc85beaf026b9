//! Lookups on networks of the recursive-lookup engines (Chord, Pastry, CAN) for their tests,
//! on the one virtual network (`weft_vnet`). Included with `#[path]`.

use std::time::Duration;

use weft_overlay::lookup::{Command, LookupEvent};
use weft_overlay::{Engine, QueryId};
use weft_vnet::VNet;

/// Looks `key` up from `from`, running the network until the answer (30 s at most): what
/// the lookup found and its hops, or `None` when it failed or went unanswered.
pub fn lookup<E, F: Copy>(net: &mut VNet<E>, from: u32, key: u64) -> Option<(F, u32)>
where
    E: Engine<Addr = u32, Message: serde::Serialize, Command = Command<u32>>,
    E::Event: LookupEvent<Found = F>,
{
    let id = net.query(from, Command::Lookup(key));
    net.run_until(Duration::from_secs(30), |ev| find(ev, from, id).is_some());
    find(net.events(), from, id).and_then(|(r, h)| r.map(|n| (n, h)))
}

/// The outcome of lookup `id` of node `from` among `events`, if it finished: what it found
/// (`None` when it failed) and its hops.
fn find<Ev: LookupEvent<Found: Copy>>(
    events: &[(u32, Ev)],
    from: u32,
    id: QueryId,
) -> Option<(Option<Ev::Found>, u32)> {
    events.iter().find_map(|(i, e)| {
        let f = e.finished_lookup()?;
        (*i == from && f.id == id).then(|| (f.result.ok(), f.hops))
    })
}
