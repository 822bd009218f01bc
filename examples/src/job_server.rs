//! An HTTP job service on [axum]: every job runs under its id in a tasks-recorder, so that an
//! id never runs twice at once nor succeeds twice.
//!
//! The records are kept in one of two places, chosen by [`Config::database_url`]:
//!
//! - **in memory** (no URL): an [`AsyncTasksRecorder`], and jobs are launched by a handler
//!   written with [`#[recorded_task]`](tasks_recorder::recorded_task);
//! - **in PostgreSQL** (a URL): a [`PgRecorder`], launched with
//!   [`launch_with_error_text`](PgRecorder::launch_with_error_text). Every instance that
//!   connects to the same database under the same [`Config::recorder_name`] shares the
//!   records: a job launched by one instance reads `working` on all of them, and a `PUT` of
//!   the same id on another instance gets `409` (or `200` once it succeeded). If an instance
//!   dies mid-job, its job reads `failed` with the failure kind `lost` on the others once its
//!   [`Config::lease`] runs out, and can be launched again there. A database error gets `503`
//!   with a JSON body `{"error": "..."}`; the server never panics on one.
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
//! `POST /shutdown`, or by whoever holds the token, e.g. on Ctrl-C with [`watch_interrupts`]);
//! it then drains: [`close`](AsyncTasksRecorder::close) the recorder so new `PUT`s get `503`,
//! [`shutdown_with_grace`](AsyncTasksRecorder::shutdown_with_grace) so running jobs get
//! [`Config::grace`] to finish before they are cancelled (requests are still answered
//! meanwhile), then stop accepting connections, close the idle ones, and give the requests
//! in flight [`Config::drain_deadline`] to be answered; the connections still open then (a
//! client stalled mid-request) are dropped. When `serve` returns, no job of this instance is
//! `Working` (in PostgreSQL, every end is recorded; other instances' jobs run on) and no
//! connection is open: a drain lasts little more than the grace period plus the drain
//! deadline (in PostgreSQL, if the database is unreachable, until this instance's leases run
//! out).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::serve::Listener;
use axum::{Json, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tasks_recorder::{
    recorded_task, AsyncTasksRecorder, Counters, RevokeFailReason, TaskInfo, TaskState,
};
use tasks_recorder_postgres::PgRecorder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// The largest `PUT` body accepted, in bytes.
pub const MAX_BODY_LEN: usize = 4096;

/// The longest request target (path and query) accepted, in bytes.
pub const MAX_URI_LEN: usize = 8192;

/// The port used when neither the first argument nor `JOB_SERVER_PORT` gives one.
pub const DEFAULT_PORT: u16 = 3000;

/// The recorder's name by default: the `recorder` label of the metrics and, in PostgreSQL,
/// the name under which instances share their records.
pub const DEFAULT_RECORDER_NAME: &str = "jobs";

/// A database error of a [`JobServer`] in PostgreSQL (see [`Config::database_url`]).
pub use tasks_recorder_postgres::Error as DatabaseError;

/// The start of the message of a simulated job's panic.
pub const SIMULATED_PANIC: &str = "simulated panic";

/// Installs a panic hook that prints one line for the panics of simulated jobs (the
/// recorder records them as `Failed`, with the message), instead of the default message and
/// backtrace; other panics are printed by the hook that was installed before.
pub fn quiet_simulated_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        match message {
            Some(message) if message.starts_with(SIMULATED_PANIC) => {
                eprintln!("job_server: {message} (recorded as failed)");
            }
            _ => previous(info),
        }
    }));
}

/// The options of a [`JobServer`].
#[derive(Clone)]
pub struct Config {
    /// Where the records are kept: `None` (the default), in this process's memory; else the
    /// URL of a PostgreSQL database (`postgres://user:password@host:port/dbname`), where
    /// every instance connected under the same [`recorder_name`](Self::recorder_name) shares
    /// them. Used by [`JobServer::from_config`] (not by [`JobServer::new`], which keeps them
    /// in memory).
    pub database_url: Option<String>,
    /// The recorder's name ([`DEFAULT_RECORDER_NAME`] by default): the `recorder` label of the
    /// metrics and, in PostgreSQL, the name under which instances share their records.
    pub recorder_name: String,
    /// In PostgreSQL, how long a running job stays this instance's without a renewal of its
    /// lease (renewed every third of it; at least 300 ms). When an instance dies, its running
    /// jobs read `failed` (`lost`) on the others once this has passed, and can be launched
    /// again there. Unused in memory.
    pub lease: Duration,
    /// At most this many jobs run at once; the others wait their turn, already `Working`
    /// (`0`: no limit).
    pub max_concurrency: usize,
    /// At most this many `Failed` records are kept; the oldest are forgotten first.
    pub max_failed: usize,
    /// The longest simulated job accepted, in milliseconds.
    pub max_duration_ms: u64,
    /// How long a drain lets running jobs finish before it cancels them.
    pub grace: Duration,
    /// How long `DELETE` of a running job waits for it to stop before answering `202`
    /// instead of `200`.
    pub cancel_wait: Duration,
    /// How long a client may take to send a request's line and headers; the connection is
    /// closed, unanswered, when they are not all in by then.
    pub header_read_timeout: Duration,
    /// How long a client may take to send the whole body of a `PUT`, counted from when the
    /// handler starts reading it; `408` when it is not all in by then.
    pub body_read_timeout: Duration,
    /// How long the requests still in flight after the grace period get to be answered
    /// before their connections are dropped and [`JobServer::serve`] returns.
    pub drain_deadline: Duration,
}

