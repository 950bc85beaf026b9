//! The iterative lookup: a pure iterator over the peers closest to a target, in the shape of
//! libp2p's `ClosestPeersIter`.
//!
//! The iterator never sends anything itself: [`ClosestPeersIter::next`] says which peer to
//! ask next (or that it is waiting, or finished), and the engine reports answers with
//! [`ClosestPeersIter::on_success`] and [`ClosestPeersIter::on_failure`]. At most `alpha`
//! requests are in flight while replies make progress (bring a peer closer than the closest
//! known); after `alpha` replies without progress the lookup is *stalled* and asks up to `k`
//! peers at once, so that the `k` closest are all tried. It finishes when the `k` closest
//! known peers have all answered, or when nobody is left to ask. A peer that does not answer
//! within the per-peer timeout stops counting against the parallelism but may still answer.

use std::time::Duration;

use weft_core::time::Time;

use super::key::KadKey;
use crate::kit::RequestIds;

/// State of one candidate of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerState {
    NotContacted,
    Waiting { deadline: Time, req: u64 },
    Unresponsive { req: u64 },
    Succeeded,
    Failed,
}

#[derive(Clone, Debug)]
pub(crate) struct Candidate<K, A> {
    pub(crate) distance: K,
    pub(crate) key: K,
    pub(crate) addr: A,
    pub(crate) state: PeerState,
    /// 0 for peers from the local table, d+1 for peers named by a depth-d peer.
    pub(crate) depth: u8,
}

/// What the lookup wants next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<K, A> {
    /// Send a request with id `req` to this peer.
    Contact { key: K, addr: A, req: u64 },
    /// Wait for answers or timeouts.
    Waiting,
    /// Done; collect the result.
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    Iterating { no_progress: usize },
    Stalled,
    Finished,
}

/// Tuning of one lookup.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IterConfig {
    pub(crate) alpha: usize,
    pub(crate) k: usize,
    pub(crate) peer_timeout: Duration,
    /// Farthest not-yet-contacted candidates beyond this many are forgotten.
    pub(crate) max_candidates: usize,
}

/// An iterative lookup of the peers closest to `target`.
#[derive(Clone, Debug)]
pub(crate) struct ClosestPeersIter<K, A> {
    target: K,
    config: IterConfig,
    /// Sorted by distance to the target, closest first; keys unique.
    peers: Vec<Candidate<K, A>>,
    progress: Progress,
    num_waiting: usize,
}

impl<K: KadKey, A: Copy + Ord> ClosestPeersIter<K, A> {
    pub(crate) fn new(
        target: K,
        config: IterConfig,
        seeds: impl IntoIterator<Item = (K, A)>,
    ) -> Self {
        let mut it = ClosestPeersIter {
            target,
            config,
            peers: Vec::new(),
            progress: Progress::Iterating { no_progress: 0 },
            num_waiting: 0,
        };
        for (key, addr) in seeds {
            it.insert(key, addr, 0);
        }
        it
    }

    pub(crate) fn target(&self) -> &K {
        &self.target
    }

    /// Inserts a candidate; returns true if it is new.
    fn insert(&mut self, key: K, addr: A, depth: u8) -> bool {
        let distance = key.distance(&self.target);
        match self.peers.binary_search_by(|c| c.distance.cmp(&distance)) {
            Ok(_) => false,
            Err(pos) => {
                if pos >= self.config.max_candidates {
                    return false;
                }
                self.peers.insert(
                    pos,
                    Candidate {
                        distance,
                        key,
                        addr,
                        state: PeerState::NotContacted,
                        depth,
                    },
                );
                if self.peers.len() > self.config.max_candidates {
                    // forget the farthest candidate nobody has been asked about
                    if let Some(i) = self
                        .peers
                        .iter()
                        .rposition(|c| c.state == PeerState::NotContacted)
                    {
                        self.peers.remove(i);
                    }
                }
                true
            }
        }
    }

    fn find(&mut self, addr: A, req: u64) -> Option<usize> {
        self.peers.iter().position(|c| {
            c.addr == addr
                && matches!(c.state, PeerState::Waiting { req: r, .. } | PeerState::Unresponsive { req: r } if r == req)
        })
    }

    /// True if `(addr, req)` is a request of this lookup still awaiting an answer.
    pub(crate) fn is_awaiting(&self, addr: A, req: u64) -> bool {
        self.peers.iter().any(|c| {
            c.addr == addr
                && matches!(c.state, PeerState::Waiting { req: r, .. } | PeerState::Unresponsive { req: r } if r == req)
        })
    }

