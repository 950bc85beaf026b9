//! weft-share (being built).

pub mod verify;