impl std::fmt::Debug for Config {
    /// Shows the database URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("recorder_name", &self.recorder_name)
            .field("lease", &self.lease)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_failed", &self.max_failed)
            .field("max_duration_ms", &self.max_duration_ms)
            .field("grace", &self.grace)
            .field("cancel_wait", &self.cancel_wait)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("drain_deadline", &self.drain_deadline)
            .finish()
    }
}

/// `url` with its password, if any, replaced by `***`: `postgres://app:***@db/app`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // The `key=value` form: `host=db user=app password=secret`.
        return url
            .split(' ')
            .map(|part| match part.split_once('=') {
                Some(("password", _)) => "password=***",
                _ => part,
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    // The user information ends at the last `@` of the authority, which ends at the first
    // `/`, `?` or `#`.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!("{scheme}://{}:***{}", &rest[..colon], &rest[at..])
}

impl Default for Config {
    /// Records in memory, named `jobs` (a 10 s lease in PostgreSQL), 64 jobs at once, 10,000
    /// failed records, jobs of up to 10 minutes, a 5 s grace period, 10 s to send a request's
    /// headers and 10 s more for its body, a 2 s drain deadline.
    fn default() -> Self {
        Config {
            database_url: None,
            recorder_name: DEFAULT_RECORDER_NAME.to_owned(),
            lease: Duration::from_secs(10),
            max_concurrency: 64,
            max_failed: 10_000,
            max_duration_ms: 600_000,
            grace: Duration::from_secs(5),
            cancel_wait: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            drain_deadline: Duration::from_secs(2),
        }
    }
}

/// What a `PUT /jobs/{id}` asks for: a simulated job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSpec {
    /// How long the job works, in milliseconds (a `tokio::time::sleep`).
    pub duration_ms: u64,
    /// Whether the job then returns an error.
    pub fail: bool,
    /// Whether the job then panics (checked before `fail`).
    pub panic: bool,
}

/// Why a job's last attempt failed, as shown by `GET /jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureView {
    /// `error`, `panicked`, `cancelled`, `shut_down`, `dropped` or (in PostgreSQL) `lost`:
    /// the instance that ran it died or lost the database before it ended.
    pub kind: String,
    /// The panic's message, when there is one.
    pub message: Option<String>,
    /// How long ago the attempt ended, in milliseconds.
    pub ms_ago: u64,
}

/// A job as shown by `GET /jobs/{id}` (and by `PUT` and `DELETE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// The job's id.
    pub id: String,
    /// `working`, `success`, `failed` or `not_found`.
    pub state: String,
    /// Attempts since the id was last unknown (failures and retries add up).
    pub attempts: u32,
    /// Why the last attempt failed, when `state` is `failed`.
    pub failure: Option<FailureView>,
}

/// The error body of every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// The error a simulated job returns when its spec says `fail`.
#[derive(Debug)]
pub struct JobFailed {
    /// How long the job worked before failing, in milliseconds.
    pub after_ms: u64,
}

impl std::fmt::Display for JobFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "simulated failure after {} ms", self.after_ms)
    }
}

impl std::error::Error for JobFailed {}

/// One job, recorded under `id` in `jobs` (in memory): the call returns once the launch is
/// decided (`Ok(())` launched, `Err(state)` refused because the id is `Working` or `Success`,
/// or `NotFound`/`Failed` when the recorder is closed).
#[recorded_task(id = id.clone(), recorder = jobs, error_text)]
async fn run_job(
    jobs: AsyncTasksRecorder<String>,
    id: String,
    spec: JobSpec,
) -> Result<(), JobFailed> {
    simulate(&id, spec).await
}

/// The simulated work of the job `id`.
async fn simulate(id: &str, spec: JobSpec) -> Result<(), JobFailed> {
    // A real service would call out to storage, a payment API...
    tokio::time::sleep(Duration::from_millis(spec.duration_ms)).await;
    if spec.panic {
        panic!("{SIMULATED_PANIC} in job {id}");
    }
    if spec.fail {
        return Err(JobFailed {
            after_ms: spec.duration_ms,
        });
    }
    Ok(())
}

/// The answer of an operation that reads or writes the database: in memory, always `Ok`.
type Db<T> = Result<T, DatabaseError>;

/// Why a revoke was refused.
enum RevokeRefused {
    /// Another revoke of the id runs.
    Revoking,
    /// The id is not `Success` (any more).
    NotSuccess,
}

/// The recorder of the jobs, in memory or in PostgreSQL: the operations the routes use, each
/// written once for both (the in-memory answers are wrapped in `Ok`).
#[derive(Debug, Clone)]
enum Jobs {
    Memory(AsyncTasksRecorder<String>),
    Postgres(PgRecorder<String>),
}

