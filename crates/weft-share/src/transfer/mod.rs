//! The transfer planner: which piece of a download to ask of which source, and what to make of
//! the answers. Sans-IO: it never reads a clock or touches a socket; the driver passes `now`
//! into every call.
//!
//! A [`Plan`] covers one download of content `hash` of `size` bytes, split into pieces of
//! [`Config::piece_bytes`] (aligned to chunk groups, so each piece is verified on its own with
//! [`crate::verify::decode_range`]). The driver's loop:
//!
//! 1. [`Plan::add_source`] for every provider it learns of, [`Plan::remove_source`] when one
//!    disconnects;
//! 2. [`Plan::next_requests`] → send each [`Request`] (at most [`Config::window_per_source`] per
//!    source in flight, lowest pieces first; once every piece is asked for, idle sources
//!    duplicate the slowest requests — the endgame);
//! 3. on each answer, verify the slice and call [`Plan::on_piece`]: on
//!    [`PieceOutcome::Write`] write the bytes at the range's start, sync, then persist
//!    [`Plan::resume_state`] (data first, so a crash never marks unwritten data verified), and
//!    cancel the listed duplicates; a corrupt piece earns the source a strike and, at
//!    [`Config::strikes_to_ban`], a ban of [`Config::ban_duration`];
//! 4. when [`Plan::poll_timeout`] passes, call [`Plan::on_timeout`]: requests past their
//!    deadline go back to the pool (their source is dropped after
//!    [`Config::timeouts_to_drop`] timeouts in a row);
//! 5. stop when [`Plan::is_complete`], then check the whole file's hash.
//!
//! Pieces go back to the pool whenever a request fails, so every piece is written exactly once
//! no matter the order of events, and a peer only earns strikes for data that failed
//! verification, so an honest peer is never banned.
//!
//! ```
//! use weft_core::{id::Key256, time::Time};
//! use weft_share::transfer::{Config, Plan, PieceOutcome};
//! let mut plan = Plan::new(Key256::hash(b"x"), 3 << 20, Config::default()).unwrap();
//! plan.add_source(Time::ZERO, "alice");
//! let requests = plan.next_requests(Time::ZERO);
//! assert_eq!(requests.len(), 3); // three 1 MiB pieces, all to alice
//! for r in &requests {
//!     let out = plan.on_piece(Time::from_millis(100), &r.peer, r.piece, Ok(()));
//!     assert!(matches!(out, PieceOutcome::Write { .. }));
//! }
//! assert!(plan.is_complete());
//! ```

mod resume;
mod sources;

pub use sources::{Broken, Found, SourcePolicy};

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Range;
use std::time::Duration;

use weft_core::id::Key256;
use weft_core::time::Time;

use crate::verify::GROUP_BYTES;

pub use resume::{ResumeError, ResumeState};

/// Index of a piece in a download.
pub type PieceIndex = u32;

/// Tuning of a [`Plan`]. Every field has a sensible default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Bytes per piece; rounded up to a multiple of [`GROUP_BYTES`]. Default 1 MiB.
    pub piece_bytes: u64,
    /// Requests in flight per source. Default 4.
    pub window_per_source: usize,
    /// Requests in flight over all sources together (bounds the memory of slices on their way
    /// to the disk). Default 8.
    pub max_in_flight: usize,
    /// Time a source has to answer a request. Default 20 s.
    pub request_timeout: Duration,
    /// Timeouts in a row after which a source is dropped as vanished. Default 3.
    pub timeouts_to_drop: u32,
    /// Verification failures after which a source is banned. Default 2.
    pub strikes_to_ban: u32,
    /// How long a ban lasts. Default 10 minutes.
    pub ban_duration: Duration,
    /// How long to leave a busy source alone (no free upload slot). Default 2 s.
    pub busy_backoff: Duration,
    /// Requests allowed in flight for one piece in the endgame (1 disables duplicates).
    /// Default 2.
    pub endgame_duplicates: usize,
    /// Sources a plan tracks at most; further ones are refused. Default 64.
    pub max_sources: usize,
    /// Span of the rate estimate. Default 5 s.
    pub rate_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            piece_bytes: 1 << 20,
            window_per_source: 4,
            max_in_flight: 8,
            request_timeout: Duration::from_secs(20),
            timeouts_to_drop: 3,
            strikes_to_ban: 2,
            ban_duration: Duration::from_secs(600),
            busy_backoff: Duration::from_secs(2),
            endgame_duplicates: 2,
            max_sources: 64,
            rate_window: Duration::from_secs(5),
        }
    }
}

