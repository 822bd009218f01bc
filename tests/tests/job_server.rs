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

mod support;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::job_client::JobClient;
use tasks_recorder::{AsyncTasksRecorder, FailureKind, TaskState};
use tasks_recorder_examples::job_server::{
    self, Config, Drained, JobServer, MAX_ID_LEN, MAX_URI_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long anything may take before the test calls it a failure.
const PATIENCE: Duration = Duration::from_secs(20);

/// A job far longer than any test: it ends only by cancellation.
const FOREVER_MS: u64 = 600_000;

/// A timeout far longer than any test: it never ends one.
const NEVER: Duration = Duration::from_secs(3600);

/// A short timeout or deadline of the server, for the tests that need one to end them.
const SHORT: Duration = Duration::from_millis(200);

/// The head of a `PUT /jobs/stalled` that announces a 100-byte JSON body.
const PUT_HEAD_OF_100: &str = "PUT /jobs/stalled HTTP/1.1\r\nhost: test\r\n\
    content-type: application/json\r\ncontent-length: 100\r\n";

/// A server running in this process, and a client for it.
struct Harness {
    address: SocketAddr,
    client: JobClient,
    stop: CancellationToken,
    jobs: AsyncTasksRecorder<String>,
    server: JoinHandle<io::Result<Drained>>,
}

impl Harness {
    /// Starts a server with `config` on 127.0.0.1 and a free port.
    async fn start(config: Config) -> Harness {
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
    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address)
            .await
            .expect("connect to the server")
    }

    /// Sends `request` on a new connection and reads the answer: its status and JSON body.
    async fn raw(&self, request: &[u8]) -> (StatusCode, Value) {
        let mut stream = self.connect().await;
        stream.write_all(request).await.expect("send the request");
        read_answer(&mut stream).await
    }

    /// `POST /shutdown`, then waits for the server to stop; checks that nothing runs.
    async fn shut_down(self) -> (Drained, AsyncTasksRecorder<String>) {
        let (status, body) = self.client.post("/shutdown").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "draining");
        self.stopped().await
    }

    /// Waits for the server to stop after a drain; checks that nothing runs.
    async fn stopped(self) -> (Drained, AsyncTasksRecorder<String>) {
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
fn patient() -> Config {
    Config {
        grace: PATIENCE,
        ..Config::default()
    }
}

/// Checks an error answer: the status and a JSON body `{"error": "<non-empty>"}`.
fn assert_error(answer: &(StatusCode, Value), status: StatusCode) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "no error message in {body}");
}

/// Reads an answer's head from `stream`: its status and its headers (names in lower case).
async fn read_head(stream: &mut TcpStream) -> (StatusCode, Vec<(String, String)>) {
    let read = async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = stream.read_u8().await.expect("an answer's head");
            head.push(byte);
        }
        head
    };
    let head = tokio::time::timeout(PATIENCE, read)
        .await
        .expect("an answer within the patience");
    let head = String::from_utf8(head).expect("a UTF-8 head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers)
}

/// Reads an answer from `stream`: its status and its JSON body (of `content-length` bytes).
async fn read_answer(stream: &mut TcpStream) -> (StatusCode, Value) {
    let (status, headers) = read_head(stream).await;
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("a {status} answer without content-length: {headers:?}"));
    let mut body = vec![0; length];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut body))
        .await
        .expect("the body within the patience")
        .expect("the whole body");
    let body = serde_json::from_slice(&body).unwrap_or_else(|e| {
        let text = String::from_utf8_lossy(&body);
        panic!("a {status} answer that is not JSON ({e}): {text:?}")
    });
    (status, body)
}

