//! `GET /metrics`: the recorder's counters in the Prometheus text format.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tasks_recorder::Counters;

use super::answers::database_error;
use super::JobServer;

/// `GET /metrics`: the counters in the Prometheus text exposition format (version 0.0.4),
/// with the metric names of `AsyncTasksRecorder::publish_metrics`. In PostgreSQL, the event
/// counters are this instance's, and the state gauges (`tasks_recorder_tasks`) count every
/// instance's jobs, read from the database.
pub(super) async fn metrics(State(server): State<JobServer>) -> Response {
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
    let families: [Family<'_>; 9] = [
        (
            "tasks_recorder_launched_total",
            "counter",
            "Attempts issued (launches accepted).",
            "",
            vec![("", c.launched_total)],
        ),
        (
            "tasks_recorder_started_total",
            "counter",
            "Attempts that got their turn under the concurrency limit and started.",
            "",
            vec![("", c.started_total)],
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
                ("timed_out", c.timed_out_total),
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
        (
            "tasks_recorder_queued",
            "gauge",
            "Attempts waiting for their turn now (among the working ones).",
            "",
            vec![("", c.queued_now)],
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
