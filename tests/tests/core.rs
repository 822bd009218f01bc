//! The core guarantees of the recorder, each on the current-thread and the multi-thread
//! runtime. Every test says which bug it would catch.
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::within;

use tasks_recorder::{AsyncTasksRecorder, RevokeFailReason, TaskState};
use tokio::sync::oneshot;

on_both_runtimes!(
    racing_launches_succeed_at_most_once,
    launch_is_visible_when_it_returns,
    failed_id_can_be_launched_again,
    relaunch_of_succeeded_id_stays_success,
    panicking_task_is_recorded_failed,
    refused_revoke_leaves_nothing_behind,
    dropped_launch_block_is_not_left_working,
    dropped_revoke_is_not_left_revoking,
    revoke_error_keeps_success,
    revoke_makes_id_launchable_again,
    concurrent_revokes_run_at_most_one,
    success_reads_success_until_revoked,
    listing_reports_each_state,
    borrowed_queries_work_for_string_ids,
    stress_random_failures_retries_and_revokes,
    panicking_clone_of_the_id_leaves_nothing_working,
    panicking_hash_at_completion_hangs_neither_wait_nor_shutdown,
);

/// Asserts that a launch was accepted (its `Err` holds a future, which has no `Debug`).
trait Launched {
    fn launched(self, what: &str);
}

impl<F> Launched for Result<(), (TaskState, F)> {
    fn launched(self, what: &str) {
        if let Err((state, _)) = self {
            panic!("{what}: refused as {state}");
        }
    }
}

/// Waits until `id` is no longer `Working`, yielding between reads.
async fn settled(recorder: &AsyncTasksRecorder<u64>, id: u64) -> TaskState {
    within("task never settled", async {
        loop {
            match recorder.query_task_state(&id).await {
                TaskState::Working => tokio::task::yield_now().await,
                state => return state,
            }
        }
    })
    .await
}

/// Catches a recorder that lets two racing launches of one id both run (2.0.2 checked
/// "working" and "success" in separate steps).
async fn racing_launches_succeed_at_most_once() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut launches = Vec::new();
    for _ in 0..200 {
        let recorder = recorder.clone();
        let runs = Arc::clone(&runs);
        launches.push(tokio::spawn(async move {
            let task = async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok::<_, ()>(())
            };
            recorder.launch(7, task).await.is_ok()
        }));
    }
    let mut accepted = 0;
    for launch in launches {
        accepted += usize::from(launch.await.expect("launch task panicked"));
    }
    assert_eq!(settled(&recorder, 7).await, TaskState::Success);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the id ran more than once");
    assert_eq!(accepted, 1);
}

/// Catches a launch that returns before the id's record says `Working` (a query in between
/// would read `NotFound` or the previous `Failed`).
async fn launch_is_visible_when_it_returns() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (release, released) = oneshot::channel::<()>();
    recorder
        .launch(1, async move { released.await.map_err(drop) })
        .await
        .launched("fresh id launches");
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
    assert_eq!(
        recorder.query_task_state_quick(&1).await,
        TaskState::Working
    );

    recorder
        .launch_block(2, async { Err::<(), _>("no") })
        .await
        .launched("fresh id launches");
    assert_eq!(recorder.query_task_state(&2).await, TaskState::Failed);
    let (_hold, held) = oneshot::channel::<()>();
    recorder
        .launch(2, async move { held.await.map_err(drop) })
        .await
        .launched("failed id relaunches");
    assert_eq!(recorder.query_task_state(&2).await, TaskState::Working);

    release.send(()).expect("task is waiting");
    assert_eq!(settled(&recorder, 1).await, TaskState::Success);
}

/// Catches a recorder that refuses to retry a failed id.
async fn failed_id_can_be_launched_again() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    recorder
        .launch(3, async { Err::<(), _>(()) })
        .await
        .launched("launches");
    assert_eq!(settled(&recorder, 3).await, TaskState::Failed);
    recorder
        .launch(3, async { Ok::<_, ()>(()) })
        .await
        .launched("relaunches");
    assert_eq!(settled(&recorder, 3).await, TaskState::Success);
}

