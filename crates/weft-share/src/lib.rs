//! weft-share (being built).

pub mod index;
pub mod transfer;
pub mod verify;
pub mod watch;
