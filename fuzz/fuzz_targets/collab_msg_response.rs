//! A `/weft/msg/1` response from a peer.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::msg_response),
    |data: &[u8]| weft_fuzz::collab::msg_response(data)
);
