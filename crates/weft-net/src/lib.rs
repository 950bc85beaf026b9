//! weft-net (being built).
