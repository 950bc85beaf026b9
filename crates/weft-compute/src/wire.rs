//! The `/weft/compute/1` messages, one libp2p stream per request: the worker writes a
//! [`Request`], the coordinator answers with one [`Response`]. Credit receipts travel on
//! their own protocol, [`RECEIPTS_PROTOCOL`]: the worker pulls the receipts a coordinator
//! issued to it ([`ReceiptsRequest`], [`ReceiptsResponse`]), numbered from 1 per worker, so a
//! worker that was away asks for what came after the last one it keeps.
//!
//! Every message is encoded with [`weft_core::wire::encode`] and read with [`decode`], which
//! applies the frame limit and then this module's bounds, so a peer's oversized or malformed
//! message is an error, never a panic or a large allocation. Modules and inputs are
//! content-addressed: the worker checks the BLAKE3 hash of every blob it fetches
//! ([`verify_blob`]) before it uses it.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use weft_core::id::Key256;
use weft_core::wire::DecodeError;

use crate::job::{Abi, JobId, Limits, MAX_INPUT_BYTES, MAX_MODULE_BYTES, MAX_OUTPUT_BYTES};
use crate::outcome::Report;
use crate::receipt::SignedReceipt;

/// The protocol name.
pub const PROTOCOL: &str = "/weft/compute/1";
/// Frame limit for requests (a report carries an output of at most [`MAX_OUTPUT_BYTES`]).
pub const MAX_REQUEST_FRAME: usize = MAX_OUTPUT_BYTES as usize + 4096;
/// Frame limit for responses (a blob of at most [`MAX_MODULE_BYTES`]).
pub const MAX_RESPONSE_FRAME: usize = MAX_MODULE_BYTES as usize + 4096;
/// Most units one offer carries.
pub const MAX_OFFER: usize = 16;
/// The receipts protocol's name.
pub const RECEIPTS_PROTOCOL: &str = "/weft/compute/receipts/1";
/// Most receipts in one answer.
pub const MAX_RECEIPTS: usize = 256;
/// Frame limit for both receipt messages (a receipt encodes to under 200 bytes).
pub const MAX_RECEIPTS_FRAME: usize = 64 << 10;

/// A worker asks a coordinator for its receipts numbered above `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsRequest {
    /// The highest receipt number the worker keeps from this coordinator (0: none).
    pub after: u64,
    /// Most receipts wanted (1..=[`MAX_RECEIPTS`]).
    pub max: u16,
}

/// The coordinator's answer: the asking worker's receipts, in number order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsResponse {
    /// `(number, receipt)`, numbers increasing, all above the request's `after`.
    pub receipts: Vec<(u64, SignedReceipt)>,
    /// Whether more wait beyond the last one.
    pub more: bool,
}

/// What a worker asks of a coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Work for up to `slots` idle slots.
    Ask {
        /// Idle slots.
        slots: u8,
    },
    /// The bytes of a module or input by hash.
    Fetch {
        /// The blob's BLAKE3 hash.
        hash: Key256,
    },
    /// The result of a unit.
    Report {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
        /// What happened.
        report: Report,
        /// The output bytes, when the report is an output (its hash is in the outcome).
        output: Vec<u8>,
    },
}

/// A unit offered to a worker: everything it needs to fetch and run it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The job.
    pub job: JobId,
    /// The unit.
    pub unit: u32,
    /// The module's hash.
    pub module: Key256,
    /// The module's size.
    pub module_size: u64,
    /// The module's entry points.
    pub abi: Abi,
    /// The input's hash.
    pub input: Key256,
    /// The input's size.
    pub input_size: u64,
    /// Limits for the unit.
    pub limits: Limits,
    /// Milliseconds the worker has before the unit is issued elsewhere.
    pub deadline_ms: u64,
}

/// A coordinator's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Units for an [`Request::Ask`] (maybe none).
    Offers(Vec<Offer>),
    /// The bytes of a [`Request::Fetch`].
    Blob(Vec<u8>),
    /// The blob is not part of any job here.
    NotFound,
    /// A report was taken.
    Taken,
    /// A report was refused (unknown job, unit not issued to this worker, output that does
    /// not match its hash).
    Refused,
}

/// Why a message was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The codec refused the bytes.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The message decoded but breaks a bound of this protocol.
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

impl Bounded for Request {
    fn check(&self) -> Result<(), WireError> {
        match self {
            Request::Ask { slots } => ensure(*slots > 0, "ask for zero slots"),
            Request::Fetch { .. } => Ok(()),
            Request::Report { output, .. } => ensure(
                output.len() <= MAX_OUTPUT_BYTES as usize,
                "output over the limit",
            ),
        }
    }
}

impl Bounded for Response {
    fn check(&self) -> Result<(), WireError> {
        match self {
            Response::Offers(o) => {
                ensure(o.len() <= MAX_OFFER, "too many offers")?;
                for offer in o {
                    ensure(offer.module_size <= MAX_MODULE_BYTES, "module too large")?;
                    ensure(offer.input_size <= MAX_INPUT_BYTES, "input too large")?;
                    ensure(
                        offer.limits.output_bytes <= MAX_OUTPUT_BYTES,
                        "output limit too large",
                    )?;
                }
                Ok(())
            }
            Response::Blob(b) => ensure(b.len() as u64 <= MAX_MODULE_BYTES, "blob too large"),
            Response::NotFound | Response::Taken | Response::Refused => Ok(()),
        }
    }
}

