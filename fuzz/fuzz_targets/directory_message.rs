//! A directory message from a peer: decode, check.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::directory_message),
    |data: &[u8]| weft_fuzz::overlay::directory_message(data)
);
