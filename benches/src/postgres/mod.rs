//! The PostgreSQL section of the report: [`PgRecorder`] against a hand-written
//! one-statement-per-transition [`Baseline`], a primary-key `SELECT`, and `pgbench -b
//! simple-update`, side by side in one run against one throwaway server
//! ([`PgCluster::from_env_or_start`]: `fsync` and `synchronous_commit` on).
//!
//! - **launch+completion** at concurrency C: C client tasks, each taking the next fresh id,
//!   launching a task under it (the body returns `Ok(())` at once) and waiting until its
//!   success is committed, then taking the next id, until `n` tasks are done. `PgRecorder`
//!   waits with `wait`; the baseline learns it in-process. Measured: tasks per second (`n` ÷
//!   the run's time) and the mean latency of one launch-and-wait.
//! - **query**: `query_task_state` of succeeded ids against `SELECT state FROM t WHERE k = $1`
//!   (prepared, through a pool of the same kind and size), from 1 driver (latency) and from
//!   64 concurrent drivers (throughput). Each side's ids succeeded through its own launch
//!   path (a claim, then an end), so that both tables hold the rows their launches leave.
//! - **pgbench**: `pgbench -b simple-update -c 8 -j 2` on the same server: the engine's rate
//!   of one-commit transactions.
//! - **lease renewal**: many tasks running (pending until released) under a short lease; the
//!   statements the recorder sends during a whole number of renewal intervals, counted at the
//!   wire by a [`proxy`] between the recorder and the server.
//!
//! Competitors run interleaved (A B, B A, ...) with fresh ids every run, after one untimed
//! warm-up run each (which also fills the pools and the prepared-statement caches); each cell
//! is the median of the rounds, and each ratio the median of the rounds' own ratios (the
//! recorder's run against the competitor's run of the same round), which the drift of a
//! shared machine's speed between rounds does not move. One at a time (one launch, one
//! query), where the time of a round trip swings most, the competitors take turns operation
//! by operation within each round, and those cases run more and shorter rounds. One untimed extra `PgRecorder` run per concurrency goes
//! through the proxy to show which statements a task costs.

pub mod competitors;
pub mod pgbench;
pub mod proxy;
mod renewal;
mod results;
mod runs;
mod summary;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tasks_recorder_pg_cluster::PgCluster;
use tasks_recorder_postgres::PgRecorder;

pub use renewal::Renewal;
pub use results::{Goal, Measure, PgReport, PgRow, PgScenario, PgTarget, Ratio, WireRow};

use crate::report::WATCHDOG;
use competitors::{Baseline, NoWait, Recorder};
use proxy::Proxy;
use renewal::renewal;
use results::{BASELINE, NO_WAIT, PK_SELECT, RECORDER};
use runs::{fill, launch_op, launch_run, medians, query_op, query_run, turns, Run};

/// Which parts of the section run: `--pg-only` of the `report` binary. Every part by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgParts(u8);

impl PgParts {
    /// The names `--pg-only` takes, in the order the parts run.
    pub const NAMES: [&'static str; 6] = [
        "launch-1",
        "launch-64",
        "launch-1000",
        "query",
        "pgbench",
        "renewal",
    ];

    /// Every part.
    pub const ALL: PgParts = PgParts(0b11_1111);

    /// The parts named in `list` (comma-separated [`NAMES`](Self::NAMES)); `Err` names the
    /// first unknown one.
    pub fn parse(list: &str) -> Result<PgParts, String> {
        let mut bits = 0;
        for name in list.split(',').map(str::trim) {
            match Self::NAMES.iter().position(|known| *known == name) {
                Some(k) => bits |= 1 << k,
                None => return Err(name.to_string()),
            }
        }
        Ok(PgParts(bits))
    }

    fn has(self, name: &str) -> bool {
        Self::NAMES
            .iter()
            .position(|known| *known == name)
            .is_some_and(|k| self.0 & (1 << k) != 0)
    }
}

impl Default for PgParts {
    fn default() -> Self {
        Self::ALL
    }
}

/// The connections of each competitor's pool (the recorder's default).
const POOL: usize = 16;

/// The sizes of every scenario.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// (concurrency, tasks per run, rounds)
    launch: [(usize, u64, usize); 3],
    query_keys: u64,
    /// (concurrent drivers, queries per run, rounds)
    query: [(usize, u64, usize); 2],
    pgbench_clients: u32,
    pgbench_seconds: u32,
    renewal_tasks: u64,
    renewal_lease: Duration,
    renewal_intervals: u32,
}

