//! weft-share (being built).

pub mod transfer;
pub mod verify;