/// Catches 2.0.2's bug: a launch of a succeeded id inserted it into the working set and
/// returned, leaving it `Working` forever.
async fn relaunch_of_succeeded_id_stays_success() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    recorder
        .launch_block(4, async { Ok::<_, ()>(()) })
        .await
        .launched("launches");
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ran);
    let refused = recorder
        .launch(4, async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(())
        })
        .await;
    let (state, unused) = refused.expect_err("a succeeded id is refused");
    assert_eq!(state, TaskState::Success);
    assert_eq!(recorder.query_task_state(&4).await, TaskState::Success);
    assert_eq!(recorder.count_in_state(TaskState::Working).await, 0);
    drop(unused);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a refused future must not run"
    );
    let (state, _) = recorder
        .launch_block(4, async { Ok::<_, ()>(()) })
        .await
        .expect_err("refused again");
    assert_eq!(state, TaskState::Success);
}

/// Catches 2.0.2's bug: a task that panics stayed `Working` forever.
async fn panicking_task_is_recorded_failed() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    recorder
        .launch(5, async {
            if true {
                panic!("task 5 exploded (expected by the test)");
            }
            Ok::<_, ()>(())
        })
        .await
        .launched("launches");
    assert_eq!(settled(&recorder, 5).await, TaskState::Failed);

    let inline = recorder.clone();
    let panicked = tokio::spawn(async move {
        inline
            .launch_block(6, async {
                if true {
                    panic!("task 6 exploded (expected by the test)");
                }
                Ok::<_, ()>(())
            })
            .await
    })
    .await;
    assert!(panicked.is_err(), "launch_block passes the panic on");
    assert_eq!(recorder.query_task_state(&6).await, TaskState::Failed);
    // The runtime still runs tasks, and the ids can be retried.
    recorder
        .launch_block(5, async { Ok::<_, ()>(()) })
        .await
        .launched("retry");
    assert_eq!(recorder.query_task_state(&5).await, TaskState::Success);
}

/// Catches 2.0.2's bug: a revoke refused because the id had not succeeded still marked it
/// "revoking", so every later revoke answered `Revoking`.
async fn refused_revoke_leaves_nothing_behind() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let undo = || async { Ok::<_, ()>(()) };
    // Never launched.
    assert!(matches!(
        recorder.revoke_task_block(8, undo()).await,
        Err(RevokeFailReason::NotSuccess(_))
    ));
    // Working.
    let (release, released) = oneshot::channel::<()>();
    recorder
        .launch(8, async move { released.await.map_err(drop) })
        .await
        .launched("launches");
    assert!(matches!(
        recorder.revoke_task_block(8, undo()).await,
        Err(RevokeFailReason::NotSuccess(_))
    ));
    release.send(()).expect("task waits");
    assert_eq!(settled(&recorder, 8).await, TaskState::Success);
    // Failed.
    recorder
        .launch_block(9, async { Err::<(), _>(()) })
        .await
        .launched("launches");
    assert!(matches!(
        recorder.revoke_task_block(9, undo()).await,
        Err(RevokeFailReason::NotSuccess(_))
    ));
    // The earlier refusals left no mark: the succeeded id revokes.
    assert_eq!(recorder.revoke_task_block(8, undo()).await.ok(), Some(()));
    assert_eq!(recorder.query_task_state(&8).await, TaskState::NotFound);
    assert_eq!(recorder.query_task_state(&9).await, TaskState::Failed);
}

/// Catches 2.0.2's bug: dropping a `launch_block` future half way (a timeout, a `select!`)
/// left the id `Working` forever.
async fn dropped_launch_block_is_not_left_working() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (started, on_start) = oneshot::channel::<()>();
    let block = recorder.launch_block(10, async move {
        started.send(()).expect("test listens");
        std::future::pending::<Result<(), ()>>().await
    });
    tokio::select! {
        _ = block => unreachable!("the task never finishes"),
        _ = on_start => {}
    }
    assert_eq!(recorder.query_task_state(&10).await, TaskState::Failed);
    recorder
        .launch_block(10, async { Ok::<_, ()>(()) })
        .await
        .launched("relaunch");
    assert_eq!(recorder.query_task_state(&10).await, TaskState::Success);
}