impl Sizes {
    fn of(quick: bool) -> Self {
        if quick {
            Sizes {
                launch: [(1, 5, 1), (64, 64, 1), (1000, 1000, 1)],
                query_keys: 200,
                query: [(1, 200, 1), (64, 640, 1)],
                pgbench_clients: 8,
                pgbench_seconds: 1,
                renewal_tasks: 200,
                renewal_lease: Duration::from_millis(1500),
                renewal_intervals: 1,
            }
        } else {
            Sizes {
                launch: [(1, 100, 15), (64, 2_000, 5), (1000, 4_000, 5)],
                query_keys: 10_000,
                query: [(1, 500, 15), (64, 5_000, 15)],
                pgbench_clients: 8,
                pgbench_seconds: 10,
                renewal_tasks: 10_000,
                renewal_lease: Duration::from_millis(1500),
                renewal_intervals: 8,
            }
        }
    }
}

/// A recorder name no other run uses, under this run's prefix.
fn recorder_name(prefix: &str, what: &str) -> String {
    format!("{prefix}{what}")
}

async fn connect(url: &str, name: &str, lease: Duration) -> Recorder {
    let recorder = PgRecorder::<u64>::builder()
        .lease(lease)
        .pool_size(POOL)
        .connect(url, name)
        .await
        .unwrap_or_else(|e| panic!("PgRecorder::connect {name}: {e}"));
    Recorder(recorder)
}