impl Config {
    fn normalized(mut self) -> Self {
        self.piece_bytes = self.piece_bytes.max(1).div_ceil(GROUP_BYTES) * GROUP_BYTES;
        self.window_per_source = self.window_per_source.max(1);
        self.max_in_flight = self.max_in_flight.max(1);
        self.timeouts_to_drop = self.timeouts_to_drop.max(1);
        self.strikes_to_ban = self.strikes_to_ban.max(1);
        self.endgame_duplicates = self.endgame_duplicates.max(1);
        self.max_sources = self.max_sources.max(1);
        self
    }
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// More pieces than a plan can count.
    #[error("content of {size} bytes needs more than 2^32 pieces")]
    TooLarge {
        /// The content size.
        size: u64,
    },
    /// The resume state does not fit this download.
    #[error(transparent)]
    Resume(#[from] ResumeError),
}

/// One request for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<P> {
    /// The source to ask.
    pub peer: P,
    /// The piece.
    pub piece: PieceIndex,
    /// The piece's byte range in the content.
    pub range: Range<u64>,
}

/// How a request failed, as the driver saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceError {
    /// The slice did not verify against the hash: a strike against the source.
    Corrupt,
    /// The source has no free upload slot: left alone for [`Config::busy_backoff`].
    Busy,
    /// The source does not have the content (or refused it): dropped as a source.
    NotFound,
    /// The stream broke before the slice was complete: the piece is asked elsewhere.
    Interrupted,
}

/// What the driver does with an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PieceOutcome<P> {
    /// The piece is new: write the verified bytes at `range.start`, then cancel the duplicate
    /// requests for the same piece still in flight to `cancel`.
    Write {
        /// The piece's byte range.
        range: Range<u64>,
        /// Peers with a duplicate request for this piece, now withdrawn.
        cancel: Vec<P>,
    },
    /// The piece was already verified (an endgame duplicate, a late answer) or unknown:
    /// discard the bytes.
    Discard,
    /// The failure is recorded; the piece goes back to the pool.
    Failed,
    /// The failure got the source banned: its other requests are withdrawn (listed).
    Banned {
        /// Pieces that were in flight to the banned source.
        withdrawn: Vec<PieceIndex>,
    },
}

/// Whether a source was taken on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddSource {
    /// The source is in the plan (newly or already).
    Added,
    /// The source is banned until the given time.
    Banned(Time),
    /// The plan tracks [`Config::max_sources`] sources already.
    Full,
}

/// A snapshot of a download's progress.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Bytes verified so far.
    pub bytes_verified: u64,
    /// The content size.
    pub size: u64,
    /// Pieces verified.
    pub pieces_verified: u32,
    /// Pieces in all.
    pub pieces: u32,
    /// Sources that may be asked now or soon (not banned).
    pub sources: usize,
    /// Sources banned.
    pub banned: usize,
    /// Requests in flight.
    pub in_flight: usize,
    /// Bytes per second verified over [`Config::rate_window`].
    pub rate: f64,
    /// Estimated time to completion at `rate`, if there is a rate.
    pub eta: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SourceState {
    Active,
    Busy { until: Time },
    Banned { until: Time },
}

