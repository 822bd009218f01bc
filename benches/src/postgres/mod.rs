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
//!   64 concurrent drivers (throughput).
//! - **pgbench**: `pgbench -b simple-update -c 8 -j 2` on the same server: the engine's rate
//!   of one-commit transactions.
//! - **lease renewal**: many tasks running (pending until released) under a short lease; the
//!   statements the recorder sends during a whole number of renewal intervals, counted at the
//!   wire by a [`proxy`] between the recorder and the server.
//!
//! Competitors run interleaved (A B, B A, ...) with fresh ids every run, after one untimed
//! warm-up run each (which also fills the pools and the prepared-statement caches); each cell
//! is the median of the rounds. One untimed extra `PgRecorder` run per concurrency goes
//! through the proxy to show which statements a task costs.

pub mod competitors;
pub mod pgbench;
pub mod proxy;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tasks_recorder::TaskState;
use tasks_recorder_pg_cluster::PgCluster;
use tasks_recorder_postgres::PgRecorder;
use tokio_util::sync::CancellationToken;

use crate::report::WATCHDOG;
use competitors::{Baseline, NoWait, PgLauncher, PgLookup, Recorder};
use proxy::{Proxy, Tally};

/// The connections of each competitor's pool (the recorder's default).
const POOL: usize = 16;

/// The sizes of every scenario.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    rounds: usize,
    /// (concurrency, tasks per run)
    launch: [(usize, u64); 3],
    query_keys: u64,
    /// (concurrent drivers, queries per run)
    query: [(usize, u64); 2],
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
                rounds: 1,
                launch: [(1, 5), (64, 64), (1000, 1000)],
                query_keys: 200,
                query: [(1, 200), (64, 640)],
                pgbench_clients: 8,
                pgbench_seconds: 1,
                renewal_tasks: 200,
                renewal_lease: Duration::from_millis(1500),
                renewal_intervals: 1,
            }
        } else {
            Sizes {
                rounds: 5,
                launch: [(1, 300), (64, 2_000), (1000, 4_000)],
                query_keys: 10_000,
                query: [(1, 2_000), (64, 20_000)],
                pgbench_clients: 8,
                pgbench_seconds: 10,
                renewal_tasks: 10_000,
                renewal_lease: Duration::from_millis(1500),
                renewal_intervals: 8,
            }
        }
    }
}

/// Which scenario a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgScenario {
    /// Launch-and-wait from this many concurrent clients.
    Launch(usize),
    /// Queries of succeeded ids from this many concurrent drivers.
    Query(usize),
}

impl PgScenario {
    fn name(self) -> String {
        match self {
            PgScenario::Launch(c) => format!("launch+completion, {c} concurrent"),
            PgScenario::Query(1) => "query (Success), sequential".to_string(),
            PgScenario::Query(d) => format!("query (Success), {d} concurrent"),
        }
    }
}

/// One competitor's medians in one case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measure {
    /// The run's time ÷ its operations (tasks or queries), in nanoseconds: the inverse of
    /// the throughput.
    pub per_op_ns: f64,
    /// The mean time of one operation (launch-and-wait, or query), in nanoseconds.
    pub latency_ns: f64,
}

impl Measure {
    /// Operations per second.
    pub fn per_second(&self) -> f64 {
        1e9 / self.per_op_ns
    }
}

/// One row: every competitor's medians in one case.
#[derive(Debug, Clone)]
pub struct PgRow {
    /// The scenario.
    pub scenario: PgScenario,
    /// Operations per run.
    pub n: u64,
    /// Each competitor's medians.
    pub cells: Vec<(&'static str, Measure)>,
}

impl PgRow {
    /// The medians of competitor `name`.
    pub fn value(&self, name: &str) -> Option<Measure> {
        self.cells.iter().find(|(n, _)| *n == name).map(|&(_, m)| m)
    }
}

/// The statements one untimed `PgRecorder` run sent, counted at the wire.
#[derive(Debug, Clone)]
pub struct WireRow {
    /// The run's concurrency.
    pub concurrency: usize,
    /// Its tasks.
    pub tasks: u64,
    /// What the proxy counted, by statement.
    pub counts: BTreeMap<String, Tally>,
}

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

/// How a target compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The value must be at least the goal.
    AtLeast,
    /// The value must be above the goal.
    Above,
    /// The value must be at most the goal.
    AtMost,
}

