//! When attempts start: queued versus started attempts under the concurrency limit, the rate
//! limit, and the bounded queue with its back-pressure (`Builder::max_queued`). Every test
//! says which bug it would catch. Channels synchronise; time is paused where the rate limit's
//! durations are checked.
#![forbid(unsafe_code)]

#[macro_use]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use support::{gated, poll_once, within};
use tasks_recorder::{AsyncTasksRecorder, FailureKind, LaunchError, TaskState};
use tokio::sync::oneshot;

on_both_runtimes!(
    a_waiting_attempt_reads_queued_until_it_starts,
    a_queued_attempt_cancelled_never_starts_and_leaves_the_queue,
    without_limits_nothing_is_queued,
    a_full_queue_refuses_try_launches_and_hands_the_task_back,
    a_launch_waiting_for_room_is_cancel_safe_and_lands_once,
    a_refused_launch_gives_its_place_back,
);

/// A recorder running at most one attempt at once, whose only running attempt is `1`, held
/// until the returned sender is used.
async fn one_at_a_time(max_queued: usize) -> (AsyncTasksRecorder<u64>, oneshot::Sender<()>) {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .max_concurrency(1)
        .max_queued(max_queued)
        .build();
    let (task, started, release) = gated();
    recorder.try_launch(1, task).await.expect("launched");
    within("1 starts", started).await.expect("1 runs");
    (recorder, release)
}

/// [`one_at_a_time`] with a queue of one place, taken by id `2` (it succeeds once it runs).
async fn with_a_full_queue() -> (AsyncTasksRecorder<u64>, oneshot::Sender<()>) {
    let (recorder, release_1) = one_at_a_time(1).await;
    recorder
        .try_launch(2, async { Ok::<_, ()>(()) })
        .await
        .expect("2 takes the only place in the queue");
    (recorder, release_1)
}

/// Catches a backlog that reads like slow tasks: an attempt waiting for the concurrency
/// limit must say it is queued, and the counters must split issued, queued and started.
async fn a_waiting_attempt_reads_queued_until_it_starts() {
    let (recorder, release_1) = one_at_a_time(0).await;
    let (task, started_2, release_2) = gated();
    recorder.try_launch(2, task).await.expect("launched");
    let info = recorder.task_info(&2).await.expect("a record");
    assert_eq!((info.state, info.queued), (TaskState::Working, true));
    assert!(!recorder.task_info(&1).await.expect("a record").queued);
    let c = recorder.counters();
    assert_eq!(
        (
            c.launched_total,
            c.started_total,
            c.queued_now,
            c.working_now
        ),
        (2, 1, 1, 2)
    );

    release_1.send(()).expect("1 waits");
    within("2 starts", started_2).await.expect("2 runs");
    assert!(!recorder.task_info(&2).await.expect("a record").queued);
    let c = recorder.counters();
    assert_eq!((c.started_total, c.queued_now), (2, 0));
    release_2.send(()).expect("2 waits");
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Success);
    assert!(!recorder.task_info(&2).await.expect("a record").queued);
}

/// Catches a queued gauge that keeps an attempt cancelled before its turn forever, and a
/// cancelled queued attempt that still starts once a place frees.
async fn a_queued_attempt_cancelled_never_starts_and_leaves_the_queue() {
    let (recorder, release_1) = one_at_a_time(0).await;
    let ran = Arc::new(AtomicBool::new(false));
    let task = {
        let ran = Arc::clone(&ran);
        async move {
            ran.store(true, Ordering::SeqCst);
            Ok::<_, ()>(())
        }
    };
    recorder.try_launch(2, task).await.expect("launched");
    assert!(recorder.cancel(&2));
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Failed);
    let failure = recorder.task_info(&2).await.and_then(|info| info.failure);
    assert_eq!(failure.map(|f| f.kind), Some(FailureKind::Cancelled));
    let c = recorder.counters();
    assert_eq!((c.started_total, c.queued_now), (1, 0));
    release_1.send(()).expect("1 waits");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
    within("shutdown", recorder.shutdown()).await;
    assert!(
        !ran.load(Ordering::SeqCst),
        "a cancelled queued attempt ran"
    );
    assert_eq!(recorder.counters().started_total, 1);
}

