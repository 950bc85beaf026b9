//! A publish message received by a directory.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::publish),
    |data: &[u8]| weft_fuzz::share::publish(data)
);