/// Waits for the server to close `stream` without answering anything more.
async fn assert_closed(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection within the patience");
    // A reset is a close too.
    if read.is_ok() {
        assert!(
            rest.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_from_launch_to_drain() {
    let server = Harness::start(patient()).await;

    // A job that succeeds at once: 202 with a Location, then Success after 1 attempt.
    let response = server
        .client
        .http
        .put(server.client.url("/jobs/report-1"))
        .json(&json!({"duration_ms": 0}))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        response.headers().get("location").map(|v| v.as_bytes()),
        Some(&b"/jobs/report-1"[..])
    );
    let view: Value = response.json().await.expect("JSON");
    assert_eq!(view["id"], "report-1");
    assert!(
        view["state"] == "working" || view["state"] == "success",
        "{view}"
    );
    let view = server.client.settled("report-1").await;
    assert_eq!(view["state"], "success");
    assert_eq!(view["attempts"], 1);
    assert_eq!(view["failure"], Value::Null);
    let (status, again) = server.client.get("/jobs/report-1").await;
    assert_eq!((status, &again), (StatusCode::OK, &view));

    // Succeeded: another PUT answers 200 and runs nothing (an empty body is a default job).
    let (status, view) = server.client.put_raw("report-1", "").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "success");
    assert_eq!(view["attempts"], 1);

    // A job that fails and one that panics: Failed, with the reason.
    let (status, _) = server.client.put("flaky", json!({"fail": true})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = server.client.put("boom", json!({"panic": true})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let flaky = server.client.settled("flaky").await;
    assert_eq!(flaky["state"], "failed");
    assert_eq!(flaky["failure"]["kind"], "error");
    assert_eq!(flaky["failure"]["message"], "simulated failure after 0 ms");
    let boom = server.client.settled("boom").await;
    assert_eq!(boom["state"], "failed");
    assert_eq!(boom["failure"]["kind"], "panicked");
    let message = boom["failure"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("simulated panic in job boom"), "{boom}");

    // Listing by state, and the counts of every state.
    let (status, failed) = server.client.get("/jobs?state=failed").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        failed,
        json!({"state": "failed", "count": 2, "ids": ["boom", "flaky"]})
    );
    let (_, succeeded) = server.client.get("/jobs?state=success").await;
    assert_eq!(succeeded["ids"], json!(["report-1"]));
    let (status, counts) = server.client.get("/jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counts, json!({"failed": 2, "success": 1, "working": 0}));

    // A failed job can be launched again: its attempts add up.
    let (status, _) = server.client.put("flaky", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let flaky = server.client.settled("flaky").await;
    assert_eq!(flaky["state"], "success");
    assert_eq!(flaky["attempts"], 2);

    // A running job: a second PUT is a conflict; DELETE cancels it.
    let (status, _) = server
        .client
        .put("long", json!({"duration_ms": FOREVER_MS}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let conflict = server.client.put("long", json!({})).await;
    assert_error(&conflict, StatusCode::CONFLICT);
    let (status, long) = server.client.get("/jobs/long").await;
    assert_eq!(
        (status, &long["state"]),
        (StatusCode::OK, &json!("working"))
    );
    let (_, working) = server.client.get("/jobs?state=working").await;
    assert_eq!(working["ids"], json!(["long"]));
    let (status, cancelled) = server.client.delete("long").await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["action"], "cancelled");
    assert_eq!(cancelled["job"]["state"], "failed");
    assert_eq!(cancelled["job"]["failure"]["kind"], "cancelled");

    // DELETE of a succeeded job revokes it: unknown again, and it can run again.
    let (status, revoked) = server.client.delete("report-1").await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["action"], "revoked");
    assert_eq!(revoked["job"]["state"], "not_found");
    let (status, gone) = server.client.get("/jobs/report-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gone["state"], "not_found");
    let (status, _) = server
        .client
        .put("report-1", json!({"duration_ms": 0}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(server.client.settled("report-1").await["state"], "success");

    // DELETE of a failed job forgets it; of an unknown one is a 404.
    let (status, removed) = server.client.delete("boom").await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["action"], "removed");
    assert_eq!(removed["job"]["state"], "not_found");
    assert_error(&server.client.delete("boom").await, StatusCode::NOT_FOUND);

    // The metrics agree with the recorder's counters.
    let response = server
        .client
        .http
        .get(server.client.url("/metrics"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.expect("text");
    let c = server.jobs.counters();
    for (line, value) in [
        (
            "tasks_recorder_launched_total{recorder=\"jobs\"}",
            c.launched_total,
        ),
        (
            "tasks_recorder_refused_total{recorder=\"jobs\",reason=\"running\"}",
            c.refused_running_total,
        ),
        (
            "tasks_recorder_refused_total{recorder=\"jobs\",reason=\"succeeded\"}",
            c.refused_succeeded_total,
        ),
        (
            "tasks_recorder_finished_total{recorder=\"jobs\",outcome=\"succeeded\"}",
            c.succeeded_total,
        ),
        (
            "tasks_recorder_finished_total{recorder=\"jobs\",outcome=\"panicked\"}",
            c.panicked_total,
        ),
        (
            "tasks_recorder_finished_total{recorder=\"jobs\",outcome=\"cancelled\"}",
            c.cancelled_total,
        ),
        (
            "tasks_recorder_revoked_total{recorder=\"jobs\"}",
            c.revoked_total,
        ),
        (
            "tasks_recorder_removed_total{recorder=\"jobs\"}",
            c.removed_total,
        ),
        (
            "tasks_recorder_tasks{recorder=\"jobs\",state=\"success\"}",
            c.success_now,
        ),
    ] {
        assert!(
            text.lines().any(|l| l == format!("{line} {value}")),
            "no `{line} {value}` in\n{text}"
        );
    }
    assert_eq!(
        (
            c.launched_total,
            c.succeeded_total,
            c.failed_total,
            c.panicked_total,
            c.cancelled_total
        ),
        (6, 3, 1, 1, 1)
    );
    assert_eq!(
        (
            c.refused_running_total,
            c.refused_succeeded_total,
            c.revoked_total
        ),
        (1, 1, 1)
    );
    assert!(text.contains("# TYPE tasks_recorder_tasks gauge"));

    // The drain: running jobs may finish; new ones are refused with 503 meanwhile.
    let (status, _) = server
        .client
        .put("last", json!({"duration_ms": FOREVER_MS}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) =
        JobClient::send(server.client.http.post(server.client.url("/shutdown"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["working"], 1);
    assert_error(
        &server.client.put("late", json!({})).await,
        StatusCode::SERVICE_UNAVAILABLE,
    );
    // The server still answers during the drain; cancelling the last job ends it.
    let (status, cancelled) = server.client.delete("last").await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let (drained, jobs) = server.stopped().await;
    assert_eq!(
        drained.cancelled, 0,
        "the job ended before the grace period"
    );
    assert_eq!(drained.counters.refused_closed_total, 1);
    assert_eq!(jobs.query_task_state("late").await, TaskState::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_duplicate_puts_launch_once() {
    let server = Harness::start(Config {
        grace: Duration::from_millis(50),
        ..Config::default()
    })
    .await;

    // Many clients race to launch the same ids: exactly one 202 per id.
    const IDS: usize = 8;
    const RACERS: usize = 12;
    let mut race = tokio::task::JoinSet::new();
    for racer in 0..RACERS {
        for id in 0..IDS {
            let client = server.client.http.clone();
            let url = server.client.url(&format!("/jobs/race-{id}"));
            // Every other id runs long, so later racers meet it Working (409); the others
            // end at once, so later racers may meet them Success (200).
            let duration_ms = if id % 2 == 0 { 0 } else { FOREVER_MS };
            race.spawn(async move {
                let answer = JobClient::send(
                    client
                        .put(url)
                        .json(&json!({"duration_ms": duration_ms, "fail": false})),
                )
                .await;
                (id, racer, answer)
            });
        }
    }
    let mut accepted = [0usize; IDS];
    while let Some(joined) = race.join_next().await {
        let (id, racer, (status, body)) = joined.expect("a racer did not panic");
        match status {
            StatusCode::ACCEPTED => accepted[id] += 1,
            StatusCode::CONFLICT => assert!(body["error"].is_string(), "{body}"),
            StatusCode::OK => assert_eq!(body["state"], "success", "racer {racer}: {body}"),
            other => panic!("racer {racer} of race-{id}: unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted, [1; IDS], "exactly one launch per id");
    for id in (0..IDS).step_by(2) {
        let view = server.client.settled(&format!("race-{id}")).await;
        assert_eq!(view["state"], "success");
        assert_eq!(view["attempts"], 1);
    }

    // Racing again for ids that succeeded: all 200, nothing launched.
    let launched = server.jobs.counters().launched_total;
    let mut again = tokio::task::JoinSet::new();
    for _ in 0..RACERS {
        let client = server.client.http.clone();
        let url = server.client.url("/jobs/race-0");
        again.spawn(async move { JobClient::send(client.put(url)).await });
    }
    while let Some(joined) = again.join_next().await {
        let (status, body) = joined.expect("a racer did not panic");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(server.jobs.counters().launched_total, launched);
    assert_eq!(launched, IDS as u64);

    // Shutdown with the long jobs still running: the grace period runs out and they are
    // cancelled; nothing is left Working.
    let (drained, jobs) = server.shut_down().await;
    assert_eq!(drained.cancelled, IDS / 2);
    for id in (1..IDS).step_by(2) {
        let info = jobs
            .task_info(&format!("race-{id}"))
            .await
            .expect("a record");
        assert_eq!(info.state, TaskState::Failed);
        let kind = info.failure.map(|f| f.kind);
        assert_eq!(kind, Some(FailureKind::ShutDown));
    }
    assert_eq!(drained.counters.succeeded_total, (IDS / 2) as u64);
    assert_eq!(drained.counters.cancelled_total, (IDS / 2) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_json_4xx() {
    let config = Config {
        max_duration_ms: 50,
        ..patient()
    };
    let server = Harness::start(config).await;

    // Unknown state names.
    for query in ["sleeping", "not_found", "", "WORKING"] {
        let answer = server.client.get(&format!("/jobs?state={query}")).await;
        assert_error(&answer, StatusCode::BAD_REQUEST);
    }
    // Malformed or unexpected JSON.
    for body in [
        "not json",
        "{\"duration_ms\": \"soon\"}",
        "{\"duration_ms\": -1}",
        "{\"duration_ms\": 1e40}",
        "{\"fail\": true, \"extra\": 1}",
        "[1, 2]",
        "{",
    ] {
        let answer = server.client.put_raw("x", body).await;
        assert_error(&answer, StatusCode::BAD_REQUEST);
    }
    // A duration over the limit.
    let answer = server.client.put("x", json!({"duration_ms": 51})).await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    // A body over the limit.
    let answer = server.client.put_raw("x", " ".repeat(64 * 1024)).await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE);
    // Ids: too long, bad characters, not UTF-8; on every route that takes one.
    let too_long = "a".repeat(MAX_ID_LEN + 1);
    for id in [too_long.as_str(), "a%20b", "a%2Fb", "%FF", "caf%C3%A9"] {
        assert_error(
            &server.client.put(id, json!({})).await,
            StatusCode::BAD_REQUEST,
        );
        assert_error(
            &server.client.get(&format!("/jobs/{id}")).await,
            StatusCode::BAD_REQUEST,
        );
        assert_error(&server.client.delete(id).await, StatusCode::BAD_REQUEST);
    }
    // Unknown routes and methods.
    assert_error(&server.client.get("/nope").await, StatusCode::NOT_FOUND);
    assert_error(&server.client.get("/jobs/").await, StatusCode::NOT_FOUND);
    let answer = JobClient::send(server.client.http.post(server.client.url("/jobs/x"))).await;
    assert_error(&answer, StatusCode::METHOD_NOT_ALLOWED);
    let answer = JobClient::send(server.client.http.get(server.client.url("/shutdown"))).await;
    assert_error(&answer, StatusCode::METHOD_NOT_ALLOWED);

    // Nothing was launched, and the longest id allowed works.
    assert_eq!(server.jobs.counters().launched_total, 0);
    assert!(server.jobs.is_empty());
    let longest = "b".repeat(MAX_ID_LEN);
    let (status, _) = server
        .client
        .put(&longest, json!({"duration_ms": 50}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(server.client.settled(&longest).await["state"], "success");

    let (drained, _) = server.shut_down().await;
    assert_eq!(drained.counters.launched_total, 1);
    assert_eq!(drained.cancelled, 0);
}

/// Issue 15, defect 5: a client that sent its headers and then stalled mid-body held the
/// drain, and so `serve`, for as long as it stalled. With read timeouts longer than the test,
/// the drain deadline alone must end it now: the stalled connection is dropped, unanswered,
/// and `serve` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stalled_mid_body_does_not_hold_the_drain() {
    let server = Harness::start(Config {
        header_read_timeout: NEVER,
        body_read_timeout: NEVER,
        drain_deadline: SHORT,
        ..patient()
    })
    .await;
    let mut stalled = server.connect().await;
    let head = format!("{PUT_HEAD_OF_100}expect: 100-continue\r\n\r\n");
    stalled
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    // `100 Continue` comes once the handler reads the body: the request is in flight.
    let (status, _) = read_head(&mut stalled).await;
    assert_eq!(status, StatusCode::CONTINUE);
    stalled
        .write_all(b"{\"duration_ms\": ")
        .await
        .expect("send part of the body");

    server.stop.cancel();
    let (drained, jobs) = server.stopped().await;
    assert_eq!(drained.connections_dropped, 1);
    assert_closed(&mut stalled).await;
    assert!(jobs.is_empty());
}

/// Issue 15, defect 5: nothing bounded the read of a `PUT` body, so a client that stalled
/// mid-body held its request open for as long as it stalled. It gets a JSON `408` after the
/// body read timeout now, and its connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_gets_a_json_408() {
    let server = Harness::start(Config {
        body_read_timeout: SHORT,
        ..patient()
    })
    .await;
    let mut stalled = server.connect().await;
    let request = format!("{PUT_HEAD_OF_100}\r\n{{\"duration_ms\": ");
    stalled
        .write_all(request.as_bytes())
        .await
        .expect("send the head and part of the body");
    let answer = read_answer(&mut stalled).await;
    assert_error(&answer, StatusCode::REQUEST_TIMEOUT);
    assert_closed(&mut stalled).await;
    assert!(server.jobs.is_empty());

    let (drained, _) = server.shut_down().await;
    assert_eq!(drained.connections_dropped, 0);
}

/// Issue 15, defect 5: there was no header read timeout, so a client that sent part of a
/// request line or of a header block held its connection (and, at shutdown, the drain) for
/// as long as it stalled. The connection is closed after the header read timeout now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_stalls_is_closed() {
    let server = Harness::start(Config {
        header_read_timeout: SHORT,
        ..patient()
    })
    .await;
    for partial in [
        "PUT /jobs/x HT",
        "PUT /jobs/x HTTP/1.1\r\nhost: test\r\ncontent-le",
    ] {
        let mut stalled = server.connect().await;
        stalled
            .write_all(partial.as_bytes())
            .await
            .expect("send part of a head");
        assert_closed(&mut stalled).await;
    }
    assert!(server.jobs.is_empty());

    let (drained, _) = server.shut_down().await;
    assert_eq!(drained.connections_dropped, 0);
}

/// Issue 15, defect 6: hyper answers a request target over 64 KiB with a bare `414`, without
/// the JSON body that every error promises; and targets up to 64 KiB reached the routes. Over
/// `MAX_URI_LEN` bytes now gets a `414` with a JSON error, on a new connection or a kept-alive
/// one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_uri_gets_a_json_414() {
    let server = Harness::start(patient()).await;

    // 70 KB, raw: reqwest refuses to send a URI over 64 KiB.
    let long = "a".repeat(70_000);
    let request = format!("GET /jobs/{long} HTTP/1.1\r\nhost: test\r\n\r\n");
    assert_error(
        &server.raw(request.as_bytes()).await,
        StatusCode::URI_TOO_LONG,
    );
    let request = format!(
        "PUT /jobs/{long} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: 2\r\n\r\n{{}}"
    );
    assert_error(
        &server.raw(request.as_bytes()).await,
        StatusCode::URI_TOO_LONG,
    );

    // Over the limit, under hyper's: refused on every request of a connection.
    let query = "/jobs?state=";
    let over = format!("{query}{}", "w".repeat(MAX_URI_LEN - query.len() + 1));
    for _ in 0..2 {
        assert_error(&server.client.get(&over).await, StatusCode::URI_TOO_LONG);
    }
    // The longest target accepted reaches the route (an unknown state).
    let longest = format!("{query}{}", "w".repeat(MAX_URI_LEN - query.len()));
    assert_error(&server.client.get(&longest).await, StatusCode::BAD_REQUEST);

    assert!(server.jobs.is_empty());
    server.shut_down().await;
}

/// Issue 15, defect 6: serde takes a JSON array for a struct, its fields in order, so the body
/// `[10, false, true]` launched a panicking job and `[]` a default one. Only a JSON object (or
/// no body) is a job spec now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_json_object_is_a_job_spec() {
    let server = Harness::start(patient()).await;
    for body in [
        "[10, false, true]",
        "[]",
        " [0]",
        "10",
        "true",
        "null",
        "\"job\"",
    ] {
        assert_error(
            &server.client.put_raw("x", body).await,
            StatusCode::BAD_REQUEST,
        );
    }
    assert!(server.jobs.is_empty());
    assert_eq!(server.jobs.counters().launched_total, 0);

    // An object, an empty one, only whitespace or nothing at all: launched.
    for (id, body) in [
        ("a", "{\"duration_ms\": 0}"),
        ("b", " {} "),
        ("c", " \n"),
        ("d", ""),
    ] {
        let (status, view) = server.client.put_raw(id, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body:?}: {view}");
        assert_eq!(server.client.settled(id).await["state"], "success");
    }
    server.shut_down().await;
}

/// Issue 15, defect 6: the ids `.` and `..` were accepted, though clients resolve these path
/// segments away (`/jobs/..` is `/`): nobody could address such a job again. They are refused
/// now, on every route that takes an id (sent raw: reqwest resolves them too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_ids_are_refused() {
    let server = Harness::start(patient()).await;
    for path in ["/jobs/.", "/jobs/..", "/jobs/%2E", "/jobs/%2e%2E"] {
        for method in ["PUT", "GET", "DELETE"] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: 0\r\n\
                 connection: close\r\n\r\n"
            );
            let answer = server.raw(request.as_bytes()).await;
            assert_error(&answer, StatusCode::BAD_REQUEST);
        }
    }
    assert!(server.jobs.is_empty());

    // Other ids of dots are fine.
    for id in ["...", ".a", "a.."] {
        let (status, view) = server.client.put(id, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{id}: {view}");
    }
    server.shut_down().await;
}

/// Issue 15, defect 6: `Content-Type` was ignored, so a form (what `curl -d` sends) or a
/// text body was read as JSON. A body now needs `content-type: application/json`, else
/// `415`; no body needs no `Content-Type`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_needs_a_json_content_type() {
    let server = Harness::start(patient()).await;
    let spec = "{\"duration_ms\": 0}";
    for content_type in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        Some("application/jsonx"),
        Some(""),
    ] {
        let answer = server.client.put_typed("x", content_type, spec).await;
        assert_error(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    assert!(server.jobs.is_empty());

    for (id, content_type) in [
        ("a", "application/json"),
        ("b", "Application/JSON; charset=utf-8"),
    ] {
        let (status, view) = server.client.put_typed(id, Some(content_type), spec).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{content_type}: {view}");
    }
    // No body, as `curl -X PUT` sends it: the default job.
    let (status, view) = server.client.put_typed("c", None, "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{view}");
    server.shut_down().await;
}

/// Issue 15, defect 5: a second Ctrl-C did nothing while the drain went on. The example runs
/// `watch_interrupts` on Ctrl-C and exits at once when it returns: the first interrupt only
/// starts the drain, the second ends the watch.
#[tokio::test]
async fn a_second_interrupt_ends_the_watch() {
    let interrupts = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let next_interrupt = {
        let interrupts = interrupts.clone();
        move || {
            let interrupts = interrupts.clone();
            async move {
                let permit = interrupts.acquire().await.map_err(io::Error::other)?;
                permit.forget();
                Ok(())
            }
        }
    };
    let stop = CancellationToken::new();
    let watch = tokio::spawn(job_server::watch_interrupts(next_interrupt, stop.clone()));

    interrupts.add_permits(1);
    tokio::time::timeout(PATIENCE, stop.cancelled())
        .await
        .expect("the first interrupt starts the drain");
    assert!(!watch.is_finished(), "the first interrupt ended the watch");
    interrupts.add_permits(1);
    tokio::time::timeout(PATIENCE, watch)
        .await
        .expect("the second interrupt ends the watch")
        .expect("the watch did not panic")
        .expect("interrupts could be watched");

    // Interrupts that cannot be watched: an error, and no drain.
    let stop = CancellationToken::new();
    let unwatchable = || async { Err::<(), _>(io::Error::other("no signal handling")) };
    let watched = job_server::watch_interrupts(unwatchable, stop.clone()).await;
    assert!(watched.is_err());
    assert!(!stop.is_cancelled());
}

#[test]
fn the_command_line_gives_a_port_and_a_database_url() {
    let args = |list: &[&str], port: Option<&str>, database: Option<&str>| {
        job_server::args_from(
            list.iter().map(|arg| (*arg).to_owned()),
            port.map(str::to_owned),
            database.map(str::to_owned),
        )
    };
    let url = "postgres://app:secret@db:5432/app";
    let memory = |port| job_server::Args {
        port,
        database_url: None,
    };
    let database = |port| job_server::Args {
        port,
        database_url: Some(url.to_owned()),
    };
    assert_eq!(args(&[], None, None), Ok(memory(job_server::DEFAULT_PORT)));
    assert_eq!(args(&["3001"], Some("4000"), None), Ok(memory(3001)));
    assert_eq!(args(&[], Some("4000"), None), Ok(memory(4000)));
    assert_eq!(args(&["3001"], None, Some(url)), Ok(database(3001)));
    assert_eq!(
        args(&["3001", "--database-url", url], None, None),
        Ok(database(3001))
    );
    assert_eq!(
        args(
            &["--database-url", url, "3001"],
            None,
            Some("postgres://other/db")
        ),
        Ok(database(3001))
    );
    assert_eq!(
        args(&[&format!("--database-url={url}")], Some("0"), None),
        Ok(database(0))
    );
    // An empty DATABASE_URL is none.
    assert_eq!(args(&["3001"], None, Some("")), Ok(memory(3001)));
    for bad in [
        &["--database-url"][..],
        &["--verbose"],
        &["3001", "3002"],
        &["port"],
        &["70000"],
    ] {
        assert!(args(bad, None, None).is_err(), "{bad:?} accepted");
    }
    // The password never shows.
    let shown = format!("{:?}", args(&["--database-url", url], None, None));
    assert!(!shown.contains("secret"), "{shown}");
    assert_eq!(
        job_server::redact_url(url),
        "postgres://app:***@db:5432/app"
    );
    assert_eq!(
        job_server::redact_url("postgres://app@db/app"),
        "postgres://app@db/app"
    );
    assert_eq!(
        job_server::redact_url("host=db user=app password=secret"),
        "host=db user=app password=***"
    );
    let config = Config {
        database_url: Some(url.to_owned()),
        ..Config::default()
    };
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("secret") && shown.contains("app:***@db"),
        "{shown}"
    );
}
