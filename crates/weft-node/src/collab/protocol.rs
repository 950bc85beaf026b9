//! `/weft/msg/1`: one request and one answer per stream (see [`weft_collab::wire`]).
//!
//! The server reads one frame (bounded by [`MAX_MSG_FRAME`], within [`READ_TIMEOUT`]),
//! decodes it without panics, answers and closes. What a peer may send is tied to who it is
//! on the connection: it delivers and deposits only envelopes it signed, collects and acks
//! only envelopes addressed to it. Streams are bounded per peer and in all.

use std::time::Duration;

use futures::AsyncReadExt as _;
use tracing::debug;
use weft_collab::envelope::Envelope;
use weft_collab::keys::PeerKey;
use weft_collab::mailbox::Refusal;
use weft_collab::store::Store;
use weft_collab::wire::{self, MAX_BATCH, MAX_MSG_FRAME, MsgRequest, MsgResponse};
use weft_net::PeerId;
use weft_net::framing::{read_frame, write_frame, write_last_frame};
use weft_net::libp2p::StreamProtocol;

use super::{Collab, CollabError, bump, key_of, now_us};
use crate::events::ApiEvent;
use crate::share::per_peer::spawn_bounded_server;

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/msg/1");
/// Time a peer has to send its request, and we to get an answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to reach a peer that is not connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Inbound streams open at once.
const MAX_INBOUND: u32 = 64;
/// Inbound streams one peer may hold open.
const MAX_STREAMS_PER_PEER: u32 = 4;

pub(super) fn spawn_server(collab: Collab) -> Result<(), CollabError> {
    let incoming = collab
        .net()
        .inbound()
        .accept(PROTOCOL, weft_net::inbound::DEFAULT_BACKLOG)
        .map_err(|_| CollabError::AlreadyRegistered)?;
    spawn_bounded_server(
        incoming,
        "msg",
        MAX_INBOUND,
        MAX_STREAMS_PER_PEER,
        move |peer, stream| {
            let collab = collab.clone();
            async move {
                if let Err(e) = serve(&collab, peer, stream).await {
                    bump(&collab.counters().bad_requests);
                    debug!(%peer, "msg request: {e}");
                }
            }
        },
    );
    Ok(())
}

async fn serve(
    collab: &Collab,
    peer: PeerId,
    stream: weft_net::libp2p::Stream,
) -> Result<(), String> {
    let (mut reader, mut writer) = stream.split();
    let frame = tokio::time::timeout(READ_TIMEOUT, read_frame(&mut reader, MAX_MSG_FRAME))
        .await
        .map_err(|_| "no request in time".to_string())?
        .map_err(|e| e.to_string())?;
    let request: MsgRequest = wire::decode(&frame).map_err(|e| e.to_string())?;
    collab.net().mark_useful(&peer);
    let answer = match key_of(&peer) {
        Some(from) => answer(collab, peer, from, request),
        None => MsgResponse::Refused("only ed25519 peers can write".into()),
    };
    let bytes = wire::encode(&answer).map_err(|e| e.to_string())?;
    write_last_frame(&mut writer, &bytes)
        .await
        .map_err(|e| e.to_string())
}