impl Jobs {
    /// Launches the job `id`: `Ok(Ok(()))` launched, `Ok(Err(state))` refused (see
    /// [`run_job`]), `Err` the database failed (the job did not start).
    async fn launch(&self, id: String, spec: JobSpec) -> Db<Result<(), TaskState>> {
        match self {
            // The attribute does not support `PgRecorder`: the database mode launches
            // directly.
            Jobs::Memory(jobs) => Ok(run_job(jobs.clone(), id, spec).await),
            Jobs::Postgres(jobs) => {
                let work = {
                    let id = id.clone();
                    async move { simulate(&id, spec).await }
                };
                let launched = jobs.launch_with_error_text(id, work).await?;
                Ok(launched.map_err(|(state, _work)| state))
            }
        }
    }

    async fn task_info(&self, id: &str) -> Db<Option<TaskInfo>> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.task_info(id).await),
            Jobs::Postgres(jobs) => jobs.task_info(id).await,
        }
    }

    async fn query_task_state(&self, id: &str) -> Db<TaskState> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.query_task_state(id).await),
            Jobs::Postgres(jobs) => jobs.query_task_state(id).await,
        }
    }

    /// Revokes the success of `id`; the undo of a simulated job has nothing to undo.
    async fn revoke(&self, id: String) -> Db<Result<(), RevokeRefused>> {
        let undo = async { Ok::<(), Infallible>(()) };
        let revoked = match self {
            Jobs::Memory(jobs) => jobs.revoke_task_block(id, undo).await,
            Jobs::Postgres(jobs) => jobs.revoke_task_block(id, undo).await?,
        };
        Ok(match revoked {
            Ok(()) => Ok(()),
            Err(RevokeFailReason::Revoking(_)) => Err(RevokeRefused::Revoking),
            Err(RevokeFailReason::NotSuccess(_)) => Err(RevokeRefused::NotSuccess),
            Err(RevokeFailReason::RevokeTaskError(never)) => match never {},
        })
    }

    /// Asks the running attempt of `id` to stop (in PostgreSQL, wherever it runs); whether
    /// the id was `Working`.
    async fn cancel(&self, id: &str) -> Db<bool> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.cancel(id)),
            Jobs::Postgres(jobs) => jobs.cancel(id).await,
        }
    }

    /// Waits until `id` is no longer `Working`.
    async fn wait(&self, id: &str) -> Db<TaskState> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.wait(id).await),
            Jobs::Postgres(jobs) => jobs.wait(id).await,
        }
    }

    async fn remove_failed(&self, id: &str) -> Db<bool> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.remove_failed(id)),
            Jobs::Postgres(jobs) => jobs.remove_failed(id).await,
        }
    }

    async fn ids_in_state(&self, state: TaskState) -> Db<Vec<String>> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.ids_in_state(state).await),
            Jobs::Postgres(jobs) => jobs.ids_in_state(state).await,
        }
    }

    async fn count_in_state(&self, state: TaskState) -> Db<usize> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.count_in_state(state).await),
            Jobs::Postgres(jobs) => jobs.count_in_state(state).await,
        }
    }

    /// The counters; in PostgreSQL, this instance's event counters with the state gauges of
    /// every instance.
    async fn counters(&self) -> Db<Counters> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.counters()),
            Jobs::Postgres(jobs) => jobs.counters().await,
        }
    }

    /// How many jobs this instance runs now (no database read).
    async fn working_here(&self) -> usize {
        match self {
            Jobs::Memory(jobs) => jobs.count_in_state(TaskState::Working).await,
            Jobs::Postgres(jobs) => jobs.running(),
        }
    }

    fn name(&self) -> &str {
        match self {
            Jobs::Memory(jobs) => jobs.name(),
            Jobs::Postgres(jobs) => jobs.name(),
        }
    }

    fn close(&self) -> bool {
        match self {
            Jobs::Memory(jobs) => jobs.close(),
            Jobs::Postgres(jobs) => jobs.close(),
        }
    }

    /// Lets this instance's jobs finish for `grace`, then cancels the rest; how many it
    /// cancelled. In PostgreSQL, returns once every end is recorded (or, the database being
    /// unreachable, once the leases ran out).
    async fn shutdown_with_grace(&self, grace: Duration) -> usize {
        match self {
            Jobs::Memory(jobs) => jobs.shutdown_with_grace(grace).await,
            Jobs::Postgres(jobs) => jobs.shutdown_with_grace(grace).await,
        }
    }
}

/// The HTTP job service: the recorder of its jobs, its options and its shutdown token.
#[derive(Debug, Clone)]
pub struct JobServer {
    jobs: Jobs,
    config: Config,
    shutdown: CancellationToken,
}

impl JobServer {
    /// A server with the given options and an empty recorder in memory, named
    /// [`Config::recorder_name`]; [`Config::database_url`] is not used (see
    /// [`from_config`](Self::from_config)).
    pub fn new(config: Config) -> Self {
        let jobs = AsyncTasksRecorder::builder()
            .name(config.recorder_name.as_str())
            .max_concurrency(config.max_concurrency)
            .max_failed(config.max_failed)
            .build();
        JobServer {
            jobs: Jobs::Memory(jobs),
            config,
            shutdown: CancellationToken::new(),
        }
    }

