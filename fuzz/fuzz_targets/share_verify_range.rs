//! An encoded slice from a provider, verified against the content's root.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::verify_range),
    |data: &[u8]| weft_fuzz::share::verify_range(data)
);
