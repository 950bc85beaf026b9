//! The lender's engine: while it has idle slots it asks the coordinators it knows for work
//! (BOINC's pull model), one coordinator at a time, and backs off from a coordinator that had
//! nothing to give. It decides whom it computes for and how much of its CPU each gets.
//!
//! Sans-IO: the driver sends what [`Worker::poll_transmit`] yields, tells the engine what came
//! back ([`Worker::handle_offers`], [`Worker::handle_ask_failed`]) and when a unit ends
//! ([`Worker::handle_finished_for`]), and re-arms one timer from [`Worker::poll_timeout`].
//!
//! # Whom a worker computes for ([`Policy`])
//!
//! A coordinator is the node that submitted the job, so "submitter" and "coordinator" are the
//! same peer here.
//!
//! * **Who:** [`Accept::Anyone`] or [`Accept::Only`] a set of peers (the node passes its
//!   contacts, or a list from its settings: contacts are a node concept). A peer outside the
//!   set is never asked for work, and its offers are refused; both are counted.
//! * **How much:** each submitter may hold at most its *share* of the lent slots at once
//!   (never fewer than one slot, unless refused). The share is strict: a lone submitter does
//!   not get the whole machine by default, so a second one always finds room. Among
//!   submitters with room the engine asks the one holding the smallest part of its share
//!   first, so shares fill evenly. Jobs of one submitter take turns at its coordinator.
//! * **Standing:** what the driver knows of a submitter as a worker for this node's own jobs
//!   ([`SubmitterStanding`]): validated work it gave back raises its share from
//!   [`Policy::base_share_percent`] towards [`Policy::max_share_percent`] in proportion to
//!   what it gave back over what this worker lent it; every wrong result it returned (a unit
//!   this node had to have recomputed) halves the share, and at [`Policy::refuse_after_wrong`]
//!   it is refused.
//! * **Sizes:** [`UnitBounds`] on module, input and output size, memory and wall-clock time
//!   of one unit, for every submitter (with per-peer overrides). A unit over them is refused
//!   and given back (`GaveUp::Refused`), so its coordinator issues it elsewhere at once.
//!
//! Every refusal is counted per submitter ([`Refusals`]); with what ran for whom and for how
//! long ([`Lent`]), that is what `weft compute lent` shows.
//!
//! **Defaults** ([`Policy::default`]), chosen for a laptop lent to strangers: anyone; half the
//! lent slots per submitter (all of them for a peer that computed as much for us as we did for
//! it); units of at most 4 MiB of module, 1 MiB of input, 256 KiB of output, 256 MiB of
//! memory and 10 minutes of wall-clock time; a submitter refused after 3 wrong results.
//! [`Worker::new`] keeps the first slice's behaviour (anyone, every slot, the protocol's own
//! caps) for drivers that do not pass a policy yet.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use weft_core::time::Time;

use crate::job::{MAX_INPUT_BYTES, MAX_MEMORY_BYTES, MAX_MODULE_BYTES, MAX_OUTPUT_BYTES};
use crate::wire::Offer;

/// First wait before asking again a coordinator that had no work.
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait before asking again a coordinator that had no work.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whom a worker computes for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accept<P> {
    /// Any peer that speaks `/weft/compute/1`.
    Anyone,
    /// Only these peers (the node's contacts, or a list).
    Only(BTreeSet<P>),
}

/// What one unit may ask of this worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitBounds {
    /// Largest module, in bytes.
    pub module_bytes: u64,
    /// Largest input, in bytes.
    pub input_bytes: u64,
    /// Largest output limit, in bytes.
    pub output_bytes: u32,
    /// Largest memory limit, in bytes.
    pub memory_bytes: u64,
    /// Longest wall-clock limit, in milliseconds.
    pub wall_ms: u64,
}

impl UnitBounds {
    /// The protocol's own caps: anything a valid job may ask.
    pub const PROTOCOL: UnitBounds = UnitBounds {
        module_bytes: MAX_MODULE_BYTES,
        input_bytes: MAX_INPUT_BYTES,
        output_bytes: MAX_OUTPUT_BYTES,
        memory_bytes: MAX_MEMORY_BYTES,
        wall_ms: u64::MAX,
    };

    /// Which bound `offer` breaks, if any.
    pub fn breaks(&self, offer: &Offer) -> Option<&'static str> {
        if offer.module_size > self.module_bytes {
            Some("module")
        } else if offer.input_size > self.input_bytes {
            Some("input")
        } else if offer.limits.output_bytes > self.output_bytes {
            Some("output")
        } else if offer.limits.memory_bytes > self.memory_bytes {
            Some("memory")
        } else if offer.limits.wall_ms > self.wall_ms {
            Some("wall-clock")
        } else {
            None
        }
    }
}

