//! Timed runs: client tasks driving one operation, the launch and query runs of each
//! competitor, and the median of interleaved rounds.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::competitors::{PgLauncher, PgLookup};
use super::{Measure, Ratio};
use crate::report::WATCHDOG;

/// Runs `n` operations from `concurrency` client tasks, each taking the next index until
/// all are taken; returns the throughput and mean latency.
pub(super) async fn drive<F, Fut>(n: u64, concurrency: usize, op: F) -> Measure
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..(concurrency as u64).min(n) {
        let (op, next) = (op.clone(), Arc::clone(&next));
        clients.push(tokio::spawn(async move {
            let mut busy = Duration::ZERO;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return busy;
                }
                let began = Instant::now();
                op(i).await;
                busy += began.elapsed();
            }
        }));
    }
    let mut busy = Duration::ZERO;
    for client in clients {
        busy += client.await.expect("a client task panicked");
    }
    let elapsed = start.elapsed();
    Measure {
        per_op_ns: elapsed.as_nanos() as f64 / n as f64,
        latency_ns: busy.as_nanos() as f64 / n as f64,
    }
}

/// Ids no run has used: every run takes a new range.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(super) fn fresh_ids(n: u64) -> u64 {
    NEXT_ID.fetch_add(n, Ordering::Relaxed)
}

/// One run of launch-and-wait for `launcher`.
pub(super) async fn launch_run<L: PgLauncher>(
    launcher: Arc<L>,
    n: u64,
    concurrency: usize,
) -> Measure {
    launch_ids(launcher, fresh_ids(n), n, concurrency).await
}

/// Launches the ids `base..base + n` through `launcher` from `concurrency` clients.
async fn launch_ids<L: PgLauncher>(
    launcher: Arc<L>,
    base: u64,
    n: u64,
    concurrency: usize,
) -> Measure {
    let start = Instant::now();
    let each = Arc::clone(&launcher);
    let measure = drive(n, concurrency, move |i| {
        let launcher = Arc::clone(&each);
        async move { launcher.launch_and_wait(base + i).await }
    })
    .await;
    launcher.finish().await;
    Measure {
        per_op_ns: start.elapsed().as_nanos() as f64 / n as f64,
        ..measure
    }
}

/// Launches `n` fresh ids through `launcher` (1,000 at a time) until each has succeeded;
/// returns the first id (the ids are `first..first + n`).
pub(super) async fn fill<L: PgLauncher>(launcher: Arc<L>, n: u64) -> u64 {
    let first = fresh_ids(n);
    launch_ids(launcher, first, n, 1000).await;
    first
}

