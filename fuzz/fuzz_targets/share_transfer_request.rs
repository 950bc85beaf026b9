//! A transfer request received by a provider.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::transfer_request),
    |data: &[u8]| weft_fuzz::share::transfer_request(data)
);
