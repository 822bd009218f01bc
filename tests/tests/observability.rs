//! Observability and retention: failure reasons, attempts, exact counters, the transitions
//! stream, removal of failed records, and the `metrics` and `tracing` features. Every test
//! says which bug it would catch.
#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

use tasks_recorder::{AsyncTasksRecorder, FailureKind, TaskState, Transition};
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

const STUCK: Duration = Duration::from_secs(20);

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(STUCK, fut)
        .await
        .unwrap_or_else(|_| panic!("stuck: {what}"))
}

fn accepted<F>(result: Result<(), (TaskState, F)>) {
    if let Err((state, _)) = result {
        panic!("launch refused as {state}");
    }
}

/// A task that waits for `release` (or forever, if it is dropped) and then succeeds.
fn gated() -> (
    impl Future<Output = Result<(), ()>> + Send + 'static,
    oneshot::Sender<()>,
) {
    let (release, released) = oneshot::channel::<()>();
    (async move { released.await.map_err(drop) }, release)
}

async fn failure_of(recorder: &AsyncTasksRecorder<u64>, id: u64) -> (FailureKind, Option<String>) {
    let info = recorder.task_info(&id).await.expect("the id has a record");
    assert_eq!(info.state, TaskState::Failed);
    let failure = info.failure.expect("a failed id says why");
    (failure.kind, failure.message)
}

/// Catches failure reasons that are lost or wrong: an `Err` (with and without its text), a
/// panic (with its message), a cancel, a shutdown and a dropped `launch_block` each say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_says_why() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    accepted(
        recorder
            .launch_block(1, async { Err::<(), _>("disk full") })
            .await,
    );
    assert_eq!(failure_of(&recorder, 1).await, (FailureKind::Error, None));

    accepted(
        recorder
            .launch_block_with_error_text(2, async { Err::<(), _>("disk full") })
            .await,
    );
    assert_eq!(
        failure_of(&recorder, 2).await,
        (FailureKind::Error, Some("disk full".to_string()))
    );

    accepted(
        recorder
            .launch_with_error_text(3, async {
                if true {
                    panic!("checksum mismatch on chunk {}", 7);
                }
                Err::<(), &str>("unreachable")
            })
            .await,
    );
    assert_eq!(within("wait", recorder.wait(&3)).await, TaskState::Failed);
    assert_eq!(
        failure_of(&recorder, 3).await,
        (
            FailureKind::Panicked,
            Some("checksum mismatch on chunk 7".to_string())
        )
    );

    let (task, _keep) = gated();
    accepted(recorder.launch(4, task).await);
    assert!(recorder.cancel(&4));
    assert_eq!(within("wait", recorder.wait(&4)).await, TaskState::Failed);
    assert_eq!(
        failure_of(&recorder, 4).await,
        (FailureKind::Cancelled, None)
    );

    let (task, _keep) = gated();
    tokio::select! {
        biased;
        _ = recorder.launch_block(5, task) => unreachable!("gated"),
        _ = tokio::task::yield_now() => {}
    }
    assert_eq!(failure_of(&recorder, 5).await, (FailureKind::Dropped, None));

    let (task, _keep) = gated();
    accepted(recorder.launch(6, task).await);
    let cancelled = within(
        "shutdown",
        recorder.shutdown_with_grace(Duration::from_millis(20)),
    )
    .await;
    assert_eq!(cancelled, 1);
    assert_eq!(
        failure_of(&recorder, 6).await,
        (FailureKind::ShutDown, None)
    );
}

/// Catches a recorder's token that records its cancellations as plain cancels.
#[tokio::test(flavor = "current_thread")]
async fn token_cancellation_is_a_shutdown() {
    let token = CancellationToken::new();
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .cancellation_token(token.clone())
        .build();
    let (task, _keep) = gated();
    accepted(recorder.launch(1, task).await);
    token.cancel();
    within("shutdown", recorder.shutdown()).await;
    assert_eq!(
        failure_of(&recorder, 1).await,
        (FailureKind::ShutDown, None)
    );
}

/// Catches attempts that do not add up over retries, keep counting after a revoke, or a
/// failure reason that outlives the success that followed it.
#[tokio::test(flavor = "current_thread")]
async fn attempts_count_retries_and_success_frees_the_reason() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    assert_eq!(recorder.task_info(&1).await, None);
    for _ in 0..3 {
        accepted(recorder.launch_block(1, async { Err::<(), _>(()) }).await);
    }
    assert_eq!(recorder.task_info(&1).await.expect("record").attempts, 3);
    accepted(recorder.launch_block(1, async { Ok::<_, ()>(()) }).await);
    let info = recorder.task_info(&1).await.expect("record");
    assert_eq!(
        (info.state, info.attempts, info.failure),
        (TaskState::Success, 4, None)
    );
    assert!(recorder
        .revoke_task_block(1, async { Ok::<_, ()>(()) })
        .await
        .is_ok());
    accepted(recorder.launch_block(1, async { Ok::<_, ()>(()) }).await);
    assert_eq!(recorder.task_info(&1).await.expect("record").attempts, 1);
}

