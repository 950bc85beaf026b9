//! The shipped example modules are what their sources build to, and run right in the sandbox:
//! `primes.wasm` is rebuilt from its WAT; every C module is run on a few inputs and compared,
//! byte for byte, with the native build of the same source (so a shipped `.wasm` that drifts
//! from its `.c` fails here), and each checks its own results.

#![allow(clippy::unwrap_used, reason = "test of known files")]

use std::path::PathBuf;

use weft_compute::job::{Abi, Limits};
use weft_core::id::Key256;
use weft_sandbox::{Checkpoint, RunError, Sandbox};

#[path = "../examples/shared/native_kernels.rs"]
mod native_kernels;
use native_kernels::{Kernel, test_inputs};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/compute")
        .join(name)
}

fn range(lo: u64, hi: u64) -> Vec<u8> {
    [lo.to_le_bytes(), hi.to_le_bytes()].concat()
}

#[test]
fn primes_wasm_is_built_from_its_source_and_counts_right() {
    let wasm = std::fs::read(example("primes.wasm")).unwrap();
    let built = wat::parse_file(example("primes.wat")).unwrap();
    assert_eq!(wasm, built, "run examples/compute/build.sh");
    let sb = Sandbox::new().unwrap();
    let c = sb
        .compile(&Key256::hash(&wasm), &wasm, Abi::OneShot)
        .unwrap();
    let count = |lo, hi| {
        let out = sb.run(&c, &range(lo, hi), &Limits::default()).unwrap();
        u64::from_le_bytes(out.output.try_into().unwrap())
    };
    assert_eq!(count(0, 100), 25);
    assert_eq!(count(0, 100_000), 9592);
    assert_eq!(count(1_000_000, 1_000_100), 6);
    // not a range: the module traps, the same way everywhere
    assert!(sb.run(&c, b"short", &Limits::default()).is_err());
}

fn limits() -> Limits {
    Limits {
        output_bytes: 64 << 10,
        ..Limits::default()
    }
}

#[test]
fn every_c_module_matches_its_native_build() {
    let sb = Sandbox::new().unwrap();
    for k in Kernel::ALL {
        let wasm = std::fs::read(example(&format!("{}.wasm", k.name()))).unwrap();
        let abi = if k.resumable() {
            Abi::Resumable
        } else {
            Abi::OneShot
        };
        let c = sb.compile(&Key256::hash(&wasm), &wasm, abi).unwrap();
        for (i, input) in test_inputs(k).iter().enumerate() {
            let native = k.run(input);
            let sandboxed = match sb.run(&c, input, &limits()) {
                Ok(f) => Some(f.output),
                Err(RunError::Failed { .. }) => None,
                Err(e) => panic!("{} input {i}: {e}", k.name()),
            };
            assert_eq!(
                sandboxed,
                native,
                "{} input {i}: the shipped module and the native build of {}.c differ \
                 (run examples/compute/build.sh)",
                k.name(),
                k.name()
            );
        }
        println!(
            "RESULT example_matches_native module={}.wasm inputs={}",
            k.name(),
            test_inputs(k).len()
        );
    }
}

fn f64_at(b: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn each_kernel_checks_its_own_results() {
    // key search: finds the key it hid, tries every key of a range without it
    let out = Kernel::KeySearch
        .run(&test_inputs(Kernel::KeySearch)[0])
        .unwrap();
    assert_eq!(u64::from_le_bytes(out[..8].try_into().unwrap()), 1_000_123);
    assert_eq!(u64::from_le_bytes(out[8..].try_into().unwrap()), 124);
    let out = Kernel::KeySearch
        .run(&test_inputs(Kernel::KeySearch)[1])
        .unwrap();
    assert_eq!(u64::from_le_bytes(out[..8].try_into().unwrap()), u64::MAX);
    assert_eq!(u64::from_le_bytes(out[8..].try_into().unwrap()), 2_499_000);
    // Monte Carlo: Black-Scholes gives 10.4506 for this call; within 4 standard errors
    let out = Kernel::MonteCarlo
        .run(&test_inputs(Kernel::MonteCarlo)[0])
        .unwrap();
    let (price, se) = (f64_at(&out, 0), f64_at(&out, 8));
    assert!((price - 10.4506).abs() < 4.0 * se, "{price} ± {se}");
    assert!(se > 0.0 && se < 0.2);
    // no volatility: the discounted forward's payoff, exactly
    let out = Kernel::MonteCarlo
        .run(&test_inputs(Kernel::MonteCarlo)[2])
        .unwrap();
    let want = 100.0 - 100.0 * (-0.05f64).exp();
    assert!((f64_at(&out, 0) - want).abs() < 1e-9, "{}", f64_at(&out, 0));
    // Mandelbrot: the tile's centre (near -0.78+0i... ) and c = 0 never escape, c = -2-1.25i at once
    let out = Kernel::Mandelbrot
        .run(&test_inputs(Kernel::Mandelbrot)[0])
        .unwrap();
    let px =
        |x: usize, y: usize| u16::from_le_bytes([out[2 * (y * 64 + x)], out[2 * (y * 64 + x) + 1]]);
    assert_eq!(px(51, 32), 256, "c = -0.0078 + 0i is in the set");
    assert_eq!(px(0, 0), 1);
    // tone: the tone at bin 37 stands far out of the noise; without one, nothing does
    let out = Kernel::Tone.run(&test_inputs(Kernel::Tone)[0]).unwrap();
    assert_eq!(u32::from_le_bytes(out[..4].try_into().unwrap()), 37);
    assert!(f64_at(&out, 8) > 20.0, "ratio {}", f64_at(&out, 8));
    let out = Kernel::Tone.run(&test_inputs(Kernel::Tone)[1]).unwrap();
    assert!(
        f64_at(&out, 8) < 15.0,
        "noise alone: ratio {}",
        f64_at(&out, 8)
    );
}

#[test]
fn the_key_search_resumes_from_a_checkpoint_to_the_same_result() {
    let wasm = std::fs::read(example("keysearch.wasm")).unwrap();
    let sb = Sandbox::new().unwrap();
    let c = sb
        .compile(&Key256::hash(&wasm), &wasm, Abi::Resumable)
        .unwrap();
    let input = native_kernels::keysearch_input(3_000_000, 0, 4_000_000);
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let whole = sb
        .run_resumable(&c, &input, &Limits::default(), None, &mut |cp| {
            checkpoints.push(cp.clone())
        })
        .unwrap();
    assert_eq!(checkpoints.len(), 3, "2^20 keys a step");
    assert_eq!(Some(whole.output.clone()), Kernel::KeySearch.run(&input));
    // a worker restarted after the first step resumes in a fresh instance
    let resumed = sb
        .run_resumable(
            &c,
            &input,
            &Limits::default(),
            Some(checkpoints[0].clone()),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(resumed, whole, "same output, same fuel");
    println!(
        "RESULT keysearch_resume steps={} fuel={} resumed_fuel={}",
        checkpoints.len(),
        whole.fuel,
        resumed.fuel
    );
}
