//! The comparison the `report` binary prints: every scenario for every competitor, run
//! interleaved (A B C A B C ..., the first competitor rotating each round) in one process,
//! with the median of several rounds per cell, and ratios against this crate.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::competitors::{
    BareSpawn, Lookup, RawRead, Recorder, SccMap, State, ThisCrate, Tracker, V202Quick, V202,
};
use crate::ids::{make_ids, BenchId};
use crate::scenarios::{self, run_on, Flavor};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config {
    /// Tiny sizes and few rounds: a smoke run of every code path in a few seconds.
    pub quick: bool,
    /// Run only the scenarios whose number (1 to 7, and 8 for the PostgreSQL section, which
    /// the `report` binary runs with [`crate::postgres::run`]) is in this bit set (bit `k` for
    /// scenario `k`); `0` runs them all.
    pub only: u16,
}

impl Config {
    /// Whether scenario number `k` runs.
    pub fn runs(&self, k: u8) -> bool {
        self.only == 0 || self.only & (1 << k) != 0
    }
}

/// The sizes of every scenario.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    rounds: usize,
    launch: [u64; 2],
    query_keys: u64,
    queries: usize,
    contention: usize,
    list_keys: u64,
    revoke: u64,
    memory: u64,
}

impl Sizes {
    fn of(config: Config) -> Self {
        if config.quick {
            Sizes {
                rounds: 3,
                launch: [100, 400],
                query_keys: 500,
                queries: 2_000,
                contention: 400,
                list_keys: 1_000,
                revoke: 200,
                memory: 2_000,
            }
        } else {
            Sizes {
                rounds: 5,
                launch: [10_000, 100_000],
                query_keys: 100_000,
                queries: 200_000,
                contention: 100_000,
                list_keys: 100_000,
                revoke: 20_000,
                memory: 1_000_000,
            }
        }
    }
}

/// Which scenario a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 1. Launch `n` tasks, wait until all completed: time per task.
    Launch,
    /// 2. Query a succeeded id: time per query.
    QueryHit,
    /// 2. Query an unknown id: time per query.
    QueryMiss,
    /// 3. Launches racing for one id: time per launch.
    ContentionOne,
    /// 3. Launches racing for 16 ids: time per launch.
    ContentionFew,
    /// 4. List the `Success` ids (90% of the record): time per listing.
    ListSuccess,
    /// 4. List the `Failed` ids (10% of the record): time per listing.
    ListFailed,
    /// 5. Revoke a succeeded id: time per revoke.
    Revoke,
    /// 6. Bytes held per succeeded id.
    Memory,
    /// 7. `#[recorded_task]` against the same hand-written `launch`: time per task.
    Macro,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Launch => "1 launch+completion /task",
            Scenario::QueryHit => "2 query hit (Success) /query",
            Scenario::QueryMiss => "2 query miss (unknown) /query",
            Scenario::ContentionOne => "3 contention, 1 id /launch",
            Scenario::ContentionFew => "3 contention, 16 ids /launch",
            Scenario::ListSuccess => "4 list Success (90%) /listing",
            Scenario::ListFailed => "4 list Failed (10%) /listing",
            Scenario::Revoke => "5 revoke /revoke",
            Scenario::Memory => "6 memory /Success record",
            Scenario::Macro => "7 #[recorded_task] /task",
        }
    }
}

/// One row of the table: the median of every competitor in one case.
#[derive(Debug, Clone)]
pub struct Row {
    /// The scenario.
    pub scenario: Scenario,
    /// The id type.
    pub ids: &'static str,
    /// The runtime flavor (`None` for the memory scenario).
    pub flavor: Option<Flavor>,
    /// The size of the case (tasks, records, ...).
    pub size: u64,
    /// Each competitor's median, in nanoseconds (bytes for [`Scenario::Memory`]).
    pub cells: Vec<(&'static str, f64)>,
}

impl Row {
    /// The median of competitor `name`.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.cells.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
    }

    /// This crate's median divided by competitor `name`'s (below 1: this crate is cheaper).
    pub fn ratio(&self, name: &str) -> Option<f64> {
        Some(self.value(THIS)? / self.value(name)?)
    }

