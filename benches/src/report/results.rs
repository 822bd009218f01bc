//! What a report holds: its rows (one case, every competitor's median), the targets checked
//! on them, and the Markdown table and target lines it prints.

use std::fmt::Write as _;
use std::time::Duration;

use crate::ids::BenchId;
use crate::scenarios::Flavor;

use super::Config;

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
    pub(super) fn name(self) -> &'static str {
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

    pub(super) fn case(&self) -> String {
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

pub(super) const THIS: &str = "this crate";
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
