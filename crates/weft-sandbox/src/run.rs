//! Running one unit: a fresh store under the unit's limits, the ABI's byte passing, and every
//! way it can end turned into a value.

use wasmtime::{Instance, Memory, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc};
use weft_compute::job::{Abi, Limits, MAX_OUTPUT_BYTES};
use weft_compute::outcome::Failure;
use weft_core::id::Key256;

use crate::cache::{Compiled, exports};
use crate::{EPOCH_TICK, MAX_TABLE_ELEMENTS, MAX_TABLES, RunError, Sandbox};

/// Largest state blob a resumable module may pass between steps.
pub const MAX_STATE_BYTES: usize = MAX_OUTPUT_BYTES as usize;

/// A unit's output and the fuel it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The output bytes.
    pub output: Vec<u8>,
    /// Fuel used, counting every call into the module.
    pub fuel: u64,
}

/// A resumable unit's state after a step: what a worker saves to resume after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The state blob the module returned.
    pub state: Vec<u8>,
    /// Fuel used so far.
    pub fuel: u64,
    /// Steps done so far.
    pub steps: u64,
}

struct Host {
    limits: StoreLimits,
}

struct Unit {
    store: Store<Host>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    instance: Instance,
    budget: u64,
}

fn failed(failure: Failure, fuel: u64, detail: impl Into<String>) -> RunError {
    RunError::Failed {
        failure,
        fuel,
        detail: detail.into(),
    }
}

impl Unit {
    fn start(
        sandbox: &Sandbox,
        c: &Compiled,
        limits: &Limits,
        used: u64,
    ) -> Result<Self, RunError> {
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX))
            .memories(1)
            .tables(MAX_TABLES)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(1)
            .trap_on_grow_failure(false)
            .build();
        let mut store = Store::new(
            &sandbox.engine,
            Host {
                limits: store_limits,
            },
        );
        store.limiter(|h| &mut h.limits);
        let tick_ms = u64::try_from(EPOCH_TICK.as_millis()).unwrap_or(1).max(1);
        store.set_epoch_deadline(limits.wall_ms.div_ceil(tick_ms).max(1));
        store.epoch_deadline_trap();
        let budget = limits.fuel;
        store
            .set_fuel(budget.saturating_sub(used))
            .map_err(|e| RunError::Internal(e.to_string()))?;
        let instance = Instance::new(&mut store, &c.module, &[]).map_err(|e| {
            failed(
                Failure::Trap,
                used,
                format!("cannot instantiate the module: {e}"),
            )
        })?;
        let memory = instance
            .get_memory(&mut store, exports::MEMORY)
            .ok_or_else(|| failed(Failure::BadModule, used, "no memory export"))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, exports::ALLOC)
            .map_err(|e| failed(Failure::BadModule, used, e.to_string()))?;
        Ok(Unit {
            store,
            memory,
            alloc,
            instance,
            budget,
        })
    }

    fn used(&self) -> u64 {
        self.budget
            .saturating_sub(self.store.get_fuel().unwrap_or(0))
    }

    fn entry(&mut self, name: &str) -> Result<TypedFunc<(i32, i32), i64>, RunError> {
        let used = self.used();
        self.instance
            .get_typed_func::<(i32, i32), i64>(&mut self.store, name)
            .map_err(|e| failed(Failure::BadModule, used, e.to_string()))
    }

    fn trapped(&self, e: &wasmtime::Error, wall_ms: u64) -> RunError {
        let fuel = self.used();
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => failed(Failure::OutOfFuel, fuel, "all fuel used"),
            Some(Trap::Interrupt) => RunError::WallClock { limit_ms: wall_ms },
            Some(t) => failed(Failure::Trap, fuel, t.to_string()),
            None => failed(Failure::Trap, fuel, format!("{e:#}")),
        }
    }

    /// Passes `bytes` to `entry` and returns the span it gives back, and bit 63.
    fn call(
        &mut self,
        entry: &TypedFunc<(i32, i32), i64>,
        bytes: &[u8],
        max_out: usize,
        wall_ms: u64,
    ) -> Result<(Vec<u8>, bool), RunError> {
        let len = i32::try_from(bytes.len())
            .map_err(|_| failed(Failure::BadModule, 0, "input too large for a 32-bit module"))?;
        let ptr = self
            .alloc
            .call(&mut self.store, len)
            .map_err(|e| self.trapped(&e, wall_ms))?;
        let start = usize::try_from(ptr).map_err(|_| {
            failed(
                Failure::Trap,
                self.used(),
                format!("weft_alloc could not give {len} bytes"),
            )
        })?;
        if self.memory.write(&mut self.store, start, bytes).is_err() {
            return Err(failed(
                Failure::BadModule,
                self.used(),
                "weft_alloc returned a span outside memory",
            ));
        }
        let packed = entry
            .call(&mut self.store, (ptr, len))
            .map_err(|e| self.trapped(&e, wall_ms))?;
        let bits = packed as u64;
        let done = bits >> 63 == 1;
        let offset = usize::try_from((bits >> 32) & 0x7fff_ffff).unwrap_or(usize::MAX);
        let n = usize::try_from(bits & 0xffff_ffff).unwrap_or(usize::MAX);
        if n > max_out {
            return Err(failed(
                Failure::OutputTooLarge,
                self.used(),
                format!("returned {n} bytes; the limit is {max_out}"),
            ));
        }
        let data = self.memory.data(&self.store);
        let out = offset
            .checked_add(n)
            .and_then(|end| data.get(offset..end))
            .ok_or_else(|| {
                failed(
                    Failure::BadModule,
                    self.used(),
                    "returned a span outside memory",
                )
            })?;
        Ok((out.to_vec(), done))
    }
}

