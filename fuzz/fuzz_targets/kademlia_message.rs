//! A Kademlia message from a peer: decode, validate.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::kademlia_message),
    |data: &[u8]| weft_fuzz::overlay::kademlia_message(data)
);
