//! weft distributed computing: the job model, the deterministic module ABI, the sans-IO
//! scheduler engine and the `/weft/compute/1` messages.
//!
//! This crate is pure like the overlay engines: it never reads a clock, the network or ambient
//! randomness. The WebAssembly sandbox that runs modules lives in `weft-sandbox`; the node
//! (`weft-node`'s `compute/`) drives the engine over libp2p with wall-clock time.
//!
//! # The module ABI (version 1)
//!
//! A work unit is pure: the same module and input give the same output on every worker, so
//! results can be compared by hash. A module therefore gets nothing from its host but its input
//! bytes and gives back nothing but its output bytes.
//!
//! * **No imports.** A module that imports anything (a function, a memory, a table, a global)
//!   is refused before it runs: there is no clock, no randomness and no I/O to import.
//! * **Exports.** `memory` (the module's linear memory) and
//!   `weft_alloc(len: i32) -> i32`, which returns the offset of `len` writable bytes in
//!   `memory` (or a negative number if it cannot), and then either the one-shot entry or the
//!   three resumable entries below.
//! * **Passing bytes.** The host calls `weft_alloc(len)`, writes the bytes at the offset it
//!   returned, and calls an entry with `(ptr: i32, len: i32)`. An entry returns an `i64`
//!   holding a byte span of `memory`: bits 0–31 the length, bits 32–62 the offset. The host
//!   checks that the span lies inside `memory` and is at most the unit's output limit, then
//!   copies it out.
//! * **One-shot:** `weft_run(ptr, len) -> i64` takes the input and returns the output.
//! * **Resumable** (long units that checkpoint): `weft_init(ptr, len) -> i64` takes the input
//!   and returns a *state*; `weft_step(ptr, len) -> i64` takes a state and returns the next
//!   one, with bit 63 set once the work is done; `weft_finish(ptr, len) -> i64` takes the last
//!   state and returns the output. A step must depend only on the state it is given: the host
//!   may run any step in a fresh instance (after a restart, from a saved checkpoint), and
//!   saves the state between steps as the unit's checkpoint.
//! * **Determinism.** The sandbox turns off threads and canonicalizes NaNs, so floating point
//!   gives the same bits everywhere. Fuel (one unit per WebAssembly instruction, roughly) is
//!   deterministic too: a unit's fuel is part of its outcome, compared with the output, and the
//!   validated fuel is the worker's credit. Running out of fuel, trapping or exceeding the
//!   output limit are deterministic outcomes as well; running out of wall-clock time or memory
//!   on one worker is not, and sends the unit elsewhere.
//!
//! # Modules
//!
//! * [`job`]: what a submitter asks for (module, units, replicas, quorum, deadline, limits),
//!   checked with clear errors.
//! * [`outcome`]: what a worker reports for a unit, and the digest replicas are compared by.
//! * [`coordinator`]: the submitter's engine: issues replicas to distinct workers, accepts a
//!   result when a quorum agrees, reissues late units, adds replicas on disagreement, keeps
//!   each worker's standing and credit; optionally adaptive replication with spot checks
//!   ([`coordinator::adaptive`]) and notices for credit receipts.
//! * [`worker`]: the lender's engine: asks coordinators for work while it has idle slots, and
//!   decides whom it computes for, with a share of its slots and size bounds per submitter
//!   ([`worker::Policy`]).
//! * [`receipt`]: signed credit receipts: their canonical bytes, signing and checking.
//! * [`wire`]: the `/weft/compute/1` and receipts messages and their bounds.

pub mod coordinator;
pub mod job;
pub mod outcome;
pub mod receipt;
pub mod wire;
pub mod worker;
