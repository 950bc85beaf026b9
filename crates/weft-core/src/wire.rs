//! The wire codec: every message a peer sends is a version byte followed by a postcard body,
//! carried in a frame of at most a protocol-chosen size.
//!
//! Decoding never panics and never allocates more than the frame it was given: postcard
//! reads lengths from the input and fails when the input runs out.

use serde::{Serialize, de::DeserializeOwned};

/// The codec version written in front of every message.
pub const WIRE_VERSION: u8 = 1;

/// The default upper bound for one framed message (1 MiB).
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// Why bytes from a peer were refused.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame was empty.
    #[error("empty frame")]
    Empty,
    /// The frame is larger than the protocol allows.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A codec version this build does not speak.
    #[error("unsupported wire version {0}")]
    Version(u8),
    /// The body is malformed.
    #[error("malformed message: {0}")]
    Malformed(#[from] postcard::Error),
}

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Serialization failed.
    #[error("cannot encode message: {0}")]
    Codec(#[from] postcard::Error),
    /// The encoded message is over the limit.
    #[error("encoded message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Encoded size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Encodes `msg` with the version byte, refusing results over `max` bytes.
///
/// # Errors
/// [`EncodeError`] if serialization fails or the result exceeds `max`.
pub fn encode<T: Serialize>(msg: &T, max: usize) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![WIRE_VERSION];
    out = postcard::to_extend(msg, out)?;
    if out.len() > max {
        return Err(EncodeError::TooLarge {
            len: out.len(),
            max,
        });
    }
    Ok(out)
}

/// Decodes one message produced by [`encode`], refusing frames over `max` bytes.
///
/// # Errors
/// [`DecodeError`] for empty, oversized, wrongly versioned or malformed input.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != WIRE_VERSION {
        return Err(DecodeError::Version(version));
    }
    Ok(postcard::from_bytes(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Msg {
        Ping(u64),
        Words(Vec<String>),
    }

    proptest! {
        #[test]
        fn round_trip(n in any::<u64>(), words in proptest::collection::vec(".{0,20}", 0..8)) {
            for m in [Msg::Ping(n), Msg::Words(words.clone())] {
                let bytes = encode(&m, DEFAULT_MAX_FRAME).unwrap();
                prop_assert_eq!(decode::<Msg>(&bytes, DEFAULT_MAX_FRAME).unwrap(), m);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<Msg>(&bytes, DEFAULT_MAX_FRAME);
        }
    }

    #[test]
    fn limits_hold() {
        let big = Msg::Words(vec!["x".repeat(100)]);
        assert!(matches!(
            encode(&big, 10),
            Err(EncodeError::TooLarge { .. })
        ));
        assert!(matches!(decode::<Msg>(&[], 10), Err(DecodeError::Empty)));
        assert!(matches!(
            decode::<Msg>(&[9, 0], 10),
            Err(DecodeError::Version(9))
        ));
        assert!(matches!(
            decode::<Msg>(&[0; 11], 10),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
