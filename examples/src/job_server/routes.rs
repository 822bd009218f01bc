//! The handlers of the routes (see the table in the [module docs](super)), but `GET /metrics`
//! (in `metrics`).

use std::collections::BTreeMap;

use axum::body::{to_bytes, Body};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tasks_recorder::TaskState;

use super::answers::{database_error, error, view, view_after};
use super::input::{job_spec, parse_state, valid_id};
use super::records::RevokeRefused;
use super::{JobServer, MAX_BODY_LEN};

/// `PUT /jobs/{id}`.
pub(super) async fn put_job(
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
pub(super) async fn get_job(
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
pub(super) struct ListQuery {
    state: Option<String>,
}

/// `GET /jobs?state=...`.
pub(super) async fn list_jobs(
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
pub(super) async fn delete_job(
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

/// `POST /shutdown`: starts the drain and answers at once.
pub(super) async fn shutdown(State(server): State<JobServer>) -> Response {
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

/// Unknown routes.
pub(super) async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such route: see PUT/GET/DELETE /jobs/{id}, GET /jobs?state=, GET /metrics, POST /shutdown",
    )
}

/// Known routes with an unsupported method.
pub(super) async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}
