//! pastry engine (being built).
