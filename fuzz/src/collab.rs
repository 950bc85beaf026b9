//! Decoder targets for collaboration: `/weft/msg/1` requests and answers
//! ([`weft_collab::wire`]), then what a receiving node checks of every envelope and heartbeat.

use weft_collab::wire::{self, MsgRequest, MsgResponse};

use crate::codec::round_trip;

/// A node receiving a [`MsgRequest`]: decoded with its bounds, round-tripped, and every
/// envelope and heartbeat verified (a random one must never pass).
pub fn msg_request(data: &[u8]) {
    let Ok(m) = wire::decode::<MsgRequest>(data) else {
        return;
    };
    round_trip(&m);
    match &m {
        MsgRequest::Deliver(envs) | MsgRequest::Deposit(envs) => {
            for e in envs {
                let _ = e.verify();
            }
        }
        MsgRequest::Heartbeat(h) => {
            let _ = h.verify();
        }
        MsgRequest::Collect | MsgRequest::MailboxAck { .. } | MsgRequest::Receipt { .. } => {}
    }
}

/// A node receiving a [`MsgResponse`] (a collection's envelopes are verified as the recipient
/// does before it opens them).
pub fn msg_response(data: &[u8]) {
    let Ok(m) = wire::decode::<MsgResponse>(data) else {
        return;
    };
    round_trip(&m);
    if let MsgResponse::Collected { envelopes, .. } = &m {
        for e in envelopes {
            let _ = e.verify();
        }
    }
}
