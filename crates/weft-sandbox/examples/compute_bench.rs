//! The sandbox against native code, side by side in one run: the primes kernel compiled by
//! rustc and the same algorithm in `examples/compute/primes.wat` run by weft's sandbox
//! (wasmtime, Cranelift), plus the sandbox's fixed costs: compiling a module, a cached lookup,
//! and a tiny unit end to end (fresh store and instance, input in, output out).
//!
//!     cargo run --release -p weft-sandbox --example compute_bench [-- ROUNDS]
//!
//! Prints a table; asserts nothing (the goal is >= 0.8x native speed).

use std::time::{Duration, Instant};

use weft_compute::job::{Abi, Limits};
use weft_core::id::Key256;
use weft_sandbox::Sandbox;

#[path = "shared/native_primes.rs"]
mod native_primes;

fn native(lo: u64, hi: u64) -> u64 {
    native_primes::count_primes(lo, hi)
}

fn best_of<T>(rounds: u32, mut f: impl FnMut() -> T) -> (Duration, T) {
    let t = Instant::now();
    let mut last = f();
    let mut best = t.elapsed();
    for _ in 1..rounds {
        let t = Instant::now();
        last = f();
        best = best.min(t.elapsed());
    }
    (best, last)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/compute/primes.wasm"
    );
    let wasm = std::fs::read(path)?;
    let hash = Key256::hash(&wasm);
    let sb = Sandbox::new()?;
    let t = Instant::now();
    let compiled = sb.compile(&hash, &wasm, Abi::OneShot)?;
    let compile = t.elapsed();
    let (cached, _) = best_of(1000, || sb.compile(&hash, &wasm, Abi::OneShot).map(drop));
    let limits = Limits {
        fuel: u64::MAX / 4,
        wall_ms: 600_000,
        ..Limits::default()
    };
    let run = |lo: u64, hi: u64| -> Result<u64, String> {
        let input = [lo.to_le_bytes(), hi.to_le_bytes()].concat();
        let out = sb
            .run(&compiled, &input, &limits)
            .map_err(|e| e.to_string())?;
        let bytes: [u8; 8] = out
            .output
            .try_into()
            .map_err(|_| "not 8 bytes".to_string())?;
        Ok(u64::from_le_bytes(bytes))
    };
    println!("primes by trial division, best of {rounds} rounds");
    println!(
        "{:<28} {:>12} {:>12} {:>10} {:>8}",
        "range", "native", "sandbox", "sandbox/x", "primes"
    );
    for (lo, hi) in [
        (0, 200_000),
        (1_000_000_000, 1_000_100_000),
        (1 << 40, (1 << 40) + 20_000),
    ] {
        let (tn, cn) = best_of(rounds, || native(lo, hi));
        let (ts, cs) = best_of(rounds, || run(lo, hi));
        let cs = cs?;
        assert_eq!(cn, cs, "native and sandbox disagree on {lo}..{hi}");
        println!(
            "{:<28} {:>10.1}ms {:>10.1}ms {:>9.2}x {:>8}",
            format!("{lo}..{hi}"),
            tn.as_secs_f64() * 1e3,
            ts.as_secs_f64() * 1e3,
            tn.as_secs_f64() / ts.as_secs_f64(),
            cs
        );
    }
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        run(10, 20)?;
    }
    let per_unit = t.elapsed() / n;
    println!("sandbox/x: native time over sandbox time (1.0 = native speed; goal >= 0.8)");
    println!(
        "compile primes.wasm ({} bytes): {:.2} ms; cached lookup: {:.2} us",
        wasm.len(),
        compile.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e6
    );
    println!(
        "tiny unit end to end (store, instance, input, output): {:.1} us, {:.0} units/s on one core",
        per_unit.as_secs_f64() * 1e6,
        1.0 / per_unit.as_secs_f64()
    );
    Ok(())
}