    fn case(&self) -> String {
        let flavor = self.flavor.map_or("-", Flavor::name);
        format!("{} ids, {flavor}, n={}", self.ids, self.size)
    }
}

/// One target of the issue: this crate's ratio against a competitor, worst over its cases.
#[derive(Debug, Clone)]
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// The worst (largest) ratio over the cases it covers; `None` if no case ran.
    pub ratio: Option<f64>,
    /// The largest ratio that passes.
    pub goal: f64,
    /// The case of the worst ratio.
    pub worst: String,
}

impl Target {
    /// Whether the worst ratio meets the goal.
    pub fn pass(&self) -> bool {
        self.ratio.is_some_and(|r| r <= self.goal)
    }

    /// `target <name>: ratio <x> (goal <y>) PASS|FAIL`.
    pub fn line(&self) -> String {
        let ratio = self.ratio.map_or("n/a".to_string(), |r| format!("{r:.2}"));
        let verdict = if self.pass() { "PASS" } else { "FAIL" };
        format!(
            "target {}: ratio {ratio} (goal {:.2}) {verdict}",
            self.name, self.goal
        )
    }
}

/// Everything one report run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The rows, in the order they ran.
    pub rows: Vec<Row>,
    /// How long the run took.
    pub elapsed: Duration,
    /// The configuration it ran with.
    pub config: Config,
}

const THIS: &str = "this crate";
/// The column order of the table.
const COLUMNS: [&str; 8] = [
    THIS,
    "2.0.2",
    "2.0.2 quick",
    "scc map",
    "scc read",
    "tokio::spawn",
    "TaskTracker",
    "hand launch",
];

/// (name, scenarios, competitor, goal, String ids only)
type TargetSpec = (&'static str, &'static [Scenario], &'static str, f64, bool);

const TARGETS: [TargetSpec; 10] = [
    (
        "launch_vs_tokio_spawn",
        &[Scenario::Launch],
        "tokio::spawn",
        1.3,
        false,
    ),
    ("launch_vs_2.0.2", &[Scenario::Launch], "2.0.2", 0.5, false),
    (
        "query_hit_vs_scc_read",
        &[Scenario::QueryHit],
        "scc read",
        1.2,
        false,
    ),
    (
        "query_miss_vs_scc_read",
        &[Scenario::QueryMiss],
        "scc read",
        1.2,
        false,
    ),
    (
        "query_hit_vs_2.0.2",
        &[Scenario::QueryHit],
        "2.0.2",
        0.35,
        false,
    ),
    (
        "query_miss_vs_2.0.2",
        &[Scenario::QueryMiss],
        "2.0.2",
        0.35,
        false,
    ),
    (
        "memory_string_vs_2.0.2",
        &[Scenario::Memory],
        "2.0.2",
        0.5,
        true,
    ),
    (
        "recorded_task_vs_launch",
        &[Scenario::Macro],
        "hand launch",
        1.05,
        false,
    ),
    (
        "contention_one_id_vs_2.0.2",
        &[Scenario::ContentionOne],
        "2.0.2",
        1.0,
        false,
    ),
    (
        "listing_vs_2.0.2",
        &[Scenario::ListSuccess, Scenario::ListFailed],
        "2.0.2",
        1.0,
        false,
    ),
];

impl Report {
    /// Every target, with its worst ratio over the rows that ran.
    pub fn targets(&self) -> Vec<Target> {
        TARGETS
            .iter()
            .map(|&(name, scenarios, competitor, goal, strings_only)| {
                let worst = self
                    .rows
                    .iter()
                    .filter(|row| scenarios.contains(&row.scenario))
                    .filter(|row| !strings_only || row.ids == String::NAME)
                    .filter_map(|row| Some((row.ratio(competitor)?, row.case())))
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                Target {
                    name,
                    ratio: worst.as_ref().map(|w| w.0),
                    goal,
                    worst: worst.map_or_else(|| "not run".to_string(), |w| w.1),
                }
            })
            .collect()
    }

    /// The table, in Markdown: medians, and this crate's median ÷ each competitor's.
    pub fn table(&self) -> String {
        let columns: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| self.rows.iter().any(|r| r.value(c).is_some()))
            .collect();
        let mut out = String::new();
        let _ = write!(out, "| scenario | ids | runtime | n |");
        for c in &columns {
            let _ = write!(out, " {c} |");
        }
        let _ = write!(out, "\n|---|---|---|--:|");
        for _ in &columns {
            let _ = write!(out, "--:|");
        }
        out.push('\n');
        for row in &self.rows {
            let flavor = row.flavor.map_or("-", Flavor::name);
            let _ = write!(
                out,
                "| {} | {} | {flavor} | {} |",
                row.scenario.name(),
                row.ids,
                si(row.size)
            );
            for c in &columns {
                match (row.value(c), row.ratio(c)) {
                    (Some(v), _) if *c == THIS => {
                        let _ = write!(out, " {} |", amount(row.scenario, v));
                    }
                    (Some(v), Some(r)) => {
                        let _ = write!(out, " {} ({r:.2}x) |", amount(row.scenario, v));
                    }
                    _ => out.push_str(" |"),
                }
            }
            out.push('\n');
        }
        out
    }

    /// The worst case of each target, then one `target ...` line per target.
    pub fn target_lines(&self) -> String {
        let targets = self.targets();
        let mut out = String::new();
        for t in &targets {
            let _ = writeln!(out, "worst case of {}: {}", t.name, t.worst);
        }
        for t in &targets {
            let _ = writeln!(out, "{}", t.line());
        }
        out
    }
}

