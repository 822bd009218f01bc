//! Fault injection: every public future of the recorder (`launch`, `try_launch`,
//! `launch_with_timeout`, `launch_retrying`, `launch_when_room`, `launch_block`, `try_launch_block`,
//! `revoke_task_block`, `wait`, `shutdown`, `shutdown_with_grace`) is polled by hand with a no-op waker `k` times, for every `k` from 0
//! to past its completion, and then dropped; the tasks inside yield, then succeed, fail or
//! panic, and are cancelled at every point too; a whole runtime is dropped with work in
//! flight. After each fault: no id is left `Working`, no id is left revoking (a later revoke
//! of a `Success` id is accepted, not refused as `Revoking`), no waiter hangs, and a later
//! shutdown completes. Timeouts only detect a stuck test.
//!
//! Each test runs on the current-thread and the multi-thread runtime, except the one that
//! needs paused time (current-thread only) and the one that builds its own runtimes.
#![forbid(unsafe_code)]

mod support;

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use support::{assert_settled_and_revocable, poll_times, within, Polled, TASK_PANIC};
use tasks_recorder::{
    current_attempt, AsyncTasksRecorder, LaunchError, Retry, RevokeFailReason, TaskState,
};
use tokio::runtime::RuntimeFlavor;
use tokio::sync::oneshot;

macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod current_thread {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $name() {
                    super::support::quiet_task_panics();
                    super::$name().await
                }
            )*
        }
        mod multi_thread {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::support::quiet_task_panics();
                    super::$name().await
                }
            )*
        }
    };
}

on_both_runtimes!(
    launch_futures_dropped_after_each_poll,
    spawned_tasks_cancelled_at_each_point,
    launch_block_dropped_after_each_poll,
    launch_block_cancelled_at_each_point,
    launch_block_dropped_while_waiting_for_the_limit,
    revoke_dropped_after_each_poll,
    wait_dropped_after_each_poll,
    shutdown_dropped_after_each_poll,
    new_launch_forms_dropped_after_each_poll,
    retrying_tasks_cancelled_at_each_point,
    watching_tasks_cancelled_at_each_point,
    queued_launches_dropped_after_each_poll,
);

/// How a task ends after its yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Ok,
    Err,
    Panic,
}

const ENDS: [End; 3] = [End::Ok, End::Err, End::Panic];

/// How many times a task yields before it ends: it completes on poll `YIELDS + 1`.
const YIELDS: usize = 3;

impl End {
    /// The state a task ending so leaves its id in.
    fn state(self) -> TaskState {
        match self {
            End::Ok => TaskState::Success,
            End::Err | End::Panic => TaskState::Failed,
        }
    }

    fn result(self) -> Result<(), ()> {
        match self {
            End::Ok => Ok(()),
            End::Err => Err(()),
            End::Panic => std::panic::panic_any(TASK_PANIC),
        }
    }
}

/// A task that yields `YIELDS` times, then ends with `end`.
async fn task(end: End) -> Result<(), ()> {
    for _ in 0..YIELDS {
        tokio::task::yield_now().await;
    }
    end.result()
}

/// A task that waits for the test to send how it ends (or forever, if nobody sends).
fn gated() -> (
    impl Future<Output = Result<(), ()>> + Send + 'static,
    oneshot::Sender<End>,
) {
    let (release, released) = oneshot::channel::<End>();
    let task = async move {
        match released.await {
            Ok(end) => end.result(),
            Err(_) => std::future::pending().await,
        }
    };
    (task, release)
}

fn is_current_thread() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == RuntimeFlavor::CurrentThread
}

