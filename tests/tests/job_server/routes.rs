//! Every route, from a launch to the drain, and duplicate launches racing for one id.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tasks_recorder::{FailureKind, TaskState};
use tasks_recorder_examples::job_server::Config;

use crate::harness::{assert_error, patient, Harness, FOREVER_MS};
use crate::support::job_client::JobClient;

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
        (
            "tasks_recorder_started_total{recorder=\"jobs\"}",
            c.started_total,
        ),
        ("tasks_recorder_queued{recorder=\"jobs\"}", c.queued_now),
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