/// `12k`, `1M`.
fn si(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// A median in a readable unit.
fn amount(scenario: Scenario, v: f64) -> String {
    if scenario == Scenario::Memory {
        return format!("{v:.1} B");
    }
    match v {
        v if v >= 1e6 => format!("{:.2} ms", v / 1e6),
        v if v >= 1e3 => format!("{:.2} µs", v / 1e3),
        v => format!("{v:.0} ns"),
    }
}

/// Ends the process if one run takes longer than [`Watchdog::LIMIT`]: a run that never ends
/// is a deadlock (in a competitor), and a report that hangs tells nobody anything.
pub(crate) struct Watchdog {
    /// Milliseconds since `EPOCH` at the start of the current run; `u64::MAX` when idle.
    since: AtomicU64,
    /// What runs.
    what: Mutex<String>,
}

pub(crate) static WATCHDOG: Watchdog = Watchdog {
    since: AtomicU64::new(u64::MAX),
    what: Mutex::new(String::new()),
};
static EPOCH: OnceLock<Instant> = OnceLock::new();

impl Watchdog {
    const LIMIT: Duration = Duration::from_secs(60);

    fn now_ms() -> u64 {
        EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    /// A run of `competitor` starts.
    pub(crate) fn beat(&self, competitor: &str) {
        if let Ok(mut what) = self.what.lock() {
            let case_end = what.find(" / ").unwrap_or(what.len());
            what.truncate(case_end);
            what.push_str(" / ");
            what.push_str(competitor);
        }
        self.since.store(Self::now_ms(), Ordering::Release);
    }

    /// A case starts.
    pub(crate) fn case(&self, case: String) {
        if let Ok(mut what) = self.what.lock() {
            *what = case;
        }
    }

    pub(crate) fn idle(&self) {
        self.since.store(u64::MAX, Ordering::Release);
    }

    /// Starts the watching thread (once per process).
    pub(crate) fn start(&'static self) {
        static STARTED: OnceLock<()> = OnceLock::new();
        STARTED.get_or_init(|| {
            Self::now_ms();
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_millis(500));
                let since = self.since.load(Ordering::Acquire);
                let limit = Self::LIMIT.as_millis() as u64;
                if since != u64::MAX && Self::now_ms().saturating_sub(since) > limit {
                    let what = self.what.lock().map(|w| w.clone()).unwrap_or_default();
                    eprintln!(
                        "report: one run of {what} has not finished after {} s: it hangs \
                         (a deadlock in that competitor?); giving up",
                        Self::LIMIT.as_secs()
                    );
                    std::process::exit(3);
                }
            });
        });
    }
}

