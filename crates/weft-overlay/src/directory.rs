//! directory engine (being built).
