//! weft-sim (being built).
