//! Hostile and broken modules are contained, each reported with a clear error; good modules
//! give the same output and fuel every time, and resume from a checkpoint to the same result.

#![allow(clippy::unwrap_used, reason = "test helpers build known-good modules")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_compute::job::{Abi, Limits};
use weft_compute::outcome::Failure;
use weft_core::id::Key256;
use weft_sandbox::{Checkpoint, RunError, Sandbox};

/// A bump allocator at 1024 and an ABI span helper shared by the test modules.
const PRELUDE: &str = r#"
  (func (export "weft_alloc") (param $len i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $len) (i32.const 60000))
      (then (i32.const -1)) (else (i32.const 1024))))
  (func $span (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
            (i64.extend_i32_u (local.get $n))))
"#;

fn module(body: &str) -> Vec<u8> {
    module_with_memory("(memory (export \"memory\") 2)", body)
}

fn module_with_memory(memory: &str, body: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {memory} {PRELUDE} {body})")).unwrap()
}

fn limits() -> Limits {
    Limits {
        fuel: 50_000_000,
        memory_bytes: 16 << 20,
        output_bytes: 4096,
        wall_ms: 10_000,
    }
}

fn run_with(sb: &Sandbox, wasm: &[u8], input: &[u8], limits: &Limits) -> Result<Vec<u8>, RunError> {
    let c = sb.compile(&Key256::hash(wasm), wasm, Abi::OneShot)?;
    sb.run(&c, input, limits).map(|f| f.output)
}

fn failure(r: Result<Vec<u8>, RunError>) -> (Failure, String) {
    match r {
        Err(RunError::Failed {
            failure, detail, ..
        }) => (failure, detail),
        other => panic!("expected a deterministic failure, got {other:?}"),
    }
}

fn sandbox() -> Arc<Sandbox> {
    Sandbox::new().unwrap()
}

const ECHO: &str = r#"(func (export "weft_run") (param $p i32) (param $n i32) (result i64)
    (call $span (local.get $p) (local.get $n)))"#;

#[test]
fn a_good_module_runs_and_its_fuel_is_the_same_every_time() {
    let sb = sandbox();
    let wasm = module(ECHO);
    let c = sb
        .compile(&Key256::hash(&wasm), &wasm, Abi::OneShot)
        .unwrap();
    let a = sb.run(&c, b"hello", &limits()).unwrap();
    let b = sb.run(&c, b"hello", &limits()).unwrap();
    assert_eq!(a.output, b"hello");
    assert_eq!(a, b);
    assert!(a.fuel > 0);
    sb.compile(&Key256::hash(&wasm), &wasm, Abi::OneShot)
        .unwrap();
    assert_eq!(
        sb.cache().compiles(),
        1,
        "compiled once, then cached by hash"
    );
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let sb = sandbox();
    let wasm = module(
        r#"(func (export "weft_run") (param i32 i32) (result i64)
        (loop $l (br $l)) (i64.const 0))"#,
    );
    let (f, detail) = failure(run_with(&sb, &wasm, b"", &limits()));
    assert_eq!(f, Failure::OutOfFuel, "{detail}");
}

#[test]
fn an_infinite_loop_with_ample_fuel_meets_the_wall_clock() {
    let sb = sandbox();
    let wasm = module(
        r#"(func (export "weft_run") (param i32 i32) (result i64)
        (loop $l (br $l)) (i64.const 0))"#,
    );
    let l = Limits {
        fuel: u64::MAX / 2,
        wall_ms: 200,
        ..limits()
    };
    let started = Instant::now();
    let r = run_with(&sb, &wasm, b"", &l);
    assert_eq!(r, Err(RunError::WallClock { limit_ms: 200 }));
    assert!(started.elapsed() < Duration::from_secs(30), "interrupted");
    assert_eq!(
        r.unwrap_err().to_string(),
        "wall-clock limit of 200 ms reached"
    );
}

#[test]
fn a_memory_bomb_is_refused_its_memory() {
    let sb = sandbox();
    // grows one page at a time until refused, then traps
    let wasm = module(
        r#"(func (export "weft_run") (param i32 i32) (result i64)
        (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
        unreachable)"#,
    );
    let (f, detail) = failure(run_with(&sb, &wasm, b"", &limits()));
    assert_eq!(f, Failure::Trap);
    assert!(detail.contains("unreachable"), "{detail}");
    // a module that declares more memory than the limit is not instantiated
    let big = module_with_memory("(memory (export \"memory\") 20000)", ECHO);
    let (f, detail) = failure(run_with(&sb, &big, b"", &limits()));
    assert_eq!(f, Failure::Trap);
    assert!(detail.contains("cannot instantiate"), "{detail}");
}

#[test]
fn deep_recursion_overflows_the_stack_and_is_contained() {
    let sb = sandbox();
    let wasm = module(
        r#"(func $f (param i32) (result i32)
          (call $f (i32.add (local.get 0) (i32.const 1))))
        (func (export "weft_run") (param i32 i32) (result i64)
          (drop (call $f (i32.const 0))) (i64.const 0))"#,
    );
    let (f, detail) = failure(run_with(&sb, &wasm, b"", &limits()));
    assert_eq!(f, Failure::Trap);
    assert!(detail.contains("call stack exhausted"), "{detail}");
}