    /// The peer at `addr` answered request `req`, naming `closer` peers. Returns the depth
    /// of the answering peer, or `None` if the answer was not expected.
    pub(crate) fn on_success(&mut self, addr: A, req: u64, closer: &[(K, A)]) -> Option<u8> {
        if self.progress == Progress::Finished {
            return None;
        }
        let i = self.find(addr, req)?;
        if matches!(self.peers[i].state, PeerState::Waiting { .. }) {
            self.num_waiting = self.num_waiting.saturating_sub(1);
        }
        self.peers[i].state = PeerState::Succeeded;
        let depth = self.peers[i].depth;
        let mut progress = false;
        let known_before = self.peers.len();
        for (key, addr) in closer {
            if self.insert(*key, *addr, depth.saturating_add(1)) {
                let d = key.distance(&self.target);
                progress |= self.peers.first().map(|c| c.distance) == Some(d)
                    || known_before < self.config.k;
            }
        }
        self.progress = match self.progress {
            Progress::Iterating { no_progress } => {
                let no_progress = if progress { 0 } else { no_progress + 1 };
                if no_progress >= self.config.alpha {
                    Progress::Stalled
                } else {
                    Progress::Iterating { no_progress }
                }
            }
            Progress::Stalled if progress => Progress::Iterating { no_progress: 0 },
            other => other,
        };
        Some(depth)
    }

    /// The peer at `addr` failed request `req` (an error, an invalid answer).
    pub(crate) fn on_failure(&mut self, addr: A, req: u64) {
        if let Some(i) = self.find(addr, req) {
            if matches!(self.peers[i].state, PeerState::Waiting { .. }) {
                self.num_waiting = self.num_waiting.saturating_sub(1);
            }
            self.peers[i].state = PeerState::Failed;
        }
    }

    /// The peer at `addr` is gone: whatever it was asked fails.
    pub(crate) fn fail_addr(&mut self, addr: A) {
        for c in &mut self.peers {
            if c.addr == addr {
                if matches!(c.state, PeerState::Waiting { .. }) {
                    self.num_waiting = self.num_waiting.saturating_sub(1);
                }
                if !matches!(c.state, PeerState::Succeeded) {
                    c.state = PeerState::Failed;
                }
            }
        }
    }

    /// Advances the lookup; call until it returns `Waiting` or `Finished`. `req_ids`
    /// hands out request ids.
    pub(crate) fn next(&mut self, now: Time, req_ids: &mut RequestIds) -> Step<K, A> {
        if self.progress == Progress::Finished {
            return Step::Finished;
        }
        let limit = match self.progress {
            Progress::Stalled => self.config.k,
            _ => self.config.alpha,
        };
        // Expire every overdue request first: the walk below may stop early, and a request
        // left waiting past its deadline would make `next_deadline` ask for a time that has
        // already passed, over and over.
        for c in &mut self.peers {
            if let PeerState::Waiting { deadline, req } = c.state
                && now >= deadline
            {
                c.state = PeerState::Unresponsive { req };
                self.num_waiting = self.num_waiting.saturating_sub(1);
            }
        }
        let mut counting = true;
        let mut succeeded = 0;
        for c in &mut self.peers {
            match c.state {
                PeerState::Waiting { deadline, req } => {
                    if now >= deadline {
                        c.state = PeerState::Unresponsive { req };
                        self.num_waiting = self.num_waiting.saturating_sub(1);
                    } else if self.num_waiting >= limit {
                        return Step::Waiting;
                    } else {
                        counting = false;
                    }
                }
                PeerState::Succeeded => {
                    if counting {
                        succeeded += 1;
                        if succeeded >= self.config.k {
                            self.progress = Progress::Finished;
                            return Step::Finished;
                        }
                    }
                }
                PeerState::NotContacted => {
                    if self.num_waiting >= limit {
                        return Step::Waiting;
                    }
                    let req = req_ids.take();
                    c.state = PeerState::Waiting {
                        deadline: now + self.config.peer_timeout,
                        req,
                    };
                    self.num_waiting += 1;
                    return Step::Contact {
                        key: c.key,
                        addr: c.addr,
                        req,
                    };
                }
                PeerState::Unresponsive { .. } | PeerState::Failed => {}
            }
        }
        if self.num_waiting > 0 {
            Step::Waiting
        } else {
            self.progress = Progress::Finished;
            Step::Finished
        }
    }