#[derive(Clone, Debug)]
struct Source {
    state: SourceState,
    in_flight: usize,
    strikes: u32,
    timeouts: u32,
    /// Bytes this source delivered (verified).
    delivered: u64,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    deadline: Time,
}

/// The plan of one download. See the [module docs](self) for the call order.
#[derive(Debug)]
pub struct Plan<P> {
    hash: Key256,
    size: u64,
    config: Config,
    pieces: u32,
    verified: ResumeState,
    /// Pieces neither verified nor requested, asked for lowest first.
    pool: BTreeSet<PieceIndex>,
    /// Requests in flight, by piece then peer (no empty inner maps).
    requests: BTreeMap<PieceIndex, BTreeMap<P, InFlight>>,
    sources: BTreeMap<P, Source>,
    /// (time, bytes) of recent verified pieces, for the rate.
    samples: VecDeque<(Time, u64)>,
    started: Option<Time>,
    bytes_verified: u64,
}

const MAX_SAMPLES: usize = 256;

impl<P: Ord + Clone> Plan<P> {
    /// A fresh plan: nothing verified.
    ///
    /// # Errors
    /// [`PlanError::TooLarge`] if the content needs more than `u32::MAX` pieces.
    pub fn new(hash: Key256, size: u64, config: Config) -> Result<Self, PlanError> {
        let config = config.normalized();
        let pieces = u32::try_from(size.div_ceil(config.piece_bytes))
            .map_err(|_| PlanError::TooLarge { size })?;
        Ok(Plan {
            hash,
            size,
            pieces,
            verified: ResumeState::new(config.piece_bytes, pieces),
            pool: (0..pieces).collect(),
            requests: BTreeMap::new(),
            sources: BTreeMap::new(),
            samples: VecDeque::new(),
            started: None,
            bytes_verified: 0,
            config,
        })
    }

    /// A plan that continues from a persisted [`ResumeState`]: its pieces count as verified.
    ///
    /// # Errors
    /// [`PlanError`] if the content is too large or the state was made for another piece
    /// size or piece count.
    pub fn resume(
        hash: Key256,
        size: u64,
        config: Config,
        state: &ResumeState,
    ) -> Result<Self, PlanError> {
        let mut plan = Self::new(hash, size, config)?;
        if state.pieces() != plan.pieces || state.piece_bytes() != plan.config.piece_bytes {
            return Err(ResumeError::Mismatch {
                found: state.pieces(),
                found_bytes: state.piece_bytes(),
                expected: plan.pieces,
                expected_bytes: plan.config.piece_bytes,
            }
            .into());
        }
        for piece in state.iter() {
            plan.pool.remove(&piece);
            plan.bytes_verified += plan.piece_range(piece).end - plan.piece_range(piece).start;
        }
        plan.verified = state.clone();
        Ok(plan)
    }

    /// The content hash being downloaded.
    pub fn hash(&self) -> Key256 {
        self.hash
    }

    /// The content size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of pieces.
    pub fn pieces(&self) -> u32 {
        self.pieces
    }

    /// The effective configuration (piece size rounded to chunk groups).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The byte range of `piece` (empty for pieces out of range).
    pub fn piece_range(&self, piece: PieceIndex) -> Range<u64> {
        let start = (u64::from(piece) * self.config.piece_bytes).min(self.size);
        let end = start.saturating_add(self.config.piece_bytes).min(self.size);
        start..end
    }

    /// Whether every piece is verified.
    pub fn is_complete(&self) -> bool {
        self.verified.count() == self.pieces
    }

    /// Whether `piece` is verified.
    pub fn is_verified(&self, piece: PieceIndex) -> bool {
        self.verified.contains(piece)
    }

    /// The verified pieces, for the driver to persist after writing their data.
    pub fn resume_state(&self) -> &ResumeState {
        &self.verified
    }

    /// Whether `peer` is banned at `now`.
    pub fn is_banned(&self, now: Time, peer: &P) -> bool {
        self.sources
            .get(peer)
            .is_some_and(|s| matches!(s.state, SourceState::Banned { until } if until > now))
    }

