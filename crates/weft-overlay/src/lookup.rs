//! The recursive-lookup tracker that Chord, Pastry and CAN share: the commands, the
//! outcome of a lookup, and the table of lookups in flight with their deadlines.
//!
//! In a recursive lookup the origin sends one request that is forwarded hop by hop until
//! the node responsible for the key answers the origin directly. The origin only has to
//! remember what it asked ([`Pending`]), match the answer by request id
//! ([`Lookups::finish`]), fail what is not answered in time ([`Lookups::expire`]) and refuse
//! new lookups once it has left ([`Lookups::has_left`]).
//!
//! Chord and Pastry also have each forward acknowledged by the next node, so that a silent
//! hop is routed around: a forwarding node watches its forwards ([`Forwards`]) and takes the
//! next node for dead when the acknowledgement does not come in time.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_core::time::Time;

use crate::QueryId;
use crate::kit::{QueryIds, RequestIds};

/// A node of a circular 64-bit key space (Chord, Pastry): its position and how to reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Node<A> {
    /// Its position on the circle (the id, or what the engine maps it to: Pastry's suffix
    /// mode bit-reverses it).
    pub id: u64,
    /// How to reach it.
    pub addr: A,
}

/// A request to a node of a recursive-lookup overlay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<A> {
    /// Find the node responsible for a key (each engine's docs say which node that is).
    Lookup(u64),
    /// Join the network through the live node at this address.
    Join(A),
    /// Leave gracefully: hand over to the neighbours and stop.
    Leave,
}

/// Why a lookup failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No answer before the deadline (a node on the path is gone, or a message was lost).
    #[error("lookup timed out")]
    Timeout,
    /// Too many lookups already in flight.
    #[error("too many lookups in flight")]
    TooManyLookups,
    /// The node has not joined yet (it owns no part of the key space).
    #[error("node has not joined")]
    NotJoined,
    /// The node has left.
    #[error("node has left")]
    Left,
}

/// The outcome of one lookup. `R` names the node found (a `Node` with its position, or a
/// bare address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookupFinished<R> {
    /// The id `handle_command` returned.
    pub id: QueryId,
    /// The key looked up (as the engine routes it).
    pub key: u64,
    /// The node responsible for the key, or why there is none.
    pub result: Result<R, LookupError>,
    /// Times the request was forwarded.
    pub hops: u32,
}

/// The events of an engine built on this tracker, one kind of which reports a finished
/// lookup: drivers and tests read lookups the same way from Chord, Pastry and CAN.
pub trait LookupEvent {
    /// What a lookup finds (a [`Node`], or a bare address).
    type Found;

    /// The finished lookup this event reports, if it is one.
    fn finished_lookup(&self) -> Option<&LookupFinished<Self::Found>>;
}

/// A lookup in flight. `P` is what the engine needs to know about it besides the key (its
/// purpose, a join's retries).
#[derive(Clone, Copy, Debug)]
pub struct Pending<P> {
    /// The id `handle_command` returned.
    pub id: QueryId,
    /// The request id on the wire.
    pub req: u64,
    /// The key.
    pub key: u64,
    /// When it fails unanswered.
    pub deadline: Time,
    /// The engine's own notes.
    pub purpose: P,
}

impl<P> Pending<P> {
    /// The outcome of this lookup, answered: `found` is responsible for the key, reached in
    /// `hops` forwards.
    pub fn answered<R>(&self, found: R, hops: u32) -> LookupFinished<R> {
        LookupFinished {
            id: self.id,
            key: self.key,
            result: Ok(found),
            hops,
        }
    }

    /// The outcome of this lookup, unanswered by its deadline ([`LookupError::Timeout`]).
    pub fn timed_out<R>(&self) -> LookupFinished<R> {
        failed(self.id, self.key, LookupError::Timeout)
    }
}

/// The lookups one node has in flight, at most a set number, in the order they started.
#[derive(Clone, Debug)]
pub struct Lookups<P> {
    pending: Vec<Pending<P>>,
    query_ids: QueryIds,
    max: usize,
    left: bool,
}

impl<P: Copy> Lookups<P> {
    /// No lookup in flight; at most `max` at once.
    pub fn new(max: usize) -> Self {
        Lookups {
            pending: Vec::new(),
            query_ids: QueryIds::new(),
            max,
            left: false,
        }
    }

    /// Starts a lookup of `key` that fails at `now + timeout`, its request id taken from
    /// `req_ids`. When too many are in flight it is refused: the error carries its id.
    ///
    /// # Errors
    /// [`LookupError::TooManyLookups`], as the finished lookup to report.
    pub fn open<R>(
        &mut self,
        now: Time,
        key: u64,
        timeout: Duration,
        purpose: P,
        req_ids: &mut RequestIds,
    ) -> Result<Pending<P>, LookupFinished<R>> {
        let id = self.query_ids.take();
        if self.pending.len() >= self.max {
            return Err(failed(id, key, LookupError::TooManyLookups));
        }
        let p = Pending {
            id,
            req: req_ids.take(),
            key,
            deadline: now + timeout,
            purpose,
        };
        self.pending.push(p);
        Ok(p)
    }