/// Catches a `launch` / `try_launch` future that, dropped before or after its poll, leaves the
/// id half launched (recorded but never run, so `Working` forever), or launches anything when
/// dropped unpolled.
async fn launch_futures_dropped_after_each_poll() {
    for end in ENDS {
        for try_ in [false, true] {
            for k in 0..3 {
                let recorder = AsyncTasksRecorder::<u64>::new();
                let (polled, accepted) = if try_ {
                    let fut = pin!(recorder.try_launch(1, task(end)));
                    let (polled, out) = poll_times(fut, k).await;
                    (polled, out.map(|r| r.is_ok()))
                } else {
                    let fut = pin!(recorder.launch(1, task(end)));
                    let (polled, out) = poll_times(fut, k).await;
                    (polled, out.map(|r| r.is_ok()))
                };
                let what = format!("{end:?} try={try_} k={k}");
                check_launch_polled(&recorder, k, polled, accepted, end, &what).await;
            }
        }
    }
}

/// Checks id 1 after its launch future was polled `k` times and dropped: launched nothing
/// if never polled; else launched at once, and ends as `end` says; nothing left behind.
async fn check_launch_polled(
    recorder: &AsyncTasksRecorder<u64>,
    k: usize,
    polled: Polled,
    accepted: Option<bool>,
    end: End,
    what: &str,
) {
    if k == 0 {
        assert_eq!(polled, Polled::Pending, "{what}");
        assert_eq!(recorder.query_task_state(&1).await, TaskState::NotFound);
    } else {
        assert_eq!(polled, Polled::Ready(1), "{what}: launch completes at once");
        assert_eq!(accepted, Some(true), "{what}");
        assert_eq!(
            within("wait", recorder.wait(&1)).await,
            end.state(),
            "{what}"
        );
    }
    assert_settled_and_revocable(recorder, [1]).await;
}

/// Catches a spawned task whose cancellation at some point (before it starts, between its
/// yields, as it panics) leaves the id `Working`, hides a success, or hangs its waiter.
async fn spawned_tasks_cancelled_at_each_point() {
    for end in ENDS {
        for yields_before_cancel in 0..YIELDS + 3 {
            let recorder = AsyncTasksRecorder::<u64>::new();
            assert!(recorder.launch(1, task(end)).await.is_ok());
            cancel_after_yields(&recorder, end, yields_before_cancel, true).await;
        }
    }
}

/// Cancels the running attempt of id 1 after `yields` yields of the test, then checks that
/// the id ends `Failed` if the cancel found it running (or, unless `dropped_at_once`, as the
/// task ended on its own, which it may have reached first), as `end` says if not, that a
/// waiter wakes with the same state, and that nothing is left behind. `dropped_at_once`:
/// the task cannot see the signal, so on one thread it cannot end after the cancel.
async fn cancel_after_yields(
    recorder: &AsyncTasksRecorder<u64>,
    end: End,
    yields: usize,
    dropped_at_once: bool,
) {
    let waiter = tokio::spawn({
        let recorder = recorder.clone();
        async move { recorder.wait(&1).await }
    });
    for _ in 0..yields {
        tokio::task::yield_now().await;
    }
    let cancelled = recorder.cancel(&1);
    let state = within("wait", recorder.wait(&1)).await;
    let what = format!("{end:?} cancelled after {yields} yields");
    if !cancelled {
        assert_eq!(state, end.state(), "{what}: finished first");
    } else if dropped_at_once && is_current_thread() {
        assert_eq!(state, TaskState::Failed, "{what}");
    } else {
        // On several threads the task may return between the cancel and the drop; a task
        // that watches its signal may be past its last look at it.
        assert!(
            state == TaskState::Failed || state == end.state(),
            "{what}: {state}"
        );
    }
    assert_eq!(within("waiter", waiter).await.expect("waiter"), state);
    assert_settled_and_revocable(recorder, [1]).await;
}

