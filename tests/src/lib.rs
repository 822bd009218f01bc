//! Integration tests of tasks-recorder live in `tests/`.
#![forbid(unsafe_code)]
