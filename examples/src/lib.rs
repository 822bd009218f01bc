//! Runnable examples of tasks-recorder live in `examples/`.
#![forbid(unsafe_code)]
