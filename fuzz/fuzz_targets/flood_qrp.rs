//! A leaf's route-table transfer: a sequence of QRP updates applied to a table.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::flood_qrp),
    |data: &[u8]| weft_fuzz::overlay::flood_qrp(data)
);