/// Catches a recorder without limits whose counters say its attempts never started.
async fn without_limits_nothing_is_queued() {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let (task, started, release) = gated();
    recorder.try_launch(1, task).await.expect("launched");
    within("1 starts", started).await.expect("1 runs");
    assert!(!recorder.task_info(&1).await.expect("a record").queued);
    let c = recorder.counters();
    assert_eq!((c.launched_total, c.started_total, c.queued_now), (1, 1, 0));
    release.send(()).expect("1 waits");
    assert_eq!(within("wait", recorder.wait(&1)).await, TaskState::Success);
}

/// Catches a bound on the queue that is not kept (by any launch form), a refusal that loses
/// or polls the task, and a refusal counted as a launch.
async fn a_full_queue_refuses_try_launches_and_hands_the_task_back() {
    let (recorder, release_1) = with_a_full_queue().await;
    let polled = Arc::new(AtomicBool::new(false));
    let task = {
        let polled = Arc::clone(&polled);
        async move {
            polled.store(true, Ordering::SeqCst);
            Ok::<_, ()>(())
        }
    };
    let refused = recorder.try_launch(3, task).await;
    let Err(LaunchError::QueueFull(task)) = refused else {
        panic!("a launch past the queue's bound was not refused as QueueFull");
    };
    let refused = recorder
        .try_launch_block(3, async { Ok::<_, ()>(()) })
        .await;
    assert_eq!(
        refused.err().map(|e| e.to_string()),
        Some("too many launches wait for their turn".to_string())
    );
    // The 2.0.2-compatible form reports the id's state, as for a closed recorder.
    let refused = recorder.launch(3, async { Ok::<_, ()>(()) }).await;
    assert_eq!(
        refused.map_err(|(state, _)| state),
        Err(TaskState::NotFound)
    );
    // A refusal for the id's own state comes first.
    let refused = recorder.try_launch(2, async { Ok::<_, ()>(()) }).await;
    assert!(matches!(refused, Err(LaunchError::AlreadyRunning(_))));
    assert!(!polled.load(Ordering::SeqCst), "a refused task was polled");
    assert_eq!(recorder.query_task_state(&3).await, TaskState::NotFound);
    let c = recorder.counters();
    assert_eq!((c.launched_total, c.refused_queue_full_total), (2, 3));
    // The task handed back is the caller's own, unpolled: it still runs.
    assert_eq!(task.await, Ok(()));
    assert!(polled.load(Ordering::SeqCst));

    release_1.send(()).expect("1 waits");
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Success);
    recorder
        .try_launch(3, async { Ok::<_, ()>(()) })
        .await
        .expect("room again once the queue drained");
    assert_eq!(within("wait", recorder.wait(&3)).await, TaskState::Success);
}

/// Catches back-pressure that loses or duplicates a launch: a launch waiting for room has
/// claimed nothing (dropping it leaves the id `NotFound`), and one that gets room runs once.
async fn a_launch_waiting_for_room_is_cancel_safe_and_lands_once() {
    let (recorder, release_1) = with_a_full_queue().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counting = || {
        let runs = Arc::clone(&runs);
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(())
        }
    };
    {
        let mut waiting = std::pin::pin!(recorder.launch_when_room(3, counting()));
        assert!(matches!(poll_once(waiting.as_mut()), Poll::Pending));
        // Dropped while waiting for room.
    }
    assert_eq!(recorder.query_task_state(&3).await, TaskState::NotFound);
    assert_eq!(recorder.counters().launched_total, 2);

    let waiting = tokio::spawn({
        let recorder = recorder.clone();
        let task = counting();
        async move { recorder.launch_when_room(3, task).await.map_err(drop) }
    });
    release_1.send(()).expect("1 waits");
    assert_eq!(
        within("the waiting launch", waiting)
            .await
            .expect("no panic"),
        Ok(())
    );
    assert_eq!(within("wait", recorder.wait(&3)).await, TaskState::Success);
    within("shutdown", recorder.shutdown()).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the waiting launch ran other than once"
    );
    let c = recorder.counters();
    assert_eq!(
        (c.launched_total, c.started_total, c.succeeded_total),
        (3, 3, 3)
    );
}