/// A maker of tries for `launch_retrying`: each try yields like [`task`]; the first two fail,
/// the third ends with `end`.
fn tries(
    end: End,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = Result<(), ()>> + Send>> + Send + 'static
{
    let mut n = 0;
    move || {
        n += 1;
        let this = if n < 3 { End::Err } else { end };
        Box::pin(task(this))
    }
}

/// Catches a `launch_with_timeout` or `launch_retrying` future that, dropped before or after
/// its poll, leaves the id half launched, or launches anything when dropped unpolled.
async fn new_launch_forms_dropped_after_each_poll() {
    for end in ENDS {
        for retrying in [false, true] {
            for k in 0..3 {
                let recorder = AsyncTasksRecorder::<u64>::new();
                let (polled, accepted) = if retrying {
                    let policy = Retry::new(3).backoff(Duration::from_millis(1));
                    let fut = pin!(recorder.launch_retrying(1, policy, tries(end)));
                    let (polled, out) = poll_times(fut, k).await;
                    (polled, out.map(|r| r.is_ok()))
                } else {
                    let fut =
                        pin!(recorder.launch_with_timeout(1, Duration::from_secs(3600), task(end)));
                    let (polled, out) = poll_times(fut, k).await;
                    (polled, out.map(|r| r.is_ok()))
                };
                let what = format!("{end:?} retrying={retrying} k={k}");
                check_launch_polled(&recorder, k, polled, accepted, end, &what).await;
            }
        }
    }
}

/// Catches a retrying attempt whose cancellation at some point (in a try, between tries, in
/// a backoff) leaves the id `Working`, runs another try, hides a success, or hangs its
/// waiter.
async fn retrying_tasks_cancelled_at_each_point() {
    for end in ENDS {
        for yields_before_cancel in 0..3 * (YIELDS + 2) {
            let recorder = AsyncTasksRecorder::<u64>::new();
            let policy = Retry::new(3).backoff(Duration::ZERO);
            assert!(recorder
                .launch_retrying(1, policy, tries(end))
                .await
                .is_ok());
            cancel_after_yields(&recorder, end, yields_before_cancel, true).await;
        }
    }
}

/// Catches a task that watches its cancellation signal and whose graceful cancellation at
/// some point leaves the id `Working`, hides a success, or hangs its waiter: the task takes
/// its signal, then yields, ends with `end` if not told, and returns `Err` when told.
async fn watching_tasks_cancelled_at_each_point() {
    for end in ENDS {
        for yields_before_cancel in 0..YIELDS + 3 {
            let recorder = AsyncTasksRecorder::<u64>::builder()
                .cancel_grace(Duration::from_millis(5))
                .build();
            let watching = async move {
                let stop = current_attempt().expect("inside a task").token();
                for _ in 0..YIELDS {
                    if stop.is_cancelled() {
                        return Err(());
                    }
                    tokio::task::yield_now().await;
                }
                end.result()
            };
            assert!(recorder.launch(1, watching).await.is_ok());
            cancel_after_yields(&recorder, end, yields_before_cancel, false).await;
        }
    }
}

/// What a `launch_block` polled `k` times and dropped must leave its id in.
fn expected_after_block(k: usize, polled: Polled, end: End) -> TaskState {
    match polled {
        Polled::Pending if k == 0 => TaskState::NotFound,
        Polled::Pending => TaskState::Failed,
        Polled::Ready(_) | Polled::Panicked(_) => end.state(),
    }
}

/// Catches 2.0.2's bug and its variants: a `launch_block` / `try_launch_block` future dropped
/// half way (after any number of polls) leaves the id `Working` forever, or a panicking task
/// leaves it `Working` when the panic unwinds through the caller's poll.
async fn launch_block_dropped_after_each_poll() {
    for end in ENDS {
        for try_ in [false, true] {
            for k in 0..=YIELDS + 2 {
                let recorder = AsyncTasksRecorder::<u64>::new();
                let polled = if try_ {
                    let fut = pin!(recorder.try_launch_block(1, task(end)));
                    let (polled, out) = poll_times(fut, k).await;
                    if let Some(result) = out {
                        assert!(result.is_ok(), "try_launch_block refused");
                    }
                    polled
                } else {
                    let fut = pin!(recorder.launch_block(1, task(end)));
                    let (polled, out) = poll_times(fut, k).await;
                    if let Some(result) = out {
                        assert!(result.is_ok(), "launch_block refused");
                    }
                    polled
                };
                let what = format!("{end:?} try={try_} k={k}: {polled:?}");
                let expected = expected_after_block(k, polled, end);
                if k > YIELDS {
                    assert_ne!(polled, Polled::Pending, "{what}: the task must have ended");
                }
                assert_eq!(recorder.query_task_state(&1).await, expected, "{what}");
                assert_eq!(within("wait", recorder.wait(&1)).await, expected, "{what}");
                // The id is not stuck: it can be launched again unless it succeeded.
                let again = recorder.launch_block(1, async { Ok::<_, ()>(()) }).await;
                assert_eq!(again.is_ok(), expected != TaskState::Success, "{what}");
                assert_settled_and_revocable(&recorder, [1]).await;
            }
        }
    }
}

/// Catches a `launch_block` that cannot be cancelled at some point of its run (or that,
/// cancelled, leaves the id `Working` or reports a refusal), including while the caller
/// polls it by hand.
///
/// The inline run is biased towards completion (`tokio_util`'s `run_until_cancelled`): after
/// a cancel the task is polled once more, and a task that returns in that poll (cancelled
/// after its last yield) records its own outcome, as documented for a task that "finished
/// first". Earlier cancels must drop it and record `Failed`.
async fn launch_block_cancelled_at_each_point() {
    for end in ENDS {
        for cancel_after in 1..=YIELDS {
            let recorder = AsyncTasksRecorder::<u64>::new();
            let mut fut = pin!(recorder.try_launch_block(1, task(end)));
            let (polled, _) = poll_times(fut.as_mut(), cancel_after).await;
            assert_eq!(polled, Polled::Pending);
            assert!(recorder.cancel(&1), "a running launch_block is Working");
            let (polled, out) = poll_times(fut.as_mut(), 1).await;
            let what = format!("{end:?} cancelled after {cancel_after} polls");
            let expected = if cancel_after < YIELDS {
                assert_eq!(polled, Polled::Ready(1), "{what}: returns at once");
                assert!(matches!(out, Some(Ok(()))), "{what}: cancelled is Ok(())");
                TaskState::Failed
            } else {
                let finished = match end {
                    End::Panic => Polled::Panicked(1),
                    End::Ok | End::Err => Polled::Ready(1),
                };
                assert_eq!(polled, finished, "{what}");
                end.state()
            };
            assert_eq!(recorder.query_task_state(&1).await, expected, "{what}");
            assert_settled_and_revocable(&recorder, [1]).await;
        }
    }
}

/// Catches a `launch_block` dropped while it waits for the concurrency limit that stays
/// `Working`, or leaks its place in the semaphore queue so later tasks never run.
async fn launch_block_dropped_while_waiting_for_the_limit() {
    for k in 0..4 {
        let recorder: AsyncTasksRecorder<u64> =
            AsyncTasksRecorder::builder().max_concurrency(1).build();
        let (holder, release) = gated();
        assert!(recorder.launch(1, holder).await.is_ok());
        {
            let fut = pin!(recorder.launch_block(2, task(End::Ok)));
            let (polled, _) = poll_times(fut, k).await;
            assert_eq!(
                polled,
                Polled::Pending,
                "k={k}: no permit, the task cannot end"
            );
            if k > 0 {
                assert_eq!(recorder.query_task_state(&2).await, TaskState::Working);
            }
        }
        let expected = if k == 0 {
            TaskState::NotFound
        } else {
            TaskState::Failed
        };
        assert_eq!(recorder.query_task_state(&2).await, expected, "k={k}");
        release.send(End::Ok).expect("the holder waits");
        assert_eq!(
            within("holder", recorder.wait(&1)).await,
            TaskState::Success
        );
        assert!(recorder.launch(3, task(End::Ok)).await.is_ok());
        assert_eq!(
            within("a task after the dropped one", recorder.wait(&3)).await,
            TaskState::Success,
            "k={k}: the permit was lost"
        );
        assert_settled_and_revocable(&recorder, [1, 2, 3]).await;
    }
}

/// Catches the bounded queue's leaks under drops: a `launch_when_room` dropped while it waits
/// for room (it must claim nothing and take no place), and a `launch_block` dropped while its
/// attempt is queued (it must end `Failed` and give its place back). After each, the queue
/// still has its one place: a later launch is accepted, and nothing stays queued.
async fn queued_launches_dropped_after_each_poll() {
    for k in 0..4 {
        let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
            .max_concurrency(1)
            .max_queued(1)
            .build();
        let (holder, release) = gated();
        let (started, has_started) = oneshot::channel::<()>();
        let holder = async move {
            let _ = started.send(());
            holder.await
        };
        assert!(recorder.launch(1, holder).await.is_ok());
        // Id 1 runs (its place given back); it holds the only turn.
        within("1 starts", has_started).await.expect("1 runs");
        {
            let fut = pin!(recorder.launch_block(2, task(End::Ok)));
            let (polled, _) = poll_times(fut, k).await;
            assert_eq!(polled, Polled::Pending, "k={k}: queued, it cannot end");
        }
        let expected_2 = if k == 0 {
            TaskState::NotFound
        } else {
            TaskState::Failed
        };
        assert_eq!(recorder.query_task_state(&2).await, expected_2, "k={k}");
        assert_eq!(recorder.counters().queued_now, 0, "k={k}: 2 stays queued");
        // 3 takes the only place; 4 waits for room.
        assert!(
            recorder.try_launch(3, task(End::Ok)).await.is_ok(),
            "k={k}: a place was lost"
        );
        {
            let fut = pin!(recorder.launch_when_room(4, task(End::Ok)));
            let (polled, _) = poll_times(fut, k).await;
            assert_eq!(polled, Polled::Pending, "k={k}: the queue is full");
        }
        assert_eq!(
            recorder.query_task_state(&4).await,
            TaskState::NotFound,
            "k={k}"
        );
        release.send(End::Ok).expect("the holder waits");
        for id in [1, 3] {
            assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Success);
        }
        for id in 5..8 {
            recorder
                .try_launch(id, task(End::Ok))
                .await
                .unwrap_or_else(|e| panic!("k={k}: {e} (a place was lost)"));
            assert_eq!(within("wait", recorder.wait(&id)).await, TaskState::Success);
        }
        assert_eq!(recorder.counters().queued_now, 0, "k={k}");
        assert_settled_and_revocable(&recorder, [1, 2, 3, 4, 5, 6, 7]).await;
    }
}

