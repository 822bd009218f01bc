//! Helpers shared by the integration tests: a failure detector, running a test on both
//! runtime flavors, a small deterministic random generator, manual polling with a no-op
//! waker, a panic hook that keeps deliberate task panics quiet, and ([`job_client`]) an HTTP
//! client of the `job_server` example.
//!
//! Each test binary uses a different subset, hence the `dead_code` and `unused_macros`
//! allowance.
#![allow(dead_code, unused_macros)]

pub mod job_client;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Once, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tasks_recorder::{AsyncTasksRecorder, TaskState};

/// A failure detector: an operation that needs longer than this is stuck. Never used to
/// synchronise anything. `RELIABILITY_STUCK_SECS` overrides it (e.g. to find hangs quickly
/// when checking that the suite catches a broken recorder).
pub fn stuck() -> Duration {
    static STUCK: OnceLock<Duration> = OnceLock::new();
    *STUCK.get_or_init(|| {
        let secs = std::env::var("RELIABILITY_STUCK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20);
        Duration::from_secs(secs)
    })
}

/// Awaits `fut`, panicking with `what` if it takes longer than [`stuck`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(stuck(), fut)
        .await
        .unwrap_or_else(|_| panic!("stuck: {what}"))
}

/// Runs each named async test body (a function at the test crate's root) on both runtime
/// flavors: a `current_thread` and a 2-worker `multi_thread` test of the same name.
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod current_thread {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
        mod multi_thread {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
    };
}

/// The message of every deliberate panic inside a task; [`quiet_task_panics`] hides it.
pub const TASK_PANIC: &str = "deliberate task panic";

/// Installs (once per binary) a panic hook that prints nothing for the deliberate panics of
/// tasks ([`TASK_PANIC`]) and defers to the default hook for every other panic, so real
/// assertion failures are still reported.
pub fn quiet_task_panics() {
    quiet_task_panics_containing(TASK_PANIC);
}

/// SplitMix64: a tiny deterministic generator, so every failing seed can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `true` with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What happened to a future polled by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// Still pending after every poll.
    Pending,
    /// Completed at poll number `n` (1-based).
    Ready(usize),
    /// Panicked at poll number `n` (1-based).
    Panicked(usize),
}

/// Polls `fut` by hand with a no-op waker up to `polls` times, yielding to the runtime between
/// polls (so spawned tasks and the other side of channels make progress), and returns what
/// happened and the output if it completed. The caller then drops the future: this is how the
/// fault tests drop every public future after each possible number of polls.
pub async fn poll_times<F: Future>(
    mut fut: Pin<&mut F>,
    polls: usize,
) -> (Polled, Option<F::Output>) {
    let mut cx = Context::from_waker(Waker::noop());
    for n in 1..=polls {
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
            Ok(Poll::Ready(output)) => return (Polled::Ready(n), Some(output)),
            Ok(Poll::Pending) => {}
            Err(_) => return (Polled::Panicked(n), None),
        }
        tokio::task::yield_now().await;
    }
    (Polled::Pending, None)
}

/// Polls a future once by hand (no-op waker, no yield) and says whether it is ready.
pub fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Asserts the final, legal state of a recorder once nothing should run any more: every id
/// in `ids` settles (a waiter returns), none is `Working`, no task is counted running, and a
/// succeeded id is not stuck revoking: a new revoke of it is accepted and succeeds, leaving
/// it `NotFound`.
pub async fn assert_settled_and_revocable(
    recorder: &AsyncTasksRecorder<u64>,
    ids: impl IntoIterator<Item = u64>,
) {
    within("shutdown", recorder.shutdown()).await;
    assert_eq!(recorder.running(), 0, "a task still counts as running");
    assert_eq!(recorder.count_in_state(TaskState::Working).await, 0);
    for id in ids {
        let state = within("wait", recorder.wait(&id)).await;
        assert_ne!(state, TaskState::Working, "id {id} left Working");
        assert_eq!(recorder.query_task_state(&id).await, state);
        if state == TaskState::Success {
            match recorder
                .revoke_task_block(id, async { Ok::<_, ()>(()) })
                .await
            {
                Ok(()) => {}
                Err(tasks_recorder::RevokeFailReason::Revoking(_)) => {
                    panic!("id {id} left revoking: a new revoke is refused as Revoking")
                }
                Err(tasks_recorder::RevokeFailReason::NotSuccess(_)) => {
                    panic!("id {id} reads Success but a revoke says NotSuccess")
                }
                Err(tasks_recorder::RevokeFailReason::RevokeTaskError(())) => unreachable!(),
            }
            assert_eq!(recorder.query_task_state(&id).await, TaskState::NotFound);
        }
    }
}

/// A failure detector for code that could hang while a thread is blocked (under a lock, say),
/// where an async timeout cannot fire: a thread that ends the process with a message if the
/// returned guard is not dropped within [`stuck`].
pub fn watchdog(what: &'static str) -> Watchdog {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(stuck()) {
            // Straight to stderr: the test harness captures `eprintln!` of a test's threads,
            // and the capture is lost when the process exits.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "watchdog: stuck: {what}");
            std::process::exit(101);
        }
    });
    Watchdog { _done: done }
}

/// Stops its [`watchdog`] when dropped (the test finished, or failed on its own).
pub struct Watchdog {
    _done: std::sync::mpsc::Sender<()>,
}

/// Like [`quiet_task_panics`], and also hides the panics whose message contains `part` (the
/// recorder's own panics that a test provokes on purpose). One hook serves every call.
pub fn quiet_task_panics_containing(part: &'static str) {
    static PARTS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    static INSTALL: Once = Once::new();
    PARTS.lock().unwrap_or_else(|e| e.into_inner()).push(part);
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
            let parts = PARTS.lock().unwrap_or_else(|e| e.into_inner());
            if !parts.iter().any(|p| message.contains(p)) {
                default(info);
            }
        }));
    });
}

/// A task that says when it starts (the receiver), then runs until released (the sender):
/// `Ok` when released, `Err` if the sender is dropped.
pub fn gated() -> (
    impl Future<Output = Result<(), ()>> + Send + 'static,
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let task = async move {
        let _ = started_tx.send(());
        released.await.map_err(drop)
    };
    (task, started, release)
}
