//! The sandbox against native code, side by side in one run: the primes kernel compiled by
//! rustc and the same algorithm in `examples/compute/primes.wat` run by weft's sandbox
//! (wasmtime, Cranelift), plus the sandbox's fixed costs: compiling a module, a cached lookup,
//! and a tiny unit end to end (fresh store and instance, input in, output out).
//!
//!     cargo run --release -p weft-sandbox --example compute_bench [-- ROUNDS]
//!
//! Prints a table; asserts nothing (the goal is >= 0.8x native speed).

use std::hint::black_box;
use std::time::{Duration, Instant};

use weft_compute::job::{Abi, Limits};
use weft_core::id::Key256;
use weft_sandbox::Sandbox;

fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d <= n / d {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

fn native(lo: u64, hi: u64) -> u64 {
    (lo..hi).filter(|&n| is_prime(black_box(n))).count() as u64
}

fn best_of<T>(rounds: u32, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.unwrap_or_else(|| f()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/compute/primes.wasm");
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
        let out = sb.run(&compiled, &input, &limits).map_err(|e| e.to_string())?;
        let bytes: [u8; 8] = out.output.try_into().map_err(|_| "not 8 bytes".to_string())?;
        Ok(u64::from_le_bytes(bytes))
    };
    println!("primes by trial division, best of {rounds} rounds");
    println!(
        "{:<28} {:>12} {:>12} {:>10} {:>8}",
        "range", "native", "sandbox", "sandbox/x", "primes"
    );
    for (lo, hi) in [(0, 200_000), (1_000_000_000, 1_000_100_000), (1 << 40, (1 << 40) + 20_000)] {
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
    println!("compile primes.wasm ({} bytes): {:.2} ms; cached lookup: {:.2} us", wasm.len(), compile.as_secs_f64() * 1e3, cached.as_secs_f64() * 1e6);
    println!(
        "tiny unit end to end (store, instance, input, output): {:.1} us, {:.0} units/s on one core",
        per_unit.as_secs_f64() * 1e6,
        1.0 / per_unit.as_secs_f64()
    );
    Ok(())
}
