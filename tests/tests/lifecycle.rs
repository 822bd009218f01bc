//! Lifecycle control: waiting by id, cancellation, cancellation tokens, graceful shutdown and
//! the concurrency limit, each on the current-thread and the multi-thread runtime. Every test
//! says which bug it would catch. No sleep synchronises anything: channels, `Notify` and
//! paused time do; timeouts only detect a stuck test.
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{gated, within};

use tasks_recorder::{AsyncTasksRecorder, LaunchError, TaskState};
use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;

on_both_runtimes!(
    wait_returns_at_once_when_not_running,
    wait_wakes_on_every_kind_of_end,
    wait_never_misses_a_fast_finish,
    cancel_stops_a_spawned_task_and_allows_relaunch,
    cancel_stops_a_launch_block,
    cancel_of_an_idle_id_changes_nothing,
    cancelled_success_is_never_hidden,
    token_closes_and_cancels_every_task,
    child_tokens_cancel_a_hierarchy,
    closed_recorder_refuses_launches_with_the_future,
    shutdown_waits_for_running_tasks,
    shutdown_with_grace_cancels_the_rest,
    concurrency_limit_is_never_exceeded,
    tasks_waiting_for_the_limit_can_be_cancelled,
    dropped_wait_and_shutdown_leave_nothing_behind,
    cancels_racing_launches_keep_at_most_once,
    token_stops_a_launch_block_too,
    waiting_for_its_own_id_fails_clearly,
    shutdown_from_its_own_task_fails_clearly,
    shutdown_with_grace_from_its_own_task_ends,
);

fn accepted<F>(result: Result<(), (TaskState, F)>) {
    if let Err((state, _)) = result {
        panic!("launch refused as {state}");
    }
}

/// Catches a wait that hangs (or blocks) for an id that is not running.
async fn wait_returns_at_once_when_not_running() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::NotFound);
    accepted(recorder.launch_block(1, async { Ok::<_, ()>(()) }).await);
    accepted(recorder.launch_block(2, async { Err::<(), _>(()) }).await);
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Failed);
}

/// Catches a waiter left hanging when the task fails, panics or is cancelled instead of
/// succeeding (and a wait that answers before the end).
async fn wait_wakes_on_every_kind_of_end() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    for (id, end) in [(1u64, "ok"), (2, "err"), (3, "panic"), (4, "cancel")] {
        let (release, released) = oneshot::channel::<()>();
        let task = async move {
            let _ = released.await;
            match end {
                "ok" => Ok(()),
                "panic" => panic!("task {id} exploded (expected by the test)"),
                _ => Err(()),
            }
        };
        accepted(recorder.launch(id, task).await);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let recorder = recorder.clone();
                tokio::spawn(async move { recorder.wait(&id).await })
            })
            .collect();
        tokio::task::yield_now().await;
        if end == "cancel" {
            assert!(recorder.cancel(&id));
            drop(release);
        } else {
            release.send(()).expect("task waits");
        }
        let expected = if end == "ok" {
            TaskState::Success
        } else {
            TaskState::Failed
        };
        for waiter in waiters {
            assert_eq!(within("waiter", waiter).await.expect("waiter"), expected);
        }
    }
}

/// Catches the missed wake-up: a task that ends between the waiter's check and its sleep.
async fn wait_never_misses_a_fast_finish() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    for id in 0..2_000u64 {
        accepted(recorder.launch(id, async { Ok::<_, ()>(()) }).await);
        assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Success);
    }
}

/// Catches a cancel that does not stop the task, or leaves the id `Working` or unlaunchable.
async fn cancel_stops_a_spawned_task_and_allows_relaunch() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (task, started, _release) = gated();
    accepted(recorder.launch(5, task).await);
    within("start", started).await.expect("task started");
    assert!(recorder.cancel(&5));
    assert_eq!(within("wait", recorder.wait(&5)).await, TaskState::Failed);
    assert_eq!(recorder.query_task_state(&5).await, TaskState::Failed);
    accepted(recorder.launch_block(5, async { Ok::<_, ()>(()) }).await);
    assert_eq!(recorder.query_task_state(&5).await, TaskState::Success);
}

