//! Benchmarks of `tasks-recorder` against the alternatives.
//!
//! - [`competitors`]: every competitor behind one small set of traits, each driven through its
//!   own public API: this crate, `async_tasks_recorder` 2.0.2, the hand-written
//!   [`scc_map::SccMapRecorder`], bare `tokio::spawn` and tokio-util's `TaskTracker`.
//! - [`scenarios`]: one timed run of one scenario for one competitor; [`recorded`]: the
//!   `#[recorded_task]` scenario.
//! - [`report`]: the interleaved, median-of-rounds comparison that the `report` binary prints.
//! - [`postgres`]: the PostgreSQL section of that report: `tasks-recorder-postgres` against a
//!   hand-written one-statement-per-transition baseline, a primary-key `SELECT` and `pgbench`,
//!   on a throwaway server.
//!
//! The criterion suite (`cargo bench -p tasks-recorder-benches`) drives the same scenarios.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod competitors;
pub mod ids;
pub mod postgres;
pub mod recorded;
pub mod report;
pub mod scc_map;
pub mod scenarios;
