//! What the overlay drivers know about other peers: which are connected, and where each
//! listens. Shared by the three drivers and their stream tasks; every table is bounded.
//!
//! Engines name peers by [`PeerId`]. On the wire a peer is a [`WirePeer`]: its id bytes and
//! up to [`MAX_WIRE_ADDRS`] listen addresses, so that a node told about a peer it has never
//! met (a Kademlia contact, the holder of a search hit) can dial it.
//!
//! Addresses come two ways and are kept apart: those the peer itself gave over an
//! authenticated connection (identify, or the address that was dialed and answered) and
//! hearsay (what a third party wrote in a message: a contact, a search hit's holder, which
//! anyone can forge). Hearsay never replaces or pushes out a proved address; it is used only
//! after them, and it has its own, smaller bound, so a flood of made-up peers evicts only
//! other hearsay.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Most peers whose addresses are remembered.
pub const MAX_BOOK_PEERS: usize = 4096;
/// Most addresses remembered (and sent) per peer.
pub const MAX_WIRE_ADDRS: usize = 8;
/// Longest peer id accepted from the wire, in bytes.
const MAX_PEER_ID_LEN: usize = 64;
/// Longest address accepted from the wire, in bytes.
const MAX_ADDR_LEN: usize = 256;

/// A peer as named in overlay messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePeer {
    /// `PeerId::to_bytes()`.
    pub id: Vec<u8>,
    /// Listen addresses (`Multiaddr::to_vec()`), at most [`MAX_WIRE_ADDRS`].
    pub addrs: Vec<Vec<u8>>,
}

/// Most peers whose hearsay addresses are remembered.
pub const MAX_HEARSAY_PEERS: usize = 2048;

/// Addresses by peer, bounded, the least recently updated evicted first.
struct AddrBook {
    /// Addresses by peer, with the stamp of their last update.
    addrs: BTreeMap<PeerId, (u64, Vec<Multiaddr>)>,
    /// Peers by stamp, oldest first: the eviction order.
    by_stamp: BTreeMap<u64, PeerId>,
    next_stamp: u64,
    max_peers: usize,
}

impl AddrBook {
    fn new(max_peers: usize) -> Self {
        AddrBook {
            addrs: BTreeMap::new(),
            by_stamp: BTreeMap::new(),
            next_stamp: 0,
            max_peers,
        }
    }

    fn learn(&mut self, peer: PeerId, new: impl IntoIterator<Item = Multiaddr>) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let (old_stamp, mut list) = self.addrs.remove(&peer).unwrap_or((u64::MAX, Vec::new()));
        self.by_stamp.remove(&old_stamp);
        let mut merged: Vec<Multiaddr> = new.into_iter().take(MAX_WIRE_ADDRS).collect();
        merged.append(&mut list);
        let mut seen = BTreeSet::new();
        merged.retain(|a| seen.insert(a.clone()));
        merged.truncate(MAX_WIRE_ADDRS);
        if merged.is_empty() {
            return;
        }
        self.addrs.insert(peer, (stamp, merged));
        self.by_stamp.insert(stamp, peer);
        while self.addrs.len() > self.max_peers {
            let Some((_, oldest)) = self.by_stamp.pop_first() else {
                break;
            };
            self.addrs.remove(&oldest);
        }
    }

    fn get(&self, peer: &PeerId) -> &[Multiaddr] {
        self.addrs.get(peer).map_or(&[], |(_, a)| a.as_slice())
    }
}

struct Book {
    /// What peers said of themselves over an authenticated connection.
    proved: AddrBook,
    /// What third parties said of peers.
    hearsay: AddrBook,
    connected: BTreeSet<PeerId>,
}

impl Default for Book {
    fn default() -> Self {
        Book {
            proved: AddrBook::new(MAX_BOOK_PEERS),
            hearsay: AddrBook::new(MAX_HEARSAY_PEERS),
            connected: BTreeSet::new(),
        }
    }
}

/// Connection state and addresses of other peers, shared by the overlay's tasks.
pub struct PeerTable {
    local: PeerId,
    book: Mutex<Book>,
    /// Woken whenever a peer connects.
    connected_changed: Notify,
}

