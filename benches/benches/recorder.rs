//! The criterion suite: `cargo bench -p tasks-recorder-benches [-- <filter>]`.
//!
//! The same scenarios as the `report` binary (at 10k tasks / records), each competitor its own
//! benchmark, for `u64` and `String` ids on both runtime flavors. Criterion times one
//! operation of the scenario: per task, per query, per launch, per listing, per revoke. The
//! memory scenario needs a counting allocator and is only in the `report` binary.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tokio::runtime::Runtime;

use tasks_recorder_benches::competitors::{
    BareSpawn, Launcher, Lookup, RawRead, Recorder, SccMap, State, ThisCrate, Tracker, V202Quick,
    V202,
};
use tasks_recorder_benches::ids::{make_ids, BenchId};
use tasks_recorder_benches::recorded;
use tasks_recorder_benches::scenarios::{self, run_on, Flavor};

const TASKS: u64 = 10_000;
const KEYS: u64 = 10_000;
const QUERIES: usize = 20_000;
const LAUNCHES: usize = 4_000;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Times `iters` runs of a scenario: criterion divides by its throughput (ops per run).
fn timed(iters: u64, mut one: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| one()).sum()
}

fn group<'a>(c: &'a mut Criterion, name: String, ops: u64) -> Group<'a> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(ops));
    group
}

fn launch_recorder<I: BenchId, R: Recorder<I>>(g: &mut Group<'_>, rt: &Runtime) {
    g.bench_function(R::NAME, |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                run_on(rt, scenarios::launch_completion_recorded::<I, R>(TASKS))
            })
        })
    });
}

fn launch_bare<I: BenchId, L: Launcher<I>>(g: &mut Group<'_>, rt: &Runtime) {
    g.bench_function(L::NAME, |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                run_on(rt, scenarios::launch_completion::<I, L>(TASKS))
            })
        })
    });
}

fn query_one<I: BenchId, Q: Lookup<I>>(
    g: &mut Group<'_>,
    rt: &Runtime,
    flavor: Flavor,
    keys: &Arc<Vec<I>>,
    expected: State,
) {
    let target = Arc::new(run_on(rt, Q::with_successes(make_ids(0, KEYS))));
    g.bench_function(Q::NAME, |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let (target, keys) = (Arc::clone(&target), Arc::clone(keys));
                let drivers = flavor.drivers();
                run_on(
                    rt,
                    scenarios::query(target, keys, QUERIES, drivers, expected),
                )
                .0
            })
        })
    });
}

fn recorder_ones<I: BenchId, R: Recorder<I>>(
    c: &mut Criterion,
    rt: &Runtime,
    flavor: Flavor,
    what: &str,
) {
    let case = format!("{}/{}/{}", I::NAME, flavor.name(), R::NAME);
    match what {
        "contention" => {
            for distinct in [1, 16] {
                let mut g = group(
                    c,
                    format!("3 contention {distinct} ids/{case}"),
                    LAUNCHES as u64,
                );
                g.bench_function("launch", |b| {
                    b.iter_custom(|iters| {
                        timed(iters, || {
                            run_on(rt, scenarios::contention::<I, R>(distinct, LAUNCHES))
                        })
                    })
                });
            }
        }
        "list" => {
            let recorder = Arc::new(R::create());
            let filled = Arc::clone(&recorder);
            run_on(
                rt,
                async move { scenarios::fill_mixed(&*filled, KEYS).await },
            );
            for state in [State::Success, State::Failed] {
                let mut g = group(c, format!("4 list {state:?}/{case}"), 1);
                g.bench_function("listing", |b| {
                    b.iter_custom(|iters| {
                        timed(iters, || {
                            run_on(rt, scenarios::list(Arc::clone(&recorder), state)).0
                        })
                    })
                });
            }
        }
        _ => {
            let mut g = group(c, format!("5 revoke/{case}"), KEYS);
            g.bench_function("revoke", |b| {
                b.iter_custom(|iters| {
                    timed(iters, || {
                        run_on(rt, scenarios::revoke::<I, R>(KEYS, flavor.drivers()))
                    })
                })
            });
        }
    }
}

fn for_ids<I: BenchId>(c: &mut Criterion) {
    for flavor in Flavor::ALL {
        let rt = flavor.runtime();
        let rt = &rt;
        let case = format!("{}/{}", I::NAME, flavor.name());

        let mut g = group(c, format!("1 launch+completion/{case}"), TASKS);
        launch_recorder::<I, ThisCrate<I>>(&mut g, rt);
        launch_recorder::<I, V202<I>>(&mut g, rt);
        launch_recorder::<I, SccMap<I>>(&mut g, rt);
        launch_bare::<I, BareSpawn>(&mut g, rt);
        launch_bare::<I, Tracker>(&mut g, rt);
        g.finish();

        let hits: Arc<Vec<I>> = Arc::new(make_ids(0, KEYS));
        let misses: Arc<Vec<I>> = Arc::new(make_ids(KEYS, 2 * KEYS));
        for (what, keys, expected) in [
            ("hit", &hits, State::Success),
            ("miss", &misses, State::NotFound),
        ] {
            let mut g = group(
                c,
                format!("2 query {what}/{case}"),
                (QUERIES / flavor.drivers() * flavor.drivers()) as u64,
            );
            query_one::<I, ThisCrate<I>>(&mut g, rt, flavor, keys, expected);
            query_one::<I, V202<I>>(&mut g, rt, flavor, keys, expected);
            let quick_expected = if expected == State::NotFound {
                State::Working
            } else {
                expected
            };
            query_one::<I, V202Quick<I>>(&mut g, rt, flavor, keys, quick_expected);
            query_one::<I, SccMap<I>>(&mut g, rt, flavor, keys, expected);
            query_one::<I, RawRead<I>>(&mut g, rt, flavor, keys, expected);
            g.finish();
        }

        for what in ["contention", "list", "revoke"] {
            recorder_ones::<I, ThisCrate<I>>(c, rt, flavor, what);
            recorder_ones::<I, V202<I>>(c, rt, flavor, what);
            recorder_ones::<I, SccMap<I>>(c, rt, flavor, what);
        }

        let mut g = group(c, format!("7 recorded_task/{case}"), TASKS);
        for (name, macro_path) in [("#[recorded_task]", true), ("hand launch", false)] {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    timed(iters, || {
                        run_on(rt, recorded::launch_completion::<I>(TASKS, macro_path))
                    })
                })
            });
        }
        g.finish();
    }
}

fn benches(c: &mut Criterion) {
    for_ids::<u64>(c);
    for_ids::<String>(c);
}

criterion_group!(recorder, benches);
criterion_main!(recorder);
