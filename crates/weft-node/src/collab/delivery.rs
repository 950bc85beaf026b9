//! Getting messages there: the outbox, the mailboxes, heartbeats.
//!
//! - **Outbox** (Magi's queue at the sender): every message stays in the outbox until its
//!   recipient acks it end to end. While the recipient is connected, the outbox delivers
//!   directly, in order, [`MAX_BATCH`] per request; the answer is the ack. Otherwise each
//!   message is deposited once at the mailbox peers: the [`MAILBOX_PEERS`] nodes closest to
//!   the recipient's id in the DHT (besides the sender and the recipient). A mailbox that
//!   refuses (quota) is left alone for [`DEPOSIT_BACKOFF`].
//! - **Collection**: on every new connection and every [`COLLECT_INTERVAL`], the node asks
//!   the nodes closest to its own id for what they hold for it, hands each envelope to the
//!   inbox (which drops what it has already) and acks each conversation to the mailbox, which
//!   deletes the copies, and to its sender if connected (a `Receipt`).
//! - **Heartbeats** to connected contacts every [`HEARTBEAT_INTERVAL_US`]; expiry of old
//!   mailbox copies.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;
use weft_collab::keys::PeerKey;
use weft_collab::presence::{HEARTBEAT_INTERVAL_US, Heartbeat};
use weft_collab::store::Store;
use weft_collab::wire::{MAX_BATCH, MsgRequest, MsgResponse};
use weft_net::PeerId;
use weft_net::overlay::dht::node_key;

use super::protocol::{acked, receive, request};
use super::{Collab, now_us, peer_of};

/// Mailbox peers per recipient.
pub const MAILBOX_PEERS: usize = 3;
/// How often the outbox looks again without being woken.
const OUTBOX_INTERVAL: Duration = Duration::from_secs(1);
/// How often a node collects from its mailboxes without a new connection.
const COLLECT_INTERVAL: Duration = Duration::from_secs(10);
/// Pause before depositing again for a recipient whose mailboxes refused.
const DEPOSIT_BACKOFF: Duration = Duration::from_secs(30);
/// Messages delivered or deposited per recipient per round (the rest wait for the next).
const PER_ROUND: usize = 64 * MAX_BATCH;
/// Pages collected from one mailbox per round.
const COLLECT_PAGES: usize = 256;
/// Longest wait for the DHT's answer when choosing mailbox peers.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the mailbox peers found for a key are used before they are looked up again.
const MAILBOX_CACHE: Duration = Duration::from_secs(30);

pub(super) fn spawn(collab: Collab) {
    tokio::spawn(outbox_loop(collab.clone()));
    tokio::spawn(collect_loop(collab.clone()));
    tokio::spawn(heartbeat_loop(collab));
}

#[derive(Default)]
struct OutboxState {
    /// Recipient → when depositing for it may be tried again.
    backoff: BTreeMap<PeerKey, Instant>,
    /// Recipient → its mailbox peers, and when they were found.
    mailboxes: BTreeMap<PeerKey, (Instant, Vec<PeerId>)>,
}

async fn outbox_loop(collab: Collab) {
    let mut state = OutboxState::default();
    loop {
        let recipients = Store::new(&collab.db())
            .unacked_recipients()
            .unwrap_or_default();
        for to in recipients {
            if let Err(e) = one_recipient(&collab, &mut state, to).await {
                debug!("outbox: {e}");
            }
        }
        state
            .mailboxes
            .retain(|_, (at, _)| at.elapsed() < MAILBOX_CACHE);
        let _ = tokio::time::timeout(OUTBOX_INTERVAL, collab.outbox_woken()).await;
    }
}

