//! One function per scenario: its cases, each measured for every competitor into a row.

use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::competitors::{
    BareSpawn, Lookup, RawRead, Recorder, SccMap, State, ThisCrate, Tracker, V202Quick, V202,
};
use crate::ids::{make_ids, BenchId};
use crate::scenarios::{self, run_on, Flavor};

use super::measure::{measure, per_op, Run, Runtimes};
use super::results::THIS;
use super::{Row, Scenario, Sizes};

pub(super) fn launch_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        for n in sizes.launch {
            let launch = scenarios::launch_completion::<I, BareSpawn>;
            let tracker = scenarios::launch_completion::<I, Tracker>;
            let ours = scenarios::launch_completion_recorded::<I, ThisCrate<I>>;
            let v202 = scenarios::launch_completion_recorded::<I, V202<I>>;
            let map = scenarios::launch_completion_recorded::<I, SccMap<I>>;
            let mut runs: Vec<Run<'_>> = vec![
                (THIS, Box::new(move || per_op(run_on(rt, ours(n)), n))),
                ("2.0.2", Box::new(move || per_op(run_on(rt, v202(n)), n))),
                ("scc map", Box::new(move || per_op(run_on(rt, map(n)), n))),
                (
                    "tokio::spawn",
                    Box::new(move || per_op(run_on(rt, launch(n)), n)),
                ),
                (
                    "TaskTracker",
                    Box::new(move || per_op(run_on(rt, tracker(n)), n)),
                ),
            ];
            rows.push(measure(
                Scenario::Launch,
                I::NAME,
                Some(flavor),
                n,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}

/// One query competitor of one case.
fn query_run<'a, I: BenchId, Q: Lookup<I>>(
    rt: &'a Runtime,
    target: &Arc<Q>,
    keys: &Arc<Vec<I>>,
    queries: usize,
    drivers: usize,
    expected: State,
) -> Run<'a> {
    let target = Arc::clone(target);
    let keys = Arc::clone(keys);
    let run = move || {
        let (elapsed, matches) = run_on(
            rt,
            scenarios::query(
                Arc::clone(&target),
                Arc::clone(&keys),
                queries,
                drivers,
                expected,
            ),
        );
        assert_eq!(
            matches,
            queries / drivers * drivers,
            "{} answered wrong",
            Q::NAME
        );
        per_op(elapsed, (queries / drivers * drivers) as u64)
    };
    (Q::NAME, Box::new(run))
}

