//! Seeding known successes: `mark_succeeded`, `mark_all_succeeded` and `successes`. A mark
//! must never end a running attempt nor forget a revoke half way, must count and publish its
//! transition like an attempt's end, and must take a failed id out of the failed index.
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use std::collections::HashSet;
use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::{watchdog, within};
use tasks_recorder::{AsyncTasksRecorder, MarkError, TaskState, Transition};
use tasks_recorder_examples::seed_file;
use tokio::sync::{oneshot, Barrier};

on_both_runtimes!(
    a_running_id_is_refused_and_keeps_running,
    a_revoking_id_is_refused_until_the_revoke_ends,
    a_failed_id_becomes_success_and_leaves_the_failed_index,
    a_new_id_becomes_success_with_no_attempt,
    a_closed_recorder_still_takes_marks,
    a_mark_racing_a_launch_leaves_one_success,
    bulk_import_refuses_working_and_revoking_ids,
    export_then_import_gives_the_same_successes,
    the_seed_file_round_trips,
);

/// Subscribes to the transitions of `recorder`.
fn transitions<T>(
    recorder: &AsyncTasksRecorder<T>,
) -> tokio::sync::broadcast::Receiver<Transition<T>>
where
    T: Eq + std::hash::Hash + Clone + Send + Sync + 'static,
{
    recorder.subscribe_transitions()
}

/// Catches a mark that overwrites a running attempt's record (the attempt's own success
/// would then be a second one), or that counts a refused mark.
async fn a_running_id_is_refused_and_keeps_running() {
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    let (release, released) = oneshot::channel::<()>();
    let task = async move {
        released.await.ok();
        Ok::<_, ()>(())
    };
    assert!(recorder.launch(1, task).await.is_ok());
    assert_eq!(recorder.mark_succeeded(1), Err(MarkError::AlreadyRunning));
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
    assert_eq!(recorder.counters().marked_succeeded_total, 0);
    release.send(()).ok();
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    assert_eq!(recorder.mark_succeeded(1), Err(MarkError::AlreadySucceeded));
    let c = recorder.counters();
    assert_eq!((c.succeeded_total, c.marked_succeeded_total), (1, 0));
    assert_eq!(c.success_now, 1);
}

/// Catches a mark that turns a revoking id into a plain `Success`: the revoke's `Ok` would
/// then find no revoking record, and the undone work would read as done.
async fn a_revoking_id_is_refused_until_the_revoke_ends() {
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    recorder.mark_succeeded(5).expect("a new id is marked");
    let (started, is_started) = oneshot::channel::<()>();
    let (release, released) = oneshot::channel::<bool>();
    let revoking = tokio::spawn({
        let recorder = recorder.clone();
        async move {
            let undo = async move {
                started.send(()).ok();
                if released.await.unwrap_or(false) {
                    Ok(())
                } else {
                    Err(())
                }
            };
            recorder.revoke_task_block(5, undo).await.is_ok()
        }
    });
    within("revoke starts", is_started).await.ok();
    assert_eq!(recorder.mark_succeeded(5), Err(MarkError::Revoking));
    assert_eq!(MarkError::Revoking.state(), TaskState::Success);
    release.send(true).ok();
    assert!(within("revoke", revoking).await.expect("no panic"));
    assert_eq!(recorder.query_task_state(&5).await, TaskState::NotFound);
    // Once revoked, the id can be marked again.
    assert_eq!(recorder.mark_succeeded(5), Ok(()));
    let c = recorder.counters();
    assert_eq!((c.marked_succeeded_total, c.revoked_total), (2, 1));
    assert_eq!(c.success_now, 1);
}

