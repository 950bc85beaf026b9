//! A CAN message from a peer, and the zone arithmetic on its zones.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::can_message),
    |data: &[u8]| weft_fuzz::overlay::can_message(data)
);
