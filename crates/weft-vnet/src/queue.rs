//! The two schedules of the event loop: a min-heap of queued deliveries and control events,
//! and an indexed min-heap holding at most one timer per node.
//!
//! Both order entries by `(time, seq)`, where `seq` comes from one counter shared by the two,
//! so ties at the same instant are broken by the order in which they were scheduled, on every
//! machine.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use weft_core::time::Time;

/// The ordering key of every scheduled entry: when it is due, then the order it was scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    /// When the entry is due.
    pub at: Time,
    /// Global scheduling order, unique per entry.
    pub seq: u64,
}

struct Entry<P> {
    due: Due,
    payload: P,
}

impl<P> PartialEq for Entry<P> {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl<P> Eq for Entry<P> {}
impl<P> PartialOrd for Entry<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<P> Ord for Entry<P> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest entry is on top.
        other.due.cmp(&self.due)
    }
}

/// A min-heap of payloads ordered by [`Due`].
pub struct EventQueue<P> {
    heap: BinaryHeap<Entry<P>>,
    peak: usize,
}

impl<P> Default for EventQueue<P> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            peak: 0,
        }
    }
}

impl<P> EventQueue<P> {
    /// Schedules `payload` at `due`.
    pub fn push(&mut self, due: Due, payload: P) {
        self.heap.push(Entry { due, payload });
        self.peak = self.peak.max(self.heap.len());
    }

    /// The key of the earliest entry.
    pub fn peek(&self) -> Option<Due> {
        self.heap.peek().map(|e| e.due)
    }

    /// Removes and returns the earliest entry.
    pub fn pop(&mut self) -> Option<(Due, P)> {
        self.heap.pop().map(|e| (e.due, e.payload))
    }

    /// Entries currently scheduled.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The largest number of entries ever scheduled at once.
    pub fn peak_len(&self) -> usize {
        self.peak
    }
}

const ABSENT: u32 = u32::MAX;

/// An indexed min-heap holding at most one deadline per node: re-arming a node moves its entry
/// instead of adding one, so the heap never holds more entries than there are nodes.
#[derive(Default)]
pub struct TimerHeap {
    /// Heap-ordered `(due, node)`.
    heap: Vec<(Due, u32)>,
    /// Position of each node's entry in `heap`, or `ABSENT`.
    pos: Vec<u32>,
}

impl TimerHeap {
    /// The deadline armed for `node`, if any.
    pub fn get(&self, node: u32) -> Option<Due> {
        let p = *self.pos.get(node as usize)?;
        (p != ABSENT).then(|| self.heap[p as usize].0)
    }

    /// Arms (or re-arms) `node`'s single timer.
    pub fn set(&mut self, node: u32, due: Due) {
        let n = node as usize;
        if self.pos.len() <= n {
            self.pos.resize(n + 1, ABSENT);
        }
        match self.pos[n] {
            ABSENT => {
                let i = self.heap.len();
                self.heap.push((due, node));
                self.pos[n] = i as u32;
                self.sift_up(i);
            }
            p => {
                let i = p as usize;
                let old = self.heap[i].0;
                self.heap[i].0 = due;
                if due < old {
                    self.sift_up(i);
                } else {
                    self.sift_down(i);
                }
            }
        }
    }

    /// Disarms `node`'s timer, if armed.
    pub fn clear(&mut self, node: u32) {
        let Some(&p) = self.pos.get(node as usize) else {
            return;
        };
        if p == ABSENT {
            return;
        }
        self.remove_at(p as usize);
    }

    /// The earliest deadline and its node.
    pub fn peek(&self) -> Option<(Due, u32)> {
        self.heap.first().copied()
    }

    /// Removes and returns the earliest deadline and its node.
    pub fn pop(&mut self) -> Option<(Due, u32)> {
        let top = self.heap.first().copied()?;
        self.remove_at(0);
        Some(top)
    }

    /// Armed timers.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    fn remove_at(&mut self, i: usize) {
        let last = self.heap.len() - 1;
        self.swap(i, last);
        if let Some((_, node)) = self.heap.pop() {
            self.pos[node as usize] = ABSENT;
        }
        if i < self.heap.len() {
            self.sift_down(i);
            self.sift_up(i);
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a].1 as usize] = a as u32;
        self.pos[self.heap[b].1 as usize] = b as u32;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[i].0 < self.heap[parent].0 {
                self.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if l < n && self.heap[l].0 < self.heap[least].0 {
                least = l;
            }
            if r < n && self.heap[r].0 < self.heap[least].0 {
                least = r;
            }
            if least == i {
                break;
            }
            self.swap(i, least);
            i = least;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn due(at: u64, seq: u64) -> Due {
        Due {
            at: Time::from_micros(at),
            seq,
        }
    }

    #[test]
    fn queue_breaks_ties_by_sequence() {
        let mut q = EventQueue::default();
        q.push(due(5, 2), "b");
        q.push(due(5, 1), "a");
        q.push(due(1, 3), "first");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, p)| p)).collect();
        assert_eq!(order, ["first", "a", "b"]);
        assert_eq!(q.peak_len(), 3);
    }

    proptest! {
        /// Whatever the sequence of set/clear operations, the heap pops exactly the armed
        /// deadlines (last one per node) in (time, seq) order.
        #[test]
        fn timer_heap_matches_a_model(ops in proptest::collection::vec((0u32..20, 0u64..50, any::<bool>()), 0..200)) {
            let mut heap = TimerHeap::default();
            let mut model = std::collections::BTreeMap::new();
            for (seq, (node, at, arm)) in ops.into_iter().enumerate() {
                if arm {
                    heap.set(node, due(at, seq as u64));
                    model.insert(node, due(at, seq as u64));
                } else {
                    heap.clear(node);
                    model.remove(&node);
                }
                prop_assert_eq!(heap.len(), model.len());
                prop_assert_eq!(heap.get(node), model.get(&node).copied());
            }
            let mut expected: Vec<(Due, u32)> = model.into_iter().map(|(n, d)| (d, n)).collect();
            expected.sort();
            let got: Vec<_> = std::iter::from_fn(|| heap.pop()).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