    /// A server with the given options, its records where [`Config::database_url`] says: in
    /// memory as [`new`](Self::new) without a URL, else in that PostgreSQL database under
    /// [`Config::recorder_name`], shared with every instance connected to it under that name.
    /// Must be called inside the Tokio runtime that will serve (the recorder's background
    /// tasks run there).
    ///
    /// # Errors
    /// The URL is invalid, or the database cannot be reached or set up.
    pub async fn from_config(config: Config) -> Result<Self, DatabaseError> {
        let Some(url) = config.database_url.as_deref() else {
            return Ok(JobServer::new(config));
        };
        let jobs = PgRecorder::<String>::builder()
            .lease(config.lease)
            .max_concurrency(config.max_concurrency)
            .max_failed(config.max_failed)
            .connect(url, &config.recorder_name)
            .await?;
        Ok(JobServer {
            jobs: Jobs::Postgres(jobs),
            config,
            shutdown: CancellationToken::new(),
        })
    }

    /// The recorder of the jobs (a handle to the same records) when they are in memory.
    pub fn jobs(&self) -> Option<&AsyncTasksRecorder<String>> {
        match &self.jobs {
            Jobs::Memory(jobs) => Some(jobs),
            Jobs::Postgres(_) => None,
        }
    }

    /// The recorder of the jobs (a handle to the same records) when they are in PostgreSQL.
    pub fn pg_jobs(&self) -> Option<&PgRecorder<String>> {
        match &self.jobs {
            Jobs::Memory(_) => None,
            Jobs::Postgres(jobs) => Some(jobs),
        }
    }

    /// The token that starts the drain when cancelled: `POST /shutdown` cancels it; cancel it
    /// yourself on Ctrl-C.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The routes of the service, without the server around them.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/jobs", get(list_jobs))
            .route("/jobs/{id}", put(put_job).get(get_job).delete(delete_job))
            .route("/metrics", get(metrics))
            .route("/shutdown", post(shutdown))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::map_response(json_errors))
            .layer(middleware::from_fn(uri_limit))
            .with_state(self.clone())
    }

    /// Serves on `listener` until the [shutdown token](Self::shutdown_token) is cancelled,
    /// then drains (see the [module docs](self)) and returns what the drain did. When this
    /// returns, no job is `Working`, and no connection is left open.
    ///
    /// It never fails at present: errors accepting a connection are retried as
    /// [`axum::serve()`] retries them.
    pub async fn serve(self, mut listener: TcpListener) -> io::Result<Drained> {
        let app = self.router();
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.config.header_read_timeout);
        // Cancelled once the grace period is over: every connection then finishes the
        // request it is serving (if any) and closes.
        let closing = CancellationToken::new();
        let mut connections = JoinSet::new();

        // Until the drain's grace period is over, connections are still accepted: requests
        // are answered (new `PUT`s with `503`) while running jobs finish.
        let drain = async {
            self.shutdown.cancelled().await;
            self.jobs.close();
            self.jobs.shutdown_with_grace(self.config.grace).await
        };
        let mut drain = pin!(drain);
        let cancelled = loop {
            tokio::select! {
                cancelled = &mut drain => break cancelled,
                (stream, _) = Listener::accept(&mut listener) => {
                    connections.spawn(connection(
                        stream,
                        app.clone(),
                        http.clone(),
                        self.config.header_read_timeout,
                        closing.clone(),
                    ));
                }
                // Reaps the connections that ended, so that the set does not grow.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        };
        drop(listener);

        // The requests in flight get `drain_deadline` to be answered; whatever connection is
        // still open then (a client stalled mid-request, say) is dropped.
        closing.cancel();
        let all_closed = async { while connections.join_next().await.is_some() {} };
        let connections_dropped =
            match tokio::time::timeout(self.config.drain_deadline, all_closed).await {
                Ok(()) => 0,
                Err(_) => {
                    let open = connections.len();
                    connections.shutdown().await;
                    open
                }
            };
        let (counters, counters_error) = match self.jobs.counters().await {
            Ok(counters) => (counters, None),
            Err(e) => (Counters::default(), Some(e.to_string())),
        };
        Ok(Drained {
            cancelled,
            connections_dropped,
            counters,
            counters_error,
        })
    }
}

