//! Presence: a contact is online while connected, or while its signed heartbeats keep coming;
//! last seen is kept when it goes.
//!
//! A [`Heartbeat`] carries the sender's clock, signed; one not newer than the last accepted
//! from that peer is a replay and refused. The node feeds [`Presence`] only with its contacts,
//! so the table is bounded by [`crate::contacts::MAX_CONTACTS`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::keys::{CryptoError, Identity, PeerKey, SIG_BYTES};

/// How often a node sends a heartbeat to each connected contact, in µs (30 s).
pub const HEARTBEAT_INTERVAL_US: u64 = 30_000_000;
/// A peer not connected is still shown online this long after its last heartbeat (3 beats).
pub const ONLINE_WINDOW_US: u64 = 3 * HEARTBEAT_INTERVAL_US;

const SIGNED: &[u8] = b"weft/msg/1 heartbeat";

/// A signed "I am here".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Who.
    pub from: PeerKey,
    /// The sender's clock, µs since the Unix epoch.
    pub at_us: u64,
    /// Signature over the domain, `from` and `at_us`.
    pub sig: Vec<u8>,
}

fn signed(from: &PeerKey, at_us: u64) -> Vec<u8> {
    let mut out = SIGNED.to_vec();
    out.extend_from_slice(&from.0);
    out.extend_from_slice(&at_us.to_be_bytes());
    out
}

impl Heartbeat {
    /// A heartbeat from `me` at `at_us`.
    pub fn new(me: &Identity, at_us: u64) -> Heartbeat {
        let from = me.peer_key();
        Heartbeat {
            from,
            at_us,
            sig: me.sign(&signed(&from, at_us)).to_vec(),
        }
    }

    /// Checks the signature.
    ///
    /// # Errors
    /// [`CryptoError`] if forged.
    pub fn verify(&self) -> Result<(), CryptoError> {
        if self.sig.len() != SIG_BYTES {
            return Err(CryptoError::BadSignature);
        }
        self.from.verify(&signed(&self.from, self.at_us), &self.sig)
    }
}

/// What a user sees of a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Connected, or heard from lately.
    Online,
    /// Neither.
    Offline,
}

/// Why a heartbeat was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeartbeatError {
    /// Forged.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Not newer than the last one accepted from this peer.
    #[error("replayed heartbeat")]
    Replayed,
}

#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    connected: bool,
    last_seen_us: Option<u64>,
    last_beat_at_us: u64,
}

/// Online / offline / last seen of each contact.
#[derive(Debug, Default)]
pub struct Presence {
    peers: BTreeMap<PeerKey, Seen>,
}

impl Presence {
    /// Starts from the last-seen times kept in the database.
    pub fn with_last_seen(seen: impl IntoIterator<Item = (PeerKey, u64)>) -> Presence {
        let peers = seen
            .into_iter()
            .map(|(k, t)| {
                (
                    k,
                    Seen {
                        last_seen_us: Some(t),
                        ..Seen::default()
                    },
                )
            })
            .collect();
        Presence { peers }
    }

    /// A verified, fresh heartbeat arrived at `now_us`.
    ///
    /// # Errors
    /// [`HeartbeatError`]: forged or replayed; nothing changes.
    pub fn on_heartbeat(&mut self, now_us: u64, beat: &Heartbeat) -> Result<(), HeartbeatError> {
        beat.verify()?;
        let seen = self.peers.entry(beat.from).or_default();
        if beat.at_us <= seen.last_beat_at_us {
            return Err(HeartbeatError::Replayed);
        }
        seen.last_beat_at_us = beat.at_us;
        seen.last_seen_us = Some(now_us);
        Ok(())
    }

    /// The first connection to `peer` opened (`true`) or the last closed (`false`).
    pub fn on_connection(&mut self, now_us: u64, peer: PeerKey, connected: bool) {
        let seen = self.peers.entry(peer).or_default();
        seen.connected = connected;
        seen.last_seen_us = Some(now_us);
    }

    /// Forgets a peer (a contact removed).
    pub fn forget(&mut self, peer: &PeerKey) {
        self.peers.remove(peer);
    }

    /// The status of `peer` at `now_us`, and when it was last seen.
    pub fn status(&self, now_us: u64, peer: &PeerKey) -> (Status, Option<u64>) {
        let Some(seen) = self.peers.get(peer) else {
            return (Status::Offline, None);
        };
        let recent = seen
            .last_seen_us
            .is_some_and(|t| now_us.saturating_sub(t) < ONLINE_WINDOW_US);
        let status = if seen.connected || (recent && seen.last_beat_at_us > 0) {
            Status::Online
        } else {
            Status::Offline
        };
        let last_seen = if seen.connected {
            Some(now_us)
        } else {
            seen.last_seen_us
        };
        (status, last_seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_keep_a_peer_online_and_replays_are_refused() {
        let alice = Identity::from_seed(&[1; 32]);
        let mut p = Presence::default();
        assert_eq!(p.status(0, &alice.peer_key()), (Status::Offline, None));
        let beat = Heartbeat::new(&alice, 100);
        p.on_heartbeat(1_000, &beat).unwrap();
        assert_eq!(p.status(2_000, &alice.peer_key()).0, Status::Online);
        assert_eq!(p.on_heartbeat(3_000, &beat), Err(HeartbeatError::Replayed));
        let late = 1_000 + ONLINE_WINDOW_US;
        assert_eq!(
            p.status(late, &alice.peer_key()),
            (Status::Offline, Some(1_000))
        );
    }

    #[test]
    fn a_forged_heartbeat_changes_nothing() {
        let alice = Identity::from_seed(&[1; 32]);
        let mallory = Identity::from_seed(&[2; 32]);
        let mut forged = Heartbeat::new(&mallory, 5);
        forged.from = alice.peer_key();
        let mut p = Presence::default();
        assert!(p.on_heartbeat(10, &forged).is_err());
        assert_eq!(p.status(10, &alice.peer_key()), (Status::Offline, None));
    }

    #[test]
    fn connection_is_online_and_leaving_keeps_last_seen() {
        let k = Identity::from_seed(&[1; 32]).peer_key();
        let mut p = Presence::with_last_seen([(k, 5)]);
        assert_eq!(p.status(10, &k), (Status::Offline, Some(5)));
        p.on_connection(20, k, true);
        assert_eq!(p.status(30, &k), (Status::Online, Some(30)));
        p.on_connection(40, k, false);
        assert_eq!(p.status(50, &k), (Status::Offline, Some(40)));
    }
}
