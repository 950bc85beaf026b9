//! The WebAssembly sandbox that runs weft work units (wasmtime 48, Cranelift).
//!
//! A [`Sandbox`] holds one wasmtime engine configured for determinism (built without the
//! `threads` feature, so no shared memory or atomics waits; NaNs
//! canonicalized, deterministic relaxed SIMD) and for containment: every unit runs in a store
//! of its own with fuel (the job's instruction budget), an epoch deadline (the job's wall-clock
//! limit, ticked by a thread every [`EPOCH_TICK`]), `StoreLimits` on memory, tables and
//! instances, a fixed stack limit ([`MAX_WASM_STACK`]) and the job's output size limit. A module
//! is compiled once and cached by its hash ([`cache::ModuleCache`]); one that imports anything
//! or lacks the ABI's exports (see `weft_compute`'s crate docs) is refused before it runs.
//! [`pool::Pool`] runs units on as many threads as the node lends cores.
//!
//! Every way a unit can end is a value, never a panic of the host: an output, a deterministic
//! [`weft_compute::outcome::Failure`] (trap, fuel, output limit, bad module) or a give-up
//! (wall clock), each with a line that says what happened ([`RunError`]).
//!
//! # Examples and figures
//!
//! `examples/compute/` holds the example modules with their sources (WAT, and C built by
//! clang; `build.sh` rebuilds them). This crate's `build.rs` compiles the C ones natively with
//! the machine's C compiler (the `cc` crate) into a static library nothing in the crate calls:
//! `tests/examples.rs` runs every shipped `.wasm` against it, and `examples/compute_bench.rs`
//! times each kernel natively, in this sandbox and in wasmtime's default configuration. The
//! figures, and the build time this crate adds, are in `docs/measurements.md`: the sandbox's
//! cost is NaN canonicalization (floating-point kernels at 0.2–0.5x native, near 1x without
//! it) and two divisions where native code does one; fuel and epoch checks cost little.

pub mod cache;
pub mod pool;
mod run;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use weft_compute::outcome::{Failure, GaveUp, Outcome, Report};

pub use run::{Checkpoint, Finished};

/// How often the wall-clock epoch advances.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// The WebAssembly stack limit (the same on every worker, so deep recursion fails alike).
pub const MAX_WASM_STACK: usize = 512 << 10;
/// Most tables, table elements and memories a module may have.
pub const MAX_TABLES: usize = 4;
/// Most elements in all tables.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Why a unit did not produce an output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// A deterministic failure: every honest worker fails the same way, so it is an outcome.
    #[error("{}: {detail} (after {fuel} fuel)", failure.as_str())]
    Failed {
        /// How it failed.
        failure: Failure,
        /// Fuel used until then.
        fuel: u64,
        /// What happened, for a person.
        detail: String,
    },
    /// The unit ran past its wall-clock limit on this worker.
    #[error("wall-clock limit of {limit_ms} ms reached")]
    WallClock {
        /// The limit.
        limit_ms: u64,
    },
    /// The host could not run it (a broken engine, a full pool).
    #[error("the sandbox could not run the unit: {0}")]
    Internal(String),
}

impl RunError {
    /// The report a worker sends for this error.
    pub fn report(&self) -> Report {
        match self {
            RunError::Failed { failure, fuel, .. } => Report::Done(Outcome::Failed {
                failure: *failure,
                fuel: *fuel,
            }),
            RunError::WallClock { .. } => Report::GaveUp(GaveUp::WallClock),
            RunError::Internal(_) => Report::GaveUp(GaveUp::Internal),
        }
    }
}

/// The shared engine, module cache and epoch ticker.
pub struct Sandbox {
    engine: wasmtime::Engine,
    cache: cache::ModuleCache,
    stop: Arc<AtomicBool>,
}

impl Sandbox {
    /// A sandbox with its epoch ticker thread.
    ///
    /// # Errors
    /// [`RunError::Internal`] if wasmtime refuses the configuration or the thread cannot start.
    pub fn new() -> Result<Arc<Self>, RunError> {
        let mut config = wasmtime::Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true);
        let engine =
            wasmtime::Engine::new(&config).map_err(|e| RunError::Internal(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("weft-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                }
            })
            .map_err(|e| RunError::Internal(e.to_string()))?;
        Ok(Arc::new(Sandbox {
            engine,
            cache: cache::ModuleCache::new(cache::DEFAULT_CACHED_MODULES),
            stop,
        }))
    }

    /// The module cache.
    pub fn cache(&self) -> &cache::ModuleCache {
        &self.cache
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
