//! A transfer response received by a downloader, matched to its request.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::transfer_response),
    |data: &[u8]| weft_fuzz::share::transfer_response(data)
);
