//! One scenario, one competitor, one run on the current-thread runtime: for profilers.
//!
//! `profile <launch|macro|query-hit|query-miss|contention|list-failed> <this|this-timed|timeout|rate|child|retry|202|map|spawn|tracker|hand|raw> <u64|String> <n>`
//!
//! Run it under `valgrind --tool=callgrind` at two sizes and subtract: the difference divided
//! by the difference of sizes is the instructions per operation, without the setup.
#![forbid(unsafe_code)]

use std::sync::Arc;

use tasks_recorder_benches::competitors::{
    BareSpawn, Child, Lookup, RateLimited, RawRead, Recorder, Retrying, SccMap, State, ThisCrate,
    Tracker, WithTimeout, V202,
};
use tasks_recorder_benches::ids::{make_ids, BenchId};
use tasks_recorder_benches::recorded;
use tasks_recorder_benches::scenarios::{self, run_on, Flavor};

fn query<I: BenchId, Q: Lookup<I>>(n: u64, hit: bool) {
    let rt = Flavor::CurrentThread.runtime();
    // A fixed table of 1000 ids; `n` queries.
    let target = Arc::new(run_on(&rt, Q::with_successes(make_ids(0, 1000))));
    let (keys, expected) = if hit {
        (make_ids(0, 1000), State::Success)
    } else {
        (make_ids(1000, 2000), State::NotFound)
    };
    let (_, matches) = run_on(
        &rt,
        scenarios::query(target, Arc::new(keys), n as usize, 1, expected),
    );
    assert_eq!(matches, n as usize);
}

fn list<I: BenchId, R: Recorder<I>>(n: u64) {
    let rt = Flavor::CurrentThread.runtime();
    let recorder = Arc::new(R::create());
    let filled = Arc::clone(&recorder);
    run_on(&rt, async move { scenarios::fill_mixed(&*filled, n).await });
    run_on(&rt, scenarios::list(recorder, State::Failed));
}

fn with_ids<I: BenchId>(scenario: &str, competitor: &str, n: u64) {
    // A timeout needs the runtime's time driver; `this-timed` is the plain launch on the same
    // runtime, to compare it with.
    let rt = match competitor {
        "timeout" | "this-timed" | "rate" => tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime"),
        _ => Flavor::CurrentThread.runtime(),
    };
    match (scenario, competitor) {
        ("launch", "this") => drop(run_on(
            &rt,
            scenarios::launch_completion::<I, ThisCrate<I>>(n),
        )),
        ("launch", "this-timed") => drop(run_on(
            &rt,
            scenarios::launch_completion::<I, ThisCrate<I>>(n),
        )),
        ("launch", "timeout") => drop(run_on(
            &rt,
            scenarios::launch_completion::<I, WithTimeout<I>>(n),
        )),
        ("launch", "child") => drop(run_on(&rt, scenarios::launch_completion::<I, Child<I>>(n))),
        ("launch", "rate") => drop(run_on(
            &rt,
            scenarios::launch_completion::<I, RateLimited<I>>(n),
        )),
        ("launch", "retry") => drop(run_on(
            &rt,
            scenarios::launch_completion::<I, Retrying<I>>(n),
        )),
        ("launch", "202") => drop(run_on(&rt, scenarios::launch_completion::<I, V202<I>>(n))),
        ("launch", "map") => drop(run_on(&rt, scenarios::launch_completion::<I, SccMap<I>>(n))),
        ("launch", "spawn") => drop(run_on(&rt, scenarios::launch_completion::<I, BareSpawn>(n))),
        ("launch", "tracker") => drop(run_on(&rt, scenarios::launch_completion::<I, Tracker>(n))),
        ("macro", "this") => drop(run_on(&rt, recorded::launch_completion::<I>(n, true))),
        ("macro", "hand") => drop(run_on(&rt, recorded::launch_completion::<I>(n, false))),
        ("query-hit" | "query-miss", c) => {
            let hit = scenario == "query-hit";
            match c {
                "this" => query::<I, ThisCrate<I>>(n, hit),
                "202" => query::<I, V202<I>>(n, hit),
                "map" => query::<I, SccMap<I>>(n, hit),
                "raw" => query::<I, RawRead<I>>(n, hit),
                _ => usage(),
            }
        }
        ("contention", "this") => drop(run_on(
            &rt,
            scenarios::contention::<I, ThisCrate<I>>(1, n as usize),
        )),
        ("contention", "202") => drop(run_on(
            &rt,
            scenarios::contention::<I, V202<I>>(1, n as usize),
        )),
        ("contention", "map") => drop(run_on(
            &rt,
            scenarios::contention::<I, SccMap<I>>(1, n as usize),
        )),
        ("list-failed", "this") => list::<I, ThisCrate<I>>(n),
        ("list-failed", "202") => list::<I, V202<I>>(n),
        ("list-failed", "map") => list::<I, SccMap<I>>(n),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: profile <launch|macro|query-hit|query-miss|contention|list-failed> \
         <this|this-timed|timeout|rate|child|retry|202|map|spawn|tracker|hand|raw> <u64|String> <n>"
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [scenario, competitor, ids, n] = args.as_slice() else {
        usage()
    };
    let n: u64 = n.parse().unwrap_or_else(|_| usage());
    match ids.as_str() {
        "u64" => with_ids::<u64>(scenario, competitor, n),
        "String" => with_ids::<String>(scenario, competitor, n),
        _ => usage(),
    }
}
