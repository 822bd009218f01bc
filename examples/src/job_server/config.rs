//! The options of a [`JobServer`](super::JobServer): [`Config`], and [`redact_url`] to print
//! its database URL without the password.

use std::time::Duration;

/// The recorder's name by default: the `recorder` label of the metrics and, in PostgreSQL,
/// the name under which instances share their records.
pub const DEFAULT_RECORDER_NAME: &str = "jobs";

/// The options of a [`JobServer`](super::JobServer).
#[derive(Clone)]
pub struct Config {
    /// Where the records are kept: `None` (the default), in this process's memory; else the URL of
    /// a PostgreSQL database (`postgres://user:password@host:port/dbname`), where every instance
    /// connected under the same [`recorder_name`](Self::recorder_name) shares them. Used by
    /// [`JobServer::from_config`](super::JobServer::from_config) (not by
    /// [`JobServer::new`](super::JobServer::new), which keeps them in memory).
    pub database_url: Option<String>,
    /// The recorder's name ([`DEFAULT_RECORDER_NAME`] by default): the `recorder` label of the
    /// metrics and, in PostgreSQL, the name under which instances share their records.
    pub recorder_name: String,
    /// In PostgreSQL, how long a running job stays this instance's without a renewal of its
    /// lease (renewed every third of it; at least 300 ms). When an instance dies, its running
    /// jobs read `failed` (`lost`) on the others once this has passed, and can be launched
    /// again there. Unused in memory.
    pub lease: Duration,
    /// At most this many jobs run at once; the others wait their turn, already `Working`
    /// (`0`: no limit).
    pub max_concurrency: usize,
    /// At most this many `Failed` records are kept; the oldest are forgotten first.
    pub max_failed: usize,
    /// The longest simulated job accepted, in milliseconds.
    pub max_duration_ms: u64,
    /// How long a drain lets running jobs finish before it cancels them.
    pub grace: Duration,
    /// How long `DELETE` of a running job waits for it to stop before answering `202`
    /// instead of `200`.
    pub cancel_wait: Duration,
    /// How long a client may take to send a request's line and headers; the connection is
    /// closed, unanswered, when they are not all in by then.
    pub header_read_timeout: Duration,
    /// How long a client may take to send the whole body of a `PUT`, counted from when the
    /// handler starts reading it; `408` when it is not all in by then.
    pub body_read_timeout: Duration,
    /// How long the requests still in flight after the grace period get to be answered before their
    /// connections are dropped and [`JobServer::serve`](super::JobServer::serve) returns.
    pub drain_deadline: Duration,
}

impl std::fmt::Debug for Config {
    /// Shows the database URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("recorder_name", &self.recorder_name)
            .field("lease", &self.lease)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_failed", &self.max_failed)
            .field("max_duration_ms", &self.max_duration_ms)
            .field("grace", &self.grace)
            .field("cancel_wait", &self.cancel_wait)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("drain_deadline", &self.drain_deadline)
            .finish()
    }
}

/// `url` with its password, if any, replaced by `***`: `postgres://app:***@db/app`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // The `key=value` form: `host=db user=app password=secret`.
        return url
            .split(' ')
            .map(|part| match part.split_once('=') {
                Some(("password", _)) => "password=***",
                _ => part,
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    // The user information ends at the last `@` of the authority, which ends at the first
    // `/`, `?` or `#`.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!("{scheme}://{}:***{}", &rest[..colon], &rest[at..])
}

impl Default for Config {
    /// Records in memory, named `jobs` (a 10 s lease in PostgreSQL), 64 jobs at once, 10,000
    /// failed records, jobs of up to 10 minutes, a 5 s grace period, 10 s to send a request's
    /// headers and 10 s more for its body, a 2 s drain deadline.
    fn default() -> Self {
        Config {
            database_url: None,
            recorder_name: DEFAULT_RECORDER_NAME.to_owned(),
            lease: Duration::from_secs(10),
            max_concurrency: 64,
            max_failed: 10_000,
            max_duration_ms: 600_000,
            grace: Duration::from_secs(5),
            cancel_wait: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            drain_deadline: Duration::from_secs(2),
        }
    }
}