/// Catches counters that drift: Dynamo's tracker stays off by one after a panic. Every
/// outcome here is counted exactly once, and the gauges match the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_exact_under_panics_and_cancellations() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    for id in 0..40u64 {
        let task = async move {
            tokio::task::yield_now().await;
            match id % 4 {
                0 => Ok(()),
                1 => Err(()),
                2 => panic!("task {id} exploded (expected by the test)"),
                _ => std::future::pending().await,
            }
        };
        accepted(recorder.launch(id, task).await);
    }
    // Refusals: running (the pending ones), then succeeded once they settle.
    for id in (3..40u64).step_by(4) {
        let (state, _) = recorder
            .launch(id, async { Ok::<_, ()>(()) })
            .await
            .expect_err("running");
        assert_eq!(state, TaskState::Working);
    }
    for id in (0..40u64).filter(|id| id % 4 != 3) {
        within("wait", recorder.wait(&id)).await;
    }
    assert_eq!(recorder.cancel_all(), 10);
    for id in (3..40u64).step_by(4) {
        assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Failed);
    }
    assert!(recorder.launch(0, async { Ok::<_, ()>(()) }).await.is_err());
    // One revoke, one relaunch of a failed id, one removal.
    assert!(recorder
        .revoke_task_block(4, async { Ok::<_, ()>(()) })
        .await
        .is_ok());
    accepted(recorder.launch_block(1, async { Err::<(), _>(()) }).await);
    assert!(recorder.remove_failed(&5));
    recorder.close();
    assert!(recorder
        .launch(100, async { Ok::<_, ()>(()) })
        .await
        .is_err());

    let c = recorder.counters();
    assert_eq!(c.launched_total, 41);
    assert_eq!(
        (
            c.refused_running_total,
            c.refused_succeeded_total,
            c.refused_closed_total,
            c.refused_total()
        ),
        (10, 1, 1, 12)
    );
    assert_eq!(
        (
            c.succeeded_total,
            c.failed_total,
            c.panicked_total,
            c.cancelled_total,
            c.dropped_total
        ),
        (10, 11, 10, 10, 0)
    );
    assert_eq!((c.revoked_total, c.removed_total), (1, 1));
    assert_eq!(
        c.working_now as usize,
        recorder.count_in_state(TaskState::Working).await
    );
    assert_eq!(
        c.success_now as usize,
        recorder.count_in_state(TaskState::Success).await
    );
    assert_eq!(
        c.failed_now as usize,
        recorder.count_in_state(TaskState::Failed).await
    );
    assert_eq!((c.working_now, c.success_now, c.failed_now), (0, 9, 29));
}

async fn next(
    transitions: &mut broadcast::Receiver<Transition<u64>>,
) -> (u64, TaskState, TaskState) {
    let t = within("transition", transitions.recv())
        .await
        .expect("a transition");
    (t.id, t.from, t.to)
}

/// Catches a transitions stream that misses, reorders or invents transitions.
#[tokio::test(flavor = "current_thread")]
async fn transitions_arrive_in_order() {
    use TaskState::*;
    let recorder = AsyncTasksRecorder::<u64>::new();
    let mut transitions = recorder.subscribe_transitions();
    accepted(recorder.launch_block(1, async { Err::<(), _>(()) }).await);
    accepted(recorder.launch_block(1, async { Ok::<_, ()>(()) }).await);
    let _ = recorder.launch_block(1, async { Ok::<_, ()>(()) }).await; // refused: no transition
    assert!(recorder
        .revoke_task_block(1, async { Err::<(), _>(()) })
        .await
        .is_err());
    assert!(recorder
        .revoke_task_block(1, async { Ok::<_, ()>(()) })
        .await
        .is_ok());
    accepted(recorder.launch_block(2, async { Err::<(), _>(()) }).await);
    assert!(recorder.remove_failed(&2));
    let expected = [
        (1, NotFound, Working),
        (1, Working, Failed),
        (1, Failed, Working),
        (1, Working, Success),
        (1, Success, NotFound),
        (2, NotFound, Working),
        (2, Working, Failed),
        (2, Failed, NotFound),
    ];
    for transition in expected {
        assert_eq!(next(&mut transitions).await, transition);
    }
    assert!(transitions.try_recv().is_err(), "no more transitions");
}

