//! `cargo run --release -p tasks-recorder-benches --bin report [-- --quick]`: runs every
//! scenario for every competitor, interleaved, and prints the table and the target lines.
#![forbid(unsafe_code)]

use tasks_recorder_benches::report::{self, Config};

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

const USAGE: &str = "usage: report [--quick] [--only 1,2,...]\n  --quick  tiny sizes, a few seconds\n  --only   run only these scenarios (1 launch, 2 query, 3 contention, 4 listing, 5 revoke,\n           6 memory, 7 #[recorded_task])";

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\n{USAGE}");
    std::process::exit(2);
}

fn main() {
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => config.quick = true,
            "--only" => {
                let list = args.next().unwrap_or_default();
                for k in list.split(',') {
                    match k.trim().parse::<u8>() {
                        Ok(k @ 1..=7) => config.only |= 1 << k,
                        _ => usage(&format!("--only takes scenario numbers 1 to 7, not {k:?}")),
                    }
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
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