async fn one_recipient(
    collab: &Collab,
    state: &mut OutboxState,
    to: PeerKey,
) -> Result<(), String> {
    let peer = peer_of(&to).ok_or("recipient key is not a peer id")?;
    if collab.connected(&peer) {
        return deliver_directly(collab, peer, to).await;
    }
    if state.backoff.get(&to).is_some_and(|t| Instant::now() < *t) {
        return Ok(());
    }
    let pending: Vec<_> = Store::new(&collab.db())
        .unacked(&to, PER_ROUND)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|p| !p.deposited)
        .map(|p| p.envelope)
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let mailboxes = mailbox_peers(collab, state, to, peer).await;
    if mailboxes.is_empty() {
        return Err("no mailbox peer found".into());
    }
    for batch in pending.chunks(MAX_BATCH) {
        let request = MsgRequest::Deposit(batch.to_vec());
        let mut kept = 0usize;
        let mut refused = false;
        for mailbox in &mailboxes {
            match super::protocol::request(collab, *mailbox, &request).await {
                Ok(MsgResponse::Deposited { stored, refused: r }) => {
                    kept = kept.max(usize::from(stored));
                    refused |= r.is_some();
                }
                Ok(other) => debug!(%mailbox, "deposit answered {other:?}"),
                Err(e) => debug!(%mailbox, "deposit failed: {e}"),
            }
        }
        let seqs: Vec<u64> = batch.iter().take(kept).map(|e| e.seq).collect();
        Store::new(&collab.db())
            .mark_deposited(&to, &seqs)
            .map_err(|e| e.to_string())?;
        if kept < batch.len() || refused {
            state.backoff.insert(to, Instant::now() + DEPOSIT_BACKOFF);
            break;
        }
    }
    Ok(())
}

async fn deliver_directly(collab: &Collab, peer: PeerId, to: PeerKey) -> Result<(), String> {
    let mut sent = 0;
    while sent < PER_ROUND {
        let batch: Vec<_> = Store::new(&collab.db())
            .unacked(&to, MAX_BATCH)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|p| p.envelope)
            .collect();
        let Some(last) = batch.last().map(|e| e.seq) else {
            return Ok(());
        };
        sent += batch.len();
        match request(collab, peer, &MsgRequest::Deliver(batch)).await? {
            MsgResponse::Delivered { up_to } => {
                acked(collab, peer, to, up_to);
                if up_to < last {
                    return Err(format!("recipient holds up to {up_to} of {last}"));
                }
            }
            other => return Err(format!("delivery answered {other:?}")),
        }
    }
    Ok(())
}

async fn mailbox_peers(
    collab: &Collab,
    state: &mut OutboxState,
    to: PeerKey,
    peer: PeerId,
) -> Vec<PeerId> {
    if let Some((_, peers)) = state.mailboxes.get(&to) {
        return peers.clone();
    }
    let me = collab.net().local_peer_id;
    let found = closest_others(collab, peer, &[me, peer], MAILBOX_PEERS).await;
    if !found.is_empty() {
        state.mailboxes.insert(to, (Instant::now(), found.clone()));
    }
    found
}

/// The `n` peers closest to `target`'s DHT id, without `skip`: what an iterative lookup
/// finds within [`LOOKUP_TIMEOUT`], together with the peers connected now (a lookup that
/// meets a dead peer, such as the recipient who just left, waits out its request timeout;
/// the connected peers keep the choice quick and, in a small network, exact).
async fn closest_others(collab: &Collab, target: PeerId, skip: &[PeerId], n: usize) -> Vec<PeerId> {
    let key = node_key(&target);
    let mut found = connected_peers(collab);
    match tokio::time::timeout(LOOKUP_TIMEOUT, collab.overlay().dht.closest(key)).await {
        Ok(Ok(peers)) => found.extend(peers),
        Ok(Err(e)) => debug!("mailbox lookup: {e}"),
        Err(_) => debug!("mailbox lookup timed out; using the connected peers"),
    }
    closest_of(found, target, skip, n)
}

/// Connected peers that can keep a mailbox: those whose identify lists `/weft/msg/1` (a
/// connection alone, or a foreign libp2p node, is no mailbox).
fn connected_peers(collab: &Collab) -> Vec<PeerId> {
    collab
        .net()
        .state()
        .peers_speaking(&super::protocol::PROTOCOL)
}

/// The `n` of `peers` closest to `target`'s DHT id, without `skip`.
fn closest_of(mut peers: Vec<PeerId>, target: PeerId, skip: &[PeerId], n: usize) -> Vec<PeerId> {
    let key = node_key(&target);
    peers.retain(|p| !skip.contains(p));
    peers.sort_by_key(|p| node_key(p).distance(&key));
    peers.dedup();
    peers.truncate(n);
    peers
}

