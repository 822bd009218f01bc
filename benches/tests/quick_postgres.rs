//! Runs the PostgreSQL section of the report with `--quick` sizes on a throwaway cluster (or
//! `DATABASE_URL`), so `cargo test` exercises every PostgreSQL scenario and competitor.
//! Asserts what was measured, never how fast. Its own test binary, so that it never runs at
//! the same time as the in-memory quick report (whose memory scenario counts the process's
//! allocations).
#![forbid(unsafe_code)]

use tasks_recorder_benches::postgres::{self, pgbench, PgScenario};

/// Catches a PostgreSQL scenario or competitor that panics, hangs (the report's watchdog
/// ends the process), answers wrong (each run checks its answers), loses leases while tasks
/// run, or drops out of the table, and a target line that loses its format.
#[test]
fn quick_postgres_report_runs_every_scenario_and_competitor() {
    let mut seen = Vec::new();
    let report = postgres::run(true, postgres::PgParts::ALL, &mut |done| {
        seen.push(done.to_string())
    })
    .unwrap_or_else(|why| panic!("{why}"));
    for scenario in [
        PgScenario::Launch(1),
        PgScenario::Launch(64),
        PgScenario::Launch(1000),
        PgScenario::Query(1),
        PgScenario::Query(64),
    ] {
        let row = report
            .rows
            .iter()
            .find(|r| r.scenario == scenario)
            .unwrap_or_else(|| panic!("{scenario:?} did not run"));
        // The recorder, its competitor, and at 64 and 1000 concurrent launches the no-wait
        // diagnostic (one at a time, competitors take turns and it is left out).
        let expected = match scenario {
            PgScenario::Launch(1) | PgScenario::Query(_) => 2,
            PgScenario::Launch(_) => 3,
        };
        assert_eq!(row.cells.len(), expected, "{row:?}");
        assert_eq!(row.ratios.len(), expected - 1, "{row:?}");
        for (name, r) in &row.ratios {
            for value in [r.per_op, r.latency] {
                assert!(value.is_finite() && value > 0.0, "{name} in {row:?}");
            }
        }
        for (name, m) in &row.cells {
            for value in [m.per_op_ns, m.latency_ns] {
                assert!(value.is_finite() && value > 0.0, "{name} in {row:?}");
            }
        }
    }
    // The counting proxy needs a TCP server: always so for the throwaway cluster.
    let counted = report.throwaway || !report.wire.is_empty();
    if counted {
        assert_eq!(report.wire.len(), 3, "one counted run per concurrency");
    }
    for wire in &report.wire {
        let claims: u64 = wire
            .counts
            .iter()
            .filter(|(label, _)| {
                matches!(
                    label.as_str(),
                    "recorder CLAIM (batch)" | "recorder CLAIM_ONE" | "recorder CLAIM_NEW"
                )
            })
            .map(|(_, t)| t.count)
            .sum();
        assert!(
            claims >= 1 && claims <= wire.tasks,
            "the proxy counted {claims} claims for {} tasks: {:?}",
            wire.tasks,
            wire.counts
        );
    }
    if report.throwaway && pgbench::find().is_some() {
        let bench = report.pgbench.as_ref().expect("pgbench ran");
        assert!(bench.tps.is_finite() && bench.tps > 0.0, "{bench:?}");
    }
    if counted {
        let renewal = report
            .renewal
            .as_ref()
            .unwrap_or_else(|why| panic!("lease renewal: {why}"));
        assert!(renewal.window.as_secs_f64() > 0.0);
    }
    let table = report.table();
    for column in [
        "PgRecorder",
        "hand-written baseline",
        "primary-key SELECT",
        "no wait",
    ] {
        assert!(table.contains(column), "no {column} column in\n{table}");
    }
    let lines = report.target_lines();
    let targets: Vec<_> = lines.lines().filter(|l| l.starts_with("target ")).collect();
    assert_eq!(targets.len(), report.targets().len());
    for line in targets {
        assert!(
            (line.contains(": ratio ") || line.contains(": value ")) && line.contains(" (goal "),
            "{line}"
        );
        assert!(line.ends_with(" PASS") || line.ends_with(" FAIL"), "{line}");
    }
    assert!(seen.len() >= 8, "progress was told {seen:?}");
}