/// One target of the issue.
#[derive(Debug, Clone)]
pub struct PgTarget {
    /// Its name.
    pub name: &'static str,
    /// `ratio` or `value`.
    pub what: &'static str,
    /// The measured value; `None` if it could not be measured.
    pub value: Option<f64>,
    /// The goal.
    pub goal: f64,
    /// How the value compares with the goal.
    pub compare: Goal,
}

impl PgTarget {
    /// Whether the value meets the goal.
    pub fn pass(&self) -> bool {
        self.value.is_some_and(|v| match self.compare {
            Goal::AtLeast => v >= self.goal,
            Goal::Above => v > self.goal,
            Goal::AtMost => v <= self.goal,
        })
    }

    /// `target <name>: ratio <x> (goal >= <y>) PASS|FAIL`.
    pub fn line(&self) -> String {
        let value = self.value.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let op = match self.compare {
            Goal::AtLeast => ">=",
            Goal::Above => ">",
            Goal::AtMost => "<=",
        };
        let verdict = if self.pass() { "PASS" } else { "FAIL" };
        format!(
            "target {}: {} {value} (goal {op} {:.2}) {verdict}",
            self.name, self.what, self.goal
        )
    }
}

/// Everything the PostgreSQL section measured.
#[derive(Debug, Clone)]
pub struct PgReport {
    /// The server: version and durability settings.
    pub server: String,
    /// Whether the report started the server (else `DATABASE_URL` named it).
    pub throwaway: bool,
    /// The launch and query rows, in the order they ran.
    pub rows: Vec<PgRow>,
    /// The statements of one untimed `PgRecorder` run per concurrency.
    pub wire: Vec<WireRow>,
    /// pgbench's result, or why it did not run.
    pub pgbench: Result<pgbench::Pgbench, String>,
    /// The lease-renewal count, or why it was not made.
    pub renewal: Result<Renewal, String>,
    /// Rounds per cell.
    pub rounds: usize,
    /// Whether it ran with `--quick` sizes.
    pub quick: bool,
    /// How long the section took.
    pub elapsed: Duration,
}

const RECORDER: &str = "PgRecorder";
const BASELINE: &str = "baseline";
const PK_SELECT: &str = "PK SELECT";
const NO_WAIT: &str = "PgRecorder, no wait";

impl PgReport {
    fn row(&self, scenario: PgScenario) -> Option<&PgRow> {
        self.rows.iter().find(|r| r.scenario == scenario)
    }

    /// The targets of the issue.
    pub fn targets(&self) -> Vec<PgTarget> {
        let launch = |c: usize| -> Option<(Measure, Measure)> {
            let row = self.row(PgScenario::Launch(c))?;
            Some((row.value(RECORDER)?, row.value(BASELINE)?))
        };
        let biggest = self
            .rows
            .iter()
            .filter_map(|r| match r.scenario {
                PgScenario::Launch(c) => Some(c),
                PgScenario::Query(_) => None,
            })
            .max()
            .unwrap_or(1000);
        let query_ratio = self
            .rows
            .iter()
            .filter(|r| matches!(r.scenario, PgScenario::Query(_)))
            .filter_map(|r| {
                let (ours, theirs) = (r.value(RECORDER)?, r.value(PK_SELECT)?);
                // Sequentially the latency; concurrently the time per query (1 / throughput).
                Some(match r.scenario {
                    PgScenario::Query(1) => ours.latency_ns / theirs.latency_ns,
                    _ => ours.per_op_ns / theirs.per_op_ns,
                })
            })
            .max_by(f64::total_cmp);
        vec![
            PgTarget {
                name: "pg_launch_1000_vs_baseline",
                what: "ratio",
                value: launch(biggest).map(|(ours, base)| ours.per_second() / base.per_second()),
                goal: 3.0,
                compare: Goal::AtLeast,
            },
            PgTarget {
                name: "pg_launch_1000_vs_pgbench",
                what: "ratio",
                value: match (&self.pgbench, launch(biggest)) {
                    (Ok(bench), Some((ours, _))) => Some(ours.per_second() / bench.tps),
                    _ => None,
                },
                goal: 1.0,
                compare: Goal::Above,
            },
            PgTarget {
                name: "pg_launch_1_latency_vs_baseline",
                what: "ratio",
                value: launch(1).map(|(ours, base)| ours.latency_ns / base.latency_ns),
                goal: 1.1,
                compare: Goal::AtMost,
            },
            PgTarget {
                name: "pg_query_vs_pk_select",
                what: "ratio",
                value: query_ratio,
                goal: 1.1,
                compare: Goal::AtMost,
            },
            PgTarget {
                name: "pg_renewal_statements_per_interval",
                what: "value",
                value: self.renewal.as_ref().ok().map(Renewal::per_interval),
                goal: 2.0,
                compare: Goal::AtMost,
            },
        ]
    }

