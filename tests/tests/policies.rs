//! Failure policies (`Builder::on_failure`): what a recorder does when its tasks fail. Every
//! test says which bug it would catch. Channels synchronise; time is paused for the window.
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use std::time::Duration;

use support::within;
use tasks_recorder::{
    current_attempt, AsyncTasksRecorder, FailureKind, FailurePolicy, LaunchError, TaskState,
};
use tokio::sync::oneshot;

on_both_runtimes!(
    a_first_failure_stops_the_siblings_and_says_why,
    only_the_picked_failures_count,
    a_threshold_fires_exactly_at_n,
    a_policy_never_turns_a_success_into_a_failure,
    cancellations_do_not_feed_the_policy,
);

/// A task that runs until its sender is used (or forever).
fn pending_until() -> (
    impl std::future::Future<Output = Result<(), String>> + Send + 'static,
    oneshot::Sender<()>,
) {
    let (release, released) = oneshot::channel::<()>();
    (
        async move {
            let _ = released.await;
            Ok(())
        },
        release,
    )
}

/// Launches `id` failing with `message`, and waits for it.
async fn fail(recorder: &AsyncTasksRecorder<u64>, id: u64, message: &'static str) {
    recorder
        .launch_with_error_text(id, async move { Err::<(), _>(message) })
        .await
        .map_err(|(state, _)| state)
        .expect("launched");
    assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Failed);
}

/// Catches a policy that lets the siblings of a failed task run on, leaves the recorder
/// open, or cancels them without saying which failure did it.
async fn a_first_failure_stops_the_siblings_and_says_why() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .describe_ids()
        .on_failure(FailurePolicy::cancel_all())
        .build();
    let (sibling, _keep) = pending_until();
    recorder.try_launch(1, sibling).await.expect("launched");
    let (sibling, _keep2) = pending_until();
    recorder.try_launch(2, sibling).await.expect("launched");
    fail(&recorder, 3, "disk full").await;
    for id in [1, 2] {
        assert_eq!(
            within("sibling", recorder.wait(&id)).await,
            TaskState::Failed
        );
        let failure = recorder.task_info(&id).await.and_then(|i| i.failure);
        let failure = failure.expect("a failure");
        assert_eq!(failure.kind, FailureKind::Cancelled);
        let message = failure.message.unwrap_or_default();
        assert!(
            message.contains("attempt 1 of 3: error: disk full"),
            "{message}"
        );
    }
    assert!(recorder.is_closed());
    let refused = recorder.try_launch(4, async { Ok::<_, ()>(()) }).await;
    assert!(matches!(refused, Err(LaunchError::Closed(_))));
    assert!(recorder.policy_fired().is_some());
    let c = recorder.counters();
    assert_eq!(
        (c.policy_fired_total, c.cancelled_total, c.failed_total),
        (1, 2, 1)
    );
}

/// Catches a predicate that is ignored: only the failures it picks fire the policy.
async fn only_the_picked_failures_count() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .on_failure(FailurePolicy::cancel_all_if(|failure| {
            failure
                .message
                .as_deref()
                .is_some_and(|m| m.contains("fatal"))
        }))
        .build();
    let (sibling, _keep) = pending_until();
    recorder.try_launch(1, sibling).await.expect("launched");
    for id in 10..13 {
        fail(&recorder, id, "transient").await;
    }
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
    assert!(!recorder.is_closed());
    fail(&recorder, 13, "fatal: bad credentials").await;
    assert_eq!(
        within("sibling", recorder.wait(&1)).await,
        TaskState::Failed
    );
    assert_eq!(recorder.counters().policy_fired_total, 1);
}

/// Catches a threshold off by one: after(3) fires at the third failure, not before.
async fn a_threshold_fires_exactly_at_n() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .on_failure(FailurePolicy::cancel_all().after(3))
        .build();
    let (sibling, _keep) = pending_until();
    recorder.try_launch(1, sibling).await.expect("launched");
    fail(&recorder, 10, "one").await;
    fail(&recorder, 11, "two").await;
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
    assert_eq!(recorder.counters().policy_fired_total, 0);
    fail(&recorder, 12, "three").await;
    assert_eq!(
        within("sibling", recorder.wait(&1)).await,
        TaskState::Failed
    );
    let why = recorder.policy_fired().expect("fired");
    assert!(
        why.contains("after 3 failures") && why.contains("three"),
        "{why}"
    );
    assert_eq!(recorder.counters().policy_fired_total, 1);
}

/// Catches a policy that turns a success into a failure: a sibling that, told to stop,
/// finishes with `Ok` keeps its success, and ids that succeeded before stay `Success`.
async fn a_policy_never_turns_a_success_into_a_failure() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .on_failure(FailurePolicy::cancel_all())
        .build();
    recorder
        .try_launch(1, async { Ok::<_, ()>(()) })
        .await
        .expect("launched");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    let (watching, is_watching) = oneshot::channel::<()>();
    recorder
        .try_launch(2, async move {
            let token = current_attempt().expect("inside").token();
            let _ = watching.send(());
            token.cancelled().await;
            Ok::<_, String>(()) // finishes its step, successfully
        })
        .await
        .expect("launched");
    within("2 watches", is_watching).await.expect("2 runs");
    fail(&recorder, 3, "boom").await;
    assert_eq!(within("2", recorder.wait(&2)).await, TaskState::Success);
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Success);
}

/// Catches a policy fed by its own cancellations, or by `cancel`: only the tasks' own
/// failures count.
async fn cancellations_do_not_feed_the_policy() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .on_failure(FailurePolicy::cancel_all())
        .build();
    for id in 0..3 {
        recorder
            .try_launch(id, std::future::pending::<Result<(), ()>>())
            .await
            .expect("launched");
        assert!(recorder.cancel(&id));
        assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Failed);
    }
    assert!(!recorder.is_closed());
    assert_eq!(recorder.counters().policy_fired_total, 0);
}

/// Catches a window that counts old failures: two failures 11 s apart do not fire a policy of
/// 2 within 10 s; a third, 1 s after the second, does.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_window_forgets_old_failures() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .on_failure(
            FailurePolicy::cancel_all()
                .after(2)
                .within(Duration::from_secs(10)),
        )
        .build();
    let (sibling, _keep) = pending_until();
    recorder.try_launch(1, sibling).await.expect("launched");
    fail(&recorder, 10, "first").await;
    tokio::time::advance(Duration::from_secs(11)).await;
    fail(&recorder, 11, "second").await;
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
    tokio::time::advance(Duration::from_secs(1)).await;
    fail(&recorder, 12, "third").await;
    assert_eq!(recorder.wait(&1).await, TaskState::Failed);
    assert_eq!(recorder.counters().policy_fired_total, 1);
}
