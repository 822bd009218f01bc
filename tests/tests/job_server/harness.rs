//! A server of the `job_server` example running in this process, with a client for it
//! ([`Harness`]), and the timeouts the tests give it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tasks_recorder::{AsyncTasksRecorder, TaskState};
use tasks_recorder_examples::job_server::{Config, Drained, JobServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::raw_http::read_answer;
use crate::support::job_client::JobClient;

/// How long anything may take before the test calls it a failure.
pub(super) const PATIENCE: Duration = Duration::from_secs(20);

/// A job far longer than any test: it ends only by cancellation.
pub(super) const FOREVER_MS: u64 = 600_000;

/// A timeout far longer than any test: it never ends one.
pub(super) const NEVER: Duration = Duration::from_secs(3600);

/// A short timeout or deadline of the server, for the tests that need one to end them.
pub(super) const SHORT: Duration = Duration::from_millis(200);

/// A server running in this process, and a client for it.
pub(super) struct Harness {
    pub(super) address: SocketAddr,
    pub(super) client: JobClient,
    pub(super) stop: CancellationToken,
    pub(super) jobs: AsyncTasksRecorder<String>,
    pub(super) server: JoinHandle<io::Result<Drained>>,
}

impl Harness {
    /// Starts a server with `config` on 127.0.0.1 and a free port.
    pub(super) async fn start(config: Config) -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("bound address");
        assert!(address.ip().is_loopback());
        let server = JobServer::new(config);
        let jobs = server.jobs().expect("records in memory").clone();
        let stop = server.shutdown_token();
        let server = tokio::spawn(server.serve(listener));
        Harness {
            address,
            client: JobClient::new(address.port(), PATIENCE),
            stop,
            jobs,
            server,
        }
    }

    /// A raw TCP connection to the server.
    pub(super) async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address)
            .await
            .expect("connect to the server")
    }

    /// Sends `request` on a new connection and reads the answer: its status and JSON body.
    pub(super) async fn raw(&self, request: &[u8]) -> (StatusCode, Value) {
        let mut stream = self.connect().await;
        stream.write_all(request).await.expect("send the request");
        read_answer(&mut stream).await
    }

    /// `POST /shutdown`, then waits for the server to stop; checks that nothing runs.
    pub(super) async fn shut_down(self) -> (Drained, AsyncTasksRecorder<String>) {
        let (status, body) = self.client.post("/shutdown").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "draining");
        self.stopped().await
    }

    /// Waits for the server to stop after a drain; checks that nothing runs.
    pub(super) async fn stopped(self) -> (Drained, AsyncTasksRecorder<String>) {
        let drained = tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("the server stops after a drain")
            .expect("the server task did not panic")
            .expect("the server did not fail");
        assert_eq!(self.jobs.count_in_state(TaskState::Working).await, 0);
        assert_eq!(self.jobs.running(), 0);
        assert_eq!(drained.counters.working_now, 0);
        assert!(self.jobs.is_closed());
        assert!(self.client.nobody_listens().await);
        (drained, self.jobs)
    }
}

/// A config whose drain lasts as long as the test needs (it ends when no job runs).
pub(super) fn patient() -> Config {
    Config {
        grace: PATIENCE,
        ..Config::default()
    }
}

/// Checks an error answer: the status and a JSON body `{"error": "<non-empty>"}`.
pub(super) fn assert_error(answer: &(StatusCode, Value), status: StatusCode) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "no error message in {body}");
}
