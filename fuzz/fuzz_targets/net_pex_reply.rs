//! A peer-exchange reply.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::pex_reply),
    |data: &[u8]| weft_fuzz::net::pex_reply(data)
);