    /// A lookup refused before it started (the node has left, or has not joined): its id
    /// and the outcome to report.
    pub fn refuse<R>(&mut self, key: u64, error: LookupError) -> LookupFinished<R> {
        failed(self.query_ids.take(), key, error)
    }

    /// Puts a lookup back in flight until `deadline` (a join asked again).
    pub fn reopen(&mut self, p: Pending<P>, deadline: Time) {
        self.pending.push(Pending { deadline, ..p });
    }

    /// The lookup answered by request `req`, if one is in flight and `is` accepts its
    /// purpose; it is no longer in flight.
    pub fn finish(&mut self, req: u64, is: impl Fn(&P) -> bool) -> Option<Pending<P>> {
        let i = self
            .pending
            .iter()
            .position(|l| l.req == req && is(&l.purpose))?;
        Some(self.pending.remove(i))
    }

    /// True if request `req` is in flight with a purpose `is` accepts.
    pub fn is_open(&self, req: u64, is: impl Fn(&P) -> bool) -> bool {
        self.pending.iter().any(|l| l.req == req && is(&l.purpose))
    }

    /// The timeout sweep: every lookup whose deadline has passed at `now`, in the order they
    /// started; they are no longer in flight.
    pub fn expire(&mut self, now: Time) -> Vec<Pending<P>> {
        self.pending.extract_if(.., |l| now >= l.deadline).collect()
    }

    /// The earliest deadline in flight.
    pub fn next_deadline(&self) -> Option<Time> {
        self.pending.iter().map(|l| l.deadline).min()
    }

    /// Lookups in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when none is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The node leaves: every lookup in flight is dropped unanswered and later ones are
    /// refused (the "has left" guard the engines check first).
    pub fn leave(&mut self) {
        self.left = true;
        self.pending.clear();
    }

    /// Drops every lookup in flight unanswered (the node stays).
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// The "has left" guard, checked first by `handle_command`: `None` while the node is
    /// in. Once it has left, no command is carried out: `Some(None)` for a join or leave,
    /// `Some(Some(finished))` for a lookup, answered at once with [`LookupError::Left`].
    pub fn after_leaving<A, R>(&mut self, cmd: &Command<A>) -> Option<Option<LookupFinished<R>>> {
        if !self.left {
            return None;
        }
        Some(match cmd {
            Command::Lookup(key) => Some(self.refuse(*key, LookupError::Left)),
            Command::Join(_) | Command::Leave => None,
        })
    }

    /// True once [`Lookups::leave`] was called.
    pub fn has_left(&self) -> bool {
        self.left
    }
}

/// A request this node forwarded, awaiting the next node's acknowledgement. `X` is what the
/// engine needs besides the route to send it again (Pastry: whether it is a join).
#[derive(Clone, Copy, Debug)]
pub struct Forward<A, X> {
    /// The node the request is for.
    pub origin: Node<A>,
    /// The origin's request id.
    pub req: u64,
    /// The key.
    pub key: u64,
    /// Forwards before this one.
    pub hops: u32,
    /// The node it was forwarded to.
    pub next: Node<A>,
    /// When the next node is taken for dead unacknowledged.
    pub deadline: Time,
    /// Re-routes of this request by this node so far.
    pub retries: u32,
    /// The engine's own notes.
    pub extra: X,
}

/// The forwards one node watches, at most a set number (further forwards go unwatched), and
/// how many went unacknowledged over the node's life.
#[derive(Clone, Debug)]
pub struct Forwards<A, X> {
    watched: Vec<Forward<A, X>>,
    max: usize,
    timeouts: u64,
}

impl<A: Copy + PartialEq, X> Forwards<A, X> {
    /// None watched; at most `max` at once.
    pub fn new(max: usize) -> Self {
        Forwards {
            watched: Vec::new(),
            max,
            timeouts: 0,
        }
    }

    /// Watches `forward` for its acknowledgement, unless `max` are watched already.
    pub fn watch(&mut self, forward: Forward<A, X>) {
        if self.watched.len() < self.max {
            self.watched.push(forward);
        }
    }

    /// The acknowledgement from `from` of the forward of request `req` for the origin at
    /// position `origin`: that forward is no longer watched.
    pub fn acknowledged(&mut self, req: u64, origin: u64, from: A) {
        if let Some(i) = self
            .watched
            .iter()
            .position(|f| f.req == req && f.origin.id == origin && f.next.addr == from)
        {
            self.watched.swap_remove(i);
        }
    }

