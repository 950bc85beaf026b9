//! An HTTP client's `Range` header, resolved by the content gateway against a content size.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::http_range),
    |data: &[u8]| weft_fuzz::share::http_range(data)
);
