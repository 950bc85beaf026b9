//! One message of a conversation, sealed to its recipient and signed by its sender.
//!
//! The body (send time and text) is encrypted with HPKE to the recipient's key
//! ([`crate::keys`]); the associated data binds it to `(from, to, seq)`, and the sender's
//! ed25519 signature covers those and the ciphertext. A mailbox peer can so check who a
//! message is from and to (for its quotas and for the recipient's collection) without reading
//! it; the recipient checks the signature before it decrypts.

use hpke::rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::keys::{CryptoError, ENC_BYTES, Identity, PeerKey, SIG_BYTES};

/// Longest message text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Longest ciphertext: the encoded body (text, time, lengths) and the AEAD tag.
pub const MAX_CIPHERTEXT_BYTES: usize = MAX_TEXT_BYTES + 64;

const INFO: &[u8] = b"weft/msg/1 conversation";
const SIGNED: &[u8] = b"weft/msg/1 envelope";

/// What the sender wrote, as the recipient reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// When the sender sent it, µs since the Unix epoch, by the sender's clock.
    pub sent_us: u64,
    /// The text.
    pub text: String,
}

/// A sealed, signed message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sender.
    pub from: PeerKey,
    /// The recipient.
    pub to: PeerKey,
    /// Its place in the conversation `from → to`, from 1.
    pub seq: u64,
    /// HPKE encapsulated key.
    pub enc: Vec<u8>,
    /// HPKE ciphertext of the postcard-encoded [`Body`].
    pub ciphertext: Vec<u8>,
    /// The sender's signature over [`Envelope::signed_bytes`].
    pub sig: Vec<u8>,
}

/// Why an envelope was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// A field has the wrong size.
    #[error("malformed envelope: {0}")]
    Malformed(&'static str),
    /// The text is longer than [`MAX_TEXT_BYTES`].
    #[error("message text is {0} bytes; the most is {MAX_TEXT_BYTES}")]
    TooLong(usize),
    /// It is not addressed to us.
    #[error("envelope is addressed to another peer")]
    NotForUs,
    /// Signature or decryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn aad(from: &PeerKey, to: &PeerKey, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(72);
    out.extend_from_slice(&from.0);
    out.extend_from_slice(&to.0);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

impl Envelope {
    /// Seals `body` from `me` to `to` as message `seq`.
    ///
    /// # Errors
    /// [`EnvelopeError::TooLong`] for a long text, [`EnvelopeError::Crypto`] for a bad key.
    pub fn seal(
        me: &Identity,
        to: PeerKey,
        seq: u64,
        body: &Body,
        rng: &mut impl CryptoRng,
    ) -> Result<Envelope, EnvelopeError> {
        if body.text.len() > MAX_TEXT_BYTES {
            return Err(EnvelopeError::TooLong(body.text.len()));
        }
        let from = me.peer_key();
        let plain = weft_core::wire::encode(body, MAX_CIPHERTEXT_BYTES)
            .map_err(|_| EnvelopeError::TooLong(body.text.len()))?;
        let (enc, ciphertext) = to.seal(INFO, &aad(&from, &to, seq), &plain, rng)?;
        let mut env = Envelope {
            from,
            to,
            seq,
            enc,
            ciphertext,
            sig: Vec::new(),
        };
        env.sig = me.sign(&env.signed_bytes()).to_vec();
        Ok(env)
    }

    /// What the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(SIGNED.len() + 72 + self.enc.len() + self.ciphertext.len());
        out.extend_from_slice(SIGNED);
        out.extend_from_slice(&aad(&self.from, &self.to, self.seq));
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Checks sizes and the sender's signature (what a mailbox peer can check).
    ///
    /// # Errors
    /// [`EnvelopeError`] naming what is wrong.
    pub fn verify(&self) -> Result<(), EnvelopeError> {
        if self.enc.len() != ENC_BYTES {
            return Err(EnvelopeError::Malformed("encapsulated key size"));
        }
        if self.sig.len() != SIG_BYTES {
            return Err(EnvelopeError::Malformed("signature size"));
        }
        if self.ciphertext.len() > MAX_CIPHERTEXT_BYTES {
            return Err(EnvelopeError::Malformed("ciphertext too long"));
        }
        if self.seq == 0 {
            return Err(EnvelopeError::Malformed("sequence number 0"));
        }
        self.from.verify(&self.signed_bytes(), &self.sig)?;
        Ok(())
    }

    /// Verifies and decrypts an envelope addressed to `me`.
    ///
    /// # Errors
    /// [`EnvelopeError`] if it is not for us, forged, tampered with or malformed.
    pub fn open(&self, me: &Identity) -> Result<Body, EnvelopeError> {
        if self.to != me.peer_key() {
            return Err(EnvelopeError::NotForUs);
        }
        self.verify()?;
        let plain = me.open(
            INFO,
            &aad(&self.from, &self.to, self.seq),
            &self.enc,
            &self.ciphertext,
        )?;
        let body: Body = weft_core::wire::decode(&plain, MAX_CIPHERTEXT_BYTES)
            .map_err(|_| EnvelopeError::Malformed("body"))?;
        if body.text.len() > MAX_TEXT_BYTES {
            return Err(EnvelopeError::TooLong(body.text.len()));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::test_rng::rng;

    fn body(text: &str) -> Body {
        Body {
            sent_us: 7,
            text: text.into(),
        }
    }

    #[test]
    fn the_recipient_opens_what_was_sealed_to_it() {
        let (a, b) = (Identity::from_seed(&[1; 32]), Identity::from_seed(&[2; 32]));
        let env = Envelope::seal(&a, b.peer_key(), 1, &body("hi"), &mut rng()).unwrap();
        env.verify().unwrap();
        assert_eq!(env.open(&b).unwrap(), body("hi"));
        assert_eq!(env.open(&a), Err(EnvelopeError::NotForUs));
    }

    #[test]
    fn a_changed_field_or_a_forged_sender_is_refused() {
        let (a, b, m) = (
            Identity::from_seed(&[1; 32]),
            Identity::from_seed(&[2; 32]),
            Identity::from_seed(&[3; 32]),
        );
        let env = Envelope::seal(&a, b.peer_key(), 1, &body("hi"), &mut rng()).unwrap();
        let mut replayed = env.clone();
        replayed.seq = 2;
        assert!(replayed.open(&b).is_err());
        let mut forged = env.clone();
        forged.from = m.peer_key();
        assert!(forged.verify().is_err());
        // a mallory re-signing a's ciphertext as hers cannot make b read it as from her
        let mut resigned = env.clone();
        resigned.from = m.peer_key();
        resigned.sig = m.sign(&resigned.signed_bytes()).to_vec();
        resigned.verify().unwrap();
        assert!(resigned.open(&b).is_err());
        let mut short = env;
        short.sig.truncate(3);
        assert_eq!(
            short.verify(),
            Err(EnvelopeError::Malformed("signature size"))
        );
    }

    #[test]
    fn long_texts_are_refused_before_sealing() {
        let (a, b) = (Identity::from_seed(&[1; 32]), Identity::from_seed(&[2; 32]));
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert!(matches!(
            Envelope::seal(&a, b.peer_key(), 1, &body(&long), &mut rng()),
            Err(EnvelopeError::TooLong(_))
        ));
        let max = "x".repeat(MAX_TEXT_BYTES);
        let env = Envelope::seal(&a, b.peer_key(), 1, &body(&max), &mut rng()).unwrap();
        assert_eq!(env.open(&b).unwrap().text.len(), MAX_TEXT_BYTES);
    }
}
