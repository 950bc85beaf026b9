//! A search query from a peer.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::search_query),
    |data: &[u8]| weft_fuzz::share::search_query(data)
);
