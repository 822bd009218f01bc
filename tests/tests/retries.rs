//! Retrying launches (`launch_retrying` with a `Retry` policy): tries counted, backoffs and
//! their jitter within bounds (in paused time), the predicate, one success however many
//! tries, the id `Working` throughout, and cancellation during a backoff. Every test says
//! which bug it would catch.
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::within;
use tasks_recorder::{
    current_attempt, AsyncTasksRecorder, FailureKind, LaunchError, Retry, TaskState,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

on_both_runtimes!(
    a_success_on_the_third_try_is_one_success,
    the_last_error_is_recorded_when_tries_run_out,
    the_predicate_stops_retrying,
);

/// A task maker whose `n`-th try (from 1) fails while `n < succeed_on`, reporting each try's
/// number on `tries`.
fn flaky(
    succeed_on: u32,
    tries: mpsc::UnboundedSender<u32>,
) -> impl FnMut() -> std::future::Ready<Result<(), String>> + Send + 'static {
    let mut n = 0;
    move || {
        n += 1;
        let _ = tries.send(n);
        std::future::ready(if n < succeed_on {
            Err(format!("try {n} failed"))
        } else {
            Ok(())
        })
    }
}

/// Catches tries that are not counted, a retry after a success, or a success counted per
/// try.
async fn a_success_on_the_third_try_is_one_success() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (tries, _seen) = mpsc::unbounded_channel();
    let policy = Retry::new(5).backoff(Duration::from_millis(1));
    recorder
        .launch_retrying(1, policy, flaky(3, tries))
        .await
        .expect("launched");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    let info = recorder.task_info(&1).await.expect("a record");
    assert_eq!(info.attempts, 3);
    let counters = recorder.counters();
    assert_eq!(
        (
            counters.succeeded_total,
            counters.retried_total,
            counters.failed_total
        ),
        (1, 2, 0)
    );
    assert_eq!((counters.working_now, counters.success_now), (0, 1));
}

/// Catches a policy that tries more than its maximum, or that records another error than the
/// last one.
async fn the_last_error_is_recorded_when_tries_run_out() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (tries, mut seen) = mpsc::unbounded_channel();
    let policy = Retry::new(3)
        .backoff(Duration::from_millis(1))
        .keep_error_text();
    recorder
        .launch_retrying(1, policy, flaky(u32::MAX, tries))
        .await
        .expect("launched");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
    let info = recorder.task_info(&1).await.expect("a record");
    let failure = info.failure.expect("a failure");
    assert_eq!(
        (info.attempts, failure.kind, failure.message.as_deref()),
        (3, FailureKind::Error, Some("try 3 failed"))
    );
    let mut count = 0;
    while seen.try_recv().is_ok() {
        count += 1;
    }
    assert_eq!(count, 3);
}

/// Catches a predicate that is ignored: an error it rejects ends the attempt at once.
async fn the_predicate_stops_retrying() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (tries, mut seen) = mpsc::unbounded_channel();
    let policy = Retry::new(10)
        .backoff(Duration::from_millis(1))
        .retry_if(|error: &String| !error.contains("try 2"));
    recorder
        .launch_retrying(1, policy, flaky(u32::MAX, tries))
        .await
        .expect("launched");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Failed);
    assert_eq!(recorder.task_info(&1).await.expect("a record").attempts, 2);
    let mut count = 0;
    while seen.try_recv().is_ok() {
        count += 1;
    }
    assert_eq!(count, 2);
}

/// Catches backoffs that do not double, pass their cap, or fall outside their jitter: in
/// paused time, the gaps between tries are measured exactly.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn backoffs_double_up_to_the_cap_within_their_jitter() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let times = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&times);
    let make = move || {
        recorded.lock().expect("not poisoned").push(Instant::now());
        std::future::ready(Err::<(), _>("busy"))
    };
    let (base, cap, jitter) = (Duration::from_secs(1), Duration::from_secs(5), 0.25);
    let policy = Retry::new(6).backoff(base).max_backoff(cap).jitter(jitter);
    recorder
        .launch_retrying(1, policy, make)
        .await
        .expect("launched");
    assert_eq!(recorder.wait(&1).await, TaskState::Failed);
    let times = times.lock().expect("not poisoned").clone();
    assert_eq!(times.len(), 6);
    for (n, pair) in times.windows(2).enumerate() {
        let full = (base * 2u32.pow(n as u32)).min(cap);
        let gap = pair[1] - pair[0];
        assert!(
            gap <= full && gap >= full.mul_f64(1.0 - jitter),
            "backoff {n}: {gap:?} outside [{:?}, {full:?}]",
            full.mul_f64(1.0 - jitter)
        );
    }
}

/// Catches an id that leaves `Working` between tries: during a backoff, queries say
/// `Working` and another launch of the id is refused as running.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_id_stays_working_during_a_backoff() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (tries, mut seen) = mpsc::unbounded_channel();
    let policy = Retry::new(3).backoff(Duration::from_secs(60)).jitter(0.0);
    recorder
        .launch_retrying(1, policy, flaky(2, tries))
        .await
        .expect("launched");
    assert_eq!(seen.recv().await, Some(1));
    // The first try failed; the backoff runs.
    assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
    match recorder.try_launch(1, async { Ok::<_, ()>(()) }).await {
        Err(LaunchError::AlreadyRunning(_)) => {}
        other => panic!("a launch during the backoff was not refused: {other:?}"),
    }
    assert_eq!(recorder.wait(&1).await, TaskState::Success);
    assert_eq!(seen.recv().await, Some(2));
}

/// Catches a cancel that waits for the backoff to end, for a task that never asked for its
/// signal and for one that watches it (which must not get its grace spent in the backoff).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_cancel_during_a_backoff_ends_it_at_once() {
    for watching in [false, true] {
        let recorder = AsyncTasksRecorder::<u64>::builder()
            .cancel_grace(Duration::from_secs(3600))
            .build();
        let (tries, mut seen) = mpsc::unbounded_channel();
        let make = move || {
            if watching {
                let _signal = current_attempt().expect("inside a task").token();
            }
            let _ = tries.send(());
            std::future::ready(Err::<(), _>("busy"))
        };
        let policy = Retry::new(3)
            .backoff(Duration::from_secs(3600))
            .keep_error_text();
        recorder
            .launch_retrying(1, policy, make)
            .await
            .expect("launched");
        seen.recv().await.expect("the first try ran");
        let cancelled_at = Instant::now();
        assert!(recorder.cancel(&1));
        assert_eq!(recorder.wait(&1).await, TaskState::Failed);
        assert_eq!(
            cancelled_at.elapsed(),
            Duration::ZERO,
            "watching: {watching}"
        );
        let failure = recorder.task_info(&1).await.and_then(|i| i.failure);
        assert_eq!(
            failure.map(|f| f.kind),
            Some(FailureKind::Cancelled),
            "watching: {watching}"
        );
        assert!(seen.try_recv().is_err(), "tried again after the cancel");
    }
}
