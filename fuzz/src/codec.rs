//! Decoding as a receiving node does, and the round-trip property every decoder must keep.

use serde::{Serialize, de::DeserializeOwned};
use weft_core::wire;

/// Decodes `bytes` with the codec's frame limit `max`, as the node does on receipt.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Option<T> {
    wire::decode(bytes, max).ok()
}

/// Re-encodes a decoded value and checks that it decodes to an equal value.
///
/// # Panics
/// If the value cannot be encoded or decodes to something else: the codec is not symmetric.
pub fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(msg: &T) {
    let bytes = match wire::encode(msg, usize::MAX) {
        Ok(b) => b,
        Err(e) => panic!("decoded message does not encode: {e}: {msg:?}"),
    };
    match wire::decode::<T>(&bytes, usize::MAX) {
        Ok(back) => assert_eq!(&back, msg, "round trip changed the message"),
        Err(e) => panic!("re-encoded message does not decode: {e}: {msg:?}"),
    }
}
