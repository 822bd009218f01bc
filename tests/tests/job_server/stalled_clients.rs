//! Clients that stall mid-request: the server's read timeouts and drain deadline end them.

use reqwest::StatusCode;
use tasks_recorder_examples::job_server::Config;
use tokio::io::AsyncWriteExt;

use crate::harness::{assert_error, patient, Harness, NEVER, SHORT};
use crate::raw_http::{assert_closed, read_answer, read_head, PUT_HEAD_OF_100};

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
