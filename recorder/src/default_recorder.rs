//! The process-wide default recorder of each id type, used by `#[recorded_task]` without a
//! `recorder = ...` key.
