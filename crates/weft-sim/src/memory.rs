//! The report's resource figures: wall-clock seconds and the resident memory a run added.
//!
//! These are the only figures of a run that depend on the machine; nothing the simulation
//! decides reads them, so they never reach the trace. [`Meter`] holds the crate's one
//! wall-clock read.

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

/// Measures one run: started before the build, read after the last lookup.
#[derive(Debug)]
pub struct Meter {
    #[expect(
        clippy::disallowed_types,
        reason = "the report's wall_s: a figure about the machine, never an input to the run"
    )]
    started: std::time::Instant,
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
        let reset = reset_peak_rss();
        Meter {
            started: std::time::Instant::now(),
            rss_before_mb: if reset { rss_mb() } else { None },
        }
    }

    /// Wall-clock seconds since [`Meter::start`].
    pub fn wall_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The peak resident memory since [`Meter::start`] less what the process held then, in
    /// MiB: the memory this run added. Earlier runs of the same invocation leave freed heap
    /// the allocator may hand to this run, so a later run can read low, never high. `None`
    /// without `/proc` or where the peak cannot be reset.
    pub fn peak_rss_mb(&self) -> Option<f64> {
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
}