/// Catches 2.0.2's revoke bugs under drops: a `revoke_task_block` future dropped after any
/// number of polls (or whose undo panics) leaves the id revoking, so every later revoke is
/// refused as `Revoking` and launches are refused forever; or removes the success although the
/// undo never finished.
async fn revoke_dropped_after_each_poll() {
    for end in ENDS {
        for k in 0..=YIELDS + 2 {
            let recorder = AsyncTasksRecorder::<u64>::new();
            assert!(recorder
                .launch_block(1, async { Ok::<_, ()>(()) })
                .await
                .is_ok());
            let polled = {
                let mut fut = pin!(recorder.revoke_task_block(1, task(end)));
                let (polled, out) = poll_times(fut.as_mut(), k).await;
                if polled == Polled::Pending && k > 0 {
                    // Really revoking: a second revoke and a launch are refused.
                    let second = recorder
                        .revoke_task_block(1, async { Ok::<_, ()>(()) })
                        .await;
                    assert!(matches!(second, Err(RevokeFailReason::Revoking(_))));
                    let launch = recorder.try_launch(1, task(End::Ok)).await;
                    assert!(matches!(launch, Err(LaunchError::AlreadySucceeded(_))));
                    assert_eq!(recorder.query_task_state(&1).await, TaskState::Success);
                }
                if let Some(result) = out {
                    match (end, result) {
                        (End::Ok, Ok(())) => {}
                        (End::Err, Err(RevokeFailReason::RevokeTaskError(()))) => {}
                        (end, _) => panic!("{end:?} k={k}: wrong revoke result"),
                    }
                }
                polled
            };
            let expected = match polled {
                Polled::Ready(_) if end == End::Ok => TaskState::NotFound,
                _ => TaskState::Success,
            };
            if k > YIELDS {
                assert_ne!(polled, Polled::Pending);
            }
            let what = format!("{end:?} k={k}: {polled:?}");
            assert_eq!(recorder.query_task_state(&1).await, expected, "{what}");
            // assert_settled_and_revocable revokes a Success id and fails on `Revoking`.
            assert_settled_and_revocable(&recorder, [1]).await;
        }
    }
}

