//! A `/weft/msg/1` request from a peer.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::msg_request),
    |data: &[u8]| weft_fuzz::collab::msg_request(data)
);
