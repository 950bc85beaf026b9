//! weft-store (being built).