impl Bounded for ReceiptsRequest {
    fn check(&self) -> Result<(), WireError> {
        ensure(
            self.max > 0 && usize::from(self.max) <= MAX_RECEIPTS,
            "receipts asked for out of 1..=256",
        )
    }
}

impl Bounded for ReceiptsResponse {
    fn check(&self) -> Result<(), WireError> {
        ensure(self.receipts.len() <= MAX_RECEIPTS, "too many receipts")?;
        let mut last = 0;
        for (n, r) in &self.receipts {
            ensure(*n > last, "receipt numbers not increasing")?;
            ensure(r.signature.len() == 64, "receipt signature not 64 bytes")?;
            last = *n;
        }
        Ok(())
    }
}

/// Decodes a message of at most `max` bytes and checks its bounds.
///
/// # Errors
/// [`WireError`] for malformed or out-of-bounds input.
pub fn decode<T: DeserializeOwned + Bounded>(bytes: &[u8], max: usize) -> Result<T, WireError> {
    let msg: T = weft_core::wire::decode(bytes, max)?;
    msg.check()?;
    Ok(msg)
}

/// Checks that a fetched blob is the one asked for: its size and BLAKE3 hash.
///
/// # Errors
/// [`WireError::OutOfBounds`] if the size or the hash differ.
pub fn verify_blob(bytes: &[u8], hash: &Key256, size: u64) -> Result<(), WireError> {
    ensure(bytes.len() as u64 == size, "blob of the wrong size")?;
    ensure(Key256::hash(bytes) == *hash, "blob does not match its hash")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use proptest::prelude::*;

    #[test]
    fn messages_round_trip_and_bounds_hold() {
        let r = Request::Report {
            job: JobId(Key256::hash(b"j")),
            unit: 3,
            report: Report::Done(Outcome::Output {
                hash: Key256::hash(b"o"),
                fuel: 9,
            }),
            output: b"o".to_vec(),
        };
        let bytes = weft_core::wire::encode(&r, MAX_REQUEST_FRAME).unwrap();
        assert_eq!(decode::<Request>(&bytes, MAX_REQUEST_FRAME).unwrap(), r);
        let zero = weft_core::wire::encode(&Request::Ask { slots: 0 }, 64).unwrap();
        assert!(decode::<Request>(&zero, 64).is_err());
        let many = Response::Offers(vec![]);
        let bytes = weft_core::wire::encode(&many, 64).unwrap();
        assert!(decode::<Response>(&bytes, 64).is_ok());
    }

    #[test]
    fn a_blob_must_match_its_hash_and_size() {
        let h = Key256::hash(b"abc");
        assert!(verify_blob(b"abc", &h, 3).is_ok());
        assert!(verify_blob(b"abd", &h, 3).is_err());
        assert!(verify_blob(b"abc", &h, 4).is_err());
    }

    #[test]
    fn a_full_answer_of_receipts_fits_its_frame_and_bounds_hold() {
        use crate::receipt::Receipt;
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let one = Receipt {
            coordinator: [0; 32],
            worker: [0xff; 32],
            job: JobId(Key256::hash(b"j")),
            unit: u32::MAX,
            fuel: u64::MAX,
            validated_at: u64::MAX,
        }
        .sign(&key);
        let full = ReceiptsResponse {
            receipts: (1..=MAX_RECEIPTS as u64)
                .map(|n| (u64::MAX - 1000 + n, one.clone()))
                .collect(),
            more: true,
        };
        let bytes = weft_core::wire::encode(&full, MAX_RECEIPTS_FRAME).unwrap();
        assert_eq!(
            decode::<ReceiptsResponse>(&bytes, MAX_RECEIPTS_FRAME).unwrap(),
            full
        );
        let mut unordered = full.clone();
        unordered.receipts.swap(0, 1);
        let bytes = weft_core::wire::encode(&unordered, MAX_RECEIPTS_FRAME).unwrap();
        assert!(decode::<ReceiptsResponse>(&bytes, MAX_RECEIPTS_FRAME).is_err());
        let mut too_many = full;
        too_many.receipts.push((u64::MAX, one));
        let bytes = weft_core::wire::encode(&too_many, MAX_RECEIPTS_FRAME).unwrap();
        assert!(decode::<ReceiptsResponse>(&bytes, MAX_RECEIPTS_FRAME).is_err());
        for max in [0u16, 257] {
            let b = weft_core::wire::encode(&ReceiptsRequest { after: 0, max }, 64).unwrap();
            assert!(decode::<ReceiptsRequest>(&b, 64).is_err(), "max {max}");
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Request>(&bytes, MAX_REQUEST_FRAME);
            let _ = decode::<Response>(&bytes, MAX_RESPONSE_FRAME);
            let _ = decode::<ReceiptsRequest>(&bytes, MAX_RECEIPTS_FRAME);
            let _ = decode::<ReceiptsResponse>(&bytes, MAX_RECEIPTS_FRAME);
        }
    }
}