    /// The target lines, then what each means.
    pub fn target_lines(&self) -> String {
        let mut out = String::new();
        for target in self.targets() {
            let _ = writeln!(out, "{}", target.line());
        }
        let _ = writeln!(
            out,
            "(launch_1000: PgRecorder's tasks/s ÷ the baseline's, and ÷ pgbench's TPS, at the \
             highest concurrency; launch_1_latency: PgRecorder's launch-and-wait latency ÷ the \
             baseline's at 1 concurrent launch; query: PgRecorder's query ÷ the primary-key \
             SELECT, the worse of sequential latency and 64-concurrent time per query; \
             renewal: statements per renewal interval with {} tasks running)",
            self.renewal
                .as_ref()
                .map_or_else(|_| "many".to_string(), |r| r.tasks.to_string())
        );
        out
    }

    /// The table (Markdown) and the pgbench, renewal and wire notes.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "server: {}", self.server);
        let _ = writeln!(
            out,
            "\n| scenario | n | PgRecorder | hand-written baseline | primary-key SELECT | PgRecorder ÷ competitor | PgRecorder, no wait (diagnostic) |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
        for row in &self.rows {
            let ours = row.value(RECORDER);
            let cell = |m: Option<Measure>| m.map_or(String::new(), |m| describe(row.scenario, m));
            let (base, select) = (row.value(BASELINE), row.value(PK_SELECT));
            let ratio = match (row.scenario, ours, base.or(select)) {
                (PgScenario::Launch(_), Some(o), Some(t)) => format!(
                    "{:.2}x tasks/s, {:.2}x latency",
                    o.per_second() / t.per_second(),
                    o.latency_ns / t.latency_ns
                ),
                (PgScenario::Query(_), Some(o), Some(t)) => format!(
                    "{:.2}x latency, {:.2}x queries/s",
                    o.latency_ns / t.latency_ns,
                    o.per_second() / t.per_second()
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {ratio} | {} |",
                row.scenario.name(),
                row.n,
                cell(ours),
                cell(base),
                cell(select),
                cell(row.value(NO_WAIT)),
            );
        }
        out.push('\n');
        match &self.pgbench {
            Ok(bench) => {
                let _ = writeln!(
                    out,
                    "pgbench: `{}` on the same server: {:.0} TPS (one commit per transaction)",
                    bench.command, bench.tps
                );
            }
            Err(why) => {
                let _ = writeln!(out, "pgbench: {why}");
            }
        }
        match &self.renewal {
            Ok(r) => {
                let interval = r.lease / 3;
                let _ = writeln!(
                    out,
                    "lease renewal: {} running tasks, lease {:.1} s (the renewer sleeps {} ms \
                     between renewals); over {} such intervals ({:.2} s), counted at the wire, the \
                     recorder executed {} statements = {:.2} per interval, and prepared {} (a pool \
                     connection prepares a statement on its first use) [{}; in parentheses the \
                     server's mean answer time]; the server wrote {:.2} MB of WAL per interval",
                    r.tasks,
                    r.lease.as_secs_f64(),
                    interval.as_millis(),
                    r.intervals,
                    r.window.as_secs_f64(),
                    r.executed(),
                    r.per_interval(),
                    r.prepared(),
                    breakdown(&r.counts, None),
                    r.wal_bytes / f64::from(r.intervals) / 1e6,
                );
            }
            Err(why) => {
                let _ = writeln!(out, "lease renewal: not measured: {why}");
            }
        }
        if !self.wire.is_empty() {
            let _ = writeln!(
                out,
                "\nstatements per task of one untimed PgRecorder run, counted at the wire (mean \
                 answer time in parentheses):"
            );
            for wire in &self.wire {
                let _ = writeln!(
                    out,
                    "- {} concurrent, {} tasks: {}",
                    wire.concurrency,
                    wire.tasks,
                    breakdown(&wire.counts, Some(wire.tasks))
                );
            }
        }
        out
    }
}

/// `count × label (mean)`, or per task when `per` is given.
fn breakdown(counts: &BTreeMap<String, Tally>, per: Option<u64>) -> String {
    let mut parts: Vec<(u64, String)> = counts
        .iter()
        .map(|(label, tally)| {
            let amount = match per {
                Some(tasks) => format!("{:.3}", tally.count as f64 / tasks as f64),
                None => tally.count.to_string(),
            };
            let mean = tally.mean().map_or(String::new(), |m| {
                format!(" ({})", duration(m.as_nanos() as f64))
            });
            (tally.count, format!("{amount} {label}{mean}"))
        })
        .collect();
    parts.sort_by_key(|part| std::cmp::Reverse(part.0));
    let parts: Vec<String> = parts.into_iter().map(|(_, p)| p).collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

fn duration(ns: f64) -> String {
    match ns {
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} µs", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

fn rate(per_second: f64) -> String {
    if per_second >= 10_000.0 {
        format!("{:.1}k", per_second / 1e3)
    } else {
        format!("{per_second:.0}")
    }
}

fn describe(scenario: PgScenario, m: Measure) -> String {
    match scenario {
        PgScenario::Launch(_) => format!(
            "{} tasks/s, {}/task",
            rate(m.per_second()),
            duration(m.latency_ns)
        ),
        PgScenario::Query(_) => format!(
            "{}/query, {} queries/s",
            duration(m.latency_ns),
            rate(m.per_second())
        ),
    }
}

/// Runs `n` operations from `concurrency` client tasks, each taking the next index until
/// all are taken; returns the throughput and mean latency.
async fn drive<F, Fut>(n: u64, concurrency: usize, op: F) -> Measure
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..(concurrency as u64).min(n) {
        let (op, next) = (op.clone(), Arc::clone(&next));
        clients.push(tokio::spawn(async move {
            let mut busy = Duration::ZERO;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return busy;
                }
                let began = Instant::now();
                op(i).await;
                busy += began.elapsed();
            }
        }));
    }
    let mut busy = Duration::ZERO;
    for client in clients {
        busy += client.await.expect("a client task panicked");
    }
    let elapsed = start.elapsed();
    Measure {
        per_op_ns: elapsed.as_nanos() as f64 / n as f64,
        latency_ns: busy.as_nanos() as f64 / n as f64,
    }
}

