//! Tasks that cooperate with cancellation, and timeouts: the attempt's context inside its
//! task, graceful-then-forced `cancel`, `cancel_all` and `shutdown_with_grace`, and the
//! recorder's and each launch's timeout. Every test says which bug it would catch. Time is
//! paused where a duration is checked; channels synchronise everything else.
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::within;
use tasks_recorder::{current_attempt, AsyncTasksRecorder, FailureKind, TaskState};
use tokio::sync::oneshot;

on_both_runtimes!(
    a_task_reaches_its_own_attempt,
    graceful_cancel_lets_a_watching_task_finish_its_step,
    ok_after_the_signal_is_a_success,
    a_task_that_never_asked_is_dropped_at_once,
    cancel_now_drops_a_watching_task_at_once,
    cancel_all_signals_every_watching_task,
    shutdown_with_grace_signals_first_then_drops,
    a_task_waiting_for_the_limit_never_starts_once_cancelled,
    a_launch_timeout_records_timed_out,
    a_recorder_timeout_applies_to_launch_block_too,
);

/// How an id's last attempt failed.
async fn failure_kind(recorder: &AsyncTasksRecorder<u64>, id: u64) -> FailureKind {
    recorder
        .task_info(&id)
        .await
        .and_then(|info| info.failure)
        .map(|failure| failure.kind)
        .expect("a failed record")
}

/// Catches a context that is missing inside a task, leaks outside it, or gives the wrong
/// attempt number after a relaunch.
async fn a_task_reaches_its_own_attempt() {
    assert!(current_attempt().is_none(), "no attempt outside a task");
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (seen, number) = oneshot::channel();
    let task = async move {
        let _ = seen.send(current_attempt().map(|attempt| attempt.number()));
        Err::<(), _>("first try fails")
    };
    recorder.try_launch(1, task).await.expect("launched");
    assert_eq!(within("number", number).await.expect("ran"), Some(1));
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
    let (seen, number) = oneshot::channel();
    recorder
        .launch_block(1, async move {
            let _ = seen.send(current_attempt().map(|attempt| attempt.number()));
            Ok::<_, ()>(())
        })
        .await
        .map_err(|(state, _)| state)
        .expect("launched");
    assert_eq!(number.await.expect("ran"), Some(2));
}

/// Catches a `cancel` that drops a task which watches its signal before it could finish
/// its current step, or that records it as anything but cancelled.
async fn graceful_cancel_lets_a_watching_task_finish_its_step() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .cancel_grace(Duration::from_secs(3600))
        .build();
    let (started, running) = oneshot::channel();
    let (told, signalled) = oneshot::channel();
    let (finish, step_done) = oneshot::channel::<()>();
    let task = async move {
        let stop = current_attempt().expect("inside a task").token();
        let _ = started.send(());
        stop.cancelled().await;
        let _ = told.send(());
        // The current step, which must not be cut short.
        step_done
            .await
            .map_err(|_| "the step was dropped".to_string())?;
        Err::<(), _>("stopped after the step".to_string())
    };
    recorder
        .launch_with_error_text(1, task)
        .await
        .map_err(|(state, _)| state)
        .expect("launched");
    within("start", running).await.expect("started");
    assert!(recorder.cancel(&1));
    within("signal", signalled).await.expect("told to stop");
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
    finish.send(()).expect("the task still runs its step");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
    let failure = recorder.task_info(&1).await.and_then(|i| i.failure);
    let failure = failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Cancelled);
    assert_eq!(failure.message.as_deref(), Some("stopped after the step"));
    assert_eq!(recorder.counters().cancelled_total, 1);
}

/// Catches a cancellation that hides a success: a task that returns `Ok` after the signal
/// succeeded, and the id must say so.
async fn ok_after_the_signal_is_a_success() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (started, running) = oneshot::channel();
    let task = async move {
        let stop = current_attempt().expect("inside a task").token();
        let _ = started.send(());
        stop.cancelled().await;
        Ok::<_, ()>(())
    };
    recorder.try_launch(1, task).await.expect("launched");
    within("start", running).await.expect("started");
    recorder.cancel(&1);
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    assert_eq!(recorder.counters().cancelled_total, 0);
}