/// Catches a failed id left in the failed index after a mark (listed and counted `Failed`
/// while it reads `Success`), a failed gauge that still counts it, or a mark that is not
/// published.
async fn a_failed_id_becomes_success_and_leaves_the_failed_index() {
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    assert!(recorder
        .launch_block(3, async { Err::<(), _>("down") })
        .await
        .is_ok());
    let mut seen = transitions(&recorder);
    assert_eq!(recorder.mark_succeeded(3), Ok(()));
    assert_eq!(recorder.query_task_state(&3).await, TaskState::Success);
    assert_eq!(
        recorder.ids_in_state(TaskState::Failed).await,
        Vec::<u64>::new()
    );
    assert_eq!(recorder.count_in_state(TaskState::Failed).await, 0);
    assert!(!recorder.remove_failed(&3), "a marked id is not failed");
    let info = recorder.task_info(&3).await.expect("a record");
    assert_eq!(
        (info.state, info.attempts, info.failure),
        (TaskState::Success, 1, None)
    );
    let t = seen.try_recv().expect("the mark is published");
    assert_eq!(
        (t.id, t.from, t.to),
        (3, TaskState::Failed, TaskState::Success)
    );
    let c = recorder.counters();
    assert_eq!((c.failed_total, c.marked_succeeded_total), (1, 1));
    assert_eq!((c.working_now, c.success_now, c.failed_now), (0, 1, 0));
    // A marked id is refused as succeeded, its future never polled.
    let (state, _unpolled) = recorder
        .launch(3, async { Ok::<_, ()>(()) })
        .await
        .unwrap_err();
    assert_eq!(state, TaskState::Success);
    assert_eq!(recorder.counters().refused_succeeded_total, 1);
}

/// Catches a mark of a new id that invents an attempt, or is not published from `NotFound`.
async fn a_new_id_becomes_success_with_no_attempt() {
    let recorder: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
    let mut seen = transitions(&recorder);
    assert_eq!(recorder.mark_succeeded("cid".to_string()), Ok(()));
    let info = recorder.task_info("cid").await.expect("a record");
    assert_eq!((info.state, info.attempts), (TaskState::Success, 0));
    let t = seen.try_recv().expect("the mark is published");
    assert_eq!((t.from, t.to), (TaskState::NotFound, TaskState::Success));
    let c = recorder.counters();
    assert_eq!((c.launched_total, c.marked_succeeded_total), (0, 1));
    assert_eq!((c.working_now, c.success_now, c.failed_now), (0, 1, 0));
}

/// Catches marks refused after a shutdown: a service restores its successes into a recorder
/// before it opens, and saves them after it closes.
async fn a_closed_recorder_still_takes_marks() {
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    within("shutdown", recorder.shutdown()).await;
    assert_eq!(recorder.mark_succeeded(9), Ok(()));
    assert_eq!(recorder.successes(), vec![9]);
}

/// Catches a mark and a launch of one id both winning (two successes: the task ran and the
/// mark said the id was not done), or a marked id whose launch still polls its future. Runs
/// under a watchdog: a lock taken in the wrong order would block a worker thread.
async fn a_mark_racing_a_launch_leaves_one_success() {
    let _watchdog = watchdog("a mark racing a launch");
    const IDS: u64 = 200;
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    let ran = Arc::new(AtomicUsize::new(0));
    for id in 0..IDS {
        let barrier = Arc::new(Barrier::new(2));
        let launcher = tokio::spawn({
            let (recorder, barrier, ran) =
                (recorder.clone(), Arc::clone(&barrier), Arc::clone(&ran));
            async move {
                barrier.wait().await;
                let task = async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                };
                recorder.launch(id, task).await.is_ok()
            }
        });
        let marker = tokio::spawn({
            let (recorder, barrier) = (recorder.clone(), Arc::clone(&barrier));
            async move {
                barrier.wait().await;
                recorder.mark_succeeded(id)
            }
        });
        let launched = within("launch", launcher).await.expect("no panic");
        let marked = within("mark", marker).await.expect("no panic");
        match (launched, marked) {
            (true, Err(MarkError::AlreadyRunning | MarkError::AlreadySucceeded)) => {}
            (false, Ok(())) => {}
            other => panic!("id {id}: launched and marked = {other:?}"),
        }
        assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Success);
    }
    within("shutdown", recorder.shutdown()).await;
    let c = recorder.counters();
    assert_eq!(ran.load(Ordering::SeqCst) as u64, c.launched_total);
    assert_eq!(c.launched_total + c.marked_succeeded_total, IDS);
    assert_eq!(c.succeeded_total, c.launched_total);
    assert_eq!(c.success_now, IDS);
}

