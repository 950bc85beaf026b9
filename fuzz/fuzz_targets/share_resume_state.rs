//! A stored resume state, parsed and resumed from.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::resume_state),
    |data: &[u8]| weft_fuzz::share::resume_state(data)
);