/// Catches a `wait` future that, dropped after some polls, unsubscribes the other waiters,
/// leaves the task unable to settle, or makes a later wait hang; for every way the task ends
/// (including a panic and a cancel).
async fn wait_dropped_after_each_poll() {
    for end in [Some(End::Ok), Some(End::Err), Some(End::Panic), None] {
        for k in 0..4 {
            let recorder = AsyncTasksRecorder::<u64>::new();
            let (gate, release) = gated();
            assert!(recorder.launch(1, gate).await.is_ok());
            let kept = tokio::spawn({
                let recorder = recorder.clone();
                async move { recorder.wait(&1).await }
            });
            {
                let fut = pin!(recorder.wait(&1));
                let (polled, _) = poll_times(fut, k).await;
                assert_eq!(polled, Polled::Pending, "the task is gated");
            }
            let expected = match end {
                Some(end) => {
                    release.send(end).expect("the task waits");
                    end.state()
                }
                None => {
                    assert!(recorder.cancel(&1));
                    TaskState::Failed
                }
            };
            let what = format!("{end:?} k={k}");
            assert_eq!(within("wait", recorder.wait(&1)).await, expected, "{what}");
            let kept = within("kept waiter", kept).await.expect("waiter");
            assert_eq!(kept, expected, "{what}");
            assert_settled_and_revocable(&recorder, [1]).await;
        }
    }
}