/// Catches a `launch_block` that cannot be cancelled from another task.
async fn cancel_stops_a_launch_block() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (task, started, _release) = gated();
    let blocked = {
        let recorder = recorder.clone();
        tokio::spawn(async move { recorder.launch_block(6, task).await.is_ok() })
    };
    within("start", started).await.expect("task started");
    assert!(recorder.cancel(&6));
    assert!(within("launch_block", blocked).await.expect("no panic"));
    assert_eq!(recorder.query_task_state(&6).await, TaskState::Failed);
}

/// Catches a cancel of an id that is not running changing its state.
async fn cancel_of_an_idle_id_changes_nothing() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    assert!(!recorder.cancel(&7));
    accepted(recorder.launch_block(7, async { Ok::<_, ()>(()) }).await);
    accepted(recorder.launch_block(8, async { Err::<(), _>(()) }).await);
    assert!(!recorder.cancel(&7));
    assert!(!recorder.cancel(&8));
    assert_eq!(recorder.query_task_state(&7).await, TaskState::Success);
    assert_eq!(recorder.query_task_state(&8).await, TaskState::Failed);
    assert_eq!(recorder.query_task_state(&9).await, TaskState::NotFound);
    assert_eq!(recorder.cancel_all(), 0);
}

/// Catches a cancel that marks an id `Failed` while its future goes on and returns `Ok`,
/// which would let a relaunch succeed a second time.
async fn cancelled_success_is_never_hidden() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let successes = Arc::new(AtomicUsize::new(0));
    for round in 0..200u64 {
        let id = round % 4;
        let counted = Arc::clone(&successes);
        let _ = recorder
            .launch(id, async move {
                tokio::task::yield_now().await;
                counted.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            })
            .await;
        recorder.cancel(&id);
        let state = within("wait", recorder.wait(&id)).await;
        assert_ne!(state, TaskState::Working);
    }
    let mut recorded = 0;
    for id in 0..4u64 {
        recorded += usize::from(recorder.query_task_state(&id).await == TaskState::Success);
    }
    assert_eq!(
        successes.load(Ordering::SeqCst),
        recorded,
        "a success went unrecorded"
    );
}

/// Catches a token that does not close the recorder or leaves tasks running.
async fn token_closes_and_cancels_every_task() {
    let token = CancellationToken::new();
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .cancellation_token(token.clone())
        .build();
    let mut starts = Vec::new();
    let mut releases = Vec::new();
    for id in 0..5u64 {
        let (task, started, release) = gated();
        accepted(recorder.launch(id, task).await);
        starts.push(started);
        releases.push(release);
    }
    for started in starts {
        within("start", started).await.expect("task started");
    }
    token.cancel();
    within("shutdown", recorder.shutdown()).await;
    assert!(recorder.is_closed());
    for id in 0..5u64 {
        assert_eq!(recorder.query_task_state(&id).await, TaskState::Failed);
    }
    assert!(matches!(
        recorder.try_launch(9, async { Ok::<_, ()>(()) }).await,
        Err(LaunchError::Closed(_))
    ));
}

/// Catches recorders built from child tokens that outlive their parent's cancellation.
async fn child_tokens_cancel_a_hierarchy() {
    let service = CancellationToken::new();
    let uploads: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .cancellation_token(service.child_token())
        .build();
    let imports: AsyncTasksRecorder<String> = AsyncTasksRecorder::builder()
        .cancellation_token(service.child_token())
        .build();
    let (upload, upload_started, _a) = gated();
    let (import, import_started, _b) = gated();
    accepted(uploads.launch(1, upload).await);
    accepted(imports.launch("csv".to_string(), import).await);
    within("start", upload_started).await.expect("started");
    within("start", import_started).await.expect("started");
    service.cancel();
    within("uploads", uploads.shutdown()).await;
    within("imports", imports.shutdown()).await;
    assert_eq!(uploads.query_task_state(&1).await, TaskState::Failed);
    assert_eq!(imports.query_task_state("csv").await, TaskState::Failed);
    assert!(uploads.is_closed() && imports.is_closed());
}

