//! One timed run of one scenario for one competitor. Each function sets up outside the timed
//! section (fresh recorder, ids made in advance), times only the operations it is about, and
//! checks the outcome outside the timed section.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::Notify;

use crate::competitors::{Launcher, Lookup, Recorder, State};
use crate::ids::{make_ids, BenchId};

/// The tokio runtime flavor a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `new_current_thread`: one thread runs the driver and every task.
    CurrentThread,
    /// `new_multi_thread` with 2 worker threads; the driver runs as a task on a worker.
    MultiThread,
}

impl Flavor {
    /// Both flavors.
    pub const ALL: [Flavor; 2] = [Flavor::CurrentThread, Flavor::MultiThread];

    /// How the report names the flavor.
    pub const fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current",
            Flavor::MultiThread => "multi(2)",
        }
    }

    /// How many driver tasks a scenario that can drive concurrently uses.
    pub const fn drivers(self) -> usize {
        match self {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => 2,
        }
    }

    /// A new runtime of this flavor.
    pub fn runtime(self) -> Runtime {
        match self {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread().build(),
            Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build(),
        }
        .expect("a tokio runtime")
    }
}

/// Runs `driver` as a task on `rt` (on a worker thread of a multi-thread runtime) and returns
/// its output.
pub fn run_on<F>(rt: &Runtime, driver: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async {
        tokio::spawn(driver)
            .await
            .expect("the driver task panicked")
    })
}

/// The completion signal every launched task uses, whatever launched it: an atomic
/// countdown, and a `Notify` when it reaches zero.
#[derive(Debug)]
pub struct Countdown {
    remaining: AtomicUsize,
    zero: Notify,
}

impl Countdown {
    /// A countdown from `n`.
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(Countdown {
            remaining: AtomicUsize::new(n),
            zero: Notify::new(),
        })
    }

    /// One task done.
    pub fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.zero.notify_one();
        }
    }

    /// Waits until every task is done.
    pub async fn wait(&self) {
        while self.remaining.load(Ordering::Acquire) != 0 {
            self.zero.notified().await;
        }
    }
}

/// Scenario 1 for any launcher: launches `n` tasks under distinct ids, then waits until every
/// task body has run. Returns the elapsed time and the launcher (dropped by the caller, outside
/// the timed section).
pub async fn launch_all<I: BenchId, L: Launcher<I>>(n: u64) -> (Duration, L) {
    let ids: Vec<I> = make_ids(0, n);
    let launcher = L::create();
    let done = Countdown::new(ids.len());
    let start = Instant::now();
    for id in ids {
        let done = Arc::clone(&done);
        let task = async move {
            done.count_down();
            Ok(())
        };
        assert!(launcher.launch(id, task).await, "a fresh id was refused");
    }
    launcher.finish().await;
    done.wait().await;
    (start.elapsed(), launcher)
}

/// Scenario 1 for a launcher that records nothing (`tokio::spawn`, `TaskTracker`).
pub async fn launch_completion<I: BenchId, L: Launcher<I>>(n: u64) -> Duration {
    launch_all::<I, L>(n).await.0
}

/// Scenario 1 for a recorder: [`launch_all`], then checks (untimed) that every id reads
/// `Success`. The settle of the last tasks may still be running on the other worker when the
/// countdown reaches zero: the check waits for it.
pub async fn launch_completion_recorded<I: BenchId, R: Recorder<I>>(n: u64) -> Duration {
    let (elapsed, recorder) = launch_all::<I, R>(n).await;
    for i in 0..n {
        let id = I::make(i);
        let mut tries = 0;
        while recorder.query(&id).await != State::Success {
            tries += 1;
            assert!(tries < 100_000, "{id:?} never read Success");
            tokio::task::yield_now().await;
        }
    }
    elapsed
}

/// Scenario 2: `queries` lookups of `keys` (visited in a scrambled order) split over `drivers`
/// concurrent tasks. Returns the elapsed time and how many answers were `expected`.
pub async fn query<I: BenchId, Q: Lookup<I>>(
    target: Arc<Q>,
    keys: Arc<Vec<I>>,
    queries: usize,
    drivers: usize,
    expected: State,
) -> (Duration, usize) {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(drivers);
    for d in 0..drivers {
        let target = Arc::clone(&target);
        let keys = Arc::clone(&keys);
        let share = queries / drivers;
        handles.push(tokio::spawn(async move {
            let mut matches = 0;
            let len = keys.len();
            // Keys sit in the map in hash order, so walking them in order is a random walk
            // through the table; each driver starts at its own offset.
            let mut at = (d * len) / drivers;
            for _ in 0..share {
                at = if at + 1 == len { 0 } else { at + 1 };
                if target.lookup(&keys[at]).await == expected {
                    matches += 1;
                }
            }
            matches
        }));
    }
    let mut matches = 0;
    for handle in handles {
        matches += handle.await.expect("a query driver panicked");
    }
    (start.elapsed(), matches)
}