    /// Bytes `peer` delivered that verified.
    pub fn delivered_by(&self, peer: &P) -> u64 {
        self.sources.get(peer).map_or(0, |s| s.delivered)
    }

    /// Takes on a source that holds the whole content. Adding a known source changes
    /// nothing; a banned one stays banned.
    pub fn add_source(&mut self, now: Time, peer: P) -> AddSource {
        if let Some(s) = self.sources.get(&peer) {
            return match s.state {
                SourceState::Banned { until } if until > now => AddSource::Banned(until),
                _ => AddSource::Added,
            };
        }
        if self.sources.len() >= self.config.max_sources {
            // Make room by forgetting a source that is neither banned nor struck.
            let idle = self
                .sources
                .iter()
                .find(|(_, s)| s.in_flight == 0 && s.strikes == 0 && s.state == SourceState::Active)
                .map(|(p, _)| p.clone());
            match idle {
                Some(p) => {
                    self.sources.remove(&p);
                }
                None => return AddSource::Full,
            }
        }
        let source = Source {
            state: SourceState::Active,
            in_flight: 0,
            strikes: 0,
            timeouts: 0,
            delivered: 0,
        };
        self.sources.insert(peer, source);
        AddSource::Added
    }

    /// Drops a source (it disconnected). Its requests in flight go back to the pool and are
    /// returned. A banned or struck source's record is kept so that re-adding it does not
    /// clear its strikes.
    pub fn remove_source(&mut self, peer: &P) -> Vec<PieceIndex> {
        let withdrawn = self.withdraw_all(peer);
        if let Some(s) = self.sources.get(peer)
            && s.strikes == 0
        {
            self.sources.remove(peer);
        }
        withdrawn
    }

    /// The requests to send now. Call after every change (a source added, an answer, a
    /// timeout). Sources take turns, one piece each, the least busy first, lowest piece first,
    /// up to [`Config::max_in_flight`]; when the pool is empty, free sources duplicate requests
    /// in flight elsewhere (endgame).
    pub fn next_requests(&mut self, now: Time) -> Vec<Request<P>> {
        self.expire_states(now);
        self.started.get_or_insert(now);
        let mut out = Vec::new();
        if self.is_complete() {
            return out;
        }
        let deadline = now + self.config.request_timeout;
        let mut in_flight: usize = self.requests.values().map(BTreeMap::len).sum();
        loop {
            let mut progressed = false;
            // The least busy first, so that under `max_in_flight` every source keeps some.
            let mut ready: Vec<(usize, P)> = self
                .sources
                .iter()
                .filter(|(_, s)| {
                    s.state == SourceState::Active && s.in_flight < self.config.window_per_source
                })
                .map(|(p, s)| (s.in_flight, p.clone()))
                .collect();
            ready.sort_by_key(|(n, _)| *n);
            let ready = ready.into_iter().map(|(_, p)| p);
            for peer in ready {
                if in_flight >= self.config.max_in_flight {
                    return out;
                }
                let piece = match self.pool.pop_first() {
                    Some(piece) => Some(piece),
                    None => self.endgame_pick(&peer),
                };
                let Some(piece) = piece else { continue };
                self.requests
                    .entry(piece)
                    .or_default()
                    .insert(peer.clone(), InFlight { deadline });
                if let Some(s) = self.sources.get_mut(&peer) {
                    s.in_flight += 1;
                }
                out.push(Request {
                    peer,
                    piece,
                    range: self.piece_range(piece),
                });
                in_flight += 1;
                progressed = true;
            }
            if !progressed {
                return out;
            }
        }
    }

