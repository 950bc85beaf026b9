//! A flood message from a peer: decode, check, apply a route-table update.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::flood_message),
    |data: &[u8]| weft_fuzz::overlay::flood_message(data)
);
