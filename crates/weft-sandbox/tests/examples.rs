//! The shipped example modules are what their sources build to, and run right in the sandbox.

#![allow(clippy::unwrap_used, reason = "test of known files")]

use std::path::PathBuf;

use weft_compute::job::{Abi, Limits};
use weft_core::id::Key256;
use weft_sandbox::Sandbox;

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