async fn collect_loop(collab: Collab) {
    loop {
        let _ = tokio::time::timeout(COLLECT_INTERVAL, collab.collect_woken()).await;
        // Let a burst of new connections settle into one round.
        tokio::time::sleep(Duration::from_millis(200)).await;
        collect_once(&collab).await;
        let cutoff_expired = Store::new(&collab.db()).expire(collab.rules(), now_us());
        if let Ok(n @ 1..) = cutoff_expired {
            debug!("mailbox: {n} copies expired");
        }
    }
}

async fn collect_once(collab: &Collab) {
    let me = collab.net().local_peer_id;
    // One more than senders use: a sender among the closest is not a mailbox for itself.
    // The connected ones first, at once; then those the DHT lookup adds (it can take seconds
    // when the routing table still holds peers that are gone).
    let n = MAILBOX_PEERS + 1;
    let first = closest_of(connected_peers(collab), me, &[me], n);
    let mut delivered_up_to: BTreeMap<PeerKey, u64> = BTreeMap::new();
    for mailbox in &first {
        collect_from(collab, *mailbox, &mut delivered_up_to).await;
    }
    for mailbox in closest_others(collab, me, &[me], n).await {
        if !first.contains(&mailbox) {
            collect_from(collab, mailbox, &mut delivered_up_to).await;
        }
    }
    for (sender, n) in delivered_up_to {
        let Some(peer) = peer_of(&sender) else {
            continue;
        };
        if collab.connected(&peer) && n > 0 {
            let collab = collab.clone();
            tokio::spawn(async move {
                let _ = request(&collab, peer, &MsgRequest::Receipt { up_to: n }).await;
            });
        }
    }
}

/// Collects every page `mailbox` holds for this node, acking each to it.
async fn collect_from(
    collab: &Collab,
    mailbox: PeerId,
    delivered_up_to: &mut BTreeMap<PeerKey, u64>,
) {
    let mut previous = None;
    for _ in 0..COLLECT_PAGES {
        let (envelopes, more) = match request(collab, mailbox, &MsgRequest::Collect).await {
            Ok(MsgResponse::Collected { envelopes, more }) => (envelopes, more),
            Ok(_) | Err(_) => break,
        };
        // The same page again: what is left is held ahead of a gap; stop for this round.
        let first = envelopes.first().map(|e| (e.from, e.seq, envelopes.len()));
        if first.is_none() || first == previous {
            break;
        }
        previous = first;
        let acks = take_page(collab, &envelopes, delivered_up_to);
        for (sender, up_to) in acks {
            let ack = MsgRequest::MailboxAck { sender, up_to };
            let _ = request(collab, mailbox, &ack).await;
        }
        if !more {
            break;
        }
    }
}

/// Hands a page of collected envelopes to the inbox; returns what to ack to the mailbox per
/// sender: what is delivered, and for a sender who is not a contact, everything seen (those
/// copies are of no use here).
fn take_page(
    collab: &Collab,
    envelopes: &[weft_collab::envelope::Envelope],
    delivered_up_to: &mut BTreeMap<PeerKey, u64>,
) -> BTreeMap<PeerKey, u64> {
    let mut acks: BTreeMap<PeerKey, u64> = BTreeMap::new();
    for env in envelopes {
        let ack = acks.entry(env.from).or_default();
        match receive(collab, env) {
            Some(up_to) => {
                *ack = (*ack).max(up_to);
                delivered_up_to.insert(env.from, up_to);
            }
            None if collab.contact_name(&env.from).is_none() => *ack = (*ack).max(env.seq),
            None => {}
        }
    }
    acks.retain(|_, n| *n > 0);
    acks
}

async fn heartbeat_loop(collab: Collab) {
    let mut tick = tokio::time::interval(Duration::from_micros(HEARTBEAT_INTERVAL_US));
    loop {
        tick.tick().await;
        let contacts = Store::new(&collab.db()).contacts().unwrap_or_default();
        for c in contacts {
            let Some(peer) = peer_of(&c.key) else {
                continue;
            };
            if !collab.connected(&peer) {
                continue;
            }
            let beat = MsgRequest::Heartbeat(Heartbeat::new(collab.me(), now_us()));
            if let Err(e) = request(&collab, peer, &beat).await {
                debug!(contact = %c.name, "heartbeat: {e}");
            }
        }
    }
}