/// Catches a closed recorder that runs new work, swallows the future, or reports a state the
/// id is not in.
async fn closed_recorder_refuses_launches_with_the_future() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    accepted(recorder.launch_block(1, async { Err::<(), _>(()) }).await);
    accepted(recorder.launch_block(2, async { Ok::<_, ()>(()) }).await);
    assert!(recorder.close());
    assert!(!recorder.close());
    let ran = Arc::new(AtomicUsize::new(0));
    let task = |ran: &Arc<AtomicUsize>| {
        let ran = Arc::clone(ran);
        async move {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(())
        }
    };
    let (state, _unused) = recorder.launch(1, task(&ran)).await.expect_err("closed");
    assert_eq!(state, TaskState::Failed);
    let (state, _unused) = recorder
        .launch_block(3, task(&ran))
        .await
        .expect_err("closed");
    assert_eq!(state, TaskState::NotFound);
    let (state, _unused) = recorder.launch(2, task(&ran)).await.expect_err("succeeded");
    assert_eq!(state, TaskState::Success);
    let refused = recorder
        .try_launch_block(3, task(&ran))
        .await
        .expect_err("closed");
    assert!(matches!(refused, LaunchError::Closed(_)));
    assert_eq!(refused.to_string(), "the recorder is closed");
    refused
        .into_task()
        .await
        .expect("the future is handed back intact");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "only the handed-back future ran"
    );
    assert_eq!(recorder.query_task_state(&3).await, TaskState::NotFound);
}

/// Catches a shutdown that returns while a task still runs.
async fn shutdown_waits_for_running_tasks() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (task, started, release) = gated();
    accepted(recorder.launch(1, task).await);
    within("start", started).await.expect("started");
    let shutdown = {
        let recorder = recorder.clone();
        tokio::spawn(async move { recorder.shutdown().await })
    };
    // The shutdown cannot finish while the task runs; it closes the recorder at once.
    while !recorder.is_closed() {
        tokio::task::yield_now().await;
    }
    assert!(!shutdown.is_finished());
    assert_eq!(recorder.running(), 1);
    release.send(()).expect("task waits");
    within("shutdown", shutdown).await.expect("shutdown");
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Success);
    assert_eq!(recorder.running(), 0);
    assert_eq!(recorder.count_in_state(TaskState::Working).await, 0);
}

/// Catches a grace period that never forces the stragglers, or forces the finished ones.
async fn shutdown_with_grace_cancels_the_rest() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (hanging, started, _never) = gated();
    accepted(recorder.launch(1, hanging).await);
    accepted(recorder.launch(2, async { Ok::<_, ()>(()) }).await);
    within("start", started).await.expect("started");
    // Finished before the shutdown: however loaded the machine, the grace period cannot cut
    // it short.
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Success);
    let cancelled = within(
        "shutdown",
        recorder.shutdown_with_grace(Duration::from_millis(50)),
    )
    .await;
    assert_eq!(cancelled, 1);
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Failed);
    assert_eq!(recorder.query_task_state(&2).await, TaskState::Success);
    assert_eq!(recorder.running(), 0);
}