/// Catches a `shutdown` future that, dropped after some polls, leaves the recorder unable to
/// shut down again, cancels the running task, or leaves it `Working`.
async fn shutdown_dropped_after_each_poll() {
    for end in ENDS {
        for k in 0..4 {
            let recorder = AsyncTasksRecorder::<u64>::new();
            let (gate, release) = gated();
            assert!(recorder.launch(1, gate).await.is_ok());
            {
                let fut = pin!(recorder.shutdown());
                let (polled, _) = poll_times(fut, k).await;
                assert_eq!(polled, Polled::Pending, "the task is gated");
            }
            if k > 0 {
                assert!(
                    recorder.is_closed(),
                    "a polled shutdown closed the recorder"
                );
            }
            assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
            release.send(end).expect("the task still runs");
            let what = format!("{end:?} k={k}");
            assert_eq!(
                within("wait", recorder.wait(&1)).await,
                end.state(),
                "{what}"
            );
            assert_settled_and_revocable(&recorder, [1]).await;
        }
    }
}

/// Catches a `shutdown_with_grace` future that, dropped at any point (before the grace
/// period, after it, half way through cancelling), leaves a task `Working` or running, loses
/// a success that finished within the grace period, or makes a later shutdown hang.
#[tokio::test(start_paused = true)]
async fn shutdown_with_grace_dropped_after_each_poll() {
    support::quiet_task_panics();
    const GRACE: Duration = Duration::from_secs(10);
    for k in 0..6 {
        let recorder = AsyncTasksRecorder::<u64>::new();
        let (straggler, _never) = gated();
        let (quick, release_quick) = gated();
        assert!(recorder.launch(1, straggler).await.is_ok());
        assert!(recorder.launch(2, quick).await.is_ok());
        let mut release_quick = Some(release_quick);
        {
            let mut fut = pin!(recorder.shutdown_with_grace(GRACE));
            for n in 1..=k {
                let (polled, out) = poll_times(fut.as_mut(), 1).await;
                if polled != Polled::Pending {
                    assert_eq!(out, Some(1), "k={k}: only the straggler is cancelled");
                    break;
                }
                match n {
                    // Within the grace period, the quick task finishes.
                    1 => {
                        let release = release_quick.take().expect("once");
                        release.send(End::Ok).expect("the task waits");
                        assert_eq!(within("quick", recorder.wait(&2)).await, TaskState::Success);
                    }
                    // Then the grace period runs out.
                    2 => tokio::time::advance(GRACE + Duration::from_millis(1)).await,
                    _ => {}
                }
            }
        }
        if k > 0 {
            assert!(recorder.is_closed());
        }
        if let Some(release) = release_quick {
            release.send(End::Ok).expect("the task waits");
        }
        assert_eq!(within("quick", recorder.wait(&2)).await, TaskState::Success);
        let cancelled = within("shutdown", recorder.shutdown_with_grace(Duration::ZERO)).await;
        assert!(cancelled <= 1, "k={k}: cancelled {cancelled}");
        assert_eq!(
            recorder.query_task_state(&1).await,
            TaskState::Failed,
            "k={k}"
        );
        assert_eq!(
            recorder.query_task_state(&2).await,
            TaskState::Success,
            "k={k}"
        );
        assert_settled_and_revocable(&recorder, [1, 2]).await;
    }
}

