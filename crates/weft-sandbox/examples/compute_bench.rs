//! The example kernels native and in weft's sandbox, side by side in one run: primes (Rust
//! native against `primes.wat`), and the four C kernels (`examples/compute/*.c`, natively
//! built by gcc through this crate's build.rs, against the shipped `.wasm` built by clang and
//! run by wasmtime/Cranelift with fuel metering and epoch interruption on, as workers run
//! them). Then the sandbox's fixed costs: compiling a module, a cached lookup, and tiny units
//! end to end (fresh store and instance, input in, output out) on one core and on a pool of
//! every core.
//!
//!     cargo run --release -p weft-sandbox --example compute_bench [-- ROUNDS]
//!
//! Prints a table; asserts nothing but that both builds give the same output (the issue's
//! goal is >= 0.8x native speed).

use std::sync::Arc;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use weft_compute::job::{Abi, Limits};
use weft_core::id::Key256;
use weft_sandbox::Sandbox;
use weft_sandbox::cache::Compiled;
use weft_sandbox::pool::Pool;

#[path = "shared/native_kernels.rs"]
mod native_kernels;
#[path = "shared/native_primes.rs"]
mod native_primes;
use native_kernels::Kernel;

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

fn module(
    sb: &Sandbox,
    name: &str,
    abi: Abi,
) -> Result<(Vec<u8>, Compiled), Box<dyn std::error::Error>> {
    let path = format!(
        "{}/../../examples/compute/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let wasm = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let c = sb.compile(&Key256::hash(&wasm), &wasm, abi)?;
    Ok((wasm, c))
}

fn limits() -> Limits {
    Limits {
        fuel: u64::MAX / 4,
        wall_ms: 600_000,
        output_bytes: 64 << 10,
        ..Limits::default()
    }
}

fn row(name: &str, what: &str, native: Duration, sandbox: Duration, bare: Duration) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{:<11} {:<32} {:>9.1}ms {:>9.1}ms {:>8.2}x {:>9.1}ms {:>8.2}x",
        name,
        what,
        ms(native),
        ms(sandbox),
        native.as_secs_f64() / sandbox.as_secs_f64(),
        ms(bare),
        native.as_secs_f64() / bare.as_secs_f64(),
    );
}

/// The same module in wasmtime's default configuration: Cranelift, no fuel, no epoch checks,
/// no NaN canonicalization, no limits: what weft's sandbox costs beyond WebAssembly itself.
struct Bare {
    engine: wasmtime::Engine,
}

impl Bare {
    fn new() -> wasmtime::Result<Self> {
        Ok(Bare {
            engine: wasmtime::Engine::new(&wasmtime::Config::new())?,
        })
    }

    fn compile(&self, wasm: &[u8]) -> wasmtime::Result<wasmtime::Module> {
        wasmtime::Module::new(&self.engine, wasm)
    }

