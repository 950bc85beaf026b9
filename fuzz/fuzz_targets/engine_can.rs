//! A network of honest CAN engines and a hostile peer, all driven by the input.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: weft_fuzz::seeds::write_if_asked(weft_fuzz::seeds::engine_can),
    |data: &[u8]| weft_fuzz::network::run::<weft_fuzz::scenarios::CanNet>(data)
);
