//! The primes example's inputs and its checker, with the native kernel of the same algorithm
//! as `examples/compute/primes.wat`:
//!
//!     primes inputs DIR --units N --span S [--from F]   # N range files of S numbers each
//!     primes check DIR RESULTS                          # recount natively, compare
//!
//! `check` reads RESULTS/NAME.out for each DIR/NAME (what `weft compute results -o` writes)
//! and exits non-zero, naming the unit, if any count is wrong or missing.

use std::path::Path;
use std::process::ExitCode;

#[path = "shared/native_primes.rs"]
mod native_primes;
use native_primes::count_primes;

fn flag(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a number")),
    }
}

fn inputs(dir: &Path, args: &[String]) -> Result<(), String> {
    let units = flag(args, "--units", 8)?;
    let span = flag(args, "--span", 100_000)?;
    let from = flag(args, "--from", 0)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for i in 0..units {
        let lo = from + i * span;
        let mut bytes = lo.to_le_bytes().to_vec();
        bytes.extend_from_slice(&(lo + span).to_le_bytes());
        let path = dir.join(format!("range-{i:05}"));
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!(
        "{units} ranges of {span} numbers from {from} in {}",
        dir.display()
    );
    Ok(())
}

fn check(dir: &Path, results: &Path) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    let mut total = 0;
    for e in &entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let input = std::fs::read(e.path()).map_err(|err| format!("{name}: {err}"))?;
        let range = <[u8; 16]>::try_from(input.as_slice())
            .map_err(|_| format!("{name}: not a range (16 bytes)"))?;
        let (lo, hi) = range.split_at(8);
        let lo = u64::from_le_bytes(lo.try_into().unwrap_or_default());
        let hi = u64::from_le_bytes(hi.try_into().unwrap_or_default());
        let out_path = results.join(format!("{name}.out"));
        let out =
            std::fs::read(&out_path).map_err(|err| format!("{}: {err}", out_path.display()))?;
        let got = <[u8; 8]>::try_from(out.as_slice())
            .map(u64::from_le_bytes)
            .map_err(|_| format!("{name}: result is {} bytes, not 8", out.len()))?;
        let want = count_primes(lo, hi);
        if got != want {
            return Err(format!(
                "{name}: {got} primes in {lo}..{hi}; the right count is {want}"
            ));
        }
        total += got;
    }
    println!("{} units right, {total} primes in all", entries.len());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd, dir, rest @ ..] if cmd == "inputs" => inputs(Path::new(dir), rest),
        [cmd, dir, results] if cmd == "check" => check(Path::new(dir), Path::new(results)),
        _ => Err(
            "usage: primes inputs DIR [--units N] [--span S] [--from F] | primes check DIR RESULTS"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("primes: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_counts() {
        assert_eq!(super::count_primes(0, 100), 25);
        assert_eq!(super::count_primes(0, 100_000), 9592);
    }
}
