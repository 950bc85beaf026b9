//! can engine (being built).
