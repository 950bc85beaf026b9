//! What a worker reports for a unit, and the digest replicas are compared by.

use serde::{Deserialize, Serialize};
use weft_core::id::Key256;

/// A deterministic way for a unit to fail: every honest worker fails it the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Failure {
    /// The module trapped (unreachable, out-of-bounds access, stack overflow, ...).
    Trap,
    /// The unit used all its fuel.
    OutOfFuel,
    /// The output is over the unit's output limit.
    OutputTooLarge,
    /// The module breaks the ABI (an import, a missing export, a span outside memory).
    BadModule,
}

impl Failure {
    /// A short name for logs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Trap => "trap",
            Failure::OutOfFuel => "out of fuel",
            Failure::OutputTooLarge => "output too large",
            Failure::BadModule => "bad module",
        }
    }
}

/// The deterministic result of running a unit: what replicas must agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The unit finished with an output.
    Output {
        /// BLAKE3 hash of the output bytes.
        hash: Key256,
        /// Fuel used.
        fuel: u64,
    },
    /// The unit failed deterministically.
    Failed {
        /// How.
        failure: Failure,
        /// Fuel used before it failed.
        fuel: u64,
    },
}

impl Outcome {
    /// The value replicas are compared by: a hash over the whole outcome, fuel included.
    pub fn digest(&self) -> Key256 {
        let mut bytes = Vec::with_capacity(48);
        match self {
            Outcome::Output { hash, fuel } => {
                bytes.push(0);
                bytes.extend_from_slice(&hash.0);
                bytes.extend_from_slice(&fuel.to_le_bytes());
            }
            Outcome::Failed { failure, fuel } => {
                bytes.push(1);
                bytes.push(*failure as u8);
                bytes.extend_from_slice(&fuel.to_le_bytes());
            }
        }
        Key256::hash(&bytes)
    }

    /// Fuel the unit used.
    pub fn fuel(&self) -> u64 {
        match self {
            Outcome::Output { fuel, .. } | Outcome::Failed { fuel, .. } => *fuel,
        }
    }
}

/// Why a worker gives a unit back without an outcome (not deterministic: the unit is issued
/// to another worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GaveUp {
    /// The unit ran past its wall-clock limit on this worker.
    WallClock,
    /// The module or an input could not be fetched or did not verify.
    Fetch,
    /// The worker's own trouble (compiling, a full pool).
    Internal,
    /// The worker's policy refused the unit (its submitter, its share, a size bound).
    Refused,
}

/// A worker's report on one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Report {
    /// It ran the unit.
    Done(Outcome),
    /// It gives the unit back.
    GaveUp(GaveUp),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_differ_by_output_fuel_and_failure() {
        let h = Key256::hash(b"x");
        let a = Outcome::Output { hash: h, fuel: 1 }.digest();
        assert_ne!(a, Outcome::Output { hash: h, fuel: 2 }.digest());
        assert_ne!(
            a,
            Outcome::Output {
                hash: Key256::hash(b"y"),
                fuel: 1
            }
            .digest()
        );
        let t = Outcome::Failed {
            failure: Failure::Trap,
            fuel: 1,
        };
        let f = Outcome::Failed {
            failure: Failure::OutOfFuel,
            fuel: 1,
        };
        assert_ne!(t.digest(), f.digest());
        assert_eq!(a, Outcome::Output { hash: h, fuel: 1 }.digest());
    }
}
