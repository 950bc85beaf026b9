//! A Chord message from a peer.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::chord_message),
    |data: &[u8]| weft_fuzz::overlay::chord_message(data)
);
