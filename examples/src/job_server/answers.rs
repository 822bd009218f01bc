//! What the service answers: the JSON views of a job, and the JSON body `{"error": "..."}` of
//! every error answer.

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tasks_recorder::TaskState;

use super::input::is_json;
use super::records::{Db, Jobs};
use super::{DatabaseError, MAX_BODY_LEN};

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

/// An answer with a JSON body `{"error": message}`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: message.into(),
    };
    (status, Json(body)).into_response()
}

/// `503` with a JSON body saying what failed in the database.
pub(super) fn database_error(e: &DatabaseError) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the database failed: {e}"),
    )
}

/// The view of `id` now.
pub(super) async fn view(jobs: &Jobs, id: &str) -> Db<JobView> {
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
pub(super) async fn view_after(jobs: &Jobs, id: &str) -> serde_json::Value {
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

/// Gives every error answer a JSON body `{"error": "..."}`: the handlers answer so already;
/// this covers whatever else the framework may answer (its text, if any, becomes the message).
pub(super) async fn json_errors(response: Response) -> Response {
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
