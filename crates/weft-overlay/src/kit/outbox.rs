//! The queues an engine fills and its driver drains.

use std::collections::VecDeque;

/// Messages waiting to be sent, first queued first out (`Engine::poll_transmit`).
#[derive(Clone, Debug)]
pub struct Outbox<A, M> {
    queue: VecDeque<(A, M)>,
}

impl<A, M> Default for Outbox<A, M> {
    fn default() -> Self {
        Outbox {
            queue: VecDeque::new(),
        }
    }
}

impl<A, M> Outbox<A, M> {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `msg` for `to`.
    pub fn send(&mut self, to: A, msg: M) {
        self.queue.push_back((to, msg));
    }

    /// The oldest message queued.
    pub fn pop(&mut self) -> Option<(A, M)> {
        self.queue.pop_front()
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The messages queued, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(A, M)> {
        self.queue.iter()
    }
}

/// Events waiting for the application, first queued first out (`Engine::poll_event`).
#[derive(Clone, Debug)]
pub struct Events<E> {
    queue: VecDeque<E>,
}

impl<E> Default for Events<E> {
    fn default() -> Self {
        Events {
            queue: VecDeque::new(),
        }
    }
}

impl<E> Events<E> {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `event`.
    pub fn push(&mut self, event: E) {
        self.queue.push_back(event);
    }

    /// The oldest event queued.
    pub fn pop(&mut self) -> Option<E> {
        self.queue.pop_front()
    }

    /// Events queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_in_first_out() {
        let mut o = Outbox::new();
        o.send(1, "a");
        o.send(2, "b");
        assert_eq!(o.len(), 2);
        assert_eq!(o.pop(), Some((1, "a")));
        assert_eq!(o.pop(), Some((2, "b")));
        assert!(o.pop().is_none() && o.is_empty());
        let mut e = Events::new();
        e.push(3);
        e.push(4);
        assert_eq!((e.pop(), e.pop(), e.pop()), (Some(3), Some(4), None));
    }
}
