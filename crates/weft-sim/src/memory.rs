//! The report's resource figures: wall-clock seconds and the memory a run added at its peak.
//!
//! These are the only figures of a run that depend on the machine; nothing the simulation
//! decides reads them, so they never reach the trace. [`Meter`] holds the crate's one
//! wall-clock read.
//!
//! # Memory per run
//!
//! A binary that runs the simulator (`weft`, the `sim` example) installs [`CountingAlloc`]
//! as its global allocator: the system allocator, plus a count of the bytes allocated and not
//! yet freed and its high-water mark, kept only once a [`Meter`] has switched counting on (so
//! the node pays one relaxed load per allocation and nothing more). A run's figure is then
//! its own: the high-water mark since the run started less the bytes allocated at its start,
//! in MiB. It counts what the run asked for, never what an earlier run freed and left to the
//! allocator, so it cannot read 0 for a run that built anything (the resident-set figure it
//! replaces read 0 for some 10^5-node runs that reused an earlier run's freed heap).
//! Without the counting allocator (a library user, the crate's own tests) the figure falls
//! back to the resident set: `VmHWM` (reset at the run's start) less `VmRSS` then.
//! [`Meter::source`] says which.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

/// Whether [`CountingAlloc`] counts (switched on by the first [`Meter`]).
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes allocated and not freed since counting started (can go below 0: frees of memory
/// allocated before).
static LIVE: AtomicI64 = AtomicI64::new(0);
/// The high-water mark of [`LIVE`] since the last reset.
static PEAK: AtomicI64 = AtomicI64::new(0);
/// Allocations counted, to tell whether the counting allocator is installed at all.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// The system allocator with a count of live bytes and their peak (see the
/// [module docs](self)). Install it in a binary:
///
/// ```text
/// #[global_allocator]
/// static ALLOC: weft_sim::memory::CountingAlloc = weft_sim::memory::CountingAlloc;
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

fn count(delta: i64) {
    if COUNTING.load(Relaxed) {
        let now = LIVE.fetch_add(delta, Relaxed) + delta;
        PEAK.fetch_max(now, Relaxed);
        CALLS.fetch_add(1, Relaxed);
    }
}

fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// SAFETY: every call goes to the system allocator with the caller's arguments unchanged;
// the counting only reads sizes and touches atomics, never the memory.
#[expect(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this one forwards to System"
)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (the caller upholds `alloc`'s contract).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(signed(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(signed(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (`ptr` came from this allocator, i.e. from System).
        unsafe { System.dealloc(ptr, layout) };
        count(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(signed(new_size) - signed(layout.size()));
        }
        p
    }
}

/// Switches counting on and says whether [`CountingAlloc`] is the global allocator (an
/// allocation made now is counted).
fn heap_counting() -> bool {
    COUNTING.store(true, Relaxed);
    let before = CALLS.load(Relaxed);
    drop(std::hint::black_box(Box::new(0u64)));
    CALLS.load(Relaxed) > before
}

/// The resident set size (`VmRSS`) in MiB, or `None` where `/proc` is not available.
pub fn rss_mb() -> Option<f64> {
    status_kb("VmRSS:").map(|kb| kb / 1024.0)
}

/// The peak resident set size (`VmHWM`) in MiB, or `None` where `/proc` is not available.
pub fn peak_rss_mb() -> Option<f64> {
    status_kb("VmHWM:").map(|kb| kb / 1024.0)
}

fn status_kb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak so that the next [`peak_rss_mb`] measures from now (Linux ≥ 4.0; writing
/// `5` to `/proc/self/clear_refs`). Best effort: returns whether it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Where a run's memory figure comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Bytes allocated through [`CountingAlloc`]: peak less start.
    Heap,
    /// The resident set: `VmHWM` (reset at the start) less `VmRSS` at the start.
    Rss,
}

/// Measures one run: started before the build, read after the last lookup.
#[derive(Debug)]
pub struct Meter {
    #[expect(
        clippy::disallowed_types,
        reason = "the report's wall_s: a figure about the machine, never an input to the run"
    )]
    started: std::time::Instant,
    /// Live heap bytes at the start, when the counting allocator is installed.
    heap_before: Option<i64>,
    rss_before_mb: Option<f64>,
}

impl Meter {
    /// Starts measuring: resets the memory peak and notes what the process holds already.
    #[expect(
        clippy::disallowed_methods,
        clippy::disallowed_types,
        reason = "the report's wall_s: a figure about the machine, never an input to the run"
    )]
    pub fn start() -> Self {
        let heap_before = heap_counting().then(|| {
            let live = LIVE.load(Relaxed);
            PEAK.store(live, Relaxed);
            live
        });
        let rss_before_mb = if heap_before.is_none() && reset_peak_rss() {
            rss_mb()
        } else {
            None
        };
        Meter {
            started: std::time::Instant::now(),
            heap_before,
            rss_before_mb,
        }
    }

    /// Wall-clock seconds since [`Meter::start`].
    pub fn wall_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Where [`Meter::peak_mb`] comes from.
    pub fn source(&self) -> Source {
        if self.heap_before.is_some() {
            Source::Heap
        } else {
            Source::Rss
        }
    }

    /// The memory this run added at its peak, in MiB: with the counting allocator the
    /// high-water mark of live heap bytes since [`Meter::start`] less those live then;
    /// otherwise the resident set's (which can read low when the run reuses heap an earlier
    /// run freed). `None` without either (no counting allocator and no `/proc`).
    pub fn peak_mb(&self) -> Option<f64> {
        if let Some(before) = self.heap_before {
            let added = PEAK.load(Relaxed).saturating_sub(before).max(0);
            return Some(added as f64 / (1024.0 * 1024.0));
        }
        Some((peak_rss_mb()? - self.rss_before_mb?).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_positive_peak_on_linux() {
        if cfg!(target_os = "linux") {
            let mb = super::peak_rss_mb().unwrap();
            assert!(mb > 0.5, "{mb}");
            assert!(super::rss_mb().unwrap() > 0.5);
        }
    }

    #[test]
    fn without_the_counting_allocator_the_figure_is_the_resident_sets() {
        // the crate's unit tests run on the system allocator
        assert_eq!(super::Meter::start().source(), super::Source::Rss);
    }
}
