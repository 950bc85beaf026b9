//! The adapters: one [`crate::algorithm::Algorithm`] per engine of `weft-overlay`, plus the
//! simulator's own successor-only [`ring`] baseline.

pub mod ring;