/// Runs the PostgreSQL section: starts a throwaway cluster (or uses `DATABASE_URL`), runs
/// every scenario, stops the cluster. `progress` is told what finished. `Err`: the server
/// could not be started or reached.
pub fn run(
    quick: bool,
    parts: PgParts,
    progress: &mut dyn FnMut(&str),
) -> Result<PgReport, String> {
    let start = Instant::now();
    WATCHDOG.start();
    let sizes = Sizes::of(quick);
    let cluster = PgCluster::from_env_or_start()
        .map_err(|e| format!("no PostgreSQL server for the benchmark: {e}"))?;
    let url = cluster.url().to_string();
    let throwaway = !cluster.is_external();
    // Two workers, as the in-memory report's multi-thread runtime, with I/O and timers.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("a tokio runtime: {e}"))?;
    let prefix = format!(
        "tasks-recorder-bench-{}-{}-",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let table = format!("tasks_recorder_bench_baseline_{}", std::process::id());

    let (admin, server) = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("connecting to {url}: {e}"))?;
        tokio::spawn(connection);
        let mut facts = Vec::new();
        for setting in ["server_version", "fsync", "synchronous_commit"] {
            let row = client
                .query_one(&format!("SHOW {setting}"), &[])
                .await
                .map_err(|e| format!("SHOW {setting}: {e}"))?;
            facts.push(format!("{setting}={}", row.get::<_, String>(0)));
        }
        let origin = if throwaway {
            "a throwaway cluster started by the report"
        } else {
            "the server of DATABASE_URL"
        };
        Ok::<_, String>((
            client,
            format!("PostgreSQL, {origin}: {}", facts.join(", ")),
        ))
    })?;
    progress(&server);
    let baseline = Arc::new(rt.block_on(Baseline::create(&url, POOL, &table))?);

    let mut rows = Vec::new();
    let mut wire = Vec::new();
    for (c, n, rounds) in sizes.launch {
        if !parts.has(&format!("launch-{c}")) {
            continue;
        }
        let (recorder, proxied) = rt.block_on(async {
            let recorder = connect(
                &url,
                &recorder_name(&prefix, &format!("launch-{c}")),
                Duration::from_secs(30),
            )
            .await;
            let proxied = match Proxy::start(&url).await {
                Ok(Some((proxy, via))) => {
                    let name = recorder_name(&prefix, &format!("wire-{c}"));
                    Some((proxy, connect(&via, &name, Duration::from_secs(30)).await))
                }
                _ => None,
            };
            (Arc::new(recorder), proxied)
        });
        let scenario = PgScenario::Launch(c);
        let no_wait = Arc::new(NoWait(recorder.0.clone()));
        let mut runs: Vec<Run<'_>> = vec![
            (
                RECORDER,
                Box::new(|| rt.block_on(launch_run(Arc::clone(&recorder), n, c))),
            ),
            (
                BASELINE,
                Box::new(|| rt.block_on(launch_run(Arc::clone(&baseline), n, c))),
            ),
            (
                NO_WAIT,
                Box::new(|| rt.block_on(launch_run(Arc::clone(&no_wait), n, c))),
            ),
        ];
        // One at a time, the competitors take turns launch by launch (the no-wait diagnostic,
        // whose ends commit in the background, would overlap the others' launches).
        let (cells, ratios) = if c == 1 {
            let ops = [
                (RECORDER, launch_op(Arc::clone(&recorder))),
                (BASELINE, launch_op(Arc::clone(&baseline))),
            ];
            turns(scenario.name(), rounds, n, &rt, &ops)
        } else {
            medians(scenario.name(), rounds, &mut runs)
        };
        drop(runs);
        rows.push(PgRow {
            scenario,
            n,
            rounds,
            cells,
            ratios,
        });
        progress(&scenario.name());
        if let Some((proxy, wired)) = proxied {
            WATCHDOG.case(format!("{} through the counting proxy", scenario.name()));
            WATCHDOG.beat(RECORDER);
            let counts = rt.block_on(async {
                // The statements of a run, without the connection's own.
                proxy.take();
                launch_run(Arc::new(wired.clone()), n, c).await;
                let counts = proxy.take();
                wired.0.shutdown().await;
                counts
            });
            WATCHDOG.idle();
            wire.push(WireRow {
                concurrency: c,
                tasks: n,
                counts,
            });
        }
        rt.block_on(async { recorder.0.shutdown().await });
    }

    if parts.has("query") {
        let keys = sizes.query_keys;
        let (recorder, ours, theirs) = rt.block_on(async {
            let recorder = Arc::new(
                connect(
                    &url,
                    &recorder_name(&prefix, "query"),
                    Duration::from_secs(30),
                )
                .await,
            );
            // Each side's ids succeed through its own launch (a claim, then an end), so that
            // both tables hold what their launches leave: rows updated once since insertion.
            let ours = fill(Arc::clone(&recorder), keys).await;
            let theirs = fill(Arc::clone(&baseline), keys).await;
            (recorder, ours, theirs)
        });
        for (drivers, n, rounds) in sizes.query {
            let mut runs: Vec<Run<'_>> = vec![
                (
                    RECORDER,
                    Box::new(|| {
                        rt.block_on(query_run(
                            Arc::clone(&recorder),
                            ours..ours + keys,
                            n,
                            drivers,
                        ))
                    }),
                ),
                (
                    PK_SELECT,
                    Box::new(|| {
                        rt.block_on(query_run(
                            Arc::clone(&baseline),
                            theirs..theirs + keys,
                            n,
                            drivers,
                        ))
                    }),
                ),
            ];
            let scenario = PgScenario::Query(drivers);
            // One at a time, the competitors take turns query by query.
            let (cells, ratios) = if drivers == 1 {
                let ops = [
                    (RECORDER, query_op(Arc::clone(&recorder), ours..ours + keys)),
                    (
                        PK_SELECT,
                        query_op(Arc::clone(&baseline), theirs..theirs + keys),
                    ),
                ];
                turns(scenario.name(), rounds, n, &rt, &ops)
            } else {
                medians(scenario.name(), rounds, &mut runs)
            };
            drop(runs);
            rows.push(PgRow {
                scenario,
                n,
                rounds,
                cells,
                ratios,
            });
            progress(&scenario.name());
        }
        rt.block_on(async { recorder.0.shutdown().await });
    }

    let pgbench = if !parts.has("pgbench") {
        Err("not run (--pg-only)".to_string())
    } else if throwaway {
        match pgbench::find() {
            Some(binary) => {
                WATCHDOG.case("pgbench".to_string());
                WATCHDOG.beat("pgbench");
                let result =
                    pgbench::run(&binary, &url, sizes.pgbench_clients, sizes.pgbench_seconds);
                WATCHDOG.idle();
                result
            }
            None => Err(
                "pgbench not found (PATH, `pg_config --bindir`, /usr/lib/postgresql/*/bin)"
                    .to_string(),
            ),
        }
    } else {
        Err("not run: DATABASE_URL names a server the report did not start, and `pgbench -i` would replace its pgbench_* tables".to_string())
    };
    progress("pgbench");

    WATCHDOG.case("lease renewal".to_string());
    WATCHDOG.beat(RECORDER);
    let renewal = if parts.has("renewal") {
        rt.block_on(renewal(
            &url,
            &admin,
            &recorder_name(&prefix, "renewal"),
            sizes,
        ))
    } else {
        Err("not run (--pg-only)".to_string())
    };
    WATCHDOG.idle();
    progress("lease renewal");

    rt.block_on(async {
        let _ = baseline.drop_table().await;
        if !throwaway {
            // Leave an external server as it was found.
            let pattern = format!("{prefix}%");
            let _ = admin
                .execute(
                    "DELETE FROM tasks_recorder_records WHERE recorder IN \
                     (SELECT number FROM tasks_recorder_recorders WHERE name LIKE $1)",
                    &[&pattern],
                )
                .await;
            let _ = admin
                .execute(
                    "DELETE FROM tasks_recorder_recorders WHERE name LIKE $1",
                    &[&pattern],
                )
                .await;
        }
    });
    drop(admin);
    drop(baseline);
    drop(rt);
    drop(cluster);
    Ok(PgReport {
        server,
        throwaway,
        rows,
        wire,
        pgbench,
        renewal,
        quick,
        elapsed: start.elapsed(),
    })
}