impl PeerTable {
    /// An empty table for the node `local`.
    pub fn new(local: PeerId) -> Self {
        PeerTable {
            local,
            book: Mutex::new(Book::default()),
            connected_changed: Notify::new(),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This node's id.
    pub fn local(&self) -> PeerId {
        self.local
    }

    /// Remembers listen addresses `peer` gave itself over an authenticated connection, or
    /// that were dialed and answered (newest first, at most [`MAX_WIRE_ADDRS`]).
    pub fn learn(&self, peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>) {
        if peer != self.local {
            self.book().proved.learn(peer, addrs);
        }
    }

    /// Remembers addresses of `peer` that a third party gave: kept apart, used after the
    /// proved ones.
    pub fn learn_hearsay(&self, peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>) {
        if peer != self.local {
            self.book().hearsay.learn(peer, addrs);
        }
    }

    /// Known addresses of `peer`: the proved ones first, then hearsay, at most
    /// [`MAX_WIRE_ADDRS`].
    pub fn addresses(&self, peer: &PeerId) -> Vec<Multiaddr> {
        let book = self.book();
        let mut out: Vec<Multiaddr> = book.proved.get(peer).to_vec();
        for a in book.hearsay.get(peer) {
            if out.len() >= MAX_WIRE_ADDRS {
                break;
            }
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }

    /// Records that `peer` connected.
    pub fn set_connected(&self, peer: PeerId, connected: bool) {
        let mut book = self.book();
        if connected {
            book.connected.insert(peer);
        } else {
            book.connected.remove(&peer);
        }
        drop(book);
        if connected {
            self.connected_changed.notify_waiters();
        }
    }

    /// Whether `peer` has a connection now.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.book().connected.contains(peer)
    }

    /// Number of peers connected now.
    pub fn connected_count(&self) -> usize {
        self.book().connected.len()
    }

    /// Waits until `peer` is connected or `deadline` passes; true if connected.
    pub async fn wait_connected(&self, peer: &PeerId, deadline: tokio::time::Instant) -> bool {
        loop {
            let changed = self.connected_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_connected(peer) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.is_connected(peer);
            }
        }
    }

    /// How `peer` is named on the wire.
    pub fn to_wire(&self, peer: PeerId) -> WirePeer {
        let addrs = if peer == self.local {
            Vec::new()
        } else {
            self.addresses(&peer)
                .iter()
                .map(Multiaddr::to_vec)
                .collect()
        };
        WirePeer {
            id: peer.to_bytes(),
            addrs,
        }
    }

    /// The peer a [`WirePeer`] names, remembering its addresses as hearsay; `None` if the id
    /// is malformed. Malformed addresses are skipped.
    pub fn resolve(&self, wire: WirePeer) -> Option<PeerId> {
        if wire.id.len() > MAX_PEER_ID_LEN {
            return None;
        }
        let peer = PeerId::from_bytes(&wire.id).ok()?;
        let addrs: Vec<Multiaddr> = wire
            .addrs
            .into_iter()
            .take(MAX_WIRE_ADDRS)
            .filter(|a| a.len() <= MAX_ADDR_LEN)
            .filter_map(|a| Multiaddr::try_from(a).ok())
            .collect();
        if !addrs.is_empty() {
            self.learn_hearsay(peer, addrs);
        }
        Some(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn book_is_bounded_and_merges() {
        let t = PeerTable::new(PeerId::random());
        let p = PeerId::random();
        t.learn(p, [addr(1), addr(2)]);
        t.learn(p, [addr(3), addr(1)]);
        assert_eq!(t.addresses(&p), vec![addr(3), addr(1), addr(2)]);
        t.learn(p, (10..30).map(addr));
        assert_eq!(t.addresses(&p).len(), MAX_WIRE_ADDRS);
        let first = PeerId::random();
        t.learn(first, [addr(5)]);
        for _ in 0..MAX_BOOK_PEERS {
            t.learn(PeerId::random(), [addr(6)]);
        }
        assert!(t.addresses(&first).is_empty(), "oldest entry evicted");
        assert_eq!(t.book().proved.addrs.len(), MAX_BOOK_PEERS);
        assert_eq!(t.book().proved.by_stamp.len(), MAX_BOOK_PEERS);
    }

    #[test]
    fn hearsay_never_displaces_what_a_peer_proved() {
        let t = PeerTable::new(PeerId::random());
        let honest = PeerId::random();
        t.learn(honest, [addr(1)]);
        // A third party names the honest peer at a full list of other addresses, and floods
        // the table with made-up peers.
        let forged = WirePeer {
            id: honest.to_bytes(),
            addrs: (100..120).map(|p| addr(p).to_vec()).collect(),
        };
        assert_eq!(t.resolve(forged), Some(honest));
        for _ in 0..(MAX_BOOK_PEERS + MAX_HEARSAY_PEERS) {
            let made_up = WirePeer {
                id: PeerId::random().to_bytes(),
                addrs: vec![addr(9).to_vec()],
            };
            t.resolve(made_up);
        }
        let got = t.addresses(&honest);
        assert_eq!(
            got.first(),
            Some(&addr(1)),
            "the proved address comes first: {got:?}"
        );
        assert_eq!(
            t.book().proved.addrs.len(),
            1,
            "hearsay fills only its own table"
        );
        assert_eq!(t.book().hearsay.addrs.len(), MAX_HEARSAY_PEERS);
        // What a peer says of itself later is proved, and comes before hearsay.
        let unknown = PeerId::random();
        t.learn_hearsay(unknown, [addr(50)]);
        t.learn(unknown, [addr(51)]);
        assert_eq!(t.addresses(&unknown), vec![addr(51), addr(50)]);
    }

    #[test]
    fn wire_round_trip_and_garbage() {
        let a = PeerTable::new(PeerId::random());
        let b = PeerTable::new(PeerId::random());
        let p = PeerId::random();
        a.learn(p, [addr(7)]);
        assert_eq!(b.resolve(a.to_wire(p)), Some(p));
        assert_eq!(b.addresses(&p), vec![addr(7)]);
        let junk = WirePeer {
            id: vec![1, 2, 3],
            addrs: vec![],
        };
        assert_eq!(b.resolve(junk), None);
        let bad_addr = WirePeer {
            id: p.to_bytes(),
            addrs: vec![vec![0xff; 10], vec![0; 300]],
        };
        assert_eq!(b.resolve(bad_addr), Some(p));
        assert_eq!(b.addresses(&p), vec![addr(7)]);
    }
}
