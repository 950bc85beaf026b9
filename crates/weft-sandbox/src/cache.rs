//! Compiled modules, cached by content hash, checked against the ABI when compiled.

use std::collections::BTreeMap;
use std::sync::Mutex;

use weft_compute::job::Abi;
use weft_compute::outcome::Failure;
use weft_core::id::Key256;

use crate::RunError;

/// Modules kept compiled by default.
pub const DEFAULT_CACHED_MODULES: usize = 32;

/// Names of the ABI's exports.
pub mod exports {
    /// The linear memory.
    pub const MEMORY: &str = "memory";
    /// `(len: i32) -> i32`: room for the host's bytes.
    pub const ALLOC: &str = "weft_alloc";
    /// One-shot entry.
    pub const RUN: &str = "weft_run";
    /// Resumable: input to state.
    pub const INIT: &str = "weft_init";
    /// Resumable: state to state.
    pub const STEP: &str = "weft_step";
    /// Resumable: last state to output.
    pub const FINISH: &str = "weft_finish";
}

/// A compiled module that passed the ABI checks.
#[derive(Clone)]
pub struct Compiled {
    /// The wasmtime module.
    pub module: wasmtime::Module,
    /// Its entry points.
    pub abi: Abi,
}

struct Entries {
    by_hash: BTreeMap<Key256, (u64, Compiled)>,
    clock: u64,
}

/// A bounded cache of compiled modules; the least recently used one leaves first.
pub struct ModuleCache {
    capacity: usize,
    inner: Mutex<Entries>,
    compiles: std::sync::atomic::AtomicU64,
}

fn bad_module(detail: String) -> RunError {
    RunError::Failed {
        failure: Failure::BadModule,
        fuel: 0,
        detail,
    }
}

impl ModuleCache {
    /// A cache of at most `capacity` modules.
    pub fn new(capacity: usize) -> Self {
        ModuleCache {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries {
                by_hash: BTreeMap::new(),
                clock: 0,
            }),
            compiles: 0.into(),
        }
    }

    /// How many times a module was compiled (a cache miss).
    pub fn compiles(&self) -> u64 {
        self.compiles.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The compiled module for `hash`, compiling `bytes` on a miss.
    ///
    /// # Errors
    /// [`RunError::Failed`] with [`Failure::BadModule`] if the bytes do not hash to `hash`, are
    /// not WebAssembly, import anything, or lack the exports of `abi`.
    pub fn get_or_compile(
        &self,
        engine: &wasmtime::Engine,
        hash: &Key256,
        bytes: &[u8],
        abi: Abi,
    ) -> Result<Compiled, RunError> {
        if let Some(c) = self.get(hash, abi) {
            return Ok(c);
        }
        if Key256::hash(bytes) != *hash {
            return Err(bad_module("the module does not match its hash".into()));
        }
        self.compiles
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let module = wasmtime::Module::from_binary(engine, bytes)
            .map_err(|e| bad_module(format!("not valid WebAssembly: {e}")))?;
        check_abi(&module, abi)?;
        let compiled = Compiled { module, abi };
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        inner.clock += 1;
        let stamp = inner.clock;
        inner.by_hash.insert(*hash, (stamp, compiled.clone()));
        while inner.by_hash.len() > self.capacity {
            let oldest = inner
                .by_hash
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                inner.by_hash.remove(&k);
            }
        }
        Ok(compiled)
    }

    /// The compiled module for `hash` if it is cached (and declared with `abi`).
    pub fn get(&self, hash: &Key256, abi: Abi) -> Option<Compiled> {
        let mut inner = self.inner.lock().ok()?;
        inner.clock += 1;
        let stamp = inner.clock;
        let (t, c) = inner.by_hash.get_mut(hash)?;
        *t = stamp;
        (c.abi == abi).then(|| c.clone())
    }
}

fn poisoned() -> RunError {
    RunError::Internal("the module cache lock is poisoned".into())
}

fn check_abi(module: &wasmtime::Module, abi: Abi) -> Result<(), RunError> {
    use wasmtime::{ExternType, ValType};
    if let Some(import) = module.imports().next() {
        return Err(bad_module(format!(
            "imports {}::{}; a weft module may import nothing (no clock, randomness or I/O)",
            import.module(),
            import.name()
        )));
    }
    match module.get_export(exports::MEMORY) {
        Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared() => {}
        _ => {
            return Err(bad_module("exports no 32-bit memory named `memory`".into()));
        }
    }
    let want = |name: &str, params: &[ValType], result: &ValType| -> Result<(), RunError> {
        let ok = match module.get_export(name) {
            Some(ExternType::Func(f)) => {
                let p: Vec<_> = f.params().collect();
                let r: Vec<_> = f.results().collect();
                p.len() == params.len()
                    && p.iter().zip(params).all(|(a, b)| ValType::eq(a, b))
                    && r.len() == 1
                    && ValType::eq(&r[0], result)
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(bad_module(format!(
                "lacks the export `{name}` with the ABI's signature"
            )))
        }
    };
    want(exports::ALLOC, &[ValType::I32], &ValType::I32)?;
    let span = [ValType::I32, ValType::I32];
    match abi {
        Abi::OneShot => want(exports::RUN, &span, &ValType::I64),
        Abi::Resumable => {
            want(exports::INIT, &span, &ValType::I64)?;
            want(exports::STEP, &span, &ValType::I64)?;
            want(exports::FINISH, &span, &ValType::I64)
        }
    }
}
