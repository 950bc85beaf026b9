//! Length-prefixed frames read from a stream.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::read_frame),
    |data: &[u8]| weft_fuzz::net::read_frames(data)
);
