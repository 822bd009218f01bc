//! The task's output for whoever launched it: `launch_with_output` (a handle) and
//! `launch_block_with_output`, on both runtimes. Every test says which bug it would catch.
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use std::time::Duration;

use support::{within, TASK_PANIC};
use tasks_recorder::{AsyncTasksRecorder, FailureKind, LaunchError, NoOutput, TaskState};
use tokio::sync::oneshot;

on_both_runtimes!(
    the_handle_gives_the_tasks_own_result,
    the_handle_says_why_there_is_no_output,
    a_dropped_handle_does_not_cancel_the_task,
    a_refused_launch_hands_the_future_back_unpolled,
    launch_block_with_output_returns_the_output,
);

async fn failure_kind(recorder: &AsyncTasksRecorder<u64>, id: u64) -> Option<FailureKind> {
    recorder
        .task_info(&id)
        .await
        .and_then(|info| info.failure)
        .map(|failure| failure.kind)
}

/// Catches an output that is lost or changed on its way to the handle, and a record that
/// disagrees with it.
async fn the_handle_gives_the_tasks_own_result() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let ok = recorder
        .launch_with_output(1, async { Ok::<_, String>(vec![1u8, 2, 3]) })
        .await
        .expect("launched");
    let err = recorder
        .launch_with_output(2, async { Err::<Vec<u8>, _>("disk full".to_string()) })
        .await
        .expect("launched");
    assert_eq!(within("ok", ok).await, Ok(Ok(vec![1, 2, 3])));
    assert_eq!(within("err", err).await, Ok(Err("disk full".to_string())));
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Failed);
    assert_eq!(failure_kind(&recorder, 2).await, Some(FailureKind::Error));
}

/// Catches a handle that hangs, or gives the wrong reason, when the attempt ends without
/// an output: a panic (with its message), a cancel, a timeout, a shutdown.
async fn the_handle_says_why_there_is_no_output() {
    support::quiet_task_panics();
    let recorder = AsyncTasksRecorder::<u64>::new();
    let panicking = async {
        if true {
            std::panic::panic_any(TASK_PANIC);
        }
        Ok::<(), ()>(())
    };
    let panicked = recorder
        .launch_with_output(1, panicking)
        .await
        .expect("launched");
    assert_eq!(
        within("panicked", panicked).await,
        Err(NoOutput::Panicked(Some(TASK_PANIC.to_string())))
    );
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
    assert_eq!(
        failure_kind(&recorder, 1).await,
        Some(FailureKind::Panicked)
    );

    let (started, running) = oneshot::channel();
    let hanging = async move {
        let _ = started.send(());
        std::future::pending::<Result<(), ()>>().await
    };
    let cancelled = recorder
        .launch_with_output(2, hanging)
        .await
        .expect("launched");
    within("start", running).await.expect("started");
    assert!(recorder.cancel(&2));
    assert_eq!(
        within("cancelled", cancelled).await,
        Err(NoOutput::Cancelled)
    );

    let timed = AsyncTasksRecorder::<u64>::builder()
        .timeout(Duration::from_millis(10))
        .build();
    let timed_out = timed
        .launch_with_output(3, std::future::pending::<Result<(), ()>>())
        .await
        .expect("launched");
    assert_eq!(
        within("timed out", timed_out).await,
        Err(NoOutput::TimedOut)
    );

    let shut = recorder
        .launch_with_output(4, std::future::pending::<Result<(), ()>>())
        .await
        .expect("launched");
    within("shutdown", recorder.shutdown_with_grace(Duration::ZERO)).await;
    assert_eq!(within("shut down", shut).await, Err(NoOutput::ShutDown));
}

/// Catches a handle whose drop cancels the task (a `JoinHandle` does not).
async fn a_dropped_handle_does_not_cancel_the_task() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (release, released) = oneshot::channel::<()>();
    let handle = recorder
        .launch_with_output(1, async move { released.await.map_err(drop) })
        .await
        .expect("launched");
    drop(handle);
    release.send(()).expect("the task still runs");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
}

/// Catches a refused launch that polls or loses the future it was given.
async fn a_refused_launch_hands_the_future_back_unpolled() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (_release, released) = oneshot::channel::<()>();
    let _running = recorder
        .launch_with_output(1, async move { released.await.map_err(drop) })
        .await
        .expect("launched");
    let (polled, mut was_polled) = oneshot::channel::<()>();
    let second = async move {
        let _ = polled.send(());
        Ok::<u32, ()>(7)
    };
    let second = match recorder.launch_with_output(1, second).await {
        Err(LaunchError::AlreadyRunning(second)) => second,
        other => panic!("a launch of a running id was not refused: {other:?}"),
    };
    assert!(
        matches!(
            was_polled.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ),
        "the refused future was polled"
    );
    // The future handed back is whole: it runs under another id.
    let handle = recorder
        .launch_with_output(2, second)
        .await
        .expect("launched");
    assert_eq!(within("output", handle).await, Ok(Ok(7)));
}

/// Catches a `launch_block_with_output` that loses the output or the reason it has none.
async fn launch_block_with_output_returns_the_output() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let out = recorder
        .launch_block_with_output(1, async { Ok::<_, ()>(42u64) })
        .await
        .expect("launched");
    assert_eq!(out, Ok(Ok(42)));
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Success);
    let timed = AsyncTasksRecorder::<u64>::builder()
        .timeout(Duration::from_millis(10))
        .build();
    let out = timed
        .launch_block_with_output(2, std::future::pending::<Result<(), ()>>())
        .await
        .expect("launched");
    assert_eq!(out, Err(NoOutput::TimedOut));
}

/// Catches a handle that is not `Send` (it could not cross to another task).
#[test]
fn the_handle_is_send() {
    fn send<T: Send>() {}
    send::<tasks_recorder::TaskHandle<Vec<u8>, String>>();
}