/// Catches a limit that lets more than N tasks run at once, or loses queued tasks.
async fn concurrency_limit_is_never_exceeded() {
    const LIMIT: usize = 3;
    let recorder: AsyncTasksRecorder<u64> =
        AsyncTasksRecorder::builder().max_concurrency(LIMIT).build();
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    for id in 0..(10 * LIMIT as u64) {
        let (now, peak) = (Arc::clone(&now), Arc::clone(&peak));
        accepted(
            recorder
                .launch(id, async move {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(running, Ordering::SeqCst);
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
                .await,
        );
    }
    within("drain", recorder.shutdown()).await;
    assert!(
        peak.load(Ordering::SeqCst) <= LIMIT,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(
        recorder.count_in_state(TaskState::Success).await,
        10 * LIMIT
    );
}

/// Catches tasks queued behind the limit that cannot be cancelled, or run after being
/// cancelled.
async fn tasks_waiting_for_the_limit_can_be_cancelled() {
    let recorder: AsyncTasksRecorder<u64> =
        AsyncTasksRecorder::builder().max_concurrency(1).build();
    let (holder, started, release) = gated();
    accepted(recorder.launch(1, holder).await);
    within("start", started).await.expect("started");
    let ran = Arc::new(Notify::new());
    let ran_flag = Arc::new(AtomicUsize::new(0));
    let (flag, notify) = (Arc::clone(&ran_flag), Arc::clone(&ran));
    accepted(
        recorder
            .launch(2, async move {
                flag.fetch_add(1, Ordering::SeqCst);
                notify.notify_one();
                Ok::<_, ()>(())
            })
            .await,
    );
    assert_eq!(recorder.query_task_state(&2).await, TaskState::Working);
    assert!(recorder.cancel(&2));
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Failed);
    release.send(()).expect("holder waits");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    within("shutdown", recorder.shutdown()).await;
    assert_eq!(
        ran_flag.load(Ordering::SeqCst),
        0,
        "a cancelled queued task ran"
    );
}

/// Catches a wait or a shutdown that, dropped half way, leaves something behind (a stuck id,
/// a recorder that cannot shut down again).
async fn dropped_wait_and_shutdown_leave_nothing_behind() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (task, started, release) = gated();
    accepted(recorder.launch(1, task).await);
    within("start", started).await.expect("started");
    tokio::select! {
        biased;
        _ = recorder.wait(&1) => unreachable!("the task is gated"),
        _ = tokio::task::yield_now() => {}
    }
    tokio::select! {
        biased;
        _ = recorder.shutdown() => unreachable!("the task is gated"),
        _ = tokio::task::yield_now() => {}
    }
    assert!(recorder.is_closed());
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
    release.send(()).expect("task waits");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    within("shutdown", recorder.shutdown()).await;
}

/// Catches a double success when cancels, relaunches and a shutdown race on a few ids.
async fn cancels_racing_launches_keep_at_most_once() {
    const IDS: u64 = 16;
    let recorder: AsyncTasksRecorder<u64> =
        AsyncTasksRecorder::builder().max_concurrency(4).build();
    let successes: Arc<Vec<AtomicUsize>> =
        Arc::new((0..IDS).map(|_| AtomicUsize::new(0)).collect());
    let mut workers = Vec::new();
    for worker in 0..4u64 {
        let recorder = recorder.clone();
        let successes = Arc::clone(&successes);
        workers.push(tokio::spawn(async move {
            for step in 0..500u64 {
                let id = (step * 7 + worker * 3) % IDS;
                if step % 3 == worker % 3 {
                    recorder.cancel(&id);
                    continue;
                }
                let successes = Arc::clone(&successes);
                let _ = recorder
                    .launch(id, async move {
                        tokio::task::yield_now().await;
                        successes[id as usize].fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    })
                    .await;
            }
        }));
    }
    for worker in workers {
        within("worker", worker).await.expect("worker");
    }
    within("shutdown", recorder.shutdown()).await;
    for id in 0..IDS {
        let ok = successes[id as usize].load(Ordering::SeqCst);
        let state = recorder.query_task_state(&id).await;
        assert!(ok <= 1, "id {id} succeeded {ok} times");
        assert_eq!(
            ok == 1,
            state == TaskState::Success,
            "id {id}: {ok} successes, {state}"
        );
        assert_ne!(state, TaskState::Working);
    }
}

/// Catches a token that depends on a watcher task: a recorder kept in a `static` (as with
/// the attribute, or across `#[tokio::test]`s) was used in runtime A, A was dropped with the
/// watcher in it, and in runtime B a cancelled token closed the recorder but left its task
/// `Working`, so `shutdown` never returned.
#[test]
fn token_works_after_the_first_runtime_is_gone() {
    let token = CancellationToken::new();
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .cancellation_token(token.clone())
        .build();
    let runtime = |multi: bool| {
        let mut builder = if multi {
            tokio::runtime::Builder::new_multi_thread()
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        builder.enable_all().build().expect("a runtime")
    };
    for (a, b) in [(false, false), (true, false), (false, true)] {
        let token = token.child_token();
        let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
            .cancellation_token(token.clone())
            .build();
        runtime(a).block_on(async {
            let task = async { Ok::<_, ()>(()) };
            assert!(recorder.launch(1, task).await.is_ok());
            assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
        });
        runtime(b).block_on(async {
            let (task, started, _release) = gated();
            accepted(recorder.launch(2, task).await);
            within("start", started).await.expect("started");
            token.cancel();
            assert!(recorder.is_closed());
            within(
                "shutdown after the first runtime is gone",
                recorder.shutdown(),
            )
            .await;
            assert_eq!(recorder.query_task_state(&2).await, TaskState::Failed);
            let info = recorder.task_info(&2).await.expect("a record");
            assert_eq!(
                info.failure.map(|f| f.kind),
                Some(tasks_recorder::FailureKind::ShutDown)
            );
        });
    }
    // The recorder built outside any runtime works the same.
    runtime(false).block_on(async {
        accepted(
            recorder
                .launch(3, std::future::pending::<Result<(), ()>>())
                .await,
        );
        token.cancel();
        within("shutdown", recorder.shutdown()).await;
        assert_eq!(recorder.query_task_state(&3).await, TaskState::Failed);
    });
}

/// Catches a token that stops spawned tasks but not `launch_block` ones, or records them
/// with the wrong reason.
async fn token_stops_a_launch_block_too() {
    let token = CancellationToken::new();
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .cancellation_token(token.clone())
        .build();
    let (task, started, _release) = gated();
    let blocked = tokio::spawn({
        let recorder = recorder.clone();
        async move { recorder.launch_block(1, task).await.is_ok() }
    });
    within("start", started).await.expect("started");
    token.cancel();
    assert!(within("launch_block", blocked).await.expect("no panic"));
    let info = recorder.task_info(&1).await.expect("a record");
    assert_eq!(
        info.failure.map(|f| f.kind),
        Some(tasks_recorder::FailureKind::ShutDown)
    );
    within("shutdown", recorder.shutdown()).await;
}

/// The panic message of a task that failed, if it panicked.
async fn panic_message(recorder: &AsyncTasksRecorder<u64>, id: u64) -> String {
    let failure = recorder.task_info(&id).await.and_then(|info| info.failure);
    let failure = failure.expect("the task failed");
    assert_eq!(failure.kind, tasks_recorder::FailureKind::Panicked);
    failure.message.expect("a panic message")
}

/// Catches a task that waits for its own id and hangs silently, `Working` forever.
async fn waiting_for_its_own_id_fails_clearly() {
    support::quiet_task_panics_containing("waits for its own id");
    let recorder = AsyncTasksRecorder::<u64>::new();
    let inline = tokio::spawn({
        let recorder = recorder.clone();
        async move {
            let me = recorder.clone();
            let task = async move { Ok::<_, ()>(me.wait(&2).await) };
            recorder.launch_block(2, task).await.is_ok()
        }
    });
    let joined = within("launch_block waiting for itself", inline).await;
    assert!(joined.expect_err("the caller sees the panic").is_panic());
    assert!(panic_message(&recorder, 2)
        .await
        .contains("waits for its own id"));

    let me = recorder.clone();
    let task = async move { Ok::<_, ()>(me.wait(&3).await) };
    accepted(recorder.launch(3, task).await);
    assert_eq!(within("wait", recorder.wait(&3)).await, TaskState::Failed);
    assert!(panic_message(&recorder, 3)
        .await
        .contains("waits for its own id"));

    // Waiting for another id from inside a task is fine.
    let (other, started, release) = gated();
    accepted(recorder.launch(4, other).await);
    let me = recorder.clone();
    let waiter = async move { Ok::<_, ()>(me.wait(&4).await) };
    accepted(recorder.launch(5, waiter).await);
    within("start", started).await.expect("started");
    release.send(()).expect("released");
    assert_eq!(within("wait", recorder.wait(&5)).await, TaskState::Success);
}

/// Catches a job that shuts down its own recorder and stays `Working` forever.
async fn shutdown_from_its_own_task_fails_clearly() {
    support::quiet_task_panics_containing("shutdown() called from inside a task");
    let recorder = AsyncTasksRecorder::<u64>::new();
    let me = recorder.clone();
    let task = async move {
        me.shutdown().await;
        Ok::<_, ()>(())
    };
    accepted(recorder.launch(1, task).await);
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
    assert!(panic_message(&recorder, 1)
        .await
        .contains("shutdown() called from inside"));
    // A task of another recorder may shut this one down.
    let other = AsyncTasksRecorder::<u64>::new();
    let me = recorder.clone();
    let task = async move {
        me.shutdown().await;
        Ok::<_, ()>(())
    };
    accepted(other.launch(1, task).await);
    assert_eq!(within("wait", other.wait(&1)).await, TaskState::Success);
    assert!(recorder.is_closed());
}

/// Catches a `shutdown_with_grace` from inside one of the recorder's own tasks that hangs:
/// it cancels its own task with the rest once the grace period is over.
async fn shutdown_with_grace_from_its_own_task_ends() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (hang, started, _release) = gated();
    accepted(recorder.launch(1, hang).await);
    within("start", started).await.expect("started");
    let me = recorder.clone();
    let task = async move {
        me.shutdown_with_grace(Duration::from_millis(1)).await;
        Ok::<_, ()>(())
    };
    accepted(recorder.launch(2, task).await);
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Failed);
    within("shutdown", recorder.shutdown()).await;
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Failed);
}