/// Catches a revoke that, dropped half way, leaves the id "revoking" forever (every later
/// revoke refused) or removes it although the undo never finished.
async fn dropped_revoke_is_not_left_revoking() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    recorder
        .launch_block(11, async { Ok::<_, ()>(()) })
        .await
        .launched("launches");
    let (started, on_start) = oneshot::channel::<()>();
    let revoke = recorder.revoke_task_block(11, async move {
        started.send(()).expect("test listens");
        std::future::pending::<Result<(), ()>>().await
    });
    tokio::select! {
        _ = revoke => unreachable!("the revoke never finishes"),
        _ = on_start => {}
    }
    assert_eq!(recorder.query_task_state(&11).await, TaskState::Success);
    assert_eq!(
        recorder
            .revoke_task_block(11, async { Ok::<_, ()>(42) })
            .await
            .ok(),
        Some(42)
    );
    assert_eq!(recorder.query_task_state(&11).await, TaskState::NotFound);
}

/// Catches a failed revoke that removes the success or leaves a mark.
async fn revoke_error_keeps_success() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    recorder
        .launch_block(12, async { Ok::<_, ()>(()) })
        .await
        .launched("launches");
    match recorder
        .revoke_task_block(12, async { Err::<(), _>("disk busy") })
        .await
    {
        Err(RevokeFailReason::RevokeTaskError(e)) => assert_eq!(e, "disk busy"),
        other => panic!("unexpected revoke result, ok = {}", other.is_ok()),
    }
    assert_eq!(recorder.query_task_state(&12).await, TaskState::Success);
    assert!(recorder
        .revoke_task_block(12, async { Ok::<_, ()>(()) })
        .await
        .is_ok());
}

/// Catches a revoked id that cannot be launched again, or that keeps a stale record.
async fn revoke_makes_id_launchable_again() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    recorder
        .launch_block(13, async { Ok::<_, ()>(()) })
        .await
        .launched("launches");
    assert!(recorder
        .revoke_task_block(13, async { Ok::<_, ()>(()) })
        .await
        .is_ok());
    assert!(recorder.is_empty());
    recorder
        .launch_block(13, async { Ok::<_, ()>(()) })
        .await
        .launched("launches again");
    assert_eq!(recorder.query_task_state(&13).await, TaskState::Success);
}

/// Catches two revokes of one id running at once, and a launch slipping in during a revoke.
async fn concurrent_revokes_run_at_most_one() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    recorder
        .launch_block(14, async { Ok::<_, ()>(()) })
        .await
        .launched("launches");
    let (release, released) = oneshot::channel::<()>();
    let (started, on_start) = oneshot::channel::<()>();
    let first = {
        let recorder = recorder.clone();
        tokio::spawn(async move {
            recorder
                .revoke_task_block(14, async move {
                    started.send(()).expect("test listens");
                    released.await.map_err(drop)
                })
                .await
                .is_ok()
        })
    };
    on_start.await.expect("revoke started");
    assert!(matches!(
        recorder
            .revoke_task_block(14, async { Ok::<_, ()>(()) })
            .await,
        Err(RevokeFailReason::Revoking(_))
    ));
    // While revoking the id still reads Success and cannot be launched.
    assert_eq!(recorder.query_task_state(&14).await, TaskState::Success);
    let (state, _) = recorder
        .launch(14, async { Ok::<_, ()>(()) })
        .await
        .expect_err("no launch while revoking");
    assert_eq!(state, TaskState::Success);
    release.send(()).expect("revoke waits");
    assert!(within("revoke", first).await.expect("revoke task"));
    assert_eq!(recorder.query_task_state(&14).await, TaskState::NotFound);
}

/// Catches a query that, while launches and failed revokes race on a succeeded id, reads
/// anything but `Success` (2.0.2's multi-set reads could see an id "between" sets).
async fn success_reads_success_until_revoked() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    recorder
        .launch_block(15, async { Ok::<_, ()>(()) })
        .await
        .launched("launches");
    let mut noise = Vec::new();
    for _ in 0..4 {
        let recorder = recorder.clone();
        noise.push(tokio::spawn(async move {
            for _ in 0..200 {
                let _ = recorder.launch(15, async { Ok::<_, ()>(()) }).await;
                let _ = recorder
                    .revoke_task_block(15, async { Err::<(), _>(()) })
                    .await;
                tokio::task::yield_now().await;
            }
        }));
    }
    for _ in 0..2_000 {
        assert_eq!(recorder.query_task_state(&15).await, TaskState::Success);
        assert_eq!(
            recorder.query_task_state_quick(&15).await,
            TaskState::Success
        );
        tokio::task::yield_now().await;
    }
    for task in noise {
        within("noise", task).await.expect("noise task");
    }
}