/// Catches a place in the queue that leaks: a launch that waited for room and was then
/// refused (its id runs), and queued attempts that started or were cancelled, each give
/// their place back, or the queue would fill up with nobody in it.
async fn a_refused_launch_gives_its_place_back() {
    let (recorder, release_1) = one_at_a_time(1).await;
    for _ in 0..3 {
        let refused = within(
            "room for a launch",
            recorder.launch_when_room(1, async { Ok::<_, ()>(()) }),
        )
        .await;
        assert!(matches!(refused, Err(LaunchError::AlreadyRunning(_))));
    }
    for _ in 0..3 {
        recorder
            .try_launch(2, std::future::pending::<Result<(), ()>>())
            .await
            .expect("the only place is free");
        assert!(recorder.cancel(&2));
        assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Failed);
    }
    recorder
        .try_launch(2, async { Ok::<_, ()>(()) })
        .await
        .expect("the only place is free");
    release_1.send(()).expect("1 waits");
    assert_eq!(within("wait", recorder.wait(&2)).await, TaskState::Success);
    for id in 3..6 {
        // Each starts (giving its place back) before the next is launched.
        recorder
            .try_launch(id, async { Ok::<_, ()>(()) })
            .await
            .expect("the only place is free");
        assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Success);
    }
    let c = recorder.counters();
    assert_eq!((c.queued_now, c.refused_queue_full_total), (0, 0));
}

/// Catches a rate limit that lets more starts through than its bucket holds, or holds them
/// back longer than its rate: 10 starts per second with a burst of 5, in paused time.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_rate_limit_bounds_starts_in_paused_time() {
    const TASKS: u64 = 25;
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .rate_limit(10, Duration::from_secs(1), 5)
        .build();
    let begin = tokio::time::Instant::now();
    let starts = Arc::new(Mutex::new(Vec::new()));
    for id in 0..TASKS {
        let starts = Arc::clone(&starts);
        recorder
            .try_launch(id, async move {
                starts
                    .lock()
                    .expect("not poisoned")
                    .push(tokio::time::Instant::now() - begin);
                Ok::<_, ()>(())
            })
            .await
            .expect("launched");
    }
    let queued = recorder.counters().queued_now;
    assert_eq!(
        queued, TASKS,
        "every launch waits for the rate limit at first"
    );
    for id in 0..TASKS {
        assert_eq!(recorder.wait(&id).await, TaskState::Success);
    }
    let mut starts = starts.lock().expect("not poisoned").clone();
    starts.sort();
    let period = Duration::from_millis(100);
    for (k, at) in starts.iter().enumerate() {
        // The k-th start (from 0) needs k + 1 tokens: 5 at first, one more each period.
        let earliest = period * (k as u32 + 1).saturating_sub(5);
        assert!(*at >= earliest, "start {k} at {at:?}, before {earliest:?}");
        assert!(
            *at <= earliest + period,
            "start {k} at {at:?}, held back past {:?}",
            earliest + period
        );
    }
    let c = recorder.counters();
    assert_eq!((c.started_total, c.queued_now), (TASKS, 0));
}

/// Catches a rate limit that only works on the current-thread runtime (its bucket runs on
/// tokio's clock): 11 starts at 100 per second with a burst of 1 take at least 100 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds_on_a_multi_thread_runtime() {
    let recorder = AsyncTasksRecorder::<u64>::builder()
        .rate_limit(100, Duration::from_secs(1), 1)
        .max_concurrency(4)
        .build();
    let begin = tokio::time::Instant::now();
    for id in 0..11 {
        recorder
            .try_launch(id, async { Ok::<_, ()>(()) })
            .await
            .expect("launched");
    }
    for id in 0..11 {
        assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Success);
    }
    // A lower bound only: a rate limit can never be faster than its rate.
    assert!(begin.elapsed() >= Duration::from_millis(100));
}

/// Catches input that panics the builder: a zero rate, a zero period, a zero burst.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn odd_rate_limits_never_panic() {
    for (starts, per, burst) in [
        (0, Duration::from_secs(1), 1),
        (5, Duration::ZERO, 1),
        (5, Duration::from_nanos(1), 0),
        (u32::MAX, Duration::from_secs(1), u32::MAX),
    ] {
        let recorder = AsyncTasksRecorder::<u64>::builder()
            .rate_limit(starts, per, burst)
            .max_queued(usize::MAX)
            .build();
        recorder
            .try_launch(1, async { Ok::<_, ()>(()) })
            .await
            .expect("launched");
        assert_eq!(recorder.wait(&1).await, TaskState::Success);
    }
}