pub(super) fn query_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let m = sizes.query_keys;
    let fill = |rt: &Runtime| {
        (
            Arc::new(run_on(rt, ThisCrate::<I>::with_successes(make_ids(0, m)))),
            Arc::new(run_on(rt, V202::<I>::with_successes(make_ids(0, m)))),
            Arc::new(run_on(rt, V202Quick::<I>::with_successes(make_ids(0, m)))),
            Arc::new(run_on(rt, SccMap::<I>::with_successes(make_ids(0, m)))),
            Arc::new(run_on(rt, RawRead::<I>::with_successes(make_ids(0, m)))),
        )
    };
    let (ours, v202, quick, map, raw) = fill(&rts.current);
    let hits: Arc<Vec<I>> = Arc::new(make_ids(0, m));
    let misses: Arc<Vec<I>> = Arc::new(make_ids(m, 2 * m));
    let mut rows = Vec::new();
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        let d = flavor.drivers();
        let q = sizes.queries;
        for (scenario, keys, expected) in [
            (Scenario::QueryHit, &hits, State::Success),
            (Scenario::QueryMiss, &misses, State::NotFound),
        ] {
            // 2.0.2's quick query answers `Working` for an id it does not know.
            let quick_expected = if expected == State::NotFound {
                State::Working
            } else {
                expected
            };
            let mut runs = vec![
                query_run(rt, &ours, keys, q, d, expected),
                query_run(rt, &v202, keys, q, d, expected),
                query_run(rt, &quick, keys, q, d, quick_expected),
                query_run(rt, &map, keys, q, d, expected),
                query_run(rt, &raw, keys, q, d, expected),
            ];
            rows.push(measure(
                scenario,
                I::NAME,
                Some(flavor),
                m,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}

pub(super) fn contention_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    let l = sizes.contention;
    let ops = (l / 4 * 4) as u64;
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        for (scenario, distinct) in [(Scenario::ContentionOne, 1), (Scenario::ContentionFew, 16)] {
            let ours = scenarios::contention::<I, ThisCrate<I>>;
            let v202 = scenarios::contention::<I, V202<I>>;
            let map = scenarios::contention::<I, SccMap<I>>;
            let mut runs: Vec<Run<'_>> = vec![
                (
                    THIS,
                    Box::new(move || per_op(run_on(rt, ours(distinct, l)), ops)),
                ),
                (
                    "2.0.2",
                    Box::new(move || per_op(run_on(rt, v202(distinct, l)), ops)),
                ),
                (
                    "scc map",
                    Box::new(move || per_op(run_on(rt, map(distinct, l)), ops)),
                ),
            ];
            rows.push(measure(
                scenario,
                I::NAME,
                Some(flavor),
                ops,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}

/// One listing competitor of one case.
fn list_run<'a, I: BenchId, R: Recorder<I>>(
    rt: &'a Runtime,
    name: &'static str,
    recorder: &Arc<R>,
    state: State,
    expected: usize,
) -> Run<'a> {
    let recorder = Arc::clone(recorder);
    let run = move || {
        let (elapsed, listed) = run_on(rt, scenarios::list(Arc::clone(&recorder), state));
        assert_eq!(listed, expected, "{name} listed wrong");
        elapsed.as_nanos() as f64
    };
    (name, Box::new(run))
}

pub(super) fn list_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let n = sizes.list_keys;
    let ours = Arc::new(ThisCrate::<I>(tasks_recorder::AsyncTasksRecorder::new()));
    let v202 = Arc::new(V202::<I>(async_tasks_recorder::AsyncTasksRecorder::new()));
    let map = Arc::new(SccMap::<I>(crate::scc_map::SccMapRecorder::new()));
    {
        let (ours, v202, map) = (Arc::clone(&ours), Arc::clone(&v202), Arc::clone(&map));
        run_on(&rts.current, async move {
            scenarios::fill_mixed(&*ours, n).await;
            scenarios::fill_mixed(&*v202, n).await;
            scenarios::fill_mixed(&*map, n).await;
        });
    }
    let mut rows = Vec::new();
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        for (scenario, state) in [
            (Scenario::ListSuccess, State::Success),
            (Scenario::ListFailed, State::Failed),
        ] {
            let expected = scenarios::mixed_count(n, state);
            let mut runs = vec![
                list_run(rt, THIS, &ours, state, expected),
                list_run(rt, "2.0.2", &v202, state, expected),
                list_run(rt, "scc map", &map, state, expected),
            ];
            rows.push(measure(
                scenario,
                I::NAME,
                Some(flavor),
                n,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}

pub(super) fn revoke_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    let n = sizes.revoke;
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        let d = flavor.drivers();
        let ours = scenarios::revoke::<I, ThisCrate<I>>;
        let v202 = scenarios::revoke::<I, V202<I>>;
        let map = scenarios::revoke::<I, SccMap<I>>;
        let mut runs: Vec<Run<'_>> = vec![
            (THIS, Box::new(move || per_op(run_on(rt, ours(n, d)), n))),
            ("2.0.2", Box::new(move || per_op(run_on(rt, v202(n, d)), n))),
            (
                "scc map",
                Box::new(move || per_op(run_on(rt, map(n, d)), n)),
            ),
        ];
        rows.push(measure(
            Scenario::Revoke,
            I::NAME,
            Some(flavor),
            n,
            sizes.rounds,
            &mut runs,
        ));
    }
    rows
}

pub(super) fn memory_row<I: BenchId>(sizes: Sizes, allocated: &dyn Fn() -> usize) -> Row {
    let n = sizes.memory;
    let mut runs: Vec<Run<'_>> = vec![
        (
            THIS,
            Box::new(move || scenarios::memory_per_record::<I, ThisCrate<I>>(n, allocated)),
        ),
        (
            "2.0.2",
            Box::new(move || scenarios::memory_per_record::<I, V202<I>>(n, allocated)),
        ),
        (
            "scc map",
            Box::new(move || scenarios::memory_per_record::<I, SccMap<I>>(n, allocated)),
        ),
    ];
    measure(Scenario::Memory, I::NAME, None, n, 1, &mut runs)
}

pub(super) fn macro_rows<I: BenchId>(rts: &Runtimes, sizes: Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    for flavor in Flavor::ALL {
        let rt = rts.get(flavor);
        for n in sizes.launch {
            let run = crate::recorded::launch_completion::<I>;
            let mut runs: Vec<Run<'_>> = vec![
                (THIS, Box::new(move || per_op(run_on(rt, run(n, true)), n))),
                (
                    "hand launch",
                    Box::new(move || per_op(run_on(rt, run(n, false)), n)),
                ),
            ];
            rows.push(measure(
                Scenario::Macro,
                I::NAME,
                Some(flavor),
                n,
                sizes.rounds,
                &mut runs,
            ));
        }
    }
    rows
}
