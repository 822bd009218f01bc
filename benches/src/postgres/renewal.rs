//! The lease-renewal scenario: what the recorder sends, counted at the wire, while many tasks
//! run under a short lease.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use tasks_recorder::TaskState;

use super::proxy::{self, Proxy, Tally};
use super::runs::{drive, fresh_ids};
use super::{connect, Sizes};

/// What the lease-renewal scenario counted.
#[derive(Debug, Clone)]
pub struct Renewal {
    /// Tasks running during the window.
    pub tasks: u64,
    /// The lease; renewals are a third of it apart.
    pub lease: Duration,
    /// How many renewal intervals the window lasted.
    pub intervals: u32,
    /// The window's length.
    pub window: Duration,
    /// Every statement the recorder sent during the window (prepares included).
    pub counts: BTreeMap<String, Tally>,
    /// Bytes of WAL the server wrote during the window (all of it, autovacuum included).
    pub wal_bytes: f64,
}

impl Renewal {
    /// Statements executed per renewal interval (one-time prepares left out).
    pub fn per_interval(&self) -> f64 {
        self.executed() as f64 / f64::from(self.intervals)
    }

    /// Statements executed during the window.
    pub fn executed(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(label, _)| !label.starts_with(proxy::PREPARE))
            .map(|(_, t)| t.count)
            .sum()
    }

    /// Statements prepared during the window.
    pub fn prepared(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(label, _)| label.starts_with(proxy::PREPARE))
            .map(|(_, t)| t.count)
            .sum()
    }
}

/// Bytes of WAL the server has written since it was created.
pub(super) async fn wal(admin: &tokio_postgres::Client) -> Result<f64, String> {
    admin
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8",
            &[],
        )
        .await
        .map(|row| row.get(0))
        .map_err(|e| format!("reading the WAL position: {e}"))
}

/// Launches `sizes.renewal_tasks` tasks that run until released, through the counting proxy,
/// waits one renewal interval, then counts what the recorder sends during
/// `sizes.renewal_intervals` intervals. Checks that no task was lost meanwhile and that all
/// succeed once released.
pub(super) async fn renewal(
    url: &str,
    admin: &tokio_postgres::Client,
    name: &str,
    sizes: Sizes,
) -> Result<Renewal, String> {
    let (proxy, via) = Proxy::start(url)
        .await
        .map_err(|e| format!("starting the counting proxy: {e}"))?
        .ok_or("the server's URL does not name a TCP host to put the counting proxy in front of")?;
    let recorder = connect(&via, name, sizes.renewal_lease).await;
    let tasks = sizes.renewal_tasks;
    let release = CancellationToken::new();
    let base = fresh_ids(tasks);
    let (launcher, released) = (recorder.clone(), release.clone());
    drive(tasks, 1000, move |i| {
        let (launcher, released) = (launcher.clone(), released.clone());
        async move {
            let task = async move {
                released.cancelled().await;
                Ok::<(), ()>(())
            };
            match launcher.0.launch(base + i, task).await {
                Ok(Ok(())) => {}
                Ok(Err((state, _))) => panic!("a fresh id was refused: {state}"),
                Err(error) => panic!("launch: {error}"),
            }
        }
    })
    .await;
    let interval = sizes.renewal_lease / 3;
    // Past the claims' commits and into the steady state.
    tokio::time::sleep(interval).await;
    proxy.take();
    let wal_before = wal(admin).await?;
    let began = Instant::now();
    tokio::time::sleep(interval * sizes.renewal_intervals).await;
    let counts = proxy.take();
    let window = began.elapsed();
    let wal_after = wal(admin).await?;
    let running = recorder.0.running() as u64;
    let working = recorder
        .0
        .count_in_state(TaskState::Working)
        .await
        .map_err(|e| format!("count_in_state: {e}"))? as u64;
    release.cancel();
    recorder.0.shutdown().await;
    let succeeded = recorder
        .0
        .count_in_state(TaskState::Success)
        .await
        .map_err(|e| format!("count_in_state: {e}"))? as u64;
    if running != tasks || working != tasks || succeeded != tasks {
        return Err(format!(
            "{tasks} tasks launched, but after the window {running} ran here and {working} read \
             Working, and {succeeded} succeeded once released: leases were lost"
        ));
    }
    Ok(Renewal {
        tasks,
        lease: sizes.renewal_lease,
        intervals: sizes.renewal_intervals,
        window,
        counts,
        wal_bytes: wal_after - wal_before,
    })
}