    /// Ends the lookup now (a record was found).
    pub(crate) fn finish(&mut self) {
        self.progress = Progress::Finished;
    }

    /// The earliest per-peer deadline of an outstanding request.
    pub(crate) fn next_deadline(&self) -> Option<Time> {
        if self.progress == Progress::Finished {
            return None;
        }
        self.peers
            .iter()
            .filter_map(|c| match c.state {
                PeerState::Waiting { deadline, .. } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// The (at most `k`) closest peers that answered, closest first.
    pub(crate) fn closest_succeeded(&self) -> impl Iterator<Item = &Candidate<K, A>> {
        self.peers
            .iter()
            .filter(|c| c.state == PeerState::Succeeded)
            .take(self.config.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> IterConfig {
        IterConfig {
            alpha: 2,
            k: 2,
            peer_timeout: Duration::from_secs(1),
            max_candidates: 8,
        }
    }

    #[test]
    fn asks_alpha_then_waits_then_finishes() {
        let mut req = RequestIds::new();
        let mut it: ClosestPeersIter<u64, u32> =
            ClosestPeersIter::new(0, cfg(), [(8, 8), (4, 4), (16, 16)]);
        let now = Time::ZERO;
        assert_eq!(
            it.next(now, &mut req),
            Step::Contact {
                key: 4,
                addr: 4,
                req: 0
            }
        );
        assert_eq!(
            it.next(now, &mut req),
            Step::Contact {
                key: 8,
                addr: 8,
                req: 1
            }
        );
        assert_eq!(it.next(now, &mut req), Step::Waiting);
        // 4 names 1, which is closer: progress
        assert_eq!(it.on_success(4, 0, &[(1, 1)]), Some(0));
        assert_eq!(
            it.on_success(4, 0, &[]),
            None,
            "second answer to the same request"
        );
        assert_eq!(
            it.next(now, &mut req),
            Step::Contact {
                key: 1,
                addr: 1,
                req: 2
            }
        );
        assert_eq!(it.on_success(1, 2, &[]), Some(1));
        // the two closest have answered: done, whatever 8 and 16 do
        let later = now + Duration::from_secs(2);
        assert_eq!(it.next(later, &mut req), Step::Finished);
        let got: Vec<u64> = it.closest_succeeded().map(|c| c.key).collect();
        assert_eq!(got, vec![1, 4]);
    }

    #[test]
    fn unresponsive_peer_is_replaced() {
        let mut req = RequestIds::new();
        let mut it: ClosestPeersIter<u64, u32> =
            ClosestPeersIter::new(0, IterConfig { alpha: 1, ..cfg() }, [(8, 8), (4, 4)]);
        assert!(matches!(
            it.next(Time::ZERO, &mut req),
            Step::Contact { key: 4, .. }
        ));
        assert_eq!(it.next(Time::ZERO, &mut req), Step::Waiting);
        assert_eq!(it.next_deadline(), Some(Time::from_millis(1000)));
        let t = Time::from_millis(1000);
        assert!(matches!(it.next(t, &mut req), Step::Contact { key: 8, .. }));
        assert_eq!(it.on_success(8, 1, &[]), Some(0));
        // the late answer of 4 still counts
        assert_eq!(it.on_success(4, 0, &[]), Some(0));
        assert_eq!(it.next(t, &mut req), Step::Finished);
    }

    #[test]
    fn overdue_requests_behind_a_live_one_expire() {
        // 4 is learned late and sits before 8 in distance order; 8's request runs out
        // while 4's is still live. The deadline asked for must never be in the past.
        let mut req = RequestIds::new();
        let mut it: ClosestPeersIter<u64, u32> =
            ClosestPeersIter::new(0, IterConfig { alpha: 2, ..cfg() }, [(8, 8), (16, 16)]);
        assert!(matches!(
            it.next(Time::ZERO, &mut req),
            Step::Contact { key: 8, .. }
        ));
        assert!(matches!(
            it.next(Time::ZERO, &mut req),
            Step::Contact { key: 16, .. }
        ));
        let half = Time::from_millis(500);
        assert_eq!(it.on_success(16, 1, &[(4, 4)]), Some(0));
        assert!(matches!(
            it.next(half, &mut req),
            Step::Contact { key: 4, .. }
        ));
        let now = Time::from_millis(1200);
        assert_eq!(it.next(now, &mut req), Step::Waiting);
        let next = it.next_deadline().expect("4 is still waiting");
        assert!(next > now, "asked for {next} at {now}");
    }
}
