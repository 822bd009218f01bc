//! How a [`PgReport`] reads: its targets, their lines, and its Markdown table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::proxy::Tally;
use super::results::{BASELINE, NO_WAIT, PK_SELECT, RECORDER};
use super::{Goal, Measure, PgReport, PgRow, PgScenario, PgTarget, Ratio, Renewal};

impl PgReport {
    fn row(&self, scenario: PgScenario) -> Option<&PgRow> {
        self.rows.iter().find(|r| r.scenario == scenario)
    }

    /// The targets of the issue.
    pub fn targets(&self) -> Vec<PgTarget> {
        let launch = |c: usize| -> Option<(Measure, Ratio)> {
            let row = self.row(PgScenario::Launch(c))?;
            Some((row.value(RECORDER)?, row.ratio(BASELINE)?))
        };
        let query_ratio = self
            .rows
            .iter()
            .filter(|r| matches!(r.scenario, PgScenario::Query(_)))
            .filter_map(|r| {
                let ratio = r.ratio(PK_SELECT)?;
                // Sequentially the latency; concurrently the time per query (1 / throughput).
                Some(match r.scenario {
                    PgScenario::Query(1) => ratio.latency,
                    _ => ratio.per_op,
                })
            })
            .max_by(f64::total_cmp);
        vec![
            PgTarget {
                name: "pg_launch_1000_vs_baseline",
                what: "ratio",
                value: launch(1000).map(|(_, ratio)| 1.0 / ratio.per_op),
                goal: 3.0,
                compare: Goal::AtLeast,
            },
            PgTarget {
                name: "pg_launch_1000_vs_pgbench",
                what: "ratio",
                value: match (&self.pgbench, launch(1000)) {
                    (Ok(bench), Some((ours, _))) => Some(ours.per_second() / bench.tps),
                    _ => None,
                },
                goal: 1.0,
                compare: Goal::Above,
            },
            PgTarget {
                name: "pg_launch_1_latency_vs_baseline",
                what: "ratio",
                value: launch(1).map(|(_, ratio)| ratio.latency),
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
            "(launch_1000: PgRecorder's tasks/s ÷ the baseline's, and ÷ pgbench's TPS, at 1000 \
             concurrent launches; launch_1_latency: PgRecorder's launch-and-wait latency ÷ the \
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
            let ratio = match (row.scenario, row.ratio(BASELINE).or(row.ratio(PK_SELECT))) {
                (PgScenario::Launch(_), Some(r)) => {
                    format!("{:.2}x tasks/s, {:.2}x latency", 1.0 / r.per_op, r.latency)
                }
                (PgScenario::Query(_), Some(r)) => format!(
                    "{:.2}x latency, {:.2}x queries/s",
                    r.latency,
                    1.0 / r.per_op
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} × {} | {} | {} | {} | {ratio} | {} |",
                row.scenario.name(),
                row.n,
                row.rounds,
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
