//! weft-node (being built).
