//! What a request may ask: checks of its id, its query, its job spec, its headers and its
//! target, each refusing bad input with a 4xx JSON answer.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tasks_recorder::TaskState;

use super::answers::error;
use super::{JobSpec, MAX_ID_LEN, MAX_URI_LEN};

/// A rejected id: why.
pub(super) struct BadId(String);

impl IntoResponse for BadId {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0)
    }
}

/// Checks an id from the path: 1 to [`MAX_ID_LEN`] bytes of `A-Z a-z 0-9 . _ - :`, other
/// than `.` and `..`.
pub(super) fn valid_id(path: Result<Path<String>, PathRejection>) -> Result<String, BadId> {
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
pub(super) fn parse_state(name: &str) -> Option<TaskState> {
    [TaskState::Working, TaskState::Success, TaskState::Failed]
        .into_iter()
        .find(|state| state.as_str() == name)
}

/// The job spec of a `PUT` body: none (or only whitespace) is the default job; else the body
/// must be a JSON object (`415` without a JSON `Content-Type`, `400` if it is not an object or
/// not a valid spec).
pub(super) fn job_spec(headers: &HeaderMap, body: &[u8]) -> Result<JobSpec, (StatusCode, String)> {
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

/// Refuses a request target over [`MAX_URI_LEN`] bytes with `414`.
pub(super) async fn uri_limit(request: Request, next: Next) -> Response {
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

/// Whether `headers` say the body is JSON: a `Content-Type` of `application/json`, with or
/// without parameters, in any case.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}
