//! What the PostgreSQL section measured: its rows (one case, every competitor's median), the
//! statements counted at the wire, and the targets checked on them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::proxy::Tally;
use super::{pgbench, Renewal};

/// Which scenario a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgScenario {
    /// Launch-and-wait from this many concurrent clients.
    Launch(usize),
    /// Queries of succeeded ids from this many concurrent drivers.
    Query(usize),
}

impl PgScenario {
    pub(super) fn name(self) -> String {
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
    /// Timed runs of each competitor.
    pub rounds: usize,
    /// Each competitor's medians.
    pub cells: Vec<(&'static str, Measure)>,
    /// `PgRecorder` against each other competitor: the medians of the rounds' ratios.
    pub ratios: Vec<(&'static str, Ratio)>,
}

/// `PgRecorder`'s run ÷ a competitor's run of the same round; the median of the rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// Of the time per operation (the inverse of the throughput ratio).
    pub per_op: f64,
    /// Of the mean latency of one operation.
    pub latency: f64,
}

impl PgRow {
    /// The medians of competitor `name`.
    pub fn value(&self, name: &str) -> Option<Measure> {
        self.cells.iter().find(|(n, _)| *n == name).map(|&(_, m)| m)
    }

    /// `PgRecorder` against competitor `name`.
    pub fn ratio(&self, name: &str) -> Option<Ratio> {
        self.ratios
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, r)| r)
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
    /// Whether it ran with `--quick` sizes.
    pub quick: bool,
    /// How long the section took.
    pub elapsed: Duration,
}

pub(super) const RECORDER: &str = "PgRecorder";
pub(super) const BASELINE: &str = "baseline";
pub(super) const PK_SELECT: &str = "PK SELECT";
pub(super) const NO_WAIT: &str = "PgRecorder, no wait";