/// Serves one connection with `app` until it closes, or until `closing` is cancelled and the
/// request in flight (if any) is answered.
///
/// The line of the first request is read here, before hyper sees it: hyper answers a request
/// target over 64 KiB with a bare `414` (no body), so an over-long first request line gets its
/// `414` with a JSON body from [`refuse_long_request_line`] instead. The later requests of a
/// kept-alive connection are checked by [`uri_limit`], which sees every target hyper accepts.
async fn connection(
    mut stream: TcpStream,
    app: Router,
    http: http1::Builder,
    header_read_timeout: Duration,
    closing: CancellationToken,
) {
    let first_line = tokio::select! {
        // Not even a request line yet: nothing to answer.
        () = closing.cancelled() => return,
        line = tokio::time::timeout(header_read_timeout, read_request_line(&mut stream)) => line,
    };
    let head = match first_line {
        Ok(Ok(RequestLine::Complete(head))) => head,
        Ok(Ok(RequestLine::TooLong)) => {
            refuse_long_request_line(stream, header_read_timeout).await;
            return;
        }
        // Closed, failed or timed out before the end of the request line.
        Ok(Ok(RequestLine::Closed) | Err(_)) | Err(_) => return,
    };
    // hyper reads the bytes already read first, then the rest of the stream.
    let (reader, writer) = stream.into_split();
    let io = TokioIo::new(tokio::io::join(io::Cursor::new(head).chain(reader), writer));
    let conn = http.serve_connection(io, TowerToHyperService::new(app));
    let mut conn = pin!(conn);
    tokio::select! {
        // An error is the client's doing (a malformed request, a header timeout, a reset):
        // the connection is closed either way.
        _ = conn.as_mut() => return,
        () = closing.cancelled() => {}
    }
    // Answers the request in flight, if any, then closes (at once if idle).
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The longest request line accepted: a request target of [`MAX_URI_LEN`] bytes, and room for
/// the method and the version.
const MAX_REQUEST_LINE: usize = MAX_URI_LEN + 64;

/// How the first request line of a connection ended.
enum RequestLine {
    /// All the bytes read, the whole request line among them.
    Complete(Vec<u8>),
    /// Over [`MAX_REQUEST_LINE`] bytes.
    TooLong,
    /// The client closed the connection before the end of the line.
    Closed,
}

/// Reads from `stream` until the end of the first request line.
async fn read_request_line(stream: &mut TcpStream) -> io::Result<RequestLine> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(RequestLine::Closed);
        }
        head.extend_from_slice(&chunk[..read]);
        match head.iter().position(|&byte| byte == b'\n') {
            Some(end) if end <= MAX_REQUEST_LINE => return Ok(RequestLine::Complete(head)),
            Some(_) => return Ok(RequestLine::TooLong),
            None if head.len() > MAX_REQUEST_LINE => return Ok(RequestLine::TooLong),
            None => {}
        }
    }
}

/// Answers `414` with a JSON body on `stream`, whose request line is over
/// [`MAX_REQUEST_LINE`] bytes, and closes it.
async fn refuse_long_request_line(mut stream: TcpStream, linger: Duration) {
    let body = serde_json::json!({
        "error": format!("the request target is over {MAX_URI_LEN} bytes"),
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    // Reads what the client still sends (the rest of its request) until it closes, for
    // a while: closing with unread bytes would reset the connection, and the client could
    // lose the answer.
    let discard = async {
        let mut sink = [0u8; 4096];
        let mut left: usize = 1 << 20;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(read) => left = left.saturating_sub(read),
            }
        }
    };
    let _ = tokio::time::timeout(linger, discard).await;
}

/// What a drain did, returned by [`JobServer::serve`].
#[derive(Debug, Clone)]
pub struct Drained {
    /// Jobs still running when the grace period ran out, and so cancelled.
    pub cancelled: usize,
    /// Connections still open at the drain deadline, and so dropped (a client stalled in the
    /// middle of a request, say).
    pub connections_dropped: usize,
    /// The recorder's counters after the drain (in PostgreSQL, this instance's event
    /// counters, and the state gauges of every instance; all zero if they could not be read).
    pub counters: Counters,
    /// Why the counters could not be read (the database failed), if so.
    pub counters_error: Option<String>,
}

/// Watches interrupts, each a completion of `next_interrupt` (e.g. [`tokio::signal::ctrl_c`]):
/// the first cancels `stop`, which starts the drain; this returns at the second, when the
/// caller should exit at once rather than wait for the drain to end. Returns an error if the
/// interrupts cannot be watched.
pub async fn watch_interrupts<F, Fut>(
    mut next_interrupt: F,
    stop: CancellationToken,
) -> io::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    next_interrupt().await?;
    eprintln!("job_server: interrupted: draining (interrupt again to exit at once)");
    stop.cancel();
    next_interrupt().await
}

/// Binds `127.0.0.1:port` (`0`: any free port).
pub async fn bind(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// The port to listen on: the first argument if there is one, else `JOB_SERVER_PORT` if set,
/// else [`DEFAULT_PORT`]; `0` means any free port.
pub fn port_from(arg: Option<String>, env: Option<String>) -> Result<u16, String> {
    match arg.or(env) {
        None => Ok(DEFAULT_PORT),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("not a port number (0-65535): {text:?}")),
    }
}

/// The command line of the `job_server` example: `job_server [PORT] [--database-url URL]`.
pub const USAGE: &str = "usage: job_server [PORT] [--database-url URL]\n  \
    PORT: else JOB_SERVER_PORT, else 3000; 0 = any free port\n  \
    --database-url URL: else DATABASE_URL; keep the jobs in this PostgreSQL database, shared \
    with every instance using it (without one: in memory)";

/// What the command line and the environment ask of the `job_server` example.
#[derive(Clone, PartialEq, Eq)]
pub struct Args {
    /// The port to listen on (see [`port_from`]).
    pub port: u16,
    /// The PostgreSQL database to keep the jobs in, if any.
    pub database_url: Option<String>,
}

