//! Shared by the PostgreSQL tests: one throwaway cluster per test binary while tests use it
//! (or the server of `DATABASE_URL`), unique recorder names, connecting a recorder, and a
//! failure detector.
#![allow(dead_code)]

use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tasks_recorder_pg_cluster::PgCluster;

/// The cluster the tests of this binary share: started by the first test that needs it, and
/// stopped (its directory removed) when the last test holding it ends, also by a panic.
pub fn cluster() -> Arc<PgCluster> {
    static SHARED: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(cluster) = shared.upgrade() {
        return cluster;
    }
    let cluster = Arc::new(PgCluster::from_env_or_start().unwrap_or_else(|e| panic!("{e}")));
    *shared = Arc::downgrade(&cluster);
    cluster
}

/// A recorder `name` on the database at `url`, with a lease of 5 s.
pub async fn connect<T: tasks_recorder_postgres::PgId>(
    url: &str,
    name: &str,
) -> tasks_recorder_postgres::PgRecorder<T> {
    tasks_recorder_postgres::PgRecorder::<T>::builder()
        .lease(Duration::from_secs(5))
        .connect(url, name)
        .await
        .expect("connect")
}

/// A schema of its own on the database of `db`, for a test that changes the tables themselves
/// (the other tests share the database's default schema): `url` puts it first on the search
/// path of every connection made through it, as `client`'s.
pub struct OwnSchema {
    pub url: String,
    pub client: tokio_postgres::Client,
    admin: tokio_postgres::Client,
    name: String,
}

impl OwnSchema {
    pub async fn new(db: &PgCluster, what: &str) -> OwnSchema {
        let connect = |url: String| async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
            tokio::spawn(connection);
            client
        };
        let admin = connect(db.url().to_string()).await;
        let name = unique_name(what).replace('-', "_");
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create schema");
        let separator = if db.url().contains('?') { '&' } else { '?' };
        let url = format!("{}{separator}options=-csearch_path%3D{name}", db.url());
        let client = connect(url.clone()).await;
        OwnSchema {
            url,
            client,
            admin,
            name,
        }
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        self.admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .expect("drop schema");
    }
}

/// A recorder name no other test of any run uses.
pub fn unique_name(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{what}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A failure detector, never a synchronisation: an operation that takes longer is stuck.
pub fn stuck() -> Duration {
    Duration::from_secs(
        std::env::var("RELIABILITY_STUCK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    )
}

/// Awaits `fut`, panicking with `what` if it takes longer than [`stuck`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(stuck(), fut)
        .await
        .unwrap_or_else(|_| panic!("stuck: {what}"))
}

/// A worker process: this binary running only the `worker` test, told what to do by
/// environment variables. Its stdout is piped, to read its "ready" line and its report.
pub fn spawn_worker(mode: &str, url: &str, name: &str, extra: &[(&str, String)]) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args(["worker", "--exact", "--nocapture", "--test-threads=1"])
        .env("TR_WORKER", mode)
        .env("TR_URL", url)
        .env("TR_NAME", name)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in extra {
        command.env(key, value);
    }
    command.spawn().expect("a worker process")
}

/// Reads the worker's stdout until a line holds `marker`; returns the line from the marker
/// on. (The test harness of the worker prints `test worker ... ` before the worker's own
/// first line, on the same line.) Reads a byte at a time, so nothing after the line is
/// taken from the pipe.
pub fn read_line_starting(child: &mut Child, marker: &str) -> String {
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut line = Vec::new();
    loop {
        let mut byte = [0u8];
        let read = std::io::Read::read(stdout, &mut byte).expect("the worker's stdout");
        assert!(read > 0, "the worker ended before printing {marker:?}");
        if byte[0] != b'\n' {
            line.push(byte[0]);
            continue;
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        if let Some(at) = text.find(marker) {
            return text[at..].trim().to_owned();
        }
        line.clear();
    }
}