    /// Every forward whose deadline has passed at `now` unacknowledged, in the order they
    /// were watched; they are no longer watched, and count as timeouts.
    pub fn expire(&mut self, now: Time) -> Vec<Forward<A, X>> {
        let late: Vec<Forward<A, X>> = self.watched.extract_if(.., |f| now >= f.deadline).collect();
        self.timeouts += late.len() as u64;
        late
    }

    /// The earliest deadline watched.
    pub fn next_deadline(&self) -> Option<Time> {
        self.watched.iter().map(|f| f.deadline).min()
    }

    /// Forwards that went unacknowledged past their deadline, over the node's life.
    pub fn timeouts(&self) -> u64 {
        self.timeouts
    }

    /// Stops watching every forward (the node leaves); the count of timeouts stays.
    pub fn clear(&mut self) {
        self.watched.clear();
    }
}

fn failed<R>(id: QueryId, key: u64, error: LookupError) -> LookupFinished<R> {
    LookupFinished {
        id,
        key,
        result: Err(error),
        hops: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_acknowledged_or_expired() {
        let t0 = Time::ZERO;
        let sec = Duration::from_secs(1);
        let node = |id: u64| Node {
            id,
            addr: id as u32,
        };
        let forward = |req: u64, next: u64, deadline: Time| Forward {
            origin: node(1),
            req,
            key: 9,
            hops: 0,
            next: node(next),
            deadline,
            retries: 0,
            extra: (),
        };
        let mut f = Forwards::new(2);
        f.watch(forward(1, 2, t0 + sec));
        f.watch(forward(2, 3, t0 + 2 * sec));
        f.watch(forward(3, 4, t0));
        assert_eq!(
            f.next_deadline(),
            Some(t0 + sec),
            "the third went unwatched"
        );
        f.acknowledged(1, 1, 3);
        f.acknowledged(1, 7, 2);
        assert_eq!(f.next_deadline(), Some(t0 + sec), "wrong sender or origin");
        f.acknowledged(1, 1, 2);
        assert_eq!(f.next_deadline(), Some(t0 + 2 * sec));
        assert!(f.expire(t0 + sec).is_empty());
        let late = f.expire(t0 + 2 * sec);
        assert_eq!((late.len(), late[0].req, f.timeouts()), (1, 2, 1));
        f.watch(forward(4, 2, t0));
        f.clear();
        assert_eq!((f.next_deadline(), f.timeouts()), (None, 1));
    }

    #[test]
    fn open_finish_expire_leave() {
        let t0 = Time::ZERO;
        let sec = Duration::from_secs(1);
        let mut reqs = RequestIds::new();
        let mut l: Lookups<bool> = Lookups::new(2);
        let a = l.open::<()>(t0, 10, sec, true, &mut reqs).unwrap();
        let b = l.open::<()>(t0, 11, 2 * sec, false, &mut reqs).unwrap();
        let refused = l.open::<()>(t0, 12, sec, true, &mut reqs).unwrap_err();
        assert_eq!(refused.result, Err(LookupError::TooManyLookups));
        assert_eq!(
            (a.id, b.id, refused.id),
            (QueryId(0), QueryId(1), QueryId(2))
        );
        assert_eq!(l.next_deadline(), Some(t0 + sec));
        assert!(l.finish(b.req, |p| *p).is_none(), "purpose checked");
        assert!(l.is_open(b.req, |p| !*p));
        let expired = l.expire(t0 + sec);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].key, 10);
        let timed_out = expired[0].timed_out::<()>();
        assert_eq!((timed_out.id, timed_out.key), (a.id, 10));
        assert_eq!(
            (timed_out.result, timed_out.hops),
            (Err(LookupError::Timeout), 0)
        );
        let answered = b.answered(7u8, 3);
        assert_eq!(
            (answered.id, answered.result, answered.hops),
            (b.id, Ok(7), 3)
        );
        assert_eq!(l.finish(b.req, |p| !*p).map(|p| p.key), Some(11));
        assert!(l.is_empty());
        l.reopen(a, t0 + 3 * sec);
        assert_eq!(l.next_deadline(), Some(t0 + 3 * sec));
        assert!(l.after_leaving::<u32, ()>(&Command::Lookup(1)).is_none());
        l.leave();
        assert!(l.has_left() && l.is_empty());
        assert_eq!(l.after_leaving::<u32, ()>(&Command::Join(5)), Some(None));
        let f = l
            .after_leaving::<u32, ()>(&Command::Lookup(1))
            .flatten()
            .unwrap();
        assert_eq!((f.id, f.result), (QueryId(3), Err(LookupError::Left)));
    }
}