    /// Runs a one-shot module, or every step of a resumable one, and returns the output.
    fn run(&self, m: &wasmtime::Module, input: &[u8], abi: Abi) -> wasmtime::Result<Vec<u8>> {
        let mut store = wasmtime::Store::new(&self.engine, ());
        let inst = wasmtime::Instance::new(&mut store, m, &[])?;
        let mem = inst
            .get_memory(&mut store, "memory")
            .ok_or_else(|| wasmtime::format_err!("no memory"))?;
        let alloc = inst.get_typed_func::<i32, i32>(&mut store, "weft_alloc")?;
        let call = |store: &mut wasmtime::Store<()>,
                    name: &str,
                    bytes: &[u8]|
         -> wasmtime::Result<(Vec<u8>, bool)> {
            let f = inst.get_typed_func::<(i32, i32), i64>(&mut *store, name)?;
            let len = i32::try_from(bytes.len())?;
            let ptr = alloc.call(&mut *store, len)?;
            mem.write(&mut *store, usize::try_from(ptr)?, bytes)?;
            let span = f.call(&mut *store, (ptr, len))? as u64;
            let (at, n) = (
                ((span >> 32) & 0x7fff_ffff) as usize,
                (span & 0xffff_ffff) as usize,
            );
            let out = mem
                .data(&*store)
                .get(at..at + n)
                .ok_or_else(|| wasmtime::format_err!("span outside memory"))?
                .to_vec();
            Ok((out, span >> 63 == 1))
        };
        match abi {
            Abi::OneShot => Ok(call(&mut store, "weft_run", input)?.0),
            Abi::Resumable => {
                let mut state = call(&mut store, "weft_init", input)?.0;
                loop {
                    let (next, done) = call(&mut store, "weft_step", &state)?;
                    state = next;
                    if done {
                        break;
                    }
                }
                Ok(call(&mut store, "weft_finish", &state)?.0)
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let sb = Sandbox::new()?;
    println!("kernels native and in the sandbox, best of {rounds} rounds (wasmtime 48, Cranelift)");
    println!(
        "{:<11} {:<32} {:>11} {:>11} {:>9} {:>11} {:>9}",
        "kernel", "unit", "native", "sandbox", "sandbox/x", "wasmtime", "wasmtime/x"
    );
    let bare = Bare::new()?;
    let (primes_wasm, primes) = module(&sb, "primes.wasm", Abi::OneShot)?;
    let primes_bare = bare.compile(&primes_wasm)?;
    for (lo, hi) in [(0u64, 200_000u64), (1 << 40, (1 << 40) + 20_000)] {
        let input = [lo.to_le_bytes(), hi.to_le_bytes()].concat();
        let (tn, cn) = best_of(rounds, || native_primes::count_primes(lo, hi));
        let (ts, out) = best_of(rounds, || sb.run(&primes, &input, &limits()));
        let cs = u64::from_le_bytes(out?.output.try_into().map_err(|_| "not 8 bytes")?);
        assert_eq!(cn, cs, "native and sandbox disagree on primes {lo}..{hi}");
        let (tb, _) = best_of(rounds, || bare.run(&primes_bare, &input, Abi::OneShot));
        row("primes", &format!("{lo}..{hi}"), tn, ts, tb);
    }
    let units: [(Kernel, &str, Vec<u8>); 4] = [
        (
            Kernel::KeySearch,
            "2^24 keys, none right, 16 steps",
            native_kernels::keysearch_input(7, 1 << 32, (1 << 32) + (1 << 24)),
        ),
        (
            Kernel::MonteCarlo,
            "1,000,000 paths",
            native_kernels::montecarlo_input(100.0, 100.0, 0.05, 0.2, 1.0, 1, 1_000_000),
        ),
        (
            Kernel::Mandelbrot,
            "128x128 tile, 2,000 iterations",
            native_kernels::mandelbrot_input(-0.7453, 0.1127, 1e-4, 128, 128, 2000),
        ),
        (
            Kernel::Tone,
            "8 FFTs of 2^16 samples",
            native_kernels::tone_input(1, 16, 8, 1234, 0.05, 1.0),
        ),
    ];
    for (k, what, input) in units {
        let abi = if k.resumable() {
            Abi::Resumable
        } else {
            Abi::OneShot
        };
        let (wasm, c) = module(&sb, &format!("{}.wasm", k.name()), abi)?;
        let (tn, native) = best_of(rounds, || k.run(&input));
        let (ts, out) = best_of(rounds, || sb.run(&c, &input, &limits()));
        assert_eq!(
            native,
            Some(out?.output),
            "native and sandbox disagree on {}",
            k.name()
        );
        let m = bare.compile(&wasm)?;
        let (tb, out) = best_of(rounds, || bare.run(&m, &input, abi));
        assert_eq!(
            native,
            Some(out?),
            "plain wasmtime disagrees on {}",
            k.name()
        );
        row(k.name(), what, tn, ts, tb);
    }
    println!(
        "sandbox/x: native time over sandbox time (1.0 = native speed; goal >= 0.8); wasmtime: \
         the same module in wasmtime's default configuration (no fuel, epoch checks, NaN \
         canonicalization or limits)"
    );

    let hash = Key256::hash(&primes_wasm);
    let t = Instant::now();
    let fresh = Sandbox::new()?;
    fresh.compile(&hash, &primes_wasm, Abi::OneShot)?;
    let compile = t.elapsed();
    let (cached, _) = best_of(1000, || {
        sb.compile(&hash, &primes_wasm, Abi::OneShot).map(drop)
    });
    println!(
        "compile primes.wasm ({} bytes): {:.2} ms; cached lookup: {:.2} us",
        primes_wasm.len(),
        compile.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e6
    );
    let tiny = [10u64.to_le_bytes(), 20u64.to_le_bytes()].concat();
    let n = 5000;
    let t = Instant::now();
    for _ in 0..n {
        sb.run(&primes, &tiny, &limits())?;
    }
    let per_unit = t.elapsed() / n;
    println!(
        "tiny unit end to end (store, instance, input, output), one core: {:.1} us, {:.0} units/s",
        per_unit.as_secs_f64() * 1e6,
        1.0 / per_unit.as_secs_f64()
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Pool::new(cores, 1 << 16)?;
    let (tx, rx) = channel();
    let shared = Arc::new((sb.clone(), primes.clone(), tiny));
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        let (tx, shared) = (tx.clone(), shared.clone());
        pool.spawn(move || {
            let (sb, c, input) = &*shared;
            let _ = tx.send(sb.run(c, input, &limits()).is_ok());
        })?;
    }
    let ok = rx.iter().take(n).filter(|ok| *ok).count();
    let all = t.elapsed();
    println!(
        "tiny units on a pool of {cores} threads: {:.0} units/s ({ok} of {n} ran)",
        n as f64 / all.as_secs_f64()
    );
    Ok(())
}