/// One run of queries of the succeeded ids `keys` for `lookup`.
pub(super) async fn query_run<Q: PgLookup>(
    lookup: Arc<Q>,
    keys: std::ops::Range<u64>,
    n: u64,
    drivers: usize,
) -> Measure {
    let wrong = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&wrong);
    let len = keys.end - keys.start;
    let measure = drive(n, drivers, move |i| {
        let (lookup, wrong) = (Arc::clone(&lookup), Arc::clone(&counted));
        // A stride through the keys, so that consecutive queries touch distant pages.
        let id = keys.start + (i * 7919) % len;
        async move {
            if !lookup.is_success(id).await {
                wrong.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await;
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "{} answered wrong",
        Q::NAME
    );
    measure
}

/// Each competitor's medians in one case.
pub(super) type Cells = Vec<(&'static str, Measure)>;

/// `PgRecorder`'s ratio to each other competitor in one case.
pub(super) type Ratios = Vec<(&'static str, Ratio)>;

/// One competitor's timed run in one case.
pub(super) type Run<'a> = (&'static str, Box<dyn FnMut() -> Measure + 'a>);

/// Runs every competitor once untimed (unless `rounds` is 1), then `rounds` times,
/// interleaved, the first one rotating each round; returns each one's medians, and the
/// medians of the rounds' ratios of the first competitor to each other one.
pub(super) fn medians(case: String, rounds: usize, runs: &mut [Run<'_>]) -> (Cells, Ratios) {
    WATCHDOG.case(case);
    let mut samples: Vec<Vec<Measure>> = vec![Vec::with_capacity(rounds); runs.len()];
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
    WATCHDOG.idle();
    let names: Vec<&'static str> = runs.iter().map(|(name, _)| *name).collect();
    summarize(&names, samples)
}

/// Each competitor's medians of `samples` (one per round, competitors in the order of
/// `names`), and the medians of the rounds' ratios of the first competitor to each other one.
fn summarize(names: &[&'static str], samples: Vec<Vec<Measure>>) -> (Cells, Ratios) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratios = names
        .iter()
        .zip(&samples)
        .skip(1)
        .map(|(name, theirs)| {
            let ours = &samples[0];
            let of = |f: fn(&Measure) -> f64| {
                median(ours.iter().zip(theirs).map(|(o, t)| f(o) / f(t)).collect())
            };
            (
                *name,
                Ratio {
                    per_op: of(|m| m.per_op_ns),
                    latency: of(|m| m.latency_ns),
                },
            )
        })
        .collect();
    let cells = names
        .iter()
        .zip(samples)
        .map(|(name, s)| {
            let per_op_ns = median(s.iter().map(|m| m.per_op_ns).collect());
            let latency_ns = median(s.iter().map(|m| m.latency_ns).collect());
            (
                *name,
                Measure {
                    per_op_ns,
                    latency_ns,
                },
            )
        })
        .collect();
    (cells, ratios)
}

/// An operation of one competitor for [`turns`]: `op(i)` runs the `i`th of a round.
pub(super) type Op = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// [`turns`]'s operation of `launcher`: a launch-and-wait of a fresh id.
pub(super) fn launch_op<L: PgLauncher>(launcher: Arc<L>) -> Op {
    Arc::new(move |_| {
        let launcher = Arc::clone(&launcher);
        Box::pin(async move { launcher.launch_and_wait(fresh_ids(1)).await })
    })
}

/// [`turns`]'s operation of `lookup`: the query of one of the succeeded ids `keys` (a
/// stride through them, as [`query_run`]'s), which must read succeeded.
pub(super) fn query_op<Q: PgLookup>(lookup: Arc<Q>, keys: std::ops::Range<u64>) -> Op {
    let len = keys.end - keys.start;
    Arc::new(move |i| {
        let lookup = Arc::clone(&lookup);
        let id = keys.start + (i * 7919) % len;
        Box::pin(async move { assert!(lookup.is_success(id).await, "{} answered wrong", Q::NAME) })
    })
}

/// Runs `rounds` rounds (after one untimed round, unless `rounds` is 1) of `n` operations of
/// each competitor from one client task, the competitors taking turns operation by operation,
/// the first one rotating; returns what [`medians`] returns, with each sample the mean time
/// of one operation. One operation at a time, the time of a round trip swings between two
/// levels for a second or so at a time (the client, the server and the VM's scheduling of two
/// shared cores), so runs that follow each other can see different machines: turns taken
/// within a run show every competitor the same one.
pub(super) fn turns(
    case: String,
    rounds: usize,
    n: u64,
    rt: &tokio::runtime::Runtime,
    ops: &[(&'static str, Op)],
) -> (Cells, Ratios) {
    WATCHDOG.case(case);
    let mut samples: Vec<Vec<Measure>> = vec![Vec::with_capacity(rounds); ops.len()];
    let warm_up = usize::from(rounds > 1);
    for round in 0..rounds + warm_up {
        WATCHDOG.beat(ops[0].0);
        let each: Vec<Op> = ops.iter().map(|(_, op)| Arc::clone(op)).collect();
        let client = rt.spawn(async move {
            let mut busy = vec![Duration::ZERO; each.len()];
            for i in 0..n {
                for k in 0..each.len() {
                    let which = (k + round + i as usize) % each.len();
                    let began = Instant::now();
                    each[which](i).await;
                    busy[which] += began.elapsed();
                }
            }
            busy
        });
        let busy = rt.block_on(client).expect("a client task panicked");
        if round < warm_up {
            continue;
        }
        for (sample, busy) in samples.iter_mut().zip(busy) {
            let ns = busy.as_nanos() as f64 / n as f64;
            sample.push(Measure {
                per_op_ns: ns,
                latency_ns: ns,
            });
        }
    }
    WATCHDOG.idle();
    let names: Vec<&'static str> = ops.iter().map(|(name, _)| *name).collect();
    summarize(&names, samples)
}