/// Catches listing that misreports revoking ids or counts ids in the wrong state.
async fn listing_reports_each_state() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    for id in 0..30u64 {
        recorder
            .launch_block(id, async move {
                if id % 3 == 0 {
                    Err(())
                } else {
                    Ok(())
                }
            })
            .await
            .launched("launches");
    }
    let (_hold, held) = oneshot::channel::<()>();
    recorder
        .launch(100, async move { held.await.map_err(drop) })
        .await
        .launched("launches");
    let mut failed = recorder.ids_in_state(TaskState::Failed).await;
    failed.sort_unstable();
    assert_eq!(failed, (0..30).filter(|id| id % 3 == 0).collect::<Vec<_>>());
    assert_eq!(recorder.count_in_state(TaskState::Success).await, 20);
    assert_eq!(recorder.ids_in_state(TaskState::Working).await, vec![100]);
    assert_eq!(recorder.count_in_state(TaskState::NotFound).await, 0);
    let mut seen = 0;
    let visited = recorder
        .for_each_in_state(TaskState::Success, |id| {
            assert_ne!(id % 3, 0);
            seen += 1;
        })
        .await;
    assert_eq!((seen, visited), (20, 20));
    assert_eq!(recorder.len(), 31);
}

/// Catches an API that forces callers to allocate a `String` to query a `String` id.
async fn borrowed_queries_work_for_string_ids() {
    let recorder: AsyncTasksRecorder<String> = AsyncTasksRecorder::default();
    recorder
        .launch_block("upload-1".to_string(), async { Ok::<_, ()>(()) })
        .await
        .launched("launches");
    assert_eq!(
        recorder.query_task_state("upload-1").await,
        TaskState::Success
    );
    assert_eq!(
        recorder.query_task_state("upload-2").await,
        TaskState::NotFound
    );
    assert!(format!("{recorder:?}").contains("AsyncTasksRecorder"));
}

/// Catches any lost or doubled success under load: thousands of ids, racing launches with
/// random failures and retries, and revokes; per id, successes must equal revokes plus one if
/// the id ends `Success`, and no id may end `Working`.
async fn stress_random_failures_retries_and_revokes() {
    const IDS: u64 = 2_000;
    const WORKERS: u64 = 8;
    let recorder = AsyncTasksRecorder::<u64>::new();
    let successes: Arc<Vec<AtomicUsize>> =
        Arc::new((0..IDS).map(|_| AtomicUsize::new(0)).collect());
    let revokes: Arc<Vec<AtomicUsize>> = Arc::new((0..IDS).map(|_| AtomicUsize::new(0)).collect());
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let recorder = recorder.clone();
        let successes = Arc::clone(&successes);
        let revokes = Arc::clone(&revokes);
        workers.push(tokio::spawn(async move {
            // A cheap deterministic sequence per worker (splitmix-style mixing).
            let mut seed = worker.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            for _ in 0..3_000 {
                let roll = next();
                let id = roll % IDS;
                match (roll >> 20) % 10 {
                    0 => {
                        let revokes = Arc::clone(&revokes);
                        let _ = recorder
                            .revoke_task_block(id, async move {
                                revokes[id as usize].fetch_add(1, Ordering::SeqCst);
                                Ok::<_, ()>(())
                            })
                            .await;
                    }
                    1 => {
                        // A revoke that fails changes nothing.
                        let _ = recorder
                            .revoke_task_block(id, async { Err::<(), _>(()) })
                            .await;
                    }
                    roll_kind => {
                        let fail = roll_kind % 3 == 0;
                        let successes = Arc::clone(&successes);
                        let task = async move {
                            tokio::task::yield_now().await;
                            if fail {
                                return Err(());
                            }
                            successes[id as usize].fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        };
                        let _ = if roll_kind % 2 == 0 {
                            recorder.launch(id, task).await
                        } else {
                            recorder.launch_block(id, task).await
                        };
                    }
                }
            }
        }));
    }
    for worker in workers {
        within("stress worker", worker)
            .await
            .expect("worker panicked");
    }
    for id in 0..IDS {
        let state = settled(&recorder, id).await;
        let ok = successes[id as usize].load(Ordering::SeqCst);
        let undone = revokes[id as usize].load(Ordering::SeqCst);
        let now = usize::from(state == TaskState::Success);
        assert_eq!(
            ok,
            undone + now,
            "id {id}: {ok} successes, {undone} revokes, now {state}"
        );
    }
}

