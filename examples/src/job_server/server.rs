//! The server: [`JobServer`] (its routes, serving, the drain), and the helpers the example's
//! `main` uses around it ([`bind`], [`watch_interrupts`]).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;

use axum::middleware;
use axum::routing::{get, post, put};
use axum::serve::Listener;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tasks_recorder::{AsyncTasksRecorder, Counters};
use tasks_recorder_postgres::PgRecorder;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::answers::json_errors;
use super::connection::connection;
use super::input::uri_limit;
use super::metrics::metrics;
use super::records::Jobs;
use super::routes::{
    delete_job, get_job, list_jobs, method_not_allowed, not_found, put_job, shutdown,
};
use super::{Config, DatabaseError};

/// The HTTP job service: the recorder of its jobs, its options and its shutdown token.
#[derive(Debug, Clone)]
pub struct JobServer {
    pub(super) jobs: Jobs,
    pub(super) config: Config,
    pub(super) shutdown: CancellationToken,
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
    /// then drains (see the [module docs](super)) and returns what the drain did. When this
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
