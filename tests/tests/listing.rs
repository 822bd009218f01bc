//! Listing ids by state and the bulk operations on the ids a predicate picks. The recorder
//! must never run a visitor or a predicate while one of its locks is held: these tests call
//! the recorder from inside them, under a watchdog thread (a deadlock blocks a worker thread,
//! where an async timeout cannot fire).
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use support::{watchdog, within};
use tasks_recorder::{AsyncTasksRecorder, FailureKind, TaskState};
use tokio::sync::Barrier;

on_both_runtimes!(
    visitor_may_remove_the_failed_ids_it_visits,
    visitor_may_cancel_the_working_ids_it_visits,
    visitor_may_query_while_tasks_finish,
    cancel_where_cancels_only_the_picked_attempts,
    remove_failed_where_removes_only_the_picked_failures,
);

/// Launches ids `0..n` so that even ids succeed and odd ids fail.
async fn half_failed(recorder: &AsyncTasksRecorder<u64>, n: u64) {
    for id in 0..n {
        let task = async move {
            if id % 2 == 0 {
                Ok(())
            } else {
                Err("odd")
            }
        };
        assert!(recorder.launch_block(id, task).await.is_ok());
    }
}

/// Catches a visitor run under a bucket lock: `remove_failed` from it deadlocked.
async fn visitor_may_remove_the_failed_ids_it_visits() {
    let _watchdog = watchdog("remove_failed from a for_each_in_state visitor");
    let recorder = AsyncTasksRecorder::<u64>::new();
    half_failed(&recorder, 64).await;
    let mut removed = 0;
    let visited = recorder
        .for_each_in_state(TaskState::Failed, |id| {
            removed += usize::from(recorder.remove_failed(id));
        })
        .await;
    assert_eq!((visited, removed), (32, 32));
    assert_eq!(recorder.count_in_state(TaskState::Failed).await, 0);
    assert_eq!(recorder.count_in_state(TaskState::Success).await, 32);
}

/// Catches a visitor run under a bucket lock: `cancel` from it hung after 2 of 4 ids.
async fn visitor_may_cancel_the_working_ids_it_visits() {
    let _watchdog = watchdog("cancel from a for_each_in_state visitor");
    let recorder = AsyncTasksRecorder::<u64>::new();
    for id in 0..16 {
        assert!(recorder
            .launch(id, pending::<Result<(), ()>>())
            .await
            .is_ok());
    }
    let mut cancelled = 0;
    recorder
        .for_each_in_state(TaskState::Working, |id| {
            cancelled += usize::from(recorder.cancel(id));
            // A slow visitor (as in the report): the cancelled task's end, on another
            // worker, then waits for the bucket the visitor held, and the next cancel
            // queued behind it. Not a synchronisation: it only widens the race.
            std::thread::sleep(Duration::from_millis(1));
        })
        .await;
    assert_eq!(cancelled, 16);
    for id in 0..16 {
        assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Failed);
        let failure = recorder.task_info(&id).await.and_then(|info| info.failure);
        assert_eq!(failure.map(|f| f.kind), Some(FailureKind::Cancelled));
    }
}

/// Catches a visitor run under a bucket lock: a read-only query from a slow visitor, while
/// tasks finish and wait for that bucket, hung in 3 runs of 3 on the multi-thread runtime.
async fn visitor_may_query_while_tasks_finish() {
    let _watchdog = watchdog("query from a slow visitor while tasks finish");
    let recorder = AsyncTasksRecorder::<u64>::new();
    let release = Arc::new(Barrier::new(201));
    for id in 0..200 {
        let release = Arc::clone(&release);
        let task = async move {
            release.wait().await;
            Ok::<_, ()>(())
        };
        assert!(recorder.launch(id, task).await.is_ok());
    }
    let finishing = tokio::spawn({
        let release = Arc::clone(&release);
        async move { release.wait().await }
    });
    let mut queried = 0;
    recorder
        .for_each_in_state(TaskState::Working, |id| {
            // A slow visitor (as in the report), so that tasks finish while the visit is under
            // way. Not a synchronisation: it only widens the race.
            std::thread::sleep(Duration::from_millis(1));
            let state = futures_now(recorder.query_task_state(id));
            assert!(matches!(state, TaskState::Working | TaskState::Success));
            queried += 1;
        })
        .await;
    assert_eq!(queried, 200);
    within("tasks", finishing).await.expect("released");
    within("shutdown", recorder.shutdown()).await;
    assert_eq!(recorder.count_in_state(TaskState::Success).await, 200);
}

/// Polls a future that completes on its first poll (the recorder's queries do).
fn futures_now<F: std::future::Future>(fut: F) -> F::Output {
    match support::poll_once(std::pin::pin!(fut)) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a query did not complete on its first poll"),
    }
}

/// Catches a bulk cancel that cancels ids the predicate did not pick, runs the predicate
/// under a lock, or misses ids.
async fn cancel_where_cancels_only_the_picked_attempts() {
    let _watchdog = watchdog("cancel_where");
    let recorder = AsyncTasksRecorder::<u64>::new();
    for id in 0..30 {
        assert!(recorder
            .launch(id, pending::<Result<(), ()>>())
            .await
            .is_ok());
    }
    let cancelled = recorder.cancel_where(|id, info| {
        assert_eq!(info.state, TaskState::Working);
        // The predicate may call the recorder.
        assert_eq!(
            futures_now(recorder.query_task_state(id)),
            TaskState::Working
        );
        id % 3 == 0
    });
    assert_eq!(cancelled, 10);
    for id in 0..30 {
        if id % 3 == 0 {
            assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Failed);
        } else {
            assert_eq!(recorder.query_task_state(&id).await, TaskState::Working);
        }
    }
    assert_eq!(recorder.shutdown_with_grace(Duration::ZERO).await, 20);
}

/// Catches a bulk removal that removes successes, ids the predicate did not pick, or a
/// failure that was relaunched after the predicate saw it.
async fn remove_failed_where_removes_only_the_picked_failures() {
    let _watchdog = watchdog("remove_failed_where");
    let recorder = AsyncTasksRecorder::<u64>::new();
    half_failed(&recorder, 40).await;
    let removed = recorder.remove_failed_where(|id, info| {
        assert_eq!(info.state, TaskState::Failed);
        if *id == 1 {
            // Relaunched after the predicate saw its failure: it must be kept.
            let relaunch = recorder.launch_block(1, async { Err::<(), _>("again") });
            assert!(futures_now(relaunch).is_ok());
        }
        id % 4 == 1
    });
    // 1, 5, 9, ..., 37 were picked (10 ids); 1 was relaunched meanwhile and is kept.
    assert_eq!(removed, 9);
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Failed);
    assert_eq!(
        recorder.task_info(&1).await.map(|info| info.attempts),
        Some(2)
    );
    assert_eq!(recorder.query_task_state(&5).await, TaskState::NotFound);
    assert_eq!(recorder.query_task_state(&3).await, TaskState::Failed);
    assert_eq!(recorder.count_in_state(TaskState::Failed).await, 11);
    assert_eq!(recorder.count_in_state(TaskState::Success).await, 20);
}
