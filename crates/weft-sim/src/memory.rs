//! Peak resident memory of this process, from `/proc/self/status`.

/// The peak resident set size (`VmHWM`) in MiB, or `None` where `/proc` is not available.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak so that the next [`peak_rss_mb`] measures from now (Linux ≥ 4.0; writing
/// `5` to `/proc/self/clear_refs`). Best effort: returns whether it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_positive_peak_on_linux() {
        if cfg!(target_os = "linux") {
            let mb = super::peak_rss_mb().unwrap();
            assert!(mb > 0.5, "{mb}");
        }
    }
}