impl std::fmt::Debug for Args {
    /// Shows the database URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("port", &self.port)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .finish()
    }
}

/// Reads the arguments (without the program's name) `[PORT] [--database-url URL]` (or
/// `--database-url=URL`, before or after the port), with the values of `JOB_SERVER_PORT`
/// (`port_env`) and `DATABASE_URL` (`database_env`) for what they do not give. An empty
/// database URL is none: the jobs are kept in memory.
///
/// # Errors
/// An unknown option, a missing URL after `--database-url`, a second port, or a port that is
/// not a number from 0 to 65535.
pub fn args_from(
    args: impl IntoIterator<Item = String>,
    port_env: Option<String>,
    database_env: Option<String>,
) -> Result<Args, String> {
    const FLAG: &str = "--database-url";
    let mut args = args.into_iter();
    let mut port = None;
    let mut database_url = None;
    while let Some(arg) = args.next() {
        if arg == FLAG {
            let url = args
                .next()
                .ok_or_else(|| format!("{FLAG} needs a URL, e.g. {FLAG} postgres://app@db/app"))?;
            database_url = Some(url);
        } else if let Some(url) = arg.strip_prefix("--database-url=") {
            database_url = Some(url.to_owned());
        } else if arg.starts_with('-') && arg.len() > 1 {
            return Err(format!("unknown option {arg:?}"));
        } else if port.is_some() {
            return Err(format!(
                "unexpected argument {arg:?}: the port is already given"
            ));
        } else {
            port = Some(arg);
        }
    }
    Ok(Args {
        port: port_from(port, port_env)?,
        database_url: database_url
            .or(database_env)
            .filter(|url| !url.trim().is_empty()),
    })
}

/// An answer with a JSON body `{"error": message}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: message.into(),
    };
    (status, Json(body)).into_response()
}

/// A rejected id: why.
struct BadId(String);

impl IntoResponse for BadId {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0)
    }
}

/// Checks an id from the path: 1 to [`MAX_ID_LEN`] bytes of `A-Z a-z 0-9 . _ - :`, other
/// than `.` and `..`.
fn valid_id(path: Result<Path<String>, PathRejection>) -> Result<String, BadId> {
    let Path(id) = path.map_err(|e| BadId(e.body_text()))?;
    if id.is_empty() {
        return Err(BadId("the id is empty".to_owned()));
    }
    if id.len() > MAX_ID_LEN {
        return Err(BadId(format!(
            "the id is {} bytes long, over {MAX_ID_LEN}",
            id.len()
        )));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')))
    {
        return Err(BadId(format!(
            "the id has the character {bad:?}: only A-Z a-z 0-9 . _ - : are allowed"
        )));
    }
    // HTTP clients resolve these path segments away (`/jobs/..` is `/`): no client could
    // address such a job again.
    if id == "." || id == ".." {
        return Err(BadId(format!("the id cannot be {id:?}")));
    }
    Ok(id)
}

/// Parses a state name of `GET /jobs?state=`.
fn parse_state(name: &str) -> Option<TaskState> {
    [TaskState::Working, TaskState::Success, TaskState::Failed]
        .into_iter()
        .find(|state| state.as_str() == name)
}

/// `503` with a JSON body saying what failed in the database.
fn database_error(e: &DatabaseError) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the database failed: {e}"),
    )
}

/// The view of `id` now.
async fn view(jobs: &Jobs, id: &str) -> Db<JobView> {
    Ok(match jobs.task_info(id).await? {
        None => JobView {
            id: id.to_owned(),
            state: TaskState::NotFound.to_string(),
            attempts: 0,
            failure: None,
        },
        Some(info) => JobView {
            id: id.to_owned(),
            state: info.state.to_string(),
            attempts: info.attempts,
            failure: info.failure.map(|failure| FailureView {
                kind: failure.kind.to_string(),
                message: failure.message,
                ms_ago: u64::try_from(failure.at.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
        },
    })
}

/// The view of `id` after an operation that did what it was asked: the [`JobView`] as JSON, or
/// if it cannot be read (the database failed), `{"id": ..., "error": "..."}` (the answer's
/// status still says what the operation did).
async fn view_after(jobs: &Jobs, id: &str) -> serde_json::Value {
    match view(jobs, id).await {
        Ok(view) => serde_json::to_value(view).unwrap_or_else(
            |e| serde_json::json!({ "id": id, "error": format!("the job's view: {e}") }),
        ),
        Err(e) => serde_json::json!({
            "id": id,
            "error": format!("the job's state could not be read: {e}"),
        }),
    }
}

/// The job spec of a `PUT` body: none (or only whitespace) is the default job; else the body
/// must be a JSON object (`415` without a JSON `Content-Type`, `400` if it is not an object or
/// not a valid spec).
fn job_spec(headers: &HeaderMap, body: &[u8]) -> Result<JobSpec, (StatusCode, String)> {
    let Some(start) = body.iter().find(|byte| !byte.is_ascii_whitespace()) else {
        return Ok(JobSpec::default());
    };
    if !is_json(headers) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a job spec needs the header content-type: application/json".to_owned(),
        ));
    }
    // serde would take an array for a struct too, its fields in order: `[10, false, true]`.
    if *start != b'{' {
        return Err((
            StatusCode::BAD_REQUEST,
            "bad job spec: not a JSON object like {\"duration_ms\": 250}".to_owned(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad job spec: {e}")))
}

/// `PUT /jobs/{id}`.
async fn put_job(
    State(server): State<JobServer>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let id = match valid_id(path) {
        Ok(id) => id,
        Err(bad) => return bad.into_response(),
    };
    let timeout = server.config.body_read_timeout;
    let bytes = match tokio::time::timeout(timeout, to_bytes(body, MAX_BODY_LEN)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {MAX_BODY_LEN} bytes (or could not be read)"),
            )
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body was not all received within {timeout:?}"),
            )
        }
    };
    let spec = match job_spec(&headers, &bytes) {
        Ok(spec) => spec,
        Err((status, message)) => return error(status, message),
    };
    if spec.duration_ms > server.config.max_duration_ms {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "duration_ms {} is over the limit of {}",
                spec.duration_ms, server.config.max_duration_ms
            ),
        );
    }
    let launched = match server.jobs.launch(id.clone(), spec).await {
        Ok(launched) => launched,
        Err(e) => return database_error(&e),
    };
    match launched {
        Ok(()) => {
            let location = format!("/jobs/{id}");
            let view = view_after(&server.jobs, &id).await;
            (
                StatusCode::ACCEPTED,
                [(header::LOCATION, location)],
                Json(view),
            )
                .into_response()
        }
        Err(TaskState::Working) => {
            error(StatusCode::CONFLICT, format!("job {id} is already running"))
        }
        Err(TaskState::Success) => {
            (StatusCode::OK, Json(view_after(&server.jobs, &id).await)).into_response()
        }
        // Refused while `NotFound` or `Failed`: the recorder is closed.
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down and accepts no new job",
        ),
    }
}

