//! flood engine (being built).
