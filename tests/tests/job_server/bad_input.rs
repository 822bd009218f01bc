//! Bad input gets a JSON 4xx answer: ids, bodies, content types, request targets.

use reqwest::StatusCode;
use serde_json::json;
use tasks_recorder_examples::job_server::{Config, MAX_ID_LEN, MAX_URI_LEN};

use crate::harness::{assert_error, patient, Harness};
use crate::support::job_client::JobClient;

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
