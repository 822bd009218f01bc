//! The comparison the `report` binary prints: every scenario for every competitor, run
//! interleaved (A B C A B C ..., the first competitor rotating each round) in one process,
//! with the median of several rounds per cell, and ratios against this crate.

mod measure;
mod results;
mod rows;
mod watchdog;

use std::time::Instant;

pub use results::{Report, Row, Scenario, Target};
pub(crate) use watchdog::WATCHDOG;

use crate::scenarios::Flavor;
use measure::Runtimes;
use rows::{
    contention_rows, launch_rows, list_rows, macro_rows, memory_row, query_rows, revoke_rows,
};

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