    /// An in-flight piece `peer` is not already asked for, with the fewest requests (then the
    /// lowest index), if it has room for another duplicate.
    fn endgame_pick(&self, peer: &P) -> Option<PieceIndex> {
        self.requests
            .iter()
            .filter(|(_, asked)| {
                asked.len() < self.config.endgame_duplicates && !asked.contains_key(peer)
            })
            .min_by_key(|(piece, asked)| (asked.len(), **piece))
            .map(|(piece, _)| *piece)
    }

    /// Records the answer of `peer` for `piece`: `Ok(())` when the driver verified the slice,
    /// or how it failed.
    pub fn on_piece(
        &mut self,
        now: Time,
        peer: &P,
        piece: PieceIndex,
        result: Result<(), PieceError>,
    ) -> PieceOutcome<P> {
        if piece >= self.pieces {
            return PieceOutcome::Discard;
        }
        let was_requested = self.take_request(piece, peer);
        match result {
            Ok(()) => self.on_verified(now, peer, piece),
            Err(error) => {
                if !was_requested {
                    // A late or unasked answer that failed: nothing was waiting for it, but
                    // bad data is still bad data.
                    if error != PieceError::Corrupt {
                        return PieceOutcome::Discard;
                    }
                }
                self.return_to_pool(piece);
                self.on_failure(now, peer, error)
            }
        }
    }

    fn on_verified(&mut self, now: Time, peer: &P, piece: PieceIndex) -> PieceOutcome<P> {
        if self.verified.contains(piece) {
            return PieceOutcome::Discard;
        }
        let range = self.piece_range(piece);
        let len = range.end - range.start;
        self.verified.insert(piece);
        self.pool.remove(&piece);
        self.bytes_verified += len;
        if let Some(s) = self.sources.get_mut(peer) {
            s.timeouts = 0;
            s.delivered += len;
        }
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((now, len));
        let mut cancel: Vec<P> = Vec::new();
        for q in self
            .requests
            .remove(&piece)
            .map(|m| m.into_keys())
            .into_iter()
            .flatten()
        {
            if let Some(s) = self.sources.get_mut(&q) {
                s.in_flight = s.in_flight.saturating_sub(1);
            }
            cancel.push(q);
        }
        cancel.sort();
        PieceOutcome::Write { range, cancel }
    }

    fn on_failure(&mut self, now: Time, peer: &P, error: PieceError) -> PieceOutcome<P> {
        match error {
            PieceError::Corrupt => {
                let Some(s) = self.sources.get_mut(peer) else {
                    return PieceOutcome::Failed;
                };
                s.strikes += 1;
                if s.strikes < self.config.strikes_to_ban {
                    return PieceOutcome::Failed;
                }
                s.state = SourceState::Banned {
                    until: now + self.config.ban_duration,
                };
                let withdrawn = self.withdraw_all(peer);
                PieceOutcome::Banned { withdrawn }
            }
            PieceError::Busy => {
                if let Some(s) = self.sources.get_mut(peer)
                    && s.state == SourceState::Active
                {
                    s.state = SourceState::Busy {
                        until: now + self.config.busy_backoff,
                    };
                }
                PieceOutcome::Failed
            }
            PieceError::NotFound => {
                self.remove_source(peer);
                PieceOutcome::Failed
            }
            PieceError::Interrupted => PieceOutcome::Failed,
        }
    }

    /// Removes the request for `piece` to `peer`, if any, and frees its window slot.
    fn take_request(&mut self, piece: PieceIndex, peer: &P) -> bool {
        let Some(asked) = self.requests.get_mut(&piece) else {
            return false;
        };
        let removed = asked.remove(peer).is_some();
        if asked.is_empty() {
            self.requests.remove(&piece);
        }
        if removed && let Some(s) = self.sources.get_mut(peer) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        removed
    }

    /// Withdraws every request in flight to `peer`, returning the pieces.
    fn withdraw_all(&mut self, peer: &P) -> Vec<PieceIndex> {
        let pieces: Vec<PieceIndex> = self
            .requests
            .iter()
            .filter(|(_, asked)| asked.contains_key(peer))
            .map(|(piece, _)| *piece)
            .collect();
        for &piece in &pieces {
            self.take_request(piece, peer);
            self.return_to_pool(piece);
        }
        pieces
    }

