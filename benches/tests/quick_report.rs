//! Runs the whole report with `--quick` sizes, so `cargo test --workspace` exercises every
//! scenario and every competitor. Asserts what was measured, never how fast.
#![forbid(unsafe_code)]

use tasks_recorder_benches::report::{self, Config, Scenario};

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Catches a scenario or competitor that panics, hangs, answers wrong (each run checks its
/// answers) or drops out of the table, and a target line that loses its format.
#[test]
fn quick_report_runs_every_scenario_and_competitor() {
    let allocated = || ALLOCATOR.allocated();
    let mut seen = 0;
    let report = report::run(
        Config {
            quick: true,
            only: 0,
        },
        Some(&allocated),
        &mut |_| seen += 1,
    );
    assert_eq!(seen, report.rows.len());
    for scenario in [
        Scenario::Launch,
        Scenario::QueryHit,
        Scenario::QueryMiss,
        Scenario::ContentionOne,
        Scenario::ContentionFew,
        Scenario::ListSuccess,
        Scenario::ListFailed,
        Scenario::Revoke,
        Scenario::Memory,
        Scenario::Macro,
    ] {
        let rows: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.scenario == scenario)
            .collect();
        assert!(!rows.is_empty(), "{scenario:?} did not run");
        for row in rows {
            assert!(
                row.cells.len() >= 2,
                "{scenario:?} has no competitor: {row:?}"
            );
            for &(name, value) in &row.cells {
                assert!(value.is_finite() && value > 0.0, "{name} in {row:?}");
            }
        }
    }
    let table = report.table();
    for column in [
        "this crate",
        "2.0.2",
        "scc map",
        "tokio::spawn",
        "TaskTracker",
        "scc read",
    ] {
        assert!(table.contains(column), "no {column} column in\n{table}");
    }
    let lines = report.target_lines();
    let targets: Vec<_> = lines.lines().filter(|l| l.starts_with("target ")).collect();
    assert_eq!(targets.len(), report.targets().len());
    for line in targets {
        assert!(
            line.contains(": ratio ") && line.contains(" (goal "),
            "{line}"
        );
        assert!(line.ends_with(" PASS") || line.ends_with(" FAIL"), "{line}");
    }
}
