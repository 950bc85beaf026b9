//! weft's discrete-event simulator: runs the `weft-overlay` engines at up to a million peers,
//! and reports what they measure next to what the literature expects (the paper's Table 3, its
//! Gnutella and Freenet case studies, the central directory). Kademlia, flooding and the
//! directory are the very code the node runs; Chord, CAN, Pastry (and Tapestry) and Freenet
//! run only here and in the engine tests.
//!
//! # The model
//!
//! - **Loop** ([`VNet`], from `weft-vnet`: the one virtual network the engine tests and the
//!   fuzz targets use too): a `Vec` of engines addressed by index, virtual time
//!   ([`weft_core::time::Time`]), one pending timer per node (an indexed heap), an event heap
//!   ordered by `(time, seq)` so ties break the same way on every machine. After
//!   every `handle_*` the loop drains `poll_transmit` and `poll_event` and re-arms the node's
//!   timer from `poll_timeout`, the call order `weft-overlay` documents.
//! - **Network** ([`network`]): one-way latency per message (log-normal, median 50 ms, σ 0.5,
//!   by default; uniform or constant on request) and independent loss.
//! - **Churn** ([`churn`]): sessions drawn from an exponential (or Pareto, log-normal)
//!   distribution; a node whose session ends crashes (every algorithm; with
//!   [`churn::Departure::Graceful`] it runs its engine's leave protocol first) and a fresh
//!   node with a new identity joins through a random live node about 10 s later. Addresses
//!   are never reused. Under churn the lookups are spread over a window (600 s by default) so
//!   that sessions turn over while they run; departures and joins inside it (the same span
//!   for every algorithm, however long its slowest lookup takes to fail) are reported, and
//!   for Chord and Pastry the forwards that timed out and were re-routed (`hop_timeouts`).
//! - **Workload** ([`workload`]): uniform random keys, or a catalogue with Zipf popularity.
//!   Lookups are injected at a fixed rate (or spread over the window) with at most 1,000 in
//!   flight, so the event queue stays bounded at any network size.
//! - **Determinism** ([`trace`]): everything random comes from seeded ChaCha8 generators, in
//!   event order; `trace_hash` is BLAKE3 over the run's label (algorithm and parameters)
//!   and every delivered event's `(time, seq, kind, from, to)` with the message's encoded
//!   contents. Same seed, same hash; a golden test pins one.
//! - **Adapters** ([`algorithm`], [`algos`]): per algorithm, how to build a converged overlay
//!   (fast constructors for large N) or grow it through the join protocol (small N, churn),
//!   how to turn a key into a lookup, how to read outcomes, state and the expected figures.
//! - **Oracle** ([`oracle`]): every answer is checked against the truth from the global view
//!   (Chord's successor, Pastry's numerically closest node, Kademlia's `k` closest, CAN's
//!   zone owner, Freenet's data); the report separates answered from answered correctly.
//! - **Runner** ([`experiment`]): build, settle, inject lookups (with churn), collect.
//! - **Distributed computing** ([`compute`]): `weft-compute`'s coordinator and worker
//!   engines (the node's scheduler) at 10,000 workers with churn and cheaters, plain against
//!   adaptive replication (`--preset compute`).
//! - **Output** ([`report`], [`plot`], [`presets`]): one JSON object or a table with measured
//!   and expected side by side; SVG charts (SVG only: the bitmap backend would need system
//!   fonts).
//! - **Purity**: like the engines, the crate reads no clock and draws no ambient randomness
//!   (its `clippy.toml` bans both, and `HashMap`); the report's wall-clock and memory figures
//!   come from [`memory::Meter`] and never feed back into a run. The memory figure is the
//!   run's own peak heap where the binary installs [`memory::CountingAlloc`] (`weft` does).
//! - **Gaps**: a figure more than 15 % off its formula is printed with the cause found for
//!   that sign, those parameters and that build ([`algorithm::Algorithm::explain_gap`]), or
//!   as "not explained".
//!
//! # Memory
//!
//! Beyond the engines, the loop keeps about 30 bytes per node plus messages in flight; the
//! runner keeps a live-node index (8 bytes per node) and the hop count of each lookup. The
//! engines' own tables dominate: see the scale figures in the crate's report.
//!
//! # Scale
//!
//! The engines' fast constructors build converged overlays of 10^6 nodes in seconds; then the
//! lookups run at a fixed rate. To measure (release build, figures in `wall_s`, `events` and
//! `peak_mb`, the run's own peak heap: [`memory`]):
//!
//! ```text
//! weft sim --algo kademlia --nodes 1000000 --lookups 100000 --rate 1000 --json
//! weft sim --algo chord,can,pastry --nodes 1000000 --lookups 10000 --rate 1000 --json
//! ```
//!
//! Maintenance runs as in the node (Chord stabilization every 5 s, Kademlia bucket refresh
//! every 5 min, Pastry leaf probes every 10 s), so a higher `--rate` shortens the virtual
//! time and with it the maintenance work.
//!
//! # JSON
//!
//! `weft sim --json` prints one object, `{"seed", "trace_hash", "runs": [...]}` (plus
//! `"preset"` and preset-level fields); each run's fields are documented on
//! [`report::RunRecord`] and the presets' extra fields in [`presets::gnutella`],
//! [`presets::freenet_ring`] and [`presets::directory`]. The expected figures and their formulas
//! are on each adapter in [`algos`].
//!
//! # Example
//!
//! ```
//! use weft_sim::cli::{SimArgs, execute};
//!
//! let args = SimArgs {
//!     algo: vec!["chord".into()],
//!     nodes: vec![200],
//!     lookups: Some(100),
//!     build: "converged".into(),
//!     ..SimArgs::default()
//! };
//! let report = execute(&args).expect("valid arguments");
//! let run = &report.runs[0];
//! assert_eq!(run.lookups, 100);
//! assert!(run.success_rate > 0.99);
//! // Chord: ½·log2(200) − 5/8 ≈ 3.2 hops (the r = 8 successors shorten the last bits).
//! assert!((run.mean_hops - run.expected_hops.unwrap()).abs() < 1.5);
//! ```
//!
//! The `weft` binary runs it as `weft sim` through [`cli::SimArgs`] and [`cli::run`].

pub mod algorithm;
pub mod algos;
pub mod cli;
pub mod compute;
pub mod experiment;
pub mod memory;
pub mod oracle;
pub mod plot;
pub mod presets;
pub mod report;
pub mod workload;

/// The loop, the network and churn models and the trace are `weft-vnet`'s, the one virtual
/// network the engine tests and the fuzz targets run on too.
pub use weft_vnet::{VNet, churn, network, trace};