/// One competitor's timed run in one case: returns its measure (ns per op, or bytes).
type Run<'a> = (&'static str, Box<dyn FnMut() -> f64 + 'a>);

/// Runs every competitor once untimed (a warm-up, unless `rounds` is 1), then `rounds` times, interleaved, the first
/// one rotating each round, and returns each one's median.
fn medians(rounds: usize, runs: &mut [Run<'_>]) -> Vec<(&'static str, f64)> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); runs.len()];
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
    runs.iter()
        .zip(samples)
        .map(|((name, _), mut s)| {
            s.sort_by(f64::total_cmp);
            (*name, s[s.len() / 2])
        })
        .collect()
}

/// Measures one case: the row of every competitor's median.
fn measure(
    scenario: Scenario,
    ids: &'static str,
    flavor: Option<Flavor>,
    size: u64,
    rounds: usize,
    runs: &mut [Run<'_>],
) -> Row {
    let mut row = Row {
        scenario,
        ids,
        flavor,
        size,
        cells: Vec::new(),
    };
    WATCHDOG.case(format!("{} ({})", scenario.name(), row.case()));
    row.cells = medians(rounds, runs);
    row
}

fn per_op(elapsed: Duration, ops: u64) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

/// The two runtimes, built once and reused by every case.
struct Runtimes {
    current: Runtime,
    multi: Runtime,
}

impl Runtimes {
    fn get(&self, flavor: Flavor) -> &Runtime {
        match flavor {
            Flavor::CurrentThread => &self.current,
            Flavor::MultiThread => &self.multi,
        }
    }
}

/// Runs the whole report. `allocated` reads the live bytes of the global allocator; without
/// it the memory scenario is left out. `progress` is told each finished row.
pub fn run(
    config: Config,
    allocated: Option<&dyn Fn() -> usize>,
    progress: &mut dyn FnMut(&Row),
) -> Report {
    let start = Instant::now();
    WATCHDOG.start();
    let sizes = Sizes::of(config);
    let rts = Runtimes {
        current: Flavor::CurrentThread.runtime(),
        multi: Flavor::MultiThread.runtime(),
    };
    let mut rows = Vec::new();
    let mut push = |new: Vec<Row>, rows: &mut Vec<Row>| {
        for row in new {
            progress(&row);
            rows.push(row);
        }
    };
    if config.runs(1) {
        push(launch_rows::<u64>(&rts, sizes), &mut rows);
        push(launch_rows::<String>(&rts, sizes), &mut rows);
    }
    if config.runs(2) {
        push(query_rows::<u64>(&rts, sizes), &mut rows);
        push(query_rows::<String>(&rts, sizes), &mut rows);
    }
    if config.runs(3) {
        push(contention_rows::<u64>(&rts, sizes), &mut rows);
        push(contention_rows::<String>(&rts, sizes), &mut rows);
    }
    if config.runs(4) {
        push(list_rows::<u64>(&rts, sizes), &mut rows);
        push(list_rows::<String>(&rts, sizes), &mut rows);
    }
    if config.runs(5) {
        push(revoke_rows::<u64>(&rts, sizes), &mut rows);
        push(revoke_rows::<String>(&rts, sizes), &mut rows);
    }
    if let (true, Some(allocated)) = (config.runs(6), allocated) {
        push(vec![memory_row::<String>(sizes, allocated)], &mut rows);
        push(vec![memory_row::<u64>(sizes, allocated)], &mut rows);
    }
    if config.runs(7) {
        push(macro_rows::<u64>(&rts, sizes), &mut rows);
        push(macro_rows::<String>(&rts, sizes), &mut rows);
    }
    WATCHDOG.idle();
    Report {
        rows,
        elapsed: start.elapsed(),
        config,
    }
}

fn launch_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        for n in sizes.launch {
            let launch = scenarios::launch_completion::<I, BareSpawn>;
            let tracker = scenarios::launch_completion::<I, Tracker>;
            let ours = scenarios::launch_completion_recorded::<I, ThisCrate<I>>;
            let v202 = scenarios::launch_completion_recorded::<I, V202<I>>;
            let map = scenarios::launch_completion_recorded::<I, SccMap<I>>;
            let mut runs: Vec<Run<'_>> = vec![
                (THIS, Box::new(move || per_op(run_on(rt, ours(n)), n))),
                ("2.0.2", Box::new(move || per_op(run_on(rt, v202(n)), n))),
                ("scc map", Box::new(move || per_op(run_on(rt, map(n)), n))),
                (
                    "tokio::spawn",
                    Box::new(move || per_op(run_on(rt, launch(n)), n)),
                ),
                (
                    "TaskTracker",
                    Box::new(move || per_op(run_on(rt, tracker(n)), n)),
                ),
            ];
            rows.push(measure(
                Scenario::Launch,
                I::NAME,
                Some(flavor),
                n,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}

/// One query competitor of one case.
fn query_run<'a, I: BenchId, Q: Lookup<I>>(
    rt: &'a Runtime,
    target: &Arc<Q>,
    keys: &Arc<Vec<I>>,
    queries: usize,
    drivers: usize,
    expected: State,
) -> Run<'a> {
    let target = Arc::clone(target);
    let keys = Arc::clone(keys);
    let run = move || {
        let (elapsed, matches) = run_on(
            rt,
            scenarios::query(
                Arc::clone(&target),
                Arc::clone(&keys),
                queries,
                drivers,
                expected,
            ),
        );
        assert_eq!(
            matches,
            queries / drivers * drivers,
            "{} answered wrong",
            Q::NAME
        );
        per_op(elapsed, (queries / drivers * drivers) as u64)
    };
    (Q::NAME, Box::new(run))
}

