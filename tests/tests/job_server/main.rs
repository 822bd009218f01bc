//! End to end: the `job_server` example's service, started in-process on a free loopback port
//! and driven over real HTTP with reqwest through every route: launches, duplicate launches
//! racing for one id, queries, listings, revoke, cancel, metrics, bad input, and a graceful
//! shutdown that leaves no job `Working`.
//!
//! No sleep synchronizes anything: a job's end is awaited by polling `GET /jobs/{id}` in a
//! bounded loop whose timeout only detects a failure; jobs take 0 ms or far longer than any
//! test (and are then cancelled). What reqwest cannot send (a request that stalls halfway, a
//! URI over 64 KiB, a path with `.` segments) is written on a raw TCP stream; the server's own
//! read timeouts and drain deadline, shortened by the config, are what end those tests.
//!
//! The records are in memory here; `job_server_pg.rs` runs instances that share them in
//! PostgreSQL.
#![forbid(unsafe_code)]

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod command_line;
mod harness;
mod raw_http;
mod routes;
mod stalled_clients;
