//! Keys: the node's ed25519 identity signs, and the same key, converted to X25519 (the
//! birational map of RFC 7748 §4.1, as libsodium's `crypto_sign_ed25519_pk_to_curve25519`
//! does), is the recipient key of HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, ChaCha20-Poly1305).
//!
//! So a peer id is enough to write to someone, even while they are offline: no key has to be
//! fetched or published first. The cost: no forward secrecy against the recipient's long-term
//! key (a stolen `identity.key` opens every stored ciphertext sent to it) and no
//! post-compromise security; the sender's side is forward-secret (a fresh ephemeral key per
//! message). MLS (RFC 9420) two-member groups would give both, at the price of a key
//! package fetched from the recipient before the first message — see the crate's notes in
//! ARCHITECTURE.md.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::rand_core::CryptoRng;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use serde::{Deserialize, Serialize};

type Kem = X25519HkdfSha256;

/// Bytes of an HPKE encapsulated key (X25519).
pub const ENC_BYTES: usize = 32;
/// Bytes of an ed25519 signature.
pub const SIG_BYTES: usize = 64;

/// A peer's ed25519 public key: who a message is from or to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerKey(pub [u8; 32]);

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PeerKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// Why keys or ciphertexts were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The bytes are not a valid ed25519 public key.
    #[error("not a valid ed25519 public key")]
    BadKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// HPKE refused to seal or open (wrong recipient, tampered ciphertext).
    #[error("cannot decrypt: {0}")]
    Hpke(String),
}

impl PeerKey {
    fn verifying(&self) -> Result<VerifyingKey, CryptoError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| CryptoError::BadKey)
    }

    /// Checks `sig` over `msg` (strict verification: no malleable or small-order keys).
    ///
    /// # Errors
    /// [`CryptoError`] if the key or the signature is bad.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let sig: [u8; SIG_BYTES] = sig.try_into().map_err(|_| CryptoError::BadSignature)?;
        self.verifying()?
            .verify_strict(msg, &Signature::from_bytes(&sig))
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Seals `plaintext` to this peer with HPKE base mode; returns (encapsulated key,
    /// ciphertext with tag).
    ///
    /// # Errors
    /// [`CryptoError`] if the key is not a valid point.
    pub fn seal(
        &self,
        info: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        let montgomery = self.verifying()?.to_montgomery().to_bytes();
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&montgomery)
            .map_err(|e| CryptoError::Hpke(e.to_string()))?;
        let (enc, ct) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeS::Base,
            &pk,
            info,
            plaintext,
            aad,
            rng,
        )
        .map_err(|e| CryptoError::Hpke(e.to_string()))?;
        Ok((enc.to_bytes().to_vec(), ct))
    }
}

/// The node's identity: its ed25519 secret key.
pub struct Identity {
    signing: SigningKey,
    hpke: <Kem as hpke::Kem>::PrivateKey,
}

impl Identity {
    /// From the 32-byte ed25519 secret seed (libp2p's `ed25519::SecretKey`).
    pub fn from_seed(seed: &[u8; 32]) -> Identity {
        let signing = SigningKey::from_bytes(seed);
        // The X25519 scalar is the clamped first half of SHA-512(seed), the very scalar whose
        // multiple of the base point is the ed25519 public key.
        let scalar = signing.to_scalar_bytes();
        let hpke = match <Kem as hpke::Kem>::PrivateKey::from_bytes(&scalar) {
            Ok(k) => k,
            // 32 bytes always deserialize (they are clamped); derive one anyway rather than panic.
            Err(_) => Kem::derive_keypair(&scalar).0,
        };
        Identity { signing, hpke }
    }

    /// This identity's public key.
    pub fn peer_key(&self) -> PeerKey {
        PeerKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; SIG_BYTES] {
        self.signing.sign(msg).to_bytes()
    }

    /// Opens what [`PeerKey::seal`] sealed to this identity.
    ///
    /// # Errors
    /// [`CryptoError::Hpke`] if it was not sealed to us with this `info` and `aad`, or was
    /// tampered with.
    pub fn open(
        &self,
        info: &[u8],
        aad: &[u8],
        enc: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
            .map_err(|e| CryptoError::Hpke(e.to_string()))?;
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &self.hpke,
            &enc,
            info,
            ciphertext,
            aad,
        )
        .map_err(|e| CryptoError::Hpke(e.to_string()))
    }
}

#[cfg(test)]
pub(crate) mod test_rng {
    //! The OS RNG for tests.
    pub fn rng() -> impl hpke::rand_core::CryptoRng {
        hpke::rand_core::UnwrapErr(getrandom::SysRng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_to_a_peer_key_opens_with_its_identity_only() {
        let alice = Identity::from_seed(&[1; 32]);
        let bob = Identity::from_seed(&[2; 32]);
        let mut rng = test_rng::rng();
        let (enc, ct) = bob
            .peer_key()
            .seal(b"info", b"aad", b"hello", &mut rng)
            .unwrap();
        assert_eq!(bob.open(b"info", b"aad", &enc, &ct).unwrap(), b"hello");
        assert!(alice.open(b"info", b"aad", &enc, &ct).is_err());
        assert!(bob.open(b"info", b"other", &enc, &ct).is_err());
        let mut tampered = ct.clone();
        tampered[0] ^= 1;
        assert!(bob.open(b"info", b"aad", &enc, &tampered).is_err());
    }

    #[test]
    fn signatures_verify_with_the_peer_key_only() {
        let alice = Identity::from_seed(&[1; 32]);
        let sig = alice.sign(b"m");
        assert!(alice.peer_key().verify(b"m", &sig).is_ok());
        assert!(alice.peer_key().verify(b"n", &sig).is_err());
        assert!(
            Identity::from_seed(&[3; 32])
                .peer_key()
                .verify(b"m", &sig)
                .is_err()
        );
        assert!(alice.peer_key().verify(b"m", &sig[..10]).is_err());
    }
}