/// Catches a slow subscriber that blocks the tasks, or that is not told it lost transitions.
#[tokio::test(flavor = "current_thread")]
async fn a_lagging_subscriber_is_told_and_never_blocks() {
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .transitions_capacity(4)
        .build();
    let mut transitions = recorder.subscribe_transitions();
    for id in 0..10u64 {
        accepted(recorder.launch_block(id, async { Ok::<_, ()>(()) }).await);
    }
    match transitions.recv().await {
        Err(broadcast::error::RecvError::Lagged(lost)) => assert_eq!(lost, 16),
        other => panic!("expected a lag, got {other:?}"),
    }
    assert_eq!(
        next(&mut transitions).await,
        (8, TaskState::NotFound, TaskState::Working)
    );
}

/// Catches removal that touches ids that are not failed, or leaves failed ones behind.
#[tokio::test(flavor = "current_thread")]
async fn failed_records_can_be_removed() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    for id in 0..10u64 {
        accepted(
            recorder
                .launch_block(id, async move {
                    if id < 6 {
                        Err(())
                    } else {
                        Ok(())
                    }
                })
                .await,
        );
    }
    assert!(!recorder.remove_failed(&7), "a success is not removed");
    assert!(!recorder.remove_failed(&70), "nothing to remove");
    assert!(recorder.remove_failed(&0));
    assert_eq!(recorder.query_task_state(&0).await, TaskState::NotFound);
    assert_eq!(
        recorder.remove_failed_older_than(Duration::from_secs(3600)),
        0
    );
    assert_eq!(recorder.remove_failed_older_than(Duration::ZERO), 5);
    accepted(recorder.launch_block(20, async { Err::<(), _>(()) }).await);
    assert_eq!(recorder.clear_failed(), 1);
    assert_eq!(recorder.count_in_state(TaskState::Failed).await, 0);
    assert_eq!(recorder.count_in_state(TaskState::Success).await, 4);
    assert_eq!(recorder.counters().removed_total, 7);
}

/// Catches a `max_failed` policy that lets failed records grow without bound, evicts the
/// newest, or touches successes.
#[tokio::test(flavor = "current_thread")]
async fn max_failed_bounds_failed_records() {
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder().max_failed(100).build();
    for id in 0..1_000u64 {
        accepted(
            recorder
                .launch_block(id, async move {
                    if id % 10 == 0 {
                        Ok(())
                    } else {
                        Err(())
                    }
                })
                .await,
        );
        assert!(recorder.counters().failed_now <= 100);
    }
    let failed = recorder.ids_in_state(TaskState::Failed).await;
    assert!(
        failed.len() <= 100 && failed.len() >= 87,
        "{} failed kept",
        failed.len()
    );
    assert!(failed.contains(&999), "the newest failure is kept");
    assert!(!failed.contains(&1), "the oldest failure is gone");
    assert_eq!(recorder.count_in_state(TaskState::Success).await, 100);
}

/// Catches counters published under the wrong names or labels (the `metrics` feature), a
/// mark left out of the metrics, or a marked id missing from the success gauge.
#[cfg(feature = "metrics")]
#[tokio::test(flavor = "current_thread")]
async fn metrics_are_published_with_the_recorder_name() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder().name("uploads").build();
    accepted(recorder.launch_block(1, async { Ok::<_, ()>(()) }).await);
    accepted(recorder.launch_block(2, async { Err::<(), _>(()) }).await);
    recorder.mark_succeeded(3).expect("a new id is marked");
    let debugging = DebuggingRecorder::new();
    let snapshotter = debugging.snapshotter();
    metrics::with_local_recorder(&debugging, || recorder.publish_metrics());
    type Labels = Vec<(String, String)>;
    let metrics: Vec<(String, Labels, DebugValue)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            (key.name().to_string(), labels, value)
        })
        .collect();
    let find = |name: &str, extra: Option<(&str, &str)>| {
        metrics
            .iter()
            .find(|(n, labels, _)| {
                n == name
                    && labels.contains(&("recorder".into(), "uploads".into()))
                    && extra.is_none_or(|(k, v)| labels.contains(&(k.into(), v.into())))
            })
            .map(|(_, _, value)| value)
            .unwrap_or_else(|| panic!("{name} {extra:?} not published"))
    };
    assert!(matches!(
        find("tasks_recorder_launched_total", None),
        DebugValue::Counter(2)
    ));
    assert!(matches!(
        find("tasks_recorder_finished_total", Some(("outcome", "failed"))),
        DebugValue::Counter(1)
    ));
    assert!(matches!(
        find("tasks_recorder_marked_total", None),
        DebugValue::Counter(1)
    ));
    assert!(matches!(
        find("tasks_recorder_tasks", Some(("state", "success"))),
        DebugValue::Gauge(g) if g.into_inner() == 2.0
    ));
}