impl Sandbox {
    /// Compiles (or finds in the cache) the module with hash `hash`.
    ///
    /// # Errors
    /// [`RunError::Failed`] with [`Failure::BadModule`] for a module that is not WebAssembly,
    /// does not match its hash or breaks the ABI.
    pub fn compile(&self, hash: &Key256, bytes: &[u8], abi: Abi) -> Result<Compiled, RunError> {
        self.cache.get_or_compile(&self.engine, hash, bytes, abi)
    }

    /// Runs a unit to its end. A resumable module runs all its steps without checkpoints.
    ///
    /// # Errors
    /// [`RunError`]: a deterministic failure, the wall clock, or the host's trouble.
    pub fn run(&self, c: &Compiled, input: &[u8], limits: &Limits) -> Result<Finished, RunError> {
        match c.abi {
            Abi::OneShot => {
                let mut unit = Unit::start(self, c, limits, 0)?;
                let entry = unit.entry(exports::RUN)?;
                let (output, _) =
                    unit.call(&entry, input, limits.output_bytes as usize, limits.wall_ms)?;
                Ok(Finished {
                    output,
                    fuel: unit.used(),
                })
            }
            Abi::Resumable => self.run_resumable(c, input, limits, None, &mut |_| {}),
        }
    }

    /// Runs a resumable unit from its input, or from `resume` (a fresh instance, as after a
    /// restart), calling `on_step` with the checkpoint after every step.
    ///
    /// # Errors
    /// [`RunError`], as for [`Sandbox::run`]; a module that is not resumable is a bad module.
    pub fn run_resumable(
        &self,
        c: &Compiled,
        input: &[u8],
        limits: &Limits,
        resume: Option<Checkpoint>,
        on_step: &mut dyn FnMut(&Checkpoint),
    ) -> Result<Finished, RunError> {
        if c.abi != Abi::Resumable {
            return Err(failed(Failure::BadModule, 0, "the module is not resumable"));
        }
        let wall = limits.wall_ms;
        let start_fuel = resume.as_ref().map_or(0, |cp| cp.fuel);
        let mut unit = Unit::start(self, c, limits, start_fuel)?;
        let step = unit.entry(exports::STEP)?;
        let (mut state, mut steps) = match resume {
            Some(cp) => (cp.state, cp.steps),
            None => {
                let init = unit.entry(exports::INIT)?;
                (unit.call(&init, input, MAX_STATE_BYTES, wall)?.0, 0)
            }
        };
        loop {
            let (next, done) = unit.call(&step, &state, MAX_STATE_BYTES, wall)?;
            state = next;
            steps += 1;
            on_step(&Checkpoint {
                state: state.clone(),
                fuel: unit.used(),
                steps,
            });
            if done {
                break;
            }
        }
        let finish = unit.entry(exports::FINISH)?;
        let (output, _) = unit.call(&finish, &state, limits.output_bytes as usize, wall)?;
        Ok(Finished {
            output,
            fuel: unit.used(),
        })
    }
}
