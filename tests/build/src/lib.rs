//! Holds no code: the trybuild suite of `#[recorded_task]` is `tests/ui.rs`, its cases `ui/`.
#![forbid(unsafe_code)]
