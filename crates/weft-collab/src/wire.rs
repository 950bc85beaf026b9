//! `/weft/msg/1`: one request and one answer per libp2p stream, each a length-prefixed frame
//! of [`weft_core::wire`] (version byte + postcard), read with [`decode`], which applies the
//! frame limit and then this module's bounds, so a malformed or oversized message is an
//! error, never a panic or a large allocation.
//!
//! The peer a request comes from is the connection's authenticated peer: `Deliver` and
//! `Deposit` carry only envelopes that peer signed, `Collect` and `MailboxAck` concern only
//! envelopes addressed to it, and `Receipt` acks only conversations towards it.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use weft_core::wire::DecodeError;

use crate::envelope::{Envelope, MAX_CIPHERTEXT_BYTES};
use crate::keys::PeerKey;
use crate::mailbox::Refusal;
use crate::presence::Heartbeat;

/// Most envelopes in one request or answer.
pub const MAX_BATCH: usize = 16;
/// Frame limit of requests and answers: a full batch of the largest envelopes fits.
pub const MAX_MSG_FRAME: usize = MAX_BATCH * (MAX_CIPHERTEXT_BYTES + 256) + 1024;

/// A request on `/weft/msg/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MsgRequest {
    /// Direct delivery of the sender's own messages, in order.
    Deliver(Vec<Envelope>),
    /// Store the sender's own messages for their offline recipient.
    Deposit(Vec<Envelope>),
    /// The recipient asks a mailbox for what it holds for it.
    Collect,
    /// The recipient tells a mailbox it has every message of `sender` up to `up_to`.
    MailboxAck {
        /// The conversation's sender.
        sender: PeerKey,
        /// Highest sequence number received, with all before it.
        up_to: u64,
    },
    /// The recipient tells the sender it has every message up to `up_to` (end-to-end ack).
    Receipt {
        /// Highest sequence number received, with all before it.
        up_to: u64,
    },
    /// I am here.
    Heartbeat(Heartbeat),
}

/// An answer on `/weft/msg/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MsgResponse {
    /// To `Deliver`: every message of yours up to `up_to` is here (end-to-end ack).
    Delivered {
        /// Highest sequence number received, with all before it.
        up_to: u64,
    },
    /// To `Deposit`: how many were kept (or were held already), and why the rest were not.
    Deposited {
        /// Copies kept.
        stored: u16,
        /// Why the first refused one was refused.
        refused: Option<Refusal>,
    },
    /// To `Collect`: envelopes for you; `more` if the mailbox holds others.
    Collected {
        /// Oldest first, per sender in order.
        envelopes: Vec<Envelope>,
        /// More remain.
        more: bool,
    },
    /// Taken.
    Ok,
    /// Refused, with a short reason.
    Refused(String),
}

/// Why a message was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The codec refused the bytes.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The message decoded but breaks a bound.
    #[error("message out of bounds: {0}")]
    OutOfBounds(&'static str),
}

/// A message with bounds beyond the frame limit.
pub trait Bounded {
    /// Checks the bounds.
    ///
    /// # Errors
    /// [`WireError::OutOfBounds`] naming the first bound broken.
    fn check(&self) -> Result<(), WireError>;
}

fn ensure(ok: bool, what: &'static str) -> Result<(), WireError> {
    if ok {
        Ok(())
    } else {
        Err(WireError::OutOfBounds(what))
    }
}

fn check_batch(envs: &[Envelope], may_be_empty: bool) -> Result<(), WireError> {
    ensure(envs.len() <= MAX_BATCH, "too many envelopes")?;
    ensure(may_be_empty || !envs.is_empty(), "no envelopes")?;
    for e in envs {
        ensure(
            e.enc.len() == crate::keys::ENC_BYTES,
            "encapsulated key size",
        )?;
        ensure(e.sig.len() == crate::keys::SIG_BYTES, "signature size")?;
        ensure(
            e.ciphertext.len() <= MAX_CIPHERTEXT_BYTES,
            "ciphertext too long",
        )?;
        ensure(e.seq > 0, "sequence number 0")?;
    }
    Ok(())
}

impl Bounded for MsgRequest {
    fn check(&self) -> Result<(), WireError> {
        match self {
            MsgRequest::Deliver(envs) | MsgRequest::Deposit(envs) => check_batch(envs, false),
            MsgRequest::Heartbeat(h) => {
                ensure(h.sig.len() == crate::keys::SIG_BYTES, "signature size")
            }
            MsgRequest::Collect | MsgRequest::MailboxAck { .. } | MsgRequest::Receipt { .. } => {
                Ok(())
            }
        }
    }
}

impl Bounded for MsgResponse {
    fn check(&self) -> Result<(), WireError> {
        match self {
            MsgResponse::Collected { envelopes, .. } => check_batch(envelopes, true),
            MsgResponse::Refused(why) => ensure(why.len() <= 200, "reason too long"),
            MsgResponse::Delivered { .. } | MsgResponse::Deposited { .. } | MsgResponse::Ok => {
                Ok(())
            }
        }
    }
}

/// Decodes a message of at most [`MAX_MSG_FRAME`] bytes and checks its bounds.
///
/// # Errors
/// [`WireError`] for malformed or out-of-bounds input.
pub fn decode<T: DeserializeOwned + Bounded>(bytes: &[u8]) -> Result<T, WireError> {
    let msg: T = weft_core::wire::decode(bytes, MAX_MSG_FRAME)?;
    msg.check()?;
    Ok(msg)
}

/// Encodes a message (at most [`MAX_MSG_FRAME`] bytes).
///
/// # Errors
/// If it is larger.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, weft_core::wire::EncodeError> {
    weft_core::wire::encode(msg, MAX_MSG_FRAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Body;
    use crate::keys::Identity;
    use crate::keys::test_rng::rng;
    use proptest::prelude::*;

    #[test]
    fn a_full_batch_of_the_largest_envelopes_fits_the_frame() {
        let (a, b) = (Identity::from_seed(&[1; 32]), Identity::from_seed(&[2; 32]));
        let body = Body {
            sent_us: u64::MAX,
            text: "é".repeat(crate::envelope::MAX_TEXT_BYTES / 2),
        };
        let env = Envelope::seal(&a, b.peer_key(), u64::MAX, &body, &mut rng()).unwrap();
        let req = MsgRequest::Deliver(vec![env; MAX_BATCH]);
        let bytes = encode(&req).unwrap();
        assert_eq!(decode::<MsgRequest>(&bytes).unwrap(), req);
    }

    #[test]
    fn out_of_bounds_batches_are_refused() {
        let bytes = encode(&MsgRequest::Deliver(Vec::new())).unwrap();
        assert!(matches!(
            decode::<MsgRequest>(&bytes),
            Err(WireError::OutOfBounds(_))
        ));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode::<MsgRequest>(&bytes);
            let _ = decode::<MsgResponse>(&bytes);
        }
    }
}