/// Catches an import that overwrites running or revoking ids, reports them wrongly, or
/// counts an id given twice as marked twice.
async fn bulk_import_refuses_working_and_revoking_ids() {
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    assert!(recorder
        .launch(2, pending::<Result<(), ()>>())
        .await
        .is_ok());
    assert!(recorder
        .launch_block(3, async { Err::<(), _>(()) })
        .await
        .is_ok());
    recorder.mark_succeeded(4).expect("a new id");
    let (started, is_started) = oneshot::channel::<()>();
    let revoking = tokio::spawn({
        let recorder = recorder.clone();
        async move {
            let undo = async move {
                started.send(()).ok();
                pending::<Result<(), ()>>().await
            };
            recorder.revoke_task_block(4, undo).await.is_ok()
        }
    });
    within("revoke starts", is_started).await.ok();
    let report = recorder.mark_all_succeeded([1, 2, 3, 4, 5, 1]);
    assert_eq!((report.marked, report.already_succeeded), (3, 1));
    assert_eq!(
        report.refused,
        vec![(2, MarkError::AlreadyRunning), (4, MarkError::Revoking)]
    );
    assert_eq!(recorder.query_task_state(&2).await, TaskState::Working);
    assert_eq!(recorder.counters().marked_succeeded_total, 4);
    revoking.abort();
    let _ = revoking.await;
    recorder
        .shutdown_with_grace(std::time::Duration::ZERO)
        .await;
    assert_eq!(recorder.query_task_state(&2).await, TaskState::Failed);
    assert_eq!(recorder.query_task_state(&4).await, TaskState::Success);
}

/// Catches an export that misses successes (revoking ones included) or lists other ids, and
/// an import into a fresh recorder that does not give the same `Success` set.
async fn export_then_import_gives_the_same_successes() {
    let before: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    for id in 0..3_000u64 {
        let task = async move {
            if id % 7 == 0 {
                Err(())
            } else {
                Ok(())
            }
        };
        assert!(before.launch_block(id, task).await.is_ok());
    }
    before.mark_all_succeeded(0..10);
    assert!(before
        .launch(4_000, pending::<Result<(), ()>>())
        .await
        .is_ok());
    let saved = before.successes();
    let expected: HashSet<u64> = before
        .ids_in_state(TaskState::Success)
        .await
        .into_iter()
        .collect();
    assert_eq!(saved.iter().copied().collect::<HashSet<_>>(), expected);
    assert_eq!(saved.len(), expected.len(), "an id exported twice");
    assert!(!expected.contains(&4_000) && !expected.contains(&14));

    let after: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    let report = after.mark_all_succeeded(saved.iter().copied());
    assert_eq!((report.marked, report.refused.len()), (saved.len(), 0));
    let restored: HashSet<u64> = after.successes().into_iter().collect();
    assert_eq!(restored, expected);
    assert_eq!(after.counters().success_now as usize, expected.len());
    before.shutdown_with_grace(std::time::Duration::ZERO).await;
}

/// Catches a seed file that loses or mangles ids (spaces, empty lines, non-ASCII), or a
/// restore that marks what the file does not hold: runs the `seeding` example's own save and
/// restore.
async fn the_seed_file_round_trips() {
    let path = std::env::temp_dir().join(format!(
        "tasks-recorder-seed-{}-{:?}.txt",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    let before: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
    let empty = seed_file::restore(&before, &path).expect("a missing file is no seed");
    assert_eq!(empty.marked, 0);
    let ids = ["cid-1", "with space", "", "ünïcode", "tab\there"];
    for id in ids {
        before.mark_succeeded(id.to_string()).expect("a new id");
    }
    before
        .launch_block("failed".to_string(), async { Err::<(), _>(()) })
        .await
        .ok();
    let saved = seed_file::save(&before, &path).expect("saved");
    assert_eq!(saved, ids.len());
    let after: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
    let report = seed_file::restore(&after, &path).expect("restored");
    assert_eq!(report.marked, ids.len());
    let restored: HashSet<String> = after.successes().into_iter().collect();
    assert_eq!(restored, ids.iter().map(|id| id.to_string()).collect());
    let _ = std::fs::remove_file(&path);
}
