//! Child recorders (`child_builder`): shared limits, a child cancellation token, counters
//! that add up into the parent's aggregate, and the parent's shutdown draining the children
//! first. Every test says which bug it would catch. Channels synchronise.
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use support::{gated, within};
use tasks_recorder::{AsyncTasksRecorder, FailureKind, TaskState};
use tokio_util::sync::CancellationToken;

on_both_runtimes!(
    a_child_shares_its_parents_limit_unless_given_its_own,
    cancelling_the_parent_cancels_the_child_not_the_reverse,
    the_parents_shutdown_drains_the_children_first,
    the_aggregate_adds_up_and_keeps_a_dropped_childs_totals,
);

/// Catches a child that ignores its parent's concurrency limit (a subsystem could then run
/// more than the service allows), or that cannot have its own.
async fn a_child_shares_its_parents_limit_unless_given_its_own() {
    let parent: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder().max_concurrency(1).build();
    let child = parent.child_builder::<String>().build();
    let (task, started, release) = gated();
    parent.try_launch(1, task).await.expect("launched");
    within("1 starts", started).await.expect("1 runs");
    child
        .try_launch("a".to_string(), async { Ok::<_, ()>(()) })
        .await
        .expect("launched");
    let info = child.task_info("a").await.expect("a record");
    assert!(
        info.queued,
        "the child's attempt took a turn the parent holds"
    );
    release.send(()).expect("1 waits");
    assert_eq!(within("a", child.wait("a")).await, TaskState::Success);

    let own = parent.child_builder::<String>().max_concurrency(4).build();
    let (task, started, release) = gated();
    parent.try_launch(2, task).await.expect("launched");
    within("2 starts", started).await.expect("2 runs");
    own.try_launch("b".to_string(), async { Ok::<_, ()>(()) })
        .await
        .expect("launched");
    assert_eq!(within("b", own.wait("b")).await, TaskState::Success);
    release.send(()).expect("2 waits");
    assert_eq!(within("2", parent.wait(&2)).await, TaskState::Success);
}

/// Catches a child token that is not the parent's child: cancelling the parent must stop
/// the child's tasks and close it; cancelling the child must leave the parent running.
async fn cancelling_the_parent_cancels_the_child_not_the_reverse() {
    let service = CancellationToken::new();
    let parent: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .cancellation_token(service.clone())
        .build();
    let child = parent.child_builder::<u64>().build();
    let grandchild = child.child_builder::<u64>().build();
    for recorder in [&parent, &child, &grandchild] {
        recorder
            .try_launch(1, std::future::pending::<Result<(), ()>>())
            .await
            .expect("launched");
    }
    // The reverse first: a child's own cancellations stay in it.
    assert_eq!(child.cancel_all(), 1);
    assert_eq!(within("child", child.wait(&1)).await, TaskState::Failed);
    child.close();
    assert!(!parent.is_closed());
    assert_eq!(parent.query_task_state(&1).await, TaskState::Working);

    service.cancel();
    for recorder in [&parent, &grandchild] {
        assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
        let failure = recorder.task_info(&1).await.and_then(|i| i.failure);
        assert_eq!(failure.map(|f| f.kind), Some(FailureKind::ShutDown));
        assert!(recorder.is_closed());
    }
}

/// Catches a parent that closes before its children are drained (a subsystem's tasks cut
/// off while the service still accepts work), or that leaves a child running.
async fn the_parents_shutdown_drains_the_children_first() {
    let parent: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    let child = parent.child_builder::<u64>().build();
    let (task, started, release) = gated();
    child.try_launch(1, task).await.expect("launched");
    within("the child's task starts", started)
        .await
        .expect("it runs");
    let shutting = tokio::spawn({
        let parent = parent.clone();
        async move { parent.shutdown().await }
    });
    within("the child closes", async {
        while !child.is_closed() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // The child drains first: meanwhile, the parent is open and still launches.
    assert!(!parent.is_closed());
    parent
        .try_launch(2, async { Ok::<_, ()>(()) })
        .await
        .expect("the parent is still open");
    release.send(()).expect("the child's task waits");
    within("shutdown", shutting).await.expect("no panic");
    assert!(parent.is_closed());
    assert_eq!(child.running(), 0);
    assert_eq!(child.query_task_state(&1).await, TaskState::Success);
    assert_eq!(parent.query_task_state(&2).await, TaskState::Success);
}

/// Catches an aggregate that misses a child, counts one twice, or forgets a dropped child's
/// totals (or keeps its gauges).
async fn the_aggregate_adds_up_and_keeps_a_dropped_childs_totals() {
    let parent: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    let first = parent.child_builder::<u64>().build();
    let second = parent.child_builder::<String>().build();
    for (recorder, n) in [(&parent, 3u64), (&first, 5)] {
        for id in 0..n {
            recorder
                .try_launch(id, async { Ok::<_, ()>(()) })
                .await
                .expect("launched");
            assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Success);
        }
    }
    second
        .try_launch("x".to_string(), async { Err::<(), _>(()) })
        .await
        .expect("launched");
    assert_eq!(within("x", second.wait("x")).await, TaskState::Failed);
    let sum = |field: fn(&tasks_recorder::Counters) -> u64| {
        field(&parent.counters()) + field(&first.counters()) + field(&second.counters())
    };
    let aggregate = parent.aggregate_counters();
    assert_eq!(aggregate.launched_total, sum(|c| c.launched_total));
    assert_eq!(aggregate.succeeded_total, 8);
    assert_eq!(aggregate.success_now, sum(|c| c.success_now));
    assert_eq!(aggregate.failed_now, 1);

    within("the first child's shutdown", first.shutdown()).await;
    drop(first);
    let aggregate = parent.aggregate_counters();
    assert_eq!(
        aggregate.launched_total, 9,
        "the dropped child's totals stay"
    );
    assert_eq!(aggregate.succeeded_total, 8);
    assert_eq!(
        aggregate.success_now, 3,
        "the dropped child's records are gone"
    );
    assert_eq!(aggregate.failed_now, 1);
}