#[test]
fn a_huge_output_is_refused() {
    let sb = sandbox();
    let wasm = module(
        r#"(func (export "weft_run") (param i32 i32) (result i64)
        (call $span (i32.const 0) (i32.const -1)))"#,
    );
    let (f, detail) = failure(run_with(&sb, &wasm, b"", &limits()));
    assert_eq!(f, Failure::OutputTooLarge);
    assert_eq!(detail, "returned 4294967295 bytes; the limit is 4096");
    let outside = module(
        r#"(func (export "weft_run") (param i32 i32) (result i64)
        (call $span (i32.const 0x7fff0000) (i32.const 100)))"#,
    );
    let (f, detail) = failure(run_with(&sb, &outside, b"", &limits()));
    assert_eq!(f, Failure::BadModule);
    assert!(detail.contains("outside memory"), "{detail}");
}

#[test]
fn an_import_is_forbidden() {
    let sb = sandbox();
    let wasm = wat::parse_str(format!(
        r#"(module
          (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
          (memory (export "memory") 1) {PRELUDE} {ECHO})"#
    ))
    .unwrap();
    let (f, detail) = failure(run_with(&sb, &wasm, b"", &limits()));
    assert_eq!(f, Failure::BadModule);
    assert!(
        detail.starts_with("imports wasi_snapshot_preview1::clock_time_get"),
        "{detail}"
    );
}

#[test]
fn malformed_webassembly_and_missing_exports_are_refused() {
    let sb = sandbox();
    let junk = b"\0asm\x01\0\0\0garbage".to_vec();
    let (f, detail) = failure(run_with(&sb, &junk, b"", &limits()));
    assert_eq!(f, Failure::BadModule);
    assert!(detail.starts_with("not valid WebAssembly"), "{detail}");
    let (f, _) = failure(run_with(&sb, b"not wasm at all", b"", &limits()));
    assert_eq!(f, Failure::BadModule);
    let no_entry = module("");
    let (_, detail) = failure(run_with(&sb, &no_entry, b"", &limits()));
    assert_eq!(
        detail,
        "lacks the export `weft_run` with the ABI's signature"
    );
    let wasm = module(ECHO);
    let (_, detail) = failure(
        sb.compile(&Key256::hash(b"other"), &wasm, Abi::OneShot)
            .map(|_| Vec::new()),
    );
    assert_eq!(detail, "the module does not match its hash");
}

#[test]
fn a_trap_is_reported_with_its_cause() {
    let sb = sandbox();
    let wasm = module(
        r#"(func (export "weft_run") (param i32 i32) (result i64)
        (drop (i32.div_u (i32.const 1) (i32.const 0))) (i64.const 0))"#,
    );
    let (f, detail) = failure(run_with(&sb, &wasm, b"", &limits()));
    assert_eq!(f, Failure::Trap);
    assert_eq!(detail, "wasm trap: integer divide by zero");
}

/// Sums n + (n-1) + ... + 1 one term per step; state is (n, acc) as two little-endian u32.
const SUM_STEPS: &str = r#"
  (func (export "weft_init") (param $p i32) (param $n i32) (result i64)
    (i32.store (i32.const 2048) (i32.load (local.get $p)))
    (i32.store (i32.const 2052) (i32.const 0))
    (call $span (i32.const 2048) (i32.const 8)))
  (func (export "weft_step") (param $p i32) (param $n i32) (result i64)
    (local $k i32)
    (local.set $k (i32.load (local.get $p)))
    (i32.store (i32.const 2052) (i32.add (i32.load offset=4 (local.get $p)) (local.get $k)))
    (i32.store (i32.const 2048) (i32.sub (local.get $k) (i32.const 1)))
    (i64.or (call $span (i32.const 2048) (i32.const 8))
      (select (i64.const 0x8000000000000000) (i64.const 0)
              (i32.le_u (local.get $k) (i32.const 1)))))
  (func (export "weft_finish") (param $p i32) (param $n i32) (result i64)
    (i32.store (i32.const 2048) (i32.load offset=4 (local.get $p)))
    (call $span (i32.const 2048) (i32.const 4)))
"#;

#[test]
fn a_resumable_unit_resumed_from_a_checkpoint_gives_the_same_output_and_fuel() {
    let sb = sandbox();
    let wasm = module(SUM_STEPS);
    let c = sb
        .compile(&Key256::hash(&wasm), &wasm, Abi::Resumable)
        .unwrap();
    let input = 100u32.to_le_bytes();
    let mut saved: Vec<Checkpoint> = Vec::new();
    let whole = sb
        .run_resumable(&c, &input, &limits(), None, &mut |cp| {
            saved.push(cp.clone())
        })
        .unwrap();
    assert_eq!(whole.output, 5050u32.to_le_bytes());
    assert_eq!(saved.len(), 100);
    let resumed = sb
        .run_resumable(&c, &input, &limits(), Some(saved[41].clone()), &mut |_| {})
        .unwrap();
    assert_eq!(resumed, whole, "same output, same fuel");
    assert_eq!(sb.run(&c, &input, &limits()).unwrap(), whole);
    // the one-shot entry is missing, so the same bytes are a bad one-shot module
    let (f, _) = failure(run_with(&sb, &wasm, &input, &limits()));
    assert_eq!(f, Failure::BadModule);
}