/// Catches records left `Working` or revoking when the runtime that runs the work is shut
/// down with tasks in flight (spawned attempts, a `launch_block` inside a task, a waiter and
/// a revoke): the attempts must be recorded `Failed`, the revoked id `Success` again, and a
/// new runtime must see nothing stuck.
#[test]
fn runtime_dropped_with_work_in_flight() {
    support::quiet_task_panics();
    for multi_thread in [false, true] {
        let build = || {
            let mut builder = if multi_thread {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(2);
                b
            } else {
                tokio::runtime::Builder::new_current_thread()
            };
            builder.enable_all().build().expect("runtime")
        };
        let recorder = AsyncTasksRecorder::<u64>::new();
        let runtime = build();
        runtime.block_on(async {
            let (spawned, _keep1) = gated();
            assert!(recorder.launch(1, spawned).await.is_ok());
            let (inline, _keep2) = gated();
            let (started_tx, started) = oneshot::channel();
            let blocker = recorder.clone();
            tokio::spawn(async move {
                let inline = async move {
                    let _ = started_tx.send(());
                    inline.await
                };
                let _ = blocker.launch_block(2, inline).await;
            });
            within("launch_block start", started)
                .await
                .expect("started");
            assert!(recorder
                .launch_block(3, async { Ok::<_, ()>(()) })
                .await
                .is_ok());
            let (undo_started_tx, undo_started) = oneshot::channel();
            let revoker = recorder.clone();
            tokio::spawn(async move {
                let undo = async move {
                    let _ = undo_started_tx.send(());
                    std::future::pending::<Result<(), ()>>().await
                };
                let _ = revoker.revoke_task_block(3, undo).await;
            });
            within("revoke start", undo_started).await.expect("started");
            let waiter = recorder.clone();
            tokio::spawn(async move { waiter.wait(&1).await });
            tokio::task::yield_now().await;
            assert_eq!(recorder.query_task_state(&1).await, TaskState::Working);
            assert_eq!(recorder.query_task_state(&2).await, TaskState::Working);
            let refused = recorder
                .revoke_task_block(3, async { Ok::<_, ()>(()) })
                .await;
            assert!(matches!(refused, Err(RevokeFailReason::Revoking(_))));
        });
        drop(runtime);
        let runtime = build();
        runtime.block_on(async {
            for id in [1, 2] {
                assert_eq!(
                    within("wait", recorder.wait(&id)).await,
                    TaskState::Failed,
                    "multi_thread={multi_thread}: id {id}"
                );
            }
            assert_eq!(recorder.query_task_state(&3).await, TaskState::Success);
            assert_settled_and_revocable(&recorder, [1, 2, 3]).await;
        });
    }
}