/// Scenario 3: `launches` launches racing for `distinct` ids, from 4 driver tasks that yield
/// every 16 launches (so the winning tasks run and their ids turn `Success`). Returns the
/// elapsed time.
pub async fn contention<I: BenchId, R: Recorder<I>>(distinct: u64, launches: usize) -> Duration {
    const DRIVERS: usize = 4;
    let recorder = Arc::new(R::create());
    let keys: Arc<Vec<I>> = Arc::new(make_ids(0, distinct));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(DRIVERS);
    for d in 0..DRIVERS {
        let recorder = Arc::clone(&recorder);
        let keys = Arc::clone(&keys);
        handles.push(tokio::spawn(async move {
            let mut launched = 0_usize;
            for j in 0..launches / DRIVERS {
                let id = keys[(j + d) % keys.len()].clone();
                if recorder.launch(id, async { Ok(()) }).await {
                    launched += 1;
                }
                if j % 16 == 15 {
                    tokio::task::yield_now().await;
                }
            }
            launched
        }));
    }
    let mut launched = 0;
    for handle in handles {
        launched += handle.await.expect("a launch driver panicked");
    }
    let elapsed = start.elapsed();
    assert!(
        launched >= 1 && launched as u64 <= distinct,
        "{launched} launches won for {distinct} ids"
    );
    elapsed
}

/// Fills `recorder` with `n` ids (`launch_block`): every tenth id `Failed`, the others
/// `Success`.
pub async fn fill_mixed<I: BenchId, R: Recorder<I>>(recorder: &R, n: u64) {
    for i in 0..n {
        let ok = i % 10 != 0;
        let task = async move {
            if ok {
                Ok(())
            } else {
                Err(())
            }
        };
        assert!(recorder.launch_block(I::make(i), task).await);
    }
}

/// How many of `n` ids [`fill_mixed`] leaves in `state`.
pub fn mixed_count(n: u64, state: State) -> usize {
    let failed = n.div_ceil(10) as usize;
    match state {
        State::Failed => failed,
        State::Success => n as usize - failed,
        _ => 0,
    }
}

/// Scenario 4: lists every id in `state`. Returns the elapsed time and how many were listed.
pub async fn list<I: BenchId, R: Recorder<I>>(recorder: Arc<R>, state: State) -> (Duration, usize) {
    let start = Instant::now();
    let ids = recorder.list(state).await;
    let elapsed = start.elapsed();
    (elapsed, ids.len())
}

/// Scenario 5: revokes `n` succeeded ids, split over `drivers` concurrent tasks. Returns the
/// elapsed time.
pub async fn revoke<I: BenchId, R: Recorder<I>>(n: u64, drivers: usize) -> Duration {
    let recorder = Arc::new(R::create());
    crate::competitors::fill_successes(&*recorder, make_ids(0, n)).await;
    let shares: Vec<Vec<I>> = (0..drivers as u64)
        .map(|d| {
            (0..n)
                .filter(|i| i % drivers as u64 == d)
                .map(I::make)
                .collect()
        })
        .collect();
    let start = Instant::now();
    let mut handles = Vec::with_capacity(drivers);
    for share in shares {
        let recorder = Arc::clone(&recorder);
        handles.push(tokio::spawn(async move {
            let mut revoked = 0_u64;
            for id in share {
                if recorder.revoke(id).await {
                    revoked += 1;
                }
            }
            revoked
        }));
    }
    let mut revoked = 0;
    for handle in handles {
        revoked += handle.await.expect("a revoke driver panicked");
    }
    let elapsed = start.elapsed();
    assert_eq!(revoked, n, "every succeeded id is revoked");
    elapsed
}

/// Scenario 6: the bytes held per succeeded id by a recorder of `n` ids (`launch_block`),
/// ids' own heap included, as counted by `allocated` (the global allocator's live bytes).
///
/// `scc` frees replaced bucket arrays later, through epoch-based reclamation: before counting,
/// queries run (each one a chance for the thread to reclaim) until the count stops falling, so
/// what is counted is what the recorder holds, not garbage waiting to be freed. Every
/// competitor gets the same treatment.
pub fn memory_per_record<I: BenchId, R: Recorder<I>>(n: u64, allocated: &dyn Fn() -> usize) -> f64 {
    let rt = Flavor::CurrentThread.runtime();
    rt.block_on(async {
        let before = allocated();
        let recorder = R::create();
        for i in 0..n {
            assert!(recorder.launch_block(I::make(i), async { Ok(()) }).await);
        }
        let mut held = allocated();
        let mut steady = 0;
        for round in 0..64 {
            for i in 0..1024 {
                let id = I::make((round * 1024 + i) % n);
                assert_eq!(recorder.query(&id).await, State::Success);
            }
            let now = allocated();
            if now < held {
                held = now;
                steady = 0;
            } else {
                steady += 1;
                if steady == 4 {
                    break;
                }
            }
        }
        let per = (held as f64 - before as f64) / n as f64;
        drop(recorder);
        per
    })
}