impl Default for UnitBounds {
    fn default() -> Self {
        UnitBounds {
            module_bytes: 4 << 20,
            input_bytes: 1 << 20,
            output_bytes: 256 << 10,
            memory_bytes: 256 << 20,
            wall_ms: 10 * 60 * 1000,
        }
    }
}

/// A worker's rules: whom it computes for, how much of its CPU each gets, what a unit may ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy<P> {
    /// Who may have work done here.
    pub accept: Accept<P>,
    /// Share of the lent slots one submitter may hold at first, in percent (1..=100).
    pub base_share_percent: u32,
    /// Share a submitter reaches by giving back as much validated work as it was lent.
    pub max_share_percent: u32,
    /// Wrong results after which a submitter is refused.
    pub refuse_after_wrong: u32,
    /// Bounds on every submitter's units.
    pub bounds: UnitBounds,
    /// Bounds for particular submitters, in place of `bounds`.
    pub bounds_for: BTreeMap<P, UnitBounds>,
}

impl<P> Default for Policy<P> {
    fn default() -> Self {
        Policy {
            accept: Accept::Anyone,
            base_share_percent: 50,
            max_share_percent: 100,
            refuse_after_wrong: 3,
            bounds: UnitBounds::default(),
            bounds_for: BTreeMap::new(),
        }
    }
}

impl<P> Policy<P> {
    /// Anyone, every slot, the protocol's caps: the first slice's behaviour.
    pub fn unrestricted() -> Self {
        Policy {
            accept: Accept::Anyone,
            base_share_percent: 100,
            max_share_percent: 100,
            refuse_after_wrong: u32::MAX,
            bounds: UnitBounds::PROTOCOL,
            bounds_for: BTreeMap::new(),
        }
    }
}

/// What this node knows of a submitter as a worker for its own jobs (the driver takes it from
/// its coordinator's [`crate::coordinator::Standing`] of that peer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubmitterStanding {
    /// Validated fuel the peer computed for this node.
    pub given_back: u64,
    /// Wrong results it returned to this node's jobs (units that had to be recomputed).
    pub wrong: u32,
}

/// Refusals of one submitter, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refusals {
    /// Not in the accepted set.
    pub not_allowed: u32,
    /// Refused for its wrong results.
    pub standing: u32,
    /// Units beyond its share or beyond what was asked.
    pub over_share: u32,
    /// Units over a size or time bound.
    pub too_large: u32,
}

impl Refusals {
    /// All refusals.
    pub fn total(&self) -> u32 {
        self.not_allowed + self.standing + self.over_share + self.too_large
    }
}

/// Why an offered unit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The submitter is not in the accepted set.
    #[error("this worker does not compute for that peer")]
    NotAllowed,
    /// The submitter returned too many wrong results.
    #[error("refused for its wrong results")]
    Standing,
    /// Beyond the submitter's share, or more units than asked for.
    #[error("beyond the submitter's share of this worker")]
    OverShare,
    /// A bound broken (module, input, output, memory, wall-clock).
    #[error("the unit's {0} is over this worker's bound")]
    TooLarge(&'static str),
}

/// What this worker lent one submitter: for `weft compute lent`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lent {
    /// Units held now.
    pub running: u32,
    /// Units that ran to an end here.
    pub units: u64,
    /// Fuel they used.
    pub fuel: u64,
    /// Wall-clock milliseconds they took.
    pub wall_ms: u64,
    /// What was refused.
    pub refused: Refusals,
    /// What the driver said of the submitter.
    pub standing: SubmitterStanding,
}

/// How one unit ended here, for the ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    /// Fuel it used (0 if it did not run).
    pub fuel: u64,
    /// Wall-clock milliseconds it took.
    pub wall_ms: u64,
}

#[derive(Clone, Debug)]
struct Source {
    next_ask: Time,
    backoff: Duration,
    /// Slots reserved for an ask in flight.
    asking: u32,
}

/// The worker engine.
#[derive(Clone, Debug)]
pub struct Worker<P> {
    slots: u32,
    running: u32,
    policy: Policy<P>,
    sources: BTreeMap<P, Source>,
    lent: BTreeMap<P, Lent>,
    transmit: VecDeque<(P, u32)>,
}

impl<P: Ord + Clone> Worker<P> {
    /// A worker lending `slots` cores to anyone, every slot to one submitter if it asks, with
    /// the protocol's caps ([`Policy::unrestricted`]).
    pub fn new(slots: u32) -> Self {
        Self::with_policy(slots, Policy::unrestricted())
    }