/// Answers one request from `peer`, whose key is `from`.
fn answer(collab: &Collab, peer: PeerId, from: PeerKey, request: MsgRequest) -> MsgResponse {
    let me = collab.me().peer_key();
    match request {
        MsgRequest::Deliver(envs) => {
            if collab.contact_name(&from).is_none() {
                for _ in &envs {
                    bump(&collab.counters().refused);
                }
                return MsgResponse::Refused("not a contact of this node".into());
            }
            let mut up_to = 0;
            for env in &envs {
                if env.from != from {
                    bump(&collab.counters().refused);
                    continue;
                }
                if let Some(n) = receive(collab, env) {
                    up_to = n;
                }
            }
            if up_to == 0 {
                up_to = Store::new(&collab.db()).received_up_to(&from).unwrap_or(0);
            }
            MsgResponse::Delivered { up_to }
        }
        MsgRequest::Deposit(envs) => {
            let (mut stored, mut refused) = (0u16, None);
            let now = now_us();
            for env in &envs {
                let valid = env.from == from && env.to != me && env.verify().is_ok();
                let kept = if valid {
                    Store::new(&collab.db()).deposit(env, collab.rules(), now)
                } else {
                    Err(Refusal::Invalid)
                };
                match kept {
                    Ok(()) => {
                        stored += 1;
                        bump(&collab.counters().deposits_kept);
                    }
                    Err(r) => {
                        if r == Refusal::Invalid {
                            bump(&collab.counters().refused);
                        } else {
                            bump(&collab.counters().deposits_over_quota);
                        }
                        refused.get_or_insert(r);
                        // in order: what follows a refused one is not kept either
                        break;
                    }
                }
            }
            MsgResponse::Deposited { stored, refused }
        }
        MsgRequest::Collect => {
            let held = Store::new(&collab.db()).held_for(&from, MAX_BATCH);
            match held {
                Ok((envelopes, more)) => MsgResponse::Collected { envelopes, more },
                Err(e) => MsgResponse::Refused(format!("mailbox: {e}")),
            }
        }
        MsgRequest::MailboxAck { sender, up_to } => {
            let removed = Store::new(&collab.db()).mailbox_acked(&from, &sender, up_to);
            match removed {
                Ok(_) => MsgResponse::Ok,
                Err(e) => MsgResponse::Refused(format!("mailbox: {e}")),
            }
        }
        MsgRequest::Receipt { up_to } => {
            acked(collab, peer, from, up_to);
            MsgResponse::Ok
        }
        MsgRequest::Heartbeat(beat) => {
            if beat.from != from || collab.contact_name(&from).is_none() {
                return MsgResponse::Refused("heartbeat from a non-contact".into());
            }
            let now = now_us();
            let taken = collab.presence().on_heartbeat(now, &beat);
            match taken {
                Ok(()) => {
                    let _ = Store::new(&collab.db()).set_last_seen(&from, now);
                    MsgResponse::Ok
                }
                Err(e) => {
                    bump(&collab.counters().refused);
                    MsgResponse::Refused(e.to_string())
                }
            }
        }
    }
}

/// Opens an envelope from a contact and offers it to the inbox; returns the number up to
/// which its conversation is delivered, or `None` if it was refused.
pub(super) fn receive(collab: &Collab, env: &Envelope) -> Option<u64> {
    let Some(name) = collab.contact_name(&env.from) else {
        bump(&collab.counters().refused);
        return None;
    };
    let body = match env.open(collab.me()) {
        Ok(b) => b,
        Err(e) => {
            bump(&collab.counters().refused);
            debug!(from = %name, "envelope refused: {e}");
            return None;
        }
    };
    let received = Store::new(&collab.db()).receive(env, &body, now_us());
    let received = match received {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("cannot store a message from {name}: {e}");
            return None;
        }
    };
    if received.delivered.is_empty() {
        bump(&collab.counters().duplicates);
    }
    let peer_id = super::peer_of(&env.from)
        .map(|p| p.to_string())
        .unwrap_or_default();
    for m in &received.delivered {
        bump(&collab.counters().delivered);
        collab.set_inbox_head(m.id);
        collab.emit(ApiEvent::MessageReceived {
            id: m.id,
            from: name.clone(),
            peer_id: peer_id.clone(),
            seq: m.seq,
            text: m.text.clone(),
        });
    }
    Some(received.up_to)
}

/// The recipient `to` has every message up to `up_to`.
pub(super) fn acked(collab: &Collab, peer: PeerId, to: PeerKey, up_to: u64) {
    // The database guard must be gone before `contact_name` takes it again.
    let removed = Store::new(&collab.db()).acked(&to, up_to);
    match removed {
        Ok(0) => {}
        Ok(_) => {
            collab.note_ack();
            collab.emit(ApiEvent::MessageAcked {
                to: collab.contact_name(&to).unwrap_or_default(),
                peer_id: peer.to_string(),
                up_to,
            });
        }
        Err(e) => tracing::warn!("cannot record an ack: {e}"),
    }
}

/// Sends `request` to `peer` and reads its answer.
///
/// # Errors
/// A short reason: unreachable, stream broken, timed out, malformed answer.
pub(super) async fn request(
    collab: &Collab,
    peer: PeerId,
    request: &MsgRequest,
) -> Result<MsgResponse, String> {
    collab
        .overlay()
        .connect(peer, CONNECT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let mut control = collab.net().stream_control();
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, control.open_stream(peer, PROTOCOL))
        .await
        .map_err(|_| "stream open timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let (mut reader, mut writer) = stream.split();
    let bytes = wire::encode(request).map_err(|e| e.to_string())?;
    let exchange = async {
        write_frame(&mut writer, &bytes).await?;
        read_frame(&mut reader, MAX_MSG_FRAME).await
    };
    let frame = tokio::time::timeout(READ_TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer in time".to_string())?
        .map_err(|e| e.to_string())?;
    let answer = wire::decode(&frame).map_err(|e| e.to_string())?;
    collab.net().mark_useful(&peer);
    Ok(answer)
}
