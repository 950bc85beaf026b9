//! chord engine (being built).