    /// A worker lending `slots` cores under `policy`.
    pub fn with_policy(slots: u32, policy: Policy<P>) -> Self {
        Worker {
            slots,
            running: 0,
            policy,
            sources: BTreeMap::new(),
            lent: BTreeMap::new(),
            transmit: VecDeque::new(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy<P> {
        &self.policy
    }

    /// Replaces the policy; coordinators it no longer accepts are dropped (their running
    /// units finish).
    pub fn set_policy(&mut self, policy: Policy<P>) {
        self.policy = policy;
        let refused: Vec<P> = self
            .sources
            .keys()
            .filter(|p| self.refusal(p).is_some())
            .cloned()
            .collect();
        for p in refused {
            self.sources.remove(&p);
        }
    }

    /// Tells the engine what this node knows of `peer` as a worker (see [`SubmitterStanding`]).
    pub fn set_standing(&mut self, peer: P, standing: SubmitterStanding) {
        self.lent.entry(peer.clone()).or_default().standing = standing;
        if self.refusal(&peer).is_some() {
            self.sources.remove(&peer);
        }
    }

    /// Units running now.
    pub fn running(&self) -> u32 {
        self.running
    }

    /// Slots neither running a unit nor reserved by an ask in flight.
    pub fn idle(&self) -> u32 {
        let asking: u32 = self.sources.values().map(|s| s.asking).sum();
        self.slots.saturating_sub(self.running + asking)
    }

    /// What ran for whom, and what was refused.
    pub fn ledger(&self) -> impl Iterator<Item = (&P, &Lent)> {
        self.lent.iter()
    }

    /// One submitter's ledger entry.
    pub fn lent(&self, peer: &P) -> Lent {
        self.lent.get(peer).copied().unwrap_or_default()
    }

    fn refusal(&self, peer: &P) -> Option<Refusal> {
        if let Accept::Only(set) = &self.policy.accept
            && !set.contains(peer)
        {
            return Some(Refusal::NotAllowed);
        }
        let wrong = self.lent.get(peer).map_or(0, |l| l.standing.wrong);
        (wrong >= self.policy.refuse_after_wrong).then_some(Refusal::Standing)
    }

    /// The share of the lent slots `peer` may hold, in percent, from its standing.
    pub fn share_percent(&self, peer: &P) -> u32 {
        if self.refusal(peer).is_some() {
            return 0;
        }
        let p = &self.policy;
        let base = p.base_share_percent.clamp(1, 100);
        let max = p.max_share_percent.clamp(base, 100);
        let l = self.lent.get(peer).copied().unwrap_or_default();
        let given = u128::from(l.standing.given_back);
        let lent = u128::from(l.fuel.max(1));
        let earned = u128::from(max - base) * given.min(lent) / lent;
        let pct = u128::from(base) + earned;
        let halved = pct >> l.standing.wrong.min(32);
        u32::try_from(halved).unwrap_or(100).max(1)
    }

    /// Most units `peer` may hold at once: its share of the lent slots, at least one.
    pub fn cap(&self, peer: &P) -> u32 {
        let pct = self.share_percent(peer);
        if pct == 0 {
            return 0;
        }
        let cap = (u64::from(self.slots) * u64::from(pct)).div_ceil(100);
        u32::try_from(cap).unwrap_or(u32::MAX).max(1)
    }

    fn room(&self, peer: &P) -> u32 {
        self.cap(peer)
            .saturating_sub(self.lent.get(peer).map_or(0, |l| l.running))
    }

    fn count(&mut self, peer: &P, why: Refusal) {
        let r = &mut self.lent.entry(peer.clone()).or_default().refused;
        match why {
            Refusal::NotAllowed => r.not_allowed += 1,
            Refusal::Standing => r.standing += 1,
            Refusal::OverShare => r.over_share += 1,
            Refusal::TooLarge(_) => r.too_large += 1,
        }
    }

    /// A peer that may have work (it speaks `/weft/compute/1`). Returns false, and counts the
    /// refusal, if the policy does not accept it.
    pub fn add_coordinator(&mut self, now: Time, peer: P) -> bool {
        if let Some(why) = self.refusal(&peer) {
            self.count(&peer, why);
            return false;
        }
        self.sources.entry(peer).or_insert(Source {
            next_ask: now,
            backoff: MIN_BACKOFF,
            asking: 0,
        });
        true
    }

    /// A peer that went away.
    pub fn remove_coordinator(&mut self, peer: &P) {
        self.sources.remove(peer);
    }

    /// A coordinator answered an ask with `offers`: returns, in order, whether each is taken.
    /// Taken units are running from now on (report each end with
    /// [`Worker::handle_finished_for`]); the driver gives each refused one back
    /// (`Report::GaveUp(GaveUp::Refused)`) so its coordinator issues it elsewhere.
    pub fn handle_offers(
        &mut self,
        now: Time,
        from: &P,
        offers: &[Offer],
    ) -> Vec<Result<(), Refusal>> {
        let asked = self
            .sources
            .get_mut(from)
            .map_or(0, |s| std::mem::take(&mut s.asking));
        let refusal = self.refusal(from);
        let bounds = *self
            .policy
            .bounds_for
            .get(from)
            .unwrap_or(&self.policy.bounds);
        let mut room = self.room(from).min(asked);
        let mut verdicts = Vec::with_capacity(offers.len());
        let mut taken = 0;
        for offer in offers {
            let verdict = if let Some(why) = refusal {
                Err(why)
            } else if let Some(what) = bounds.breaks(offer) {
                Err(Refusal::TooLarge(what))
            } else if room == 0 {
                Err(Refusal::OverShare)
            } else {
                room -= 1;
                taken += 1;
                Ok(())
            };
            if let Err(why) = verdict {
                self.count(from, why);
            }
            verdicts.push(verdict);
        }
        self.lent.entry(from.clone()).or_default().running += taken;
        self.running += taken;
        self.after_answer(now, from, taken);
        verdicts
    }

    /// A coordinator answered an ask with `given` units (which are now running), without the
    /// policy's checks: the first slice's call, kept for drivers that do not check offers yet.
    pub fn handle_offer(&mut self, now: Time, from: &P, given: u32) {
        let asked = self
            .sources
            .get_mut(from)
            .map_or(given, |s| std::mem::take(&mut s.asking));
        // units a coordinator gave after it left still run
        let taken = if self.sources.contains_key(from) {
            given.min(asked)
        } else {
            given
        };
        self.lent.entry(from.clone()).or_default().running += taken;
        self.running += taken;
        self.after_answer(now, from, taken);
    }

    fn after_answer(&mut self, now: Time, from: &P, taken: u32) {
        if let Some(s) = self.sources.get_mut(from) {
            if taken == 0 {
                s.next_ask = now + s.backoff;
                s.backoff = (s.backoff * 2).min(MAX_BACKOFF);
            } else {
                s.next_ask = now;
                s.backoff = MIN_BACKOFF;
            }
        }
        self.handle_timeout(now);
    }

    /// An ask could not be sent or answered.
    pub fn handle_ask_failed(&mut self, now: Time, from: &P) {
        if let Some(s) = self.sources.get_mut(from) {
            s.asking = 0;
        }
        self.after_answer(now, from, 0);
    }

    /// A unit of `from` ended (reported or given back), having used `ran`.
    pub fn handle_finished_for(&mut self, now: Time, from: &P, ran: Ran) {
        let l = self.lent.entry(from.clone()).or_default();
        if l.running > 0 {
            l.running -= 1;
            self.running = self.running.saturating_sub(1);
        }
        l.units += 1;
        l.fuel = l.fuel.saturating_add(ran.fuel);
        l.wall_ms = l.wall_ms.saturating_add(ran.wall_ms);
        self.handle_timeout(now);
    }

    /// A unit ended, whose submitter the driver does not say (the first slice's call): the
    /// slot is freed and charged to the first submitter holding one.
    pub fn handle_finished(&mut self, now: Time) {
        self.running = self.running.saturating_sub(1);
        if let Some(l) = self.lent.values_mut().find(|l| l.running > 0) {
            l.running -= 1;
        }
        self.handle_timeout(now);
    }

    /// Asks the due coordinator holding the smallest part of its share, for the idle slots
    /// within its room.
    pub fn handle_timeout(&mut self, now: Time) {
        let idle = self.idle();
        if idle == 0 || self.sources.values().any(|s| s.asking > 0) {
            return;
        }
        let mut best: Option<(u64, Time, &P, u32)> = None;
        for (peer, s) in &self.sources {
            let room = self.room(peer);
            if s.next_ask > now || room == 0 {
                continue;
            }
            let held = self.lent.get(peer).map_or(0, |l| l.running);
            // the part of its cap it holds, in millionths: lowest first, then the longest due
            let part = u64::from(held) * 1_000_000 / u64::from(self.cap(peer).max(1));
            if best.is_none_or(|(bp, bt, _, _)| (part, s.next_ask) < (bp, bt)) {
                best = Some((part, s.next_ask, peer, room));
            }
        }
        if let Some((_, _, peer, room)) = best {
            let peer = peer.clone();
            let n = idle.min(room);
            if let Some(s) = self.sources.get_mut(&peer) {
                s.asking = n;
            }
            self.transmit.push_back((peer, n));
        }
    }

    /// The next ask to send: `(coordinator, slots)`.
    pub fn poll_transmit(&mut self) -> Option<(P, u32)> {
        self.transmit.pop_front()
    }

    /// When to call [`Worker::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.idle() == 0 || self.sources.values().any(|s| s.asking > 0) {
            return None;
        }
        self.sources
            .iter()
            .filter(|(p, _)| self.room(p) > 0)
            .map(|(_, s)| s.next_ask)
            .min()
    }
}

#[cfg(test)]
mod tests;
