//! weft-share (being built).
