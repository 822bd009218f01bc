//! Timing: every competitor's median over interleaved rounds, and the runtimes the cases run
//! on.

use std::time::Duration;

use tokio::runtime::Runtime;

use crate::scenarios::Flavor;

use super::{Row, Scenario, WATCHDOG};

/// One competitor's timed run in one case: returns its measure (ns per op, or bytes).
pub(super) type Run<'a> = (&'static str, Box<dyn FnMut() -> f64 + 'a>);

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
pub(super) fn measure(
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

pub(super) fn per_op(elapsed: Duration, ops: u64) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

/// The two runtimes, built once and reused by every case.
pub(super) struct Runtimes {
    pub(super) current: Runtime,
    pub(super) multi: Runtime,
}

impl Runtimes {
    pub(super) fn get(&self, flavor: Flavor) -> &Runtime {
        match flavor {
            Flavor::CurrentThread => &self.current,
            Flavor::MultiThread => &self.multi,
        }
    }
}