/// `GET /jobs/{id}`.
async fn get_job(
    State(server): State<JobServer>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match valid_id(path) {
        Ok(id) => id,
        Err(bad) => return bad.into_response(),
    };
    let view = match view(&server.jobs, &id).await {
        Ok(view) => view,
        Err(e) => return database_error(&e),
    };
    let status = if view.state == TaskState::NotFound.as_str() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    (status, Json(view)).into_response()
}

/// The query of `GET /jobs`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
}

/// `GET /jobs?state=...`.
async fn list_jobs(
    State(server): State<JobServer>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let Some(name) = query.state else {
        let mut counts = BTreeMap::new();
        for state in [TaskState::Working, TaskState::Success, TaskState::Failed] {
            match server.jobs.count_in_state(state).await {
                Ok(count) => counts.insert(state.as_str(), count),
                Err(e) => return database_error(&e),
            };
        }
        return Json(counts).into_response();
    };
    let Some(state) = parse_state(&name) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("unknown state {name:?}: use working, success or failed"),
        );
    };
    let mut ids = match server.jobs.ids_in_state(state).await {
        Ok(ids) => ids,
        Err(e) => return database_error(&e),
    };
    ids.sort_unstable();
    Json(serde_json::json!({
        "state": state.as_str(),
        "count": ids.len(),
        "ids": ids,
    }))
    .into_response()
}

/// `DELETE /jobs/{id}`: revokes a success, cancels a running attempt, forgets a failure.
async fn delete_job(
    State(server): State<JobServer>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match valid_id(path) {
        Ok(id) => id,
        Err(bad) => return bad.into_response(),
    };
    let jobs = &server.jobs;
    let answer = |action: &'static str, status: StatusCode, view: serde_json::Value| {
        (
            status,
            Json(serde_json::json!({ "action": action, "job": view })),
        )
            .into_response()
    };
    let state = match jobs.query_task_state(&id).await {
        Ok(state) => state,
        Err(e) => return database_error(&e),
    };
    match state {
        TaskState::Success => match jobs.revoke(id.clone()).await {
            Ok(Ok(())) => answer("revoked", StatusCode::OK, view_after(jobs, &id).await),
            Ok(Err(RevokeRefused::Revoking)) => error(
                StatusCode::CONFLICT,
                format!("job {id} is already being revoked"),
            ),
            Ok(Err(RevokeRefused::NotSuccess)) => error(
                StatusCode::CONFLICT,
                format!("job {id} changed state meanwhile; try again"),
            ),
            Err(e) => database_error(&e),
        },
        TaskState::Working => {
            match jobs.cancel(&id).await {
                Ok(true) => {}
                Ok(false) => {
                    return error(
                        StatusCode::CONFLICT,
                        format!("job {id} finished meanwhile; try again"),
                    )
                }
                Err(e) => return database_error(&e),
            }
            // Cancelled at its next `.await` (in PostgreSQL, once the instance that runs it
            // hears of it): give it a moment to show its end. `202` if it has not yet (or
            // the database failed meanwhile): the cancel is asked, the end is to come.
            let stopped = tokio::time::timeout(server.config.cancel_wait, jobs.wait(&id)).await;
            let status = if matches!(stopped, Ok(Ok(_))) {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            answer("cancelled", status, view_after(jobs, &id).await)
        }
        TaskState::Failed => match jobs.remove_failed(&id).await {
            Ok(true) => answer("removed", StatusCode::OK, view_after(jobs, &id).await),
            Ok(false) => error(
                StatusCode::CONFLICT,
                format!("job {id} changed state meanwhile; try again"),
            ),
            Err(e) => database_error(&e),
        },
        TaskState::NotFound => error(StatusCode::NOT_FOUND, format!("no job {id}")),
    }
}