/// Ids no run has used: every run takes a new range.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn fresh_ids(n: u64) -> u64 {
    NEXT_ID.fetch_add(n, Ordering::Relaxed)
}

/// One run of launch-and-wait for `launcher`.
async fn launch_run<L: PgLauncher>(launcher: Arc<L>, n: u64, concurrency: usize) -> Measure {
    let base = fresh_ids(n);
    let start = Instant::now();
    let each = Arc::clone(&launcher);
    let measure = drive(n, concurrency, move |i| {
        let launcher = Arc::clone(&each);
        async move { launcher.launch_and_wait(base + i).await }
    })
    .await;
    launcher.finish().await;
    Measure {
        per_op_ns: start.elapsed().as_nanos() as f64 / n as f64,
        ..measure
    }
}

/// One run of queries of the succeeded ids `keys` for `lookup`.
async fn query_run<Q: PgLookup>(
    lookup: Arc<Q>,
    keys: std::ops::Range<u64>,
    n: u64,
    drivers: usize,
) -> Measure {
    let wrong = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&wrong);
    let len = keys.end - keys.start;
    let measure = drive(n, drivers, move |i| {
        let (lookup, wrong) = (Arc::clone(&lookup), Arc::clone(&counted));
        // A stride through the keys, so that consecutive queries touch distant pages.
        let id = keys.start + (i * 7919) % len;
        async move {
            if !lookup.is_success(id).await {
                wrong.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await;
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "{} answered wrong",
        Q::NAME
    );
    measure
}

/// One competitor's timed run in one case.
type Run<'a> = (&'static str, Box<dyn FnMut() -> Measure + 'a>);

/// Runs every competitor once untimed (unless `rounds` is 1), then `rounds` times,
/// interleaved, the first one rotating each round; returns each one's medians.
fn medians(case: String, rounds: usize, runs: &mut [Run<'_>]) -> Vec<(&'static str, Measure)> {
    WATCHDOG.case(case);
    let mut samples: Vec<Vec<Measure>> = vec![Vec::with_capacity(rounds); runs.len()];
    if rounds > 1 {
        for (name, run) in runs.iter_mut() {
            WATCHDOG.beat(name);
            run();
        }
    }
    for round in 0..rounds {
        for k in 0..runs.len() {
            let i = (k + round) % runs.len();
            WATCHDOG.beat(runs[i].0);
            samples[i].push((runs[i].1)());
        }
    }
    WATCHDOG.idle();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    runs.iter()
        .zip(samples)
        .map(|((name, _), s)| {
            let per_op_ns = median(s.iter().map(|m| m.per_op_ns).collect());
            let latency_ns = median(s.iter().map(|m| m.latency_ns).collect());
            (
                *name,
                Measure {
                    per_op_ns,
                    latency_ns,
                },
            )
        })
        .collect()
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
pub fn run(quick: bool, progress: &mut dyn FnMut(&str)) -> Result<PgReport, String> {
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
    for (c, n) in sizes.launch {
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
        let scenario = PgScenario::Launch(c);
        let cells = medians(scenario.name(), sizes.rounds, &mut runs);
        drop(runs);
        rows.push(PgRow { scenario, n, cells });
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

    {
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
            let ours = fresh_ids(keys);
            let fill = Arc::clone(&recorder);
            drive(keys, 1000, move |i| {
                let fill = Arc::clone(&fill);
                async move { fill.launch_and_wait(ours + i).await }
            })
            .await;
            let theirs = fresh_ids(keys);
            baseline
                .fill_successes(theirs..theirs + keys)
                .await
                .expect("filling the baseline's table");
            (recorder, ours, theirs)
        });
        for (drivers, n) in sizes.query {
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
            let cells = medians(scenario.name(), sizes.rounds, &mut runs);
            drop(runs);
            rows.push(PgRow { scenario, n, cells });
            progress(&scenario.name());
        }
        rt.block_on(async { recorder.0.shutdown().await });
    }

    let pgbench = if throwaway {
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
    let renewal = rt.block_on(renewal(
        &url,
        &admin,
        &recorder_name(&prefix, "renewal"),
        sizes,
    ));
    WATCHDOG.idle();
    progress("lease renewal");

    rt.block_on(async {
        let _ = baseline.drop_table().await;
        if !throwaway {
            // Leave an external server as it was found.
            let pattern = format!("{prefix}%");
            let _ = admin
                .execute(
                    "DELETE FROM tasks_recorder_records WHERE recorder LIKE $1",
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
        rounds: sizes.rounds,
        quick,
        elapsed: start.elapsed(),
    })
}

/// Bytes of WAL the server has written since it was created.
async fn wal(admin: &tokio_postgres::Client) -> Result<f64, String> {
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
async fn renewal(
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
