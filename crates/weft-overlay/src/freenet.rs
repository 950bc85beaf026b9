//! freenet engine (being built).
