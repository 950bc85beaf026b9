//! The virtual network on a toy engine: delivery in time order, crashes, partitions, the
//! hostile slot, held delivery, and both kinds of stuck timer.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use weft_overlay::{Engine, PeerEvent, QueryId, Time};
use weft_vnet::{SPIN_LIMIT, VNet};

/// Forwards a counter to the next index until it reaches zero; reports every counter seen.
/// Its timer: `deadline`, which `handle_timeout` clears unless `stuck`.
struct Relay {
    me: u32,
    n: u32,
    out: Vec<(u32, u32)>,
    seen: Vec<u32>,
    deadline: Option<Time>,
    stuck: bool,
}

impl Relay {
    fn new(me: u32, n: u32) -> Self {
        Relay {
            me,
            n,
            out: vec![],
            seen: vec![],
            deadline: None,
            stuck: false,
        }
    }
}

impl Engine for Relay {
    type Addr = u32;
    type Message = u32;
    type Command = u32;
    type Event = u32;
    fn handle_message(&mut self, _: Time, _: u32, msg: u32) {
        self.seen.push(msg);
        if msg > 0 {
            self.out.push(((self.me + 1) % self.n, msg - 1));
        }
    }
    fn handle_timeout(&mut self, _: Time) {
        if !self.stuck {
            self.deadline = None;
        }
    }
    fn handle_peer(&mut self, _: Time, _: u32, _: PeerEvent) {}
    fn handle_command(&mut self, _: Time, cmd: u32) -> Option<QueryId> {
        self.out.push(((self.me + 1) % self.n, cmd));
        None
    }
    fn poll_transmit(&mut self) -> Option<(u32, u32)> {
        self.out.pop()
    }
    fn poll_event(&mut self) -> Option<u32> {
        self.seen.pop()
    }
    fn poll_timeout(&self) -> Option<Time> {
        self.deadline
    }
}

fn ring(n: u32, latency_ms: (u64, u64)) -> VNet<Relay> {
    let mut net = VNet::uniform(1, latency_ms);
    for me in 0..n {
        net.add(Relay::new(me, n));
    }
    net
}

fn seen(net: &VNet<Relay>) -> Vec<(u32, u32)> {
    net.events().to_vec()
}

#[test]
fn messages_are_delivered_in_time_order_and_lost_at_crashed_nodes() {
    let mut net = ring(3, (10, 10));
    net.command(0, 4);
    net.run_for(Duration::from_secs(1));
    assert_eq!(seen(&net), vec![(1, 4), (2, 3), (0, 2), (1, 1), (2, 0)]);
    assert_eq!(net.counters().sent, 5);
    assert_eq!(net.now(), Time::ZERO + Duration::from_secs(1));
    net.crash(0);
    net.command(1, 1);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.counters().undeliverable, 1);
    assert_eq!(net.live_indices(), vec![1, 2]);
}

#[test]
fn cut_links_and_islands_drop_messages_until_healed() {
    let mut net = ring(3, (10, 10));
    net.cut(1, 0);
    net.command(0, 4);
    net.run_for(Duration::from_secs(1));
    // 0 -> 1 is cut: nothing arrives.
    assert_eq!(seen(&net), vec![]);
    assert_eq!(net.counters().partitioned, 1);
    net.heal(0, 1);
    net.isolate(&[2], 1);
    net.command(0, 4);
    net.run_for(Duration::from_secs(1));
    // 0 -> 1 arrives; 1 -> 2 crosses to the other island.
    assert_eq!(seen(&net), vec![(1, 4)]);
    assert_eq!(net.counters().partitioned, 2);
    net.heal_all();
    net.command(0, 1);
    net.run_for(Duration::from_secs(1));
    assert_eq!(seen(&net), vec![(1, 4), (1, 1), (2, 0)]);
}

#[test]
fn the_hostile_node_rewrites_what_it_sends() {
    let mut net = ring(3, (10, 10));
    // Node 1 sends every message twice, the copy with a forged counter of 0, to node 0.
    net.set_hostile(1, Box::new(|_, to, msg| vec![(to, msg), (0, 0)]));
    net.command(0, 2);
    net.run_for(Duration::from_secs(1));
    assert_eq!(seen(&net), vec![(1, 2), (2, 1), (0, 0), (0, 0)]);
    // A message from any address, now.
    net.deliver_now(77, 2, 0);
    assert_eq!(seen(&net).last(), Some(&(2, 0)));
}

#[test]
fn held_messages_wait_for_the_caller() {
    let mut net = ring(3, (10, 10));
    net.hold(2);
    net.command(0, 5);
    net.command(1, 5);
    net.command(2, 5);
    // The pool holds two; the third is lost.
    assert_eq!(net.held().len(), 2);
    assert_eq!(net.counters().lost, 1);
    assert!(net.discard_held(0));
    assert!(net.deliver_held(0));
    assert_eq!(seen(&net), vec![(2, 5)]);
    let ran = net.run_held(Duration::from_millis(1), 100, |_| 0);
    assert_eq!(ran, 5);
    assert_eq!(net.now(), Time::ZERO + Duration::from_millis(5));
}

#[test]
fn a_timer_that_never_moves_past_now_is_stuck() {
    let mut net = ring(2, (10, 10));
    net.poke(0, |e, now| {
        e.deadline = Some(now + Duration::from_millis(5));
        e.stuck = true;
    });
    net.run_for(Duration::from_millis(100));
    assert!(net.counters().stuck_timers > 0);
    assert!(net.counters().timers >= u64::from(SPIN_LIMIT));
    assert!(net.stuck_timers() > 0);
}

#[test]
fn a_deadline_the_network_never_armed_is_stuck() {
    let mut net = ring(2, (10, 10));
    net.poke(0, |e, now| {
        e.deadline = Some(now + Duration::from_millis(5))
    });
    net.run_for(Duration::from_millis(10));
    assert_eq!(net.stuck_timers(), 0, "an armed timer fires and clears");
    // Changed behind the network's back: no drain, so no timer is armed for it.
    net.engine_mut(1).unwrap().deadline = Some(net.now() + Duration::from_millis(5));
    assert_eq!(net.stuck_timers(), 0, "not yet due");
    net.run_for(Duration::from_millis(10));
    assert_eq!(net.stuck_timers(), 1, "due, never fired");
}