    /// Puts `piece` back in the pool if it is neither verified nor requested elsewhere.
    fn return_to_pool(&mut self, piece: PieceIndex) {
        if !self.verified.contains(piece) && !self.requests.contains_key(&piece) {
            self.pool.insert(piece);
        }
    }

    /// Handles deadlines that passed by `now`: requests past their deadline go back to the
    /// pool and are returned (cancel them); a source with [`Config::timeouts_to_drop`]
    /// timeouts in a row is dropped; busy and ban periods that ended are lifted.
    pub fn on_timeout(&mut self, now: Time) -> Vec<(P, PieceIndex)> {
        self.expire_states(now);
        let expired: Vec<(PieceIndex, P)> = self
            .requests
            .iter()
            .flat_map(|(piece, asked)| {
                asked
                    .iter()
                    .filter(|(_, r)| r.deadline <= now)
                    .map(|(p, _)| (*piece, p.clone()))
            })
            .collect();
        let mut out = Vec::with_capacity(expired.len());
        let mut vanished = BTreeSet::new();
        for (piece, peer) in expired {
            self.take_request(piece, &peer);
            self.return_to_pool(piece);
            if let Some(s) = self.sources.get_mut(&peer) {
                s.timeouts += 1;
                if s.timeouts >= self.config.timeouts_to_drop {
                    vanished.insert(peer.clone());
                }
            }
            out.push((peer, piece));
        }
        for peer in vanished {
            for piece in self.remove_source(&peer) {
                out.push((peer.clone(), piece));
            }
        }
        out
    }

    /// The next time [`Plan::on_timeout`] has something to do, if any.
    pub fn poll_timeout(&self) -> Option<Time> {
        let requests = self
            .requests
            .values()
            .flat_map(|asked| asked.values().map(|r| r.deadline));
        let states = self.sources.values().filter_map(|s| match s.state {
            SourceState::Active => None,
            SourceState::Busy { until } | SourceState::Banned { until } => Some(until),
        });
        requests.chain(states).min()
    }

    fn expire_states(&mut self, now: Time) {
        let strikes_after_ban = self.config.strikes_to_ban - 1;
        for s in self.sources.values_mut() {
            match s.state {
                SourceState::Busy { until } if until <= now => s.state = SourceState::Active,
                SourceState::Banned { until } if until <= now => {
                    // On probation: one more bad piece bans it again.
                    s.state = SourceState::Active;
                    s.strikes = strikes_after_ban;
                }
                _ => {}
            }
        }
    }

    /// Progress at `now`.
    pub fn progress(&self, now: Time) -> Progress {
        let window_start = now - self.config.rate_window;
        let recent: u64 = self
            .samples
            .iter()
            .filter(|(t, _)| *t > window_start)
            .map(|(_, b)| b)
            .sum();
        let span = match self.started {
            Some(start) => now.saturating_since(start.max(window_start)),
            None => Duration::ZERO,
        };
        let rate = if span.is_zero() {
            0.0
        } else {
            recent as f64 / span.as_secs_f64()
        };
        let remaining = self.size - self.bytes_verified.min(self.size);
        let eta = (rate > 0.0).then(|| Duration::from_secs_f64(remaining as f64 / rate));
        let banned = self
            .sources
            .values()
            .filter(|s| matches!(s.state, SourceState::Banned { until } if until > now))
            .count();
        Progress {
            bytes_verified: self.bytes_verified,
            size: self.size,
            pieces_verified: self.verified.count(),
            pieces: self.pieces,
            sources: self.sources.len() - banned,
            banned,
            in_flight: self.requests.values().map(BTreeMap::len).sum(),
            rate,
            eta,
        }
    }
}

#[cfg(test)]
mod tests;
