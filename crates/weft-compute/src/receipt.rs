//! Signed credit receipts: when a worker's result validates, the coordinator states it in a
//! receipt signed with its ed25519 identity key, and the worker keeps it (SETI@home's credit,
//! without a project server to vouch for it).
//!
//! A receipt names the coordinator and the worker by their ed25519 public keys (the keys a
//! weft peer id is made from), the job, the unit, the validated fuel and when it was
//! validated. [`Receipt::signing_bytes`] is its canonical form: a domain tag and the fields in
//! fixed-size little-endian order, so the same receipt always signs to the same bytes and no
//! other weft signature can be passed off as one. Signing and checking use `ed25519-dalek`
//! (pure, no I/O, no randomness: ed25519 signatures are deterministic), so this crate stays
//! pure; the node holds the key.
//!
//! What a receipt proves: that this coordinator said so. Credit is a ledger of statements,
//! not a currency: whoever reads `weft compute credit` of another node decides whom to believe.
//! A receipt is never revoked; the coordinator's own books ([`crate::coordinator::Standing`])
//! stay the authority and are corrected when a result is later found wrong (a unit recomputed
//! after a spot check). That is why a result accepted on one trusted worker's word alone gets
//! its receipt only once that worker passes its next spot check
//! ([`crate::coordinator`]).

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::job::JobId;

/// Prefix of every receipt's signed bytes.
pub const DOMAIN: &[u8] = b"weft/compute/receipt/1\0";
/// Length of [`Receipt::signing_bytes`].
pub const SIGNING_LEN: usize = DOMAIN.len() + 32 + 32 + 32 + 4 + 8 + 8;

/// What a coordinator states about one validated result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The coordinator's ed25519 public key (the signer).
    pub coordinator: [u8; 32],
    /// The worker's ed25519 public key.
    pub worker: [u8; 32],
    /// The job.
    pub job: JobId,
    /// The unit.
    pub unit: u32,
    /// Validated fuel: the credit.
    pub fuel: u64,
    /// When the coordinator validated the result, in Unix seconds (the driver's clock).
    pub validated_at: u64,
}

impl Receipt {
    /// The canonical bytes a coordinator signs.
    pub fn signing_bytes(&self) -> [u8; SIGNING_LEN] {
        let mut out = [0u8; SIGNING_LEN];
        let mut at = 0;
        for part in [
            DOMAIN,
            &self.coordinator,
            &self.worker,
            &self.job.0.0,
            &self.unit.to_le_bytes(),
            &self.fuel.to_le_bytes(),
            &self.validated_at.to_le_bytes(),
        ] {
            out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        out
    }

    /// Signs the receipt with the coordinator's key; the receipt's `coordinator` is set to
    /// that key's public half.
    pub fn sign(mut self, key: &SigningKey) -> SignedReceipt {
        self.coordinator = key.verifying_key().to_bytes();
        let signature = key.sign(&self.signing_bytes()).to_bytes().to_vec();
        SignedReceipt {
            receipt: self,
            signature,
        }
    }
}

/// A receipt with the coordinator's signature: what travels and what the worker keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReceipt {
    /// The statement.
    pub receipt: Receipt,
    /// ed25519 signature by `receipt.coordinator` over [`Receipt::signing_bytes`] (64 bytes).
    pub signature: Vec<u8>,
}

/// Why a receipt does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The signature is not 64 bytes.
    #[error("a receipt signature must be 64 bytes")]
    SignatureSize,
    /// The coordinator field is not an ed25519 public key.
    #[error("the receipt's coordinator is not an ed25519 key")]
    BadKey,
    /// The signature does not match.
    #[error("the receipt's signature does not verify")]
    BadSignature,
    /// It verifies but names another worker or coordinator than expected.
    #[error("the receipt is for another worker or from another coordinator")]
    NotOurs,
}

impl SignedReceipt {
    /// Checks the signature against the coordinator the receipt names.
    ///
    /// # Errors
    /// [`ReceiptError`] for a malformed or forged receipt.
    pub fn verify(&self) -> Result<(), ReceiptError> {
        let sig: [u8; 64] = self
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| ReceiptError::SignatureSize)?;
        let key = VerifyingKey::from_bytes(&self.receipt.coordinator)
            .map_err(|_| ReceiptError::BadKey)?;
        key.verify(&self.receipt.signing_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| ReceiptError::BadSignature)
    }

    /// What a worker checks before it keeps a receipt that `coordinator` delivered to it: the
    /// signature, and that it names both of them (a peer cannot hand over someone else's
    /// receipts as its own, nor get a receipt meant for another worker kept).
    ///
    /// # Errors
    /// [`ReceiptError`].
    pub fn verify_for(
        &self,
        coordinator: &[u8; 32],
        worker: &[u8; 32],
    ) -> Result<(), ReceiptError> {
        self.verify()?;
        if self.receipt.coordinator != *coordinator || self.receipt.worker != *worker {
            return Err(ReceiptError::NotOurs);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_core::id::Key256;

    fn receipt() -> Receipt {
        Receipt {
            coordinator: [0; 32],
            worker: [7; 32],
            job: JobId(Key256::hash(b"job")),
            unit: 3,
            fuel: 12_345,
            validated_at: 1_700_000_000,
        }
    }

    #[test]
    fn a_signed_receipt_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let signed = receipt().sign(&key);
        assert_eq!(signed.receipt.coordinator, key.verifying_key().to_bytes());
        signed.verify().unwrap();
        signed
            .verify_for(&key.verifying_key().to_bytes(), &[7; 32])
            .unwrap();
        assert_eq!(
            signed.verify_for(&key.verifying_key().to_bytes(), &[8; 32]),
            Err(ReceiptError::NotOurs)
        );
        let mut forged = signed.clone();
        forged.receipt.fuel += 1;
        assert_eq!(forged.verify(), Err(ReceiptError::BadSignature));
        let mut other = signed.clone();
        other.receipt.coordinator = SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes();
        assert_eq!(other.verify(), Err(ReceiptError::BadSignature));
        let mut short = signed;
        short.signature.pop();
        assert_eq!(short.verify(), Err(ReceiptError::SignatureSize));
    }

    #[test]
    fn the_signed_bytes_are_pinned() {
        // golden: the canonical form is part of the protocol; changing it orphans every
        // receipt a worker keeps.
        let b = receipt().signing_bytes();
        assert_eq!(b.len(), SIGNING_LEN);
        assert!(b.starts_with(DOMAIN));
        let tail = &b[DOMAIN.len() + 96..];
        assert_eq!(
            tail,
            [
                3, 0, 0, 0, 0x39, 0x30, 0, 0, 0, 0, 0, 0, 0, 0xf1, 0x53, 0x65, 0, 0, 0, 0
            ]
        );
        let key = SigningKey::from_bytes(&[1; 32]);
        let sig = receipt().sign(&key).signature;
        assert_eq!(
            sig,
            receipt().sign(&key).signature,
            "ed25519 is deterministic"
        );
    }
}