/// Catches a grace given to a task that cannot see the signal (it never asked for it): the
/// cancel would wait out the grace for nothing.
async fn a_task_that_never_asked_is_dropped_at_once() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .cancel_grace(Duration::from_secs(3600))
        .build();
    let (started, running) = oneshot::channel();
    let task = async move {
        let _ = started.send(());
        std::future::pending::<Result<(), ()>>().await
    };
    recorder.try_launch(1, task).await.expect("launched");
    within("start", running).await.expect("started");
    recorder.cancel(&1);
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
    assert_eq!(failure_kind(&recorder, 1).await, FailureKind::Cancelled);
}

/// Catches a `cancel_now` that waits for a task watching its signal instead of dropping it.
async fn cancel_now_drops_a_watching_task_at_once() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .cancel_grace(Duration::from_secs(3600))
        .build();
    let (started, running) = oneshot::channel();
    let task = async move {
        let _stop = current_attempt().expect("inside a task").token();
        let _ = started.send(());
        std::future::pending::<Result<(), ()>>().await
    };
    recorder.try_launch(1, task).await.expect("launched");
    within("start", running).await.expect("started");
    assert!(recorder.cancel_now(&1));
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
    assert_eq!(failure_kind(&recorder, 1).await, FailureKind::Cancelled);
}

/// Catches a `cancel_all` that does not reach the signal of every running task.
async fn cancel_all_signals_every_watching_task() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let mut started = Vec::new();
    for id in 0..4 {
        let (tx, rx) = oneshot::channel();
        started.push(rx);
        let task = async move {
            let stop = current_attempt().expect("inside a task").token();
            let _ = tx.send(());
            stop.cancelled().await;
            Err::<(), _>(())
        };
        recorder.try_launch(id, task).await.expect("launched");
    }
    for rx in started {
        within("start", rx).await.expect("started");
    }
    assert_eq!(recorder.cancel_all(), 4);
    for id in 0..4 {
        assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Failed);
        assert_eq!(failure_kind(&recorder, id).await, FailureKind::Cancelled);
    }
}

/// Catches a `shutdown_with_grace` that does not tell the tasks at its start (a watching task
/// would sit out the grace), drops them before the grace is over, hides an `Ok` returned
/// during the grace, or leaves a task that ignores the signal running after it.
async fn shutdown_with_grace_signals_first_then_drops() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (started_ok, running_ok) = oneshot::channel();
    let ok = async move {
        let stop = current_attempt().expect("inside a task").token();
        let _ = started_ok.send(());
        stop.cancelled().await;
        Ok::<_, ()>(())
    };
    let (started_err, running_err) = oneshot::channel();
    let err = async move {
        let stop = current_attempt().expect("inside a task").token();
        let _ = started_err.send(());
        stop.cancelled().await;
        Err::<(), _>(())
    };
    let (started_deaf, running_deaf) = oneshot::channel();
    let deaf = async move {
        let _ = started_deaf.send(());
        std::future::pending::<Result<(), ()>>().await
    };
    recorder.try_launch(1, ok).await.expect("launched");
    recorder.try_launch(2, err).await.expect("launched");
    recorder.try_launch(3, deaf).await.expect("launched");
    for rx in [running_ok, running_err, running_deaf] {
        within("start", rx).await.expect("started");
    }
    // The watching tasks end on the signal, well within the grace; only the deaf one is
    // dropped, once the grace is over.
    let dropped = within(
        "shutdown",
        recorder.shutdown_with_grace(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(
        dropped, 1,
        "only the task that ignored the signal was dropped"
    );
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Success);
    assert_eq!(failure_kind(&recorder, 2).await, FailureKind::ShutDown);
    assert_eq!(failure_kind(&recorder, 3).await, FailureKind::ShutDown);
}

