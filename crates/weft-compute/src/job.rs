//! The job model: a module, its work units, how many replicas must agree, and each unit's
//! limits. [`JobSpec::check`] refuses what cannot run with one clear reason.

use serde::{Deserialize, Serialize};
use weft_core::id::Key256;

/// Largest module accepted (8 MiB).
pub const MAX_MODULE_BYTES: u64 = 8 << 20;
/// Largest input of one unit (4 MiB).
pub const MAX_INPUT_BYTES: u64 = 4 << 20;
/// Largest output limit a job may set (1 MiB): outputs travel in one message.
pub const MAX_OUTPUT_BYTES: u32 = 1 << 20;
/// Most units in one job.
pub const MAX_UNITS: usize = 100_000;
/// Most replicas of one unit, counting those added on disagreement.
pub const MAX_REPLICAS: u8 = 16;
/// Largest memory limit a job may set (1 GiB).
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;

/// A job's identifier: the BLAKE3 hash of its encoded [`JobSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobId(pub Key256);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Which entry points a module exports (see the crate docs for the ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Abi {
    /// `weft_run(input) -> output`.
    OneShot,
    /// `weft_init` / `weft_step` / `weft_finish` with a state blob between steps.
    Resumable,
}

/// What one unit may spend on a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel (deterministic instruction budget) for the whole unit.
    pub fuel: u64,
    /// Largest linear memory, in bytes.
    pub memory_bytes: u64,
    /// Largest output, in bytes.
    pub output_bytes: u32,
    /// Wall-clock time one worker may spend, in milliseconds (not deterministic: a unit that
    /// runs out of it is sent elsewhere).
    pub wall_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 10_000_000_000,
            memory_bytes: 64 << 20,
            output_bytes: 64 << 10,
            wall_ms: 60_000,
        }
    }
}

/// One work unit: an input blob, content-addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitSpec {
    /// BLAKE3 hash of the input.
    pub input: Key256,
    /// Input size in bytes.
    pub size: u64,
}

/// Everything a submitter asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// BLAKE3 hash of the WebAssembly module.
    pub module: Key256,
    /// Module size in bytes.
    pub module_size: u64,
    /// The module's entry points.
    pub abi: Abi,
    /// The units, in order; a unit is named by its index.
    pub units: Vec<UnitSpec>,
    /// Replicas issued at first (R).
    pub replicas: u8,
    /// Agreeing results needed to accept one (Q).
    pub quorum: u8,
    /// Most replicas per unit, counting those added on disagreement.
    pub max_replicas: u8,
    /// How long a worker has for a unit before it is issued elsewhere, in milliseconds.
    pub deadline_ms: u64,
    /// Per-unit limits.
    pub limits: Limits,
    /// Makes two submissions of the same work two jobs.
    pub nonce: u64,
}

/// Why a job cannot be submitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// No units.
    #[error("the job has no work units: give at least one input file")]
    NoUnits,
    /// Too many units.
    #[error("the job has {0} work units; at most {MAX_UNITS} are allowed")]
    TooManyUnits(usize),
    /// Quorum of zero or above the replicas.
    #[error("quorum {quorum} must be between 1 and the replicas ({replicas})")]
    Quorum {
        /// Q.
        quorum: u8,
        /// R.
        replicas: u8,
    },
    /// Replicas of zero, or a replica bound below them or above the cap.
    #[error(
        "replicas {replicas} (at most {max_replicas} with retries) must be between 1 and {MAX_REPLICAS}"
    )]
    Replicas {
        /// R.
        replicas: u8,
        /// The bound.
        max_replicas: u8,
    },
    /// A size over its cap.
    #[error("{what} is {size} bytes; at most {max} are allowed")]
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// A zero limit.
    #[error("the {0} limit must be above zero")]
    ZeroLimit(&'static str),
}

impl JobSpec {
    /// The job's identifier.
    pub fn id(&self) -> JobId {
        // postcard of plain integers, hashes and vectors cannot fail; an empty vector would
        // still hash to a fixed id.
        let bytes = postcard::to_stdvec(self).unwrap_or_default();
        JobId(Key256::hash(&bytes))
    }

    /// Checks every bound of the job.
    ///
    /// # Errors
    /// The first [`JobError`] found.
    pub fn check(&self) -> Result<(), JobError> {
        if self.units.is_empty() {
            return Err(JobError::NoUnits);
        }
        if self.units.len() > MAX_UNITS {
            return Err(JobError::TooManyUnits(self.units.len()));
        }
        if self.replicas == 0
            || self.max_replicas < self.replicas
            || self.max_replicas > MAX_REPLICAS
        {
            return Err(JobError::Replicas {
                replicas: self.replicas,
                max_replicas: self.max_replicas,
            });
        }
        if self.quorum == 0 || self.quorum > self.replicas {
            return Err(JobError::Quorum {
                quorum: self.quorum,
                replicas: self.replicas,
            });
        }
        too_large("the module", self.module_size, MAX_MODULE_BYTES)?;
        for unit in &self.units {
            too_large("an input", unit.size, MAX_INPUT_BYTES)?;
        }
        let l = &self.limits;
        too_large("the memory limit", l.memory_bytes, MAX_MEMORY_BYTES)?;
        too_large(
            "the output limit",
            u64::from(l.output_bytes),
            u64::from(MAX_OUTPUT_BYTES),
        )?;
        for (what, v) in [
            ("fuel", l.fuel),
            ("memory", l.memory_bytes),
            ("output", u64::from(l.output_bytes)),
            ("wall-clock", l.wall_ms),
            ("deadline", self.deadline_ms),
        ] {
            if v == 0 {
                return Err(JobError::ZeroLimit(what));
            }
        }
        Ok(())
    }
}

fn too_large(what: &'static str, size: u64, max: u64) -> Result<(), JobError> {
    if size > max {
        Err(JobError::TooLarge { what, size, max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec(units: usize, replicas: u8, quorum: u8) -> JobSpec {
        JobSpec {
            module: Key256::hash(b"module"),
            module_size: 100,
            abi: Abi::OneShot,
            units: (0..units)
                .map(|i| UnitSpec {
                    input: Key256::hash(&i.to_le_bytes()),
                    size: 8,
                })
                .collect(),
            replicas,
            quorum,
            max_replicas: replicas.saturating_mul(2).min(MAX_REPLICAS),
            deadline_ms: 1000,
            limits: Limits::default(),
            nonce: 0,
        }
    }

    #[test]
    fn bounds_are_checked_with_clear_errors() {
        assert!(spec(3, 2, 2).check().is_ok());
        assert_eq!(spec(0, 2, 2).check(), Err(JobError::NoUnits));
        let e = spec(3, 2, 3).check().unwrap_err();
        assert_eq!(
            e.to_string(),
            "quorum 3 must be between 1 and the replicas (2)"
        );
        assert!(matches!(
            spec(3, 0, 0).check(),
            Err(JobError::Replicas { .. })
        ));
        let mut s = spec(1, 1, 1);
        s.units[0].size = MAX_INPUT_BYTES + 1;
        assert!(matches!(s.check(), Err(JobError::TooLarge { .. })));
    }

    #[test]
    fn the_id_depends_on_every_field() {
        let a = spec(3, 2, 2);
        let mut b = a.clone();
        b.nonce = 1;
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), a.clone().id());
    }
}
