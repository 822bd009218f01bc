//! `cargo run --release -p tasks-recorder-benches --bin report [-- --quick]`: runs every
//! scenario for every competitor, interleaved, and prints the table and the target lines.
#![forbid(unsafe_code)]

use tasks_recorder_benches::report::{self, Config};

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn main() {
    let mut config = Config::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => config.quick = true,
            "-h" | "--help" => {
                println!("usage: report [--quick]");
                return;
            }
            other => {
                eprintln!("unknown argument {other:?}; usage: report [--quick]");
                std::process::exit(2);
            }
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
