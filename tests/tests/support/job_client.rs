//! An HTTP client of the `job_server` example's service, for its end-to-end tests
//! (`job_server/` in memory, `job_server_pg.rs` in PostgreSQL): requests to its routes on
//! the loopback, answers read as a status and a JSON body, and polling a job until it settles.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// A client of one server on `127.0.0.1`. Every request, and every wait for a job, fails the
/// test after the client's patience, which only detects a failure.
#[derive(Clone)]
pub struct JobClient {
    base: String,
    /// The reqwest client, for the requests the methods do not make.
    pub http: reqwest::Client,
    patience: Duration,
}

impl JobClient {
    /// A client of the server listening on `127.0.0.1:port`, with no proxy, whose requests
    /// and waits fail after `patience`.
    pub fn new(port: u16, patience: Duration) -> JobClient {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(patience)
            .build()
            .expect("a client");
        JobClient {
            base: format!("http://127.0.0.1:{port}"),
            http,
            patience,
        }
    }

    /// The URL of `path` (which starts with `/`) on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `request` and returns the status and the JSON body; panics on no answer or an
    /// answer that is not JSON.
    pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        // A server that refuses a request without reading its body (a 413) closes the
        // connection, and the pool may hand that connection to the next request before it
        // sees the close: that request fails to write, never having reached the server. It
        // is sent once more, on a new connection.
        let again = request.try_clone();
        let response = match (request.send().await, again) {
            (Ok(response), _) => response,
            (Err(error), Some(again)) if error.is_request() => {
                again.send().await.expect("the server answers")
            }
            (Err(error), _) => panic!("the server answers: {error:?}"),
        };
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("a {status} answer that is not JSON ({e}): {text:?}"));
        (status, body)
    }

    /// `PUT /jobs/{id}` of the JSON `spec`.
    pub async fn put(&self, id: &str, spec: Value) -> (StatusCode, Value) {
        Self::send(self.http.put(self.url(&format!("/jobs/{id}"))).json(&spec)).await
    }

    /// `PUT /jobs/{id}` of `body` as it is, with the header `content-type: application/json`.
    pub async fn put_raw(&self, id: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        self.put_typed(id, Some("application/json"), body).await
    }

    /// `PUT /jobs/{id}` of `body` as it is, with `content_type` if any.
    pub async fn put_typed(
        &self,
        id: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.put(self.url(&format!("/jobs/{id}"))).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        Self::send(request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        Self::send(self.http.get(self.url(path))).await
    }

    /// `POST path`, with no body.
    pub async fn post(&self, path: &str) -> (StatusCode, Value) {
        Self::send(self.http.post(self.url(path))).await
    }

    /// `DELETE /jobs/{id}`.
    pub async fn delete(&self, id: &str) -> (StatusCode, Value) {
        Self::send(self.http.delete(self.url(&format!("/jobs/{id}")))).await
    }

    /// Polls `GET /jobs/{id}` until the job is no longer `working`; returns its view. Each
    /// answer must be `200` or `404`.
    pub async fn settled(&self, id: &str) -> Value {
        let poll = async {
            loop {
                let (status, view) = self.get(&format!("/jobs/{id}")).await;
                assert!(
                    status == StatusCode::OK || status == StatusCode::NOT_FOUND,
                    "GET /jobs/{id}: {status} {view}"
                );
                if view["state"] != "working" {
                    return view;
                }
                tokio::task::yield_now().await;
            }
        };
        let patience = self.patience;
        tokio::time::timeout(patience, poll)
            .await
            .unwrap_or_else(|_| panic!("job {id} still working after {patience:?}"))
    }

    /// The value of the sample `metric{labels}` of `GET /metrics`.
    pub async fn metric(&self, metric: &str, labels: &str) -> u64 {
        let response = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.expect("a body");
        let prefix = format!("{metric}{{{labels}}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no `{prefix}<number>` in\n{text}"))
    }

    /// Whether a request fails to reach the server: nobody listens on its port any more.
    pub async fn nobody_listens(&self) -> bool {
        self.http.get(self.url("/jobs")).send().await.is_err()
    }
}