/// Catches a launch outside a tokio runtime that panics after marking the id `Working`,
/// leaving it stuck there.
#[test]
fn launch_outside_a_runtime_panics_without_leaving_working() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::task::Poll;

    let recorder = AsyncTasksRecorder::<u64>::new();
    let launched = catch_unwind(AssertUnwindSafe(|| {
        let launch = std::pin::pin!(recorder.launch(1, async { Ok::<_, ()>(()) }));
        support::poll_once(launch)
    }));
    assert!(
        launched.is_err(),
        "no runtime: launch panics like tokio::spawn"
    );
    let query = std::pin::pin!(recorder.query_task_state(&1));
    assert_eq!(support::poll_once(query), Poll::Ready(TaskState::Failed));
}

/// An id whose `Clone` or `Hash` panics while its switch says so: user code that the
/// recorder runs on its own paths.
#[derive(Debug)]
struct Touchy {
    id: u64,
    panics: Arc<AtomicUsize>,
}

/// Switch values of [`Touchy`].
const NOTHING_PANICS: usize = 0;
const CLONE_PANICS: usize = 1;
const HASH_PANICS: usize = 2;

impl Touchy {
    fn new(id: u64, panics: &Arc<AtomicUsize>) -> Self {
        Touchy {
            id,
            panics: Arc::clone(panics),
        }
    }

    fn check(&self, what: usize) {
        if self.panics.load(Ordering::SeqCst) == what {
            panic!("{}", support::TASK_PANIC);
        }
    }
}

impl Clone for Touchy {
    fn clone(&self) -> Self {
        self.check(CLONE_PANICS);
        Touchy::new(self.id, &self.panics)
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Touchy {}

impl std::hash::Hash for Touchy {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.check(HASH_PANICS);
        self.id.hash(state);
    }
}

/// Catches a launch that stores the `Working` record before it clones the id: a panicking
/// `Clone` then left the id `Working` forever (relaunches refused, `shutdown` returning with
/// the id still `Working`).
async fn panicking_clone_of_the_id_leaves_nothing_working() {
    support::quiet_task_panics();
    let switch = Arc::new(AtomicUsize::new(CLONE_PANICS));
    let recorder = AsyncTasksRecorder::<Touchy>::new();
    let launch = tokio::spawn({
        let (recorder, id) = (recorder.clone(), Touchy::new(1, &switch));
        async move {
            let _ = recorder.launch(id, async { Ok::<_, ()>(()) }).await;
        }
    });
    assert!(within("launch", launch)
        .await
        .expect_err("it panicked")
        .is_panic());
    switch.store(NOTHING_PANICS, Ordering::SeqCst);
    let id = Touchy::new(1, &switch);
    assert_eq!(recorder.query_task_state(&id).await, TaskState::NotFound);
    assert_eq!(recorder.counters().launched_total, 0);
    assert_eq!(recorder.running(), 0);
    recorder
        .launch_block(id.clone(), async { Ok::<_, ()>(()) })
        .await
        .launched("a launch after the panicking one");
    assert_eq!(recorder.query_task_state(&id).await, TaskState::Success);
    within("shutdown", recorder.shutdown()).await;
}

/// Catches a `Hash` that panics when the task completes and hangs `wait` or `shutdown`: the
/// record cannot be found to settle it, and is left `Working` (documented), but whoever
/// waits for the attempt is woken, and `shutdown` returns.
async fn panicking_hash_at_completion_hangs_neither_wait_nor_shutdown() {
    support::quiet_task_panics();
    let switch = Arc::new(AtomicUsize::new(NOTHING_PANICS));
    let recorder = AsyncTasksRecorder::<Touchy>::new();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let task = async move {
        released.await.map_err(|_| ())?;
        Ok::<_, ()>(())
    };
    recorder
        .launch(Touchy::new(7, &switch), task)
        .await
        .launched("the launch");
    let id = Touchy::new(7, &switch);
    let mut waiting = std::pin::pin!(recorder.wait(&id));
    assert!(support::poll_once(waiting.as_mut()).is_pending());
    switch.store(HASH_PANICS, Ordering::SeqCst);
    release.send(()).expect("the task waits");
    assert_eq!(within("wait", waiting).await, TaskState::Working);
    within("shutdown", recorder.shutdown()).await;
    switch.store(NOTHING_PANICS, Ordering::SeqCst);
    assert_eq!(recorder.running(), 0);
}
