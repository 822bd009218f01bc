//! Runnable examples of tasks-recorder live in `examples/`; the library part here holds what
//! the tests also use: the [`job_server`] HTTP service, started in-process by the end-to-end
//! test `tests/tests/job_server/`, and the [`seed_file`] of the `seeding` example.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod job_server;
pub mod seed_file;