/// Catches a cancelled attempt that still starts once the concurrency limit lets it.
async fn a_task_waiting_for_the_limit_never_starts_once_cancelled() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .max_concurrency(1)
        .build();
    let (release, released) = oneshot::channel::<()>();
    let (started, running) = oneshot::channel();
    let first = async move {
        let _ = started.send(());
        released.await.map_err(drop)
    };
    recorder.try_launch(1, first).await.expect("launched");
    within("start", running).await.expect("started");
    let polled = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&polled);
    let second = async move {
        seen.store(true, Ordering::SeqCst);
        Ok::<_, ()>(())
    };
    recorder.try_launch(2, second).await.expect("launched");
    assert!(recorder.cancel(&2));
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Failed);
    release.send(()).expect("the first task runs");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    assert!(
        !polled.load(Ordering::SeqCst),
        "a cancelled attempt started"
    );
    assert_eq!(failure_kind(&recorder, 2).await, FailureKind::Cancelled);
}

/// Catches a launch timeout that never fires, fires on a task that finished in time, or
/// records the wrong reason.
async fn a_launch_timeout_records_timed_out() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    recorder
        .launch_with_timeout(
            1,
            Duration::from_millis(20),
            std::future::pending::<Result<(), ()>>(),
        )
        .await
        .expect("launched");
    recorder
        .launch_with_timeout(2, Duration::from_secs(3600), async { Ok::<_, ()>(()) })
        .await
        .expect("launched");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
    assert_eq!(failure_kind(&recorder, 1).await, FailureKind::TimedOut);
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Success);
    let counters = recorder.counters();
    assert_eq!((counters.timed_out_total, counters.failed_now), (1, 1));
}

/// Catches a recorder-wide timeout that `launch_block` escapes.
async fn a_recorder_timeout_applies_to_launch_block_too() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .timeout(Duration::from_millis(20))
        .build();
    recorder
        .launch_block(1, std::future::pending::<Result<(), ()>>())
        .await
        .map_err(|(state, _)| state)
        .expect("launched");
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Failed);
    assert_eq!(failure_kind(&recorder, 1).await, FailureKind::TimedOut);
}

/// Catches a grace that is not waited out for a task that watches its signal but ignores
/// it, or that is waited out twice: in paused time, the drop comes exactly a grace after
/// the cancel.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_watching_task_that_ignores_the_signal_is_dropped_after_the_grace() {
    let grace = Duration::from_secs(10);
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .cancel_grace(grace)
        .build();
    let (started, running) = oneshot::channel();
    let task = async move {
        let _stop = current_attempt().expect("inside a task").token();
        let _ = started.send(());
        std::future::pending::<Result<(), ()>>().await
    };
    recorder.try_launch(1, task).await.expect("launched");
    running.await.expect("started");
    let cancelled_at = tokio::time::Instant::now();
    recorder.cancel(&1);
    assert_eq!(recorder.wait(&1).await, TaskState::Failed);
    assert_eq!(cancelled_at.elapsed(), grace);
    assert_eq!(failure_kind(&recorder, 1).await, FailureKind::Cancelled);
}

/// Catches a timeout counted from the launch rather than from the start of the work: an
/// attempt that waited for the concurrency limit longer than its timeout must still run.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_timeout_counts_from_the_start_past_the_limit() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .max_concurrency(1)
        .timeout(Duration::from_secs(5))
        .build();
    let (release, released) = oneshot::channel::<()>();
    recorder
        .try_launch(1, async move { released.await.map_err(drop) })
        .await
        .expect("launched");
    let second = async {
        tokio::time::sleep(Duration::from_secs(4)).await;
        Ok::<_, ()>(())
    };
    recorder.try_launch(2, second).await.expect("launched");
    tokio::time::sleep(Duration::from_secs(4)).await;
    release.send(()).expect("the first task runs");
    assert_eq!(recorder.wait(&1).await, TaskState::Success);
    assert_eq!(recorder.wait(&2).await, TaskState::Success);
    // And a timeout does fire once the work itself runs past it.
    let started = tokio::time::Instant::now();
    recorder
        .launch_with_timeout(3, Duration::from_secs(2), async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<_, ()>(())
        })
        .await
        .expect("launched");
    assert_eq!(recorder.wait(&3).await, TaskState::Failed);
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}
