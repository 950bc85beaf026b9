//! Conversations: the messages from one sender to one recipient carry sequence numbers 1, 2,
//! 3, … The recipient keeps the next number it expects; a message is handed to the user only
//! when its number comes up, so the user sees each message once and in order, whichever path
//! (direct, or one of several mailboxes) brought it and however often. Messages that arrive
//! ahead are held (in [`crate::store`]) up to [`HOLD_WINDOW`] ahead.

/// How far ahead of the next expected number a message is held; further is refused (the
/// sender sends in order, so only a gap of lost or late copies puts one ahead).
pub const HOLD_WINDOW: u64 = 4096;

/// What to do with message `seq` when `next` is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// It is the next one: deliver it, then any held that follow.
    Next,
    /// Already delivered: drop it (and ack again).
    Duplicate,
    /// Ahead of a gap: hold it.
    Ahead,
    /// Too far ahead (or 0): refuse.
    Refused,
}

/// Classifies message `seq` when `next` is the number expected.
pub fn classify(next: u64, seq: u64) -> Arrival {
    if seq == 0 {
        Arrival::Refused
    } else if seq < next {
        Arrival::Duplicate
    } else if seq == next {
        Arrival::Next
    } else if seq - next <= HOLD_WINDOW {
        Arrival::Ahead
    } else {
        Arrival::Refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classes() {
        assert_eq!(classify(1, 1), Arrival::Next);
        assert_eq!(classify(5, 4), Arrival::Duplicate);
        assert_eq!(classify(5, 7), Arrival::Ahead);
        assert_eq!(classify(5, 5 + HOLD_WINDOW + 1), Arrival::Refused);
        assert_eq!(classify(1, 0), Arrival::Refused);
    }

    proptest! {
        /// Any order and any duplication of 1..=n delivers 1..=n exactly once, in order.
        #[test]
        fn once_in_order(n in 1u64..60, picks in proptest::collection::vec(0u64..60, 0..300)) {
            let mut arrivals: Vec<u64> = picks.into_iter().map(|p| p % n + 1).collect();
            arrivals.extend(1..=n);
            let (mut next, mut held, mut seen) = (1u64, std::collections::BTreeSet::new(), Vec::new());
            for seq in arrivals {
                match classify(next, seq) {
                    Arrival::Next => {
                        seen.push(seq);
                        next += 1;
                        while held.remove(&next) { seen.push(next); next += 1; }
                    }
                    Arrival::Ahead => { held.insert(seq); }
                    Arrival::Duplicate | Arrival::Refused => {}
                }
            }
            prop_assert_eq!(seen, (1..=n).collect::<Vec<_>>());
        }
    }
}
