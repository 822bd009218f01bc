//! Benchmarks of tasks-recorder against the alternatives: see `benches/` and the `report` binary.
#![forbid(unsafe_code)]