fn query_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let m = sizes.query_keys;
    let fill = |rt: &Runtime| {
        (
            Arc::new(run_on(rt, ThisCrate::<I>::with_successes(make_ids(0, m)))),
            Arc::new(run_on(rt, V202::<I>::with_successes(make_ids(0, m)))),
            Arc::new(run_on(rt, V202Quick::<I>::with_successes(make_ids(0, m)))),
            Arc::new(run_on(rt, SccMap::<I>::with_successes(make_ids(0, m)))),
            Arc::new(run_on(rt, RawRead::<I>::with_successes(make_ids(0, m)))),
        )
    };
    let (ours, v202, quick, map, raw) = fill(&rts.current);
    let hits: Arc<Vec<I>> = Arc::new(make_ids(0, m));
    let misses: Arc<Vec<I>> = Arc::new(make_ids(m, 2 * m));
    let mut rows = Vec::new();
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        let d = flavor.drivers();
        let q = sizes.queries;
        for (scenario, keys, expected) in [
            (Scenario::QueryHit, &hits, State::Success),
            (Scenario::QueryMiss, &misses, State::NotFound),
        ] {
            // 2.0.2's quick query answers `Working` for an id it does not know.
            let quick_expected = if expected == State::NotFound {
                State::Working
            } else {
                expected
            };
            let mut runs = vec![
                query_run(rt, &ours, keys, q, d, expected),
                query_run(rt, &v202, keys, q, d, expected),
                query_run(rt, &quick, keys, q, d, quick_expected),
                query_run(rt, &map, keys, q, d, expected),
                query_run(rt, &raw, keys, q, d, expected),
            ];
            rows.push(measure(
                scenario,
                I::NAME,
                Some(flavor),
                m,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}

fn contention_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    let l = sizes.contention;
    let ops = (l / 4 * 4) as u64;
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        for (scenario, distinct) in [(Scenario::ContentionOne, 1), (Scenario::ContentionFew, 16)] {
            let ours = scenarios::contention::<I, ThisCrate<I>>;
            let v202 = scenarios::contention::<I, V202<I>>;
            let map = scenarios::contention::<I, SccMap<I>>;
            let mut runs: Vec<Run<'_>> = vec![
                (
                    THIS,
                    Box::new(move || per_op(run_on(rt, ours(distinct, l)), ops)),
                ),
                (
                    "2.0.2",
                    Box::new(move || per_op(run_on(rt, v202(distinct, l)), ops)),
                ),
                (
                    "scc map",
                    Box::new(move || per_op(run_on(rt, map(distinct, l)), ops)),
                ),
            ];
            rows.push(measure(
                scenario,
                I::NAME,
                Some(flavor),
                ops,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}

/// One listing competitor of one case.
fn list_run<'a, I: BenchId, R: Recorder<I>>(
    rt: &'a Runtime,
    name: &'static str,
    recorder: &Arc<R>,
    state: State,
    expected: usize,
) -> Run<'a> {
    let recorder = Arc::clone(recorder);
    let run = move || {
        let (elapsed, listed) = run_on(rt, scenarios::list(Arc::clone(&recorder), state));
        assert_eq!(listed, expected, "{name} listed wrong");
        elapsed.as_nanos() as f64
    };
    (name, Box::new(run))
}

fn list_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let n = sizes.list_keys;
    let ours = Arc::new(ThisCrate::<I>(tasks_recorder::AsyncTasksRecorder::new()));
    let v202 = Arc::new(V202::<I>(async_tasks_recorder::AsyncTasksRecorder::new()));
    let map = Arc::new(SccMap::<I>(crate::scc_map::SccMapRecorder::new()));
    {
        let (ours, v202, map) = (Arc::clone(&ours), Arc::clone(&v202), Arc::clone(&map));
        run_on(&rts.current, async move {
            scenarios::fill_mixed(&*ours, n).await;
            scenarios::fill_mixed(&*v202, n).await;
            scenarios::fill_mixed(&*map, n).await;
        });
    }
    let mut rows = Vec::new();
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        for (scenario, state) in [
            (Scenario::ListSuccess, State::Success),
            (Scenario::ListFailed, State::Failed),
        ] {
            let expected = scenarios::mixed_count(n, state);
            let mut runs = vec![
                list_run(rt, THIS, &ours, state, expected),
                list_run(rt, "2.0.2", &v202, state, expected),
                list_run(rt, "scc map", &map, state, expected),
            ];
            rows.push(measure(
                scenario,
                I::NAME,
                Some(flavor),
                n,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}

fn revoke_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    let n = sizes.revoke;
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        let d = flavor.drivers();
        let ours = scenarios::revoke::<I, ThisCrate<I>>;
        let v202 = scenarios::revoke::<I, V202<I>>;
        let map = scenarios::revoke::<I, SccMap<I>>;
        let mut runs: Vec<Run<'_>> = vec![
            (THIS, Box::new(move || per_op(run_on(rt, ours(n, d)), n))),
            ("2.0.2", Box::new(move || per_op(run_on(rt, v202(n, d)), n))),
            (
                "scc map",
                Box::new(move || per_op(run_on(rt, map(n, d)), n)),
            ),
        ];
        rows.push(measure(
            Scenario::Revoke,
            I::NAME,
            Some(flavor),
            n,
            sizes.rounds,
            &mut runs,
        ));
    }
    rows
}

fn memory_row<I: BenchId>(sizes: Sizes, allocated: &dyn Fn() -> usize) -> Row {
    let n = sizes.memory;
    let mut runs: Vec<Run<'_>> = vec![
        (
            THIS,
            Box::new(move || scenarios::memory_per_record::<I, ThisCrate<I>>(n, allocated)),
        ),
        (
            "2.0.2",
            Box::new(move || scenarios::memory_per_record::<I, V202<I>>(n, allocated)),
        ),
        (
            "scc map",
            Box::new(move || scenarios::memory_per_record::<I, SccMap<I>>(n, allocated)),
        ),
    ];
    measure(Scenario::Memory, I::NAME, None, n, 1, &mut runs)
}

fn macro_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        for n in sizes.launch {
            let run = crate::recorded::launch_completion::<I>;
            let mut runs: Vec<Run<'_>> = vec![
                (THIS, Box::new(move || per_op(run_on(rt, run(n, true)), n))),
                (
                    "hand launch",
                    Box::new(move || per_op(run_on(rt, run(n, false)), n)),
                ),
            ];
            rows.push(measure(
                Scenario::Macro,
                I::NAME,
                Some(flavor),
                n,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}
