use super::*;
use crate::keys::Identity;
use crate::keys::test_rng::rng;

fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    for (_, sql) in MIGRATIONS {
        conn.execute_batch(sql).unwrap();
    }
    conn
}

fn seal(a: &Identity, to: PeerKey, seq: u64, text: &str) -> Envelope {
    Envelope::seal(
        a,
        to,
        seq,
        &Body {
            sent_us: seq,
            text: text.into(),
        },
        &mut rng(),
    )
    .unwrap()
}

#[test]
fn contacts_refuse_taken_names_and_known_peers() {
    let conn = db();
    let s = Store::new(&conn);
    let (a, b) = (
        Identity::from_seed(&[1; 32]).peer_key(),
        Identity::from_seed(&[2; 32]).peer_key(),
    );
    s.add_contact("alice", "ida", a, 1).unwrap();
    assert!(matches!(
        s.add_contact("alice", "idb", b, 1),
        Err(StoreError::NameTaken(_))
    ));
    assert!(matches!(
        s.add_contact("al", "ida", a, 1),
        Err(StoreError::PeerKnown(_))
    ));
    assert!(
        s.add_contact("alice", "ida", a, 1).is_ok(),
        "adding the same again is fine"
    );
    assert!(matches!(
        s.add_contact("Bad Name", "idb", b, 1),
        Err(StoreError::Petname(_))
    ));
    s.set_last_seen(&a, 9).unwrap();
    assert_eq!(s.contact("alice").unwrap().unwrap().last_seen_us, Some(9));
    assert!(s.remove_contact("alice").unwrap());
    assert!(s.contacts().unwrap().is_empty());
}

#[test]
fn queued_messages_are_numbered_and_leave_when_acked() {
    let conn = db();
    let mut s = Store::new(&conn);
    let (a, b) = (Identity::from_seed(&[1; 32]), Identity::from_seed(&[2; 32]));
    for n in 1..=3 {
        let env = s
            .queue::<StoreError>(b.peer_key(), 5, |seq| Ok(seal(&a, b.peer_key(), seq, "x")))
            .unwrap();
        assert_eq!(env.seq, n);
    }
    assert_eq!(s.unacked_recipients().unwrap(), vec![b.peer_key()]);
    s.mark_deposited(&b.peer_key(), &[1]).unwrap();
    let pending = s.unacked(&b.peer_key(), 10).unwrap();
    assert_eq!(
        pending.iter().map(|p| p.envelope.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(pending[0].deposited && !pending[1].deposited);
    assert_eq!(s.acked(&b.peer_key(), 2).unwrap(), 2);
    assert_eq!(s.unacked(&b.peer_key(), 10).unwrap().len(), 1);
}

#[test]
fn the_inbox_delivers_once_and_in_order_across_restarts() {
    let conn = db();
    let mut s = Store::new(&conn);
    let (a, b) = (Identity::from_seed(&[1; 32]), Identity::from_seed(&[2; 32]));
    let envs: Vec<_> = (1..=4)
        .map(|n| seal(&a, b.peer_key(), n, &format!("m{n}")))
        .collect();
    let offer = |s: &mut Store, e: &Envelope| {
        let body = e.open(&b).unwrap();
        s.receive(e, &body, 100).unwrap()
    };
    assert_eq!(offer(&mut s, &envs[2]).arrival, Arrival::Ahead);
    assert_eq!(offer(&mut s, &envs[1]).arrival, Arrival::Ahead);
    let r = offer(&mut s, &envs[0]);
    assert_eq!(
        r.delivered.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(r.up_to, 3);
    assert_eq!(offer(&mut s, &envs[1]).arrival, Arrival::Duplicate);
    // a new view of the same database: the state is in the tables, not in memory
    let mut s = Store::new(&conn);
    assert_eq!(s.received_up_to(&a.peer_key()).unwrap(), 3);
    assert_eq!(offer(&mut s, &envs[3]).delivered.len(), 1);
    let texts: Vec<_> = s
        .inbox(0, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["m1", "m2", "m3", "m4"]);
}

#[test]
fn a_mailbox_keeps_within_quota_hands_out_and_forgets_on_ack() {
    let conn = db();
    let s = Store::new(&conn);
    let (a, b) = (Identity::from_seed(&[1; 32]), Identity::from_seed(&[2; 32]));
    let rules = Rules {
        per_sender_messages: 3,
        ..Rules::default()
    };
    for n in 1..=3 {
        s.deposit(&seal(&a, b.peer_key(), n, "x"), &rules, 10)
            .unwrap();
    }
    // the same copy again is not counted; a fourth is over the quota
    s.deposit(&seal(&a, b.peer_key(), 3, "x"), &rules, 10)
        .unwrap();
    assert_eq!(
        s.deposit(&seal(&a, b.peer_key(), 4, "x"), &rules, 10),
        Err(Refusal::SenderQuota)
    );
    let (held, more) = s.held_for(&b.peer_key(), 2).unwrap();
    assert_eq!((held.len(), more), (2, true));
    assert!(s.held_for(&a.peer_key(), 10).unwrap().0.is_empty());
    assert_eq!(s.mailbox_acked(&b.peer_key(), &a.peer_key(), 2).unwrap(), 2);
    assert_eq!(s.mailbox_usage(&a.peer_key()).unwrap().sender_messages, 1);
    let rules = Rules {
        retention_us: 5,
        ..rules
    };
    assert_eq!(s.expire(&rules, 16).unwrap(), 1);
}
