//! `cargo run --release -p tasks-recorder-benches --bin report [-- --quick] [--only 1,2,...]
//! [--postgres | --no-postgres] [--pg-only launch-1,query,...]`: runs every scenario for every competitor, interleaved, and
//! prints the tables and the target lines: first the in-memory recorder's (scenarios 1 to 7),
//! then the PostgreSQL recorder's (scenario 8, on a throwaway server).
#![forbid(unsafe_code)]

use tasks_recorder_benches::postgres::{self, PgParts};
use tasks_recorder_benches::report::{self, Config};

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

const USAGE: &str = "usage: report [--quick] [--only 1,2,...] [--postgres | --no-postgres]
              [--pg-only launch-1,launch-64,launch-1000,query,pgbench,renewal]
  --quick        tiny sizes, a few seconds
  --only         run only these scenarios (1 launch, 2 query, 3 contention, 4 listing, 5 revoke,
                 6 memory, 7 #[recorded_task], 8 PostgreSQL)
  --postgres     only the PostgreSQL section (same as --only 8): PgRecorder against a
                 hand-written baseline, a primary-key SELECT and pgbench, on a throwaway
                 server (PgCluster; DATABASE_URL names an existing one instead)
  --no-postgres  every scenario but the PostgreSQL section (same as --only 1,2,3,4,5,6,7)
  --pg-only      only these parts of the PostgreSQL section (and adds the section to
                 what --only selects)";

const POSTGRES: u8 = 8;

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\n{USAGE}");
    std::process::exit(2);
}

fn main() {
    let mut config = Config::default();
    let mut parts = PgParts::ALL;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => config.quick = true,
            "--only" => {
                let list = args.next().unwrap_or_default();
                for k in list.split(',') {
                    match k.trim().parse::<u8>() {
                        Ok(k @ 1..=POSTGRES) => config.only |= 1 << k,
                        _ => usage(&format!("--only takes scenario numbers 1 to 8, not {k:?}")),
                    }
                }
            }
            "--postgres" => config.only |= 1 << POSTGRES,
            "--no-postgres" => config.only |= 0b1111_1110,
            "--pg-only" => {
                let list = args.next().unwrap_or_default();
                parts = PgParts::parse(&list).unwrap_or_else(|unknown| {
                    usage(&format!(
                        "--pg-only takes {}, not {unknown:?}",
                        PgParts::NAMES.join(", ")
                    ))
                });
                config.only |= 1 << POSTGRES;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if (1..POSTGRES).any(|k| config.runs(k)) {
        in_memory(config);
    }
    if config.runs(POSTGRES) {
        in_postgres(config, parts);
    }
}

/// Scenarios 1 to 7: the in-memory recorder.
fn in_memory(config: Config) {
    let allocated = || ALLOCATOR.allocated();
    let report = report::run(config, Some(&allocated), &mut |row| {
        eprintln!(
            "done: {:?} {} {:?} n={}",
            row.scenario, row.ids, row.flavor, row.size
        );
    });
    println!("{}", report.table());
    println!(
        "ratio = this crate ÷ that competitor (below 1: this crate is cheaper); medians of {} \
         interleaved rounds; report took {:.1} s{}",
        if config.quick { 3 } else { 5 },
        report.elapsed.as_secs_f64(),
        if config.quick { " (--quick sizes)" } else { "" },
    );
    println!();
    print!("{}", report.target_lines());
}

/// Scenario 8: the PostgreSQL recorder. A server that cannot be started is reported, not a
/// failure of the report.
fn in_postgres(config: Config, parts: PgParts) {
    println!("\n## PostgreSQL recorder\n");
    let start = std::time::Instant::now();
    let mut progress = |done: &str| {
        eprintln!(
            "done: postgres: {done} ({:.1} s)",
            start.elapsed().as_secs_f64()
        );
    };
    match postgres::run(config.quick, parts, &mut progress) {
        Ok(report) => {
            print!("{}", report.table());
            println!(
                "\nn × rounds: each competitor's runs; cells are the medians of the interleaved \
                 rounds{}, ratios the medians of the rounds' own ratios; fresh ids every run; \
                 the PostgreSQL section took {:.1} s{}",
                if report.quick {
                    ""
                } else {
                    " after one warm-up run each"
                },
                report.elapsed.as_secs_f64(),
                if report.quick { " (--quick sizes)" } else { "" },
            );
            println!();
            print!("{}", report.target_lines());
        }
        Err(why) => println!("PostgreSQL section not run: {why}"),
    }
}
