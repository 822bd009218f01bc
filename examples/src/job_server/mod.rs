//! An HTTP job service on [axum]: every job runs under its id in a tasks-recorder, so that an
//! id never runs twice at once nor succeeds twice.
//!
//! The records are kept in one of two places, chosen by [`Config::database_url`]:
//!
//! - **in memory** (no URL): an [`AsyncTasksRecorder`], and jobs are launched by a handler
//!   written with [`#[recorded_task]`](tasks_recorder::recorded_task);
//! - **in PostgreSQL** (a URL): a [`PgRecorder`], launched with
//!   [`launch_with_error_text`](tasks_recorder_postgres::PgRecorder::launch_with_error_text). Every
//!   instance that connects to the same database under the same [`Config::recorder_name`] shares
//!   the records: a job launched by one instance reads `working` on all of them, and a `PUT` of the
//!   same id on another instance gets `409` (or `200` once it succeeded). If an instance dies
//!   mid-job, its job reads `failed` with the failure kind `lost` on the others once its
//!   [`Config::lease`] runs out, and can be launched again there. A database error gets `503` with
//!   a JSON body `{"error": "..."}`; the server never panics on one.
//!
//! | route | what it does |
//! |---|---|
//! | `PUT /jobs/{id}` | launches a simulated job; `202` launched, `409` already running (here or on another instance), `200` already succeeded, `503` shutting down or the database failed |
//! | `GET /jobs/{id}` | the job's state, attempts and failure reason (`404` with state `not_found` if unknown) |
//! | `GET /jobs?state=failed` | the ids in a state (`working`, `success` or `failed`); without `state`, how many are in each |
//! | `DELETE /jobs/{id}` | revokes a succeeded job, cancels a running one, forgets a failed one |
//! | `GET /metrics` | the recorder's counters in the Prometheus text format (in PostgreSQL: this instance's counters, and the state gauges of every instance) |
//! | `POST /shutdown` | graceful drain: close, wait up to the grace period, cancel the rest, stop |
//!
//! The body of `PUT` is optional: none (or only whitespace) is a job that succeeds at once;
//! else it must be a JSON object, `{"duration_ms": 250, "fail": false, "panic": false}` (every
//! field optional), sent with the header `content-type: application/json` (`415` without
//! it). Bad input gets a 4xx answer with a JSON body `{"error": "..."}`: an id that is empty,
//! longer than [`MAX_ID_LEN`] bytes, `.` or `..`, or has other characters than
//! `A-Z a-z 0-9 . _ - :`; a body that is not a JSON object or not a valid spec, over
//! [`MAX_BODY_LEN`] bytes (`413`) or not all received within [`Config::body_read_timeout`]
//! (`408`); a duration over [`Config::max_duration_ms`] (`422`); an unknown state name; a
//! request target over [`MAX_URI_LEN`] bytes (`414`); an unknown route (`404`) or method
//! (`405`). Only what hyper refuses before any route sees it has no JSON body: a request that
//! is not valid HTTP/1.1 (`400`, `431`), and a target over 64 KiB on a kept-alive connection
//! (`414`; on a connection's first request, it gets the JSON `414` too).
//!
//! A client has [`Config::header_read_timeout`] to send a request's line and headers (and a
//! kept-alive connection may stay idle between requests that long); its connection is
//! closed, unanswered, when they are not all in by then.
//!
//! [`JobServer::serve`] runs the server until [`JobServer::shutdown_token`] is cancelled (by
//! `POST /shutdown`, or by whoever holds the token, e.g. on Ctrl-C with [`watch_interrupts`]); it
//! then drains: [`close`](tasks_recorder::AsyncTasksRecorder::close) the recorder so new `PUT`s get
//! `503`, [`shutdown_with_grace`](tasks_recorder::AsyncTasksRecorder::shutdown_with_grace) so
//! running jobs get [`Config::grace`] to finish before they are cancelled (requests are still
//! answered meanwhile), then stop accepting connections, close the idle ones, and give the requests
//! in flight [`Config::drain_deadline`] to be answered; the connections still open then (a client
//! stalled mid-request) are dropped. When `serve` returns, no job of this instance is `Working` (in
//! PostgreSQL, every end is recorded; other instances' jobs run on) and no connection is open: a
//! drain lasts little more than the grace period plus the drain deadline (in PostgreSQL, if the
//! database is unreachable, until this instance's leases run out).
//!
//! [`AsyncTasksRecorder`]: tasks_recorder::AsyncTasksRecorder
//! [`PgRecorder`]: tasks_recorder_postgres::PgRecorder
#![forbid(unsafe_code)]

mod answers;
mod command_line;
mod config;
mod connection;
mod input;
mod metrics;
mod records;
mod routes;
mod server;
mod simulated_job;

pub use answers::{ErrorBody, FailureView, JobView};
pub use command_line::{args_from, port_from, Args, DEFAULT_PORT, USAGE};
pub use config::{redact_url, Config, DEFAULT_RECORDER_NAME};
pub use metrics::prometheus_text;
pub use server::{bind, watch_interrupts, Drained, JobServer};
pub use simulated_job::{quiet_simulated_panics, JobFailed, JobSpec, SIMULATED_PANIC};

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// The largest `PUT` body accepted, in bytes.
pub const MAX_BODY_LEN: usize = 4096;

/// The longest request target (path and query) accepted, in bytes.
pub const MAX_URI_LEN: usize = 8192;

/// A database error of a [`JobServer`] in PostgreSQL (see [`Config::database_url`]).
pub use tasks_recorder_postgres::Error as DatabaseError;
