//! The CAN tests' oracle (`can`, `can_hostile`). Included with `#[path]`.

use weft_overlay::can::{Can, point_of};
use weft_vnet::VNet;

/// The owner of `key` in `d` dimensions, by looking at every live node's zones; there must be
/// exactly one.
pub fn owner_of(net: &VNet<Can<u32>>, key: u64, d: usize) -> u32 {
    let p = point_of(key);
    let owners: Vec<u32> = net
        .live_indices()
        .into_iter()
        .filter(|i| {
            net.engine(*i)
                .unwrap()
                .zones()
                .iter()
                .any(|z| z.contains(&p, d))
        })
        .collect();
    assert_eq!(owners.len(), 1, "zones do not partition the space");
    owners[0]
}
