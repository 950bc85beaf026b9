//! Counters for the ids an engine hands out.

use super::QueryId;

/// Request ids an engine puts on the wire to match an answer with its request. They wrap
/// around after 2^64; a late answer to an old request is matched (or not) like any other.
#[derive(Clone, Debug, Default)]
pub struct RequestIds {
    next: u64,
}

impl RequestIds {
    /// Ids from 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id.
    pub fn take(&mut self) -> u64 {
        let r = self.next;
        self.next = self.next.wrapping_add(1);
        r
    }
}

/// Query ids an engine returns from `handle_command`, from 0.
#[derive(Clone, Debug, Default)]
pub struct QueryIds {
    next: u64,
}

impl QueryIds {
    /// Ids from 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id.
    pub fn take(&mut self) -> QueryId {
        let id = QueryId(self.next);
        self.next = self.next.wrapping_add(1);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_up_and_wrap() {
        let mut r = RequestIds { next: u64::MAX };
        assert_eq!((r.take(), r.take()), (u64::MAX, 0));
        let mut q = QueryIds::new();
        assert_eq!((q.take(), q.take()), (QueryId(0), QueryId(1)));
    }
}