/// `GET /metrics`: the counters in the Prometheus text exposition format (version 0.0.4),
/// with the metric names of `AsyncTasksRecorder::publish_metrics`. In PostgreSQL, the event
/// counters are this instance's, and the state gauges (`tasks_recorder_tasks`) count every
/// instance's jobs, read from the database.
async fn metrics(State(server): State<JobServer>) -> Response {
    let counters = match server.jobs.counters().await {
        Ok(counters) => counters,
        Err(e) => return database_error(&e),
    };
    let text = prometheus_text(server.jobs.name(), &counters);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Formats `counters` of the recorder `name` in the Prometheus text format.
pub fn prometheus_text(name: &str, counters: &Counters) -> String {
    let c = counters;
    // (name, type, help, label, [(label value, value)])
    type Family<'a> = (&'a str, &'a str, &'a str, &'a str, Vec<(&'a str, u64)>);
    let families: [Family<'_>; 7] = [
        (
            "tasks_recorder_launched_total",
            "counter",
            "Attempts started (launches accepted).",
            "",
            vec![("", c.launched_total)],
        ),
        (
            "tasks_recorder_refused_total",
            "counter",
            "Launches refused, by reason.",
            "reason",
            vec![
                ("running", c.refused_running_total),
                ("succeeded", c.refused_succeeded_total),
                ("closed", c.refused_closed_total),
            ],
        ),
        (
            "tasks_recorder_finished_total",
            "counter",
            "Attempts ended, by outcome.",
            "outcome",
            vec![
                ("succeeded", c.succeeded_total),
                ("failed", c.failed_total),
                ("panicked", c.panicked_total),
                ("cancelled", c.cancelled_total),
                ("dropped", c.dropped_total),
                ("lost", c.lost_total),
            ],
        ),
        (
            "tasks_recorder_fenced_total",
            "counter",
            "Ends of attempts or revokes that came too late and changed nothing.",
            "",
            vec![("", c.fenced_total)],
        ),
        (
            "tasks_recorder_revoked_total",
            "counter",
            "Successes revoked.",
            "",
            vec![("", c.revoked_total)],
        ),
        (
            "tasks_recorder_removed_total",
            "counter",
            "Failed records removed.",
            "",
            vec![("", c.removed_total)],
        ),
        (
            "tasks_recorder_tasks",
            "gauge",
            "Ids in each state now.",
            "state",
            vec![
                ("working", c.working_now),
                ("success", c.success_now),
                ("failed", c.failed_now),
            ],
        ),
    ];
    let name = escape_label(name);
    let mut text = String::new();
    for (metric, kind, help, label, samples) in families {
        // Writing to a `String` cannot fail.
        let _ = writeln!(text, "# HELP {metric} {help}");
        let _ = writeln!(text, "# TYPE {metric} {kind}");
        for (value_label, value) in samples {
            if label.is_empty() {
                let _ = writeln!(text, "{metric}{{recorder=\"{name}\"}} {value}");
            } else {
                let _ = writeln!(
                    text,
                    "{metric}{{recorder=\"{name}\",{label}=\"{value_label}\"}} {value}"
                );
            }
        }
    }
    text
}

/// Escapes a label value of the Prometheus text format.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `POST /shutdown`: starts the drain and answers at once.
async fn shutdown(State(server): State<JobServer>) -> Response {
    // Closed here rather than only when `serve` gets to start the drain: once this answers,
    // every `PUT` gets `503`.
    server.jobs.close();
    server.shutdown.cancel();
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "status": "draining",
            // This instance's: in PostgreSQL, other instances' jobs run on.
            "working": server.jobs.working_here().await,
        })),
    )
        .into_response()
}

/// Refuses a request target over [`MAX_URI_LEN`] bytes with `414`.
async fn uri_limit(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let len = uri
        .path_and_query()
        .map_or(0, |target| target.as_str().len())
        + uri
            .authority()
            .map_or(0, |authority| authority.as_str().len());
    if len > MAX_URI_LEN {
        return error(
            StatusCode::URI_TOO_LONG,
            format!("the request target is over {MAX_URI_LEN} bytes"),
        );
    }
    next.run(request).await
}

/// Gives every error answer a JSON body `{"error": "..."}`: the handlers answer so already;
/// this covers whatever else the framework may answer (its text, if any, becomes the message).
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = to_bytes(body, MAX_BODY_LEN)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    let message = text.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    });
    let body = serde_json::json!({ "error": message }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// Whether `headers` say the body is JSON: a `Content-Type` of `application/json`, with or
/// without parameters, in any case.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Unknown routes.
async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such route: see PUT/GET/DELETE /jobs/{id}, GET /jobs?state=, GET /metrics, POST /shutdown",
    )
}

/// Known routes with an unsupported method.
async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}
