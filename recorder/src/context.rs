//! The context of the running attempt, kept in a task-local while its future is polled: the
//! task reaches its own attempt (its number, its cancellation signal) without a parameter,
//! and the recorder can tell when a task calls it about itself (a task that waits for its
//! own id, or shuts down its own recorder, would wait for itself forever).

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::running::Running;

tokio::task_local! {
    /// Set while an attempt's future is polled (spawned by `launch`, or run inline by
    /// `launch_block`); the innermost attempt wins.
    static CURRENT: Current;
}

/// Which attempt is running: the address of its recorder's shared state (which stays
/// allocated while the attempt runs, since its guard holds it), the running side of its
/// record, and its number.
pub(crate) struct Current {
    pub(crate) recorder: usize,
    pub(crate) run: Arc<Running>,
    pub(crate) attempt: u32,
}

/// Runs `future` as the attempt `current`.
pub(crate) fn scope<F: Future>(current: Current, future: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(current, future)
}

/// Whether the caller runs inside the attempt whose running side is `run`.
pub fn is_inside(run: &Arc<Running>) -> bool {
    CURRENT
        .try_with(|current| Arc::ptr_eq(&current.run, run))
        .unwrap_or(false)
}

/// Whether the caller runs inside an attempt of the recorder at address `recorder`.
pub fn is_inside_recorder(recorder: usize) -> bool {
    CURRENT
        .try_with(|current| current.recorder == recorder)
        .unwrap_or(false)
}

/// The attempt the calling task runs as, seen from inside it: its number and its
/// cancellation signal. Returned by [`current_attempt`].
///
/// The signal is how a task cooperates with cancellation: [`cancel`], [`cancel_all`], the
/// start of [`shutdown_with_grace`], a [timeout](crate::Builder::timeout) and the recorder's
/// own [cancellation token](crate::Builder::cancellation_token) cancel it. A task that has
/// asked for its signal gets the recorder's grace ([`Builder::cancel_grace`]) to finish its
/// current step before its future is dropped; a task that never asked is dropped at once.
///
/// [`cancel`]: crate::AsyncTasksRecorder::cancel
/// [`cancel_all`]: crate::AsyncTasksRecorder::cancel_all
/// [`shutdown_with_grace`]: crate::AsyncTasksRecorder::shutdown_with_grace
/// [`Builder::cancel_grace`]: crate::Builder::cancel_grace
#[derive(Debug, Clone)]
pub struct CurrentAttempt {
    run: Arc<Running>,
    attempt: u32,
}

impl CurrentAttempt {
    /// The attempt's number: 1 for the id's first attempt, 2 after one failure, and so on.
    pub fn number(&self) -> u32 {
        self.attempt
    }

    /// The attempt's cancellation signal: cancelled once the recorder asks the attempt to
    /// stop (and at once if it already did). Asking for it makes the attempt one that is
    /// given a grace to stop (see [`CurrentAttempt`]). Return from the task when it fires:
    /// an `Err` is then recorded with the recorder's reason
    /// ([`FailureKind::Cancelled`](crate::FailureKind::Cancelled), `ShutDown`, `TimedOut`),
    /// and an `Ok` as a success, never hidden.
    pub fn token(&self) -> CancellationToken {
        self.run.token()
    }
}

/// The attempt the calling task runs as, or `None` outside a recorded task (or in a task it
/// spawned: the context belongs to the attempt's own future).
///
/// ```
/// use std::time::Duration;
/// use tasks_recorder::{current_attempt, AsyncTasksRecorder, FailureKind, TaskState};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let imports: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
///     .cancel_grace(Duration::from_secs(5))
///     .build();
/// let (started, running) = tokio::sync::oneshot::channel();
/// imports
///     .try_launch(7, async move {
///         let attempt = current_attempt().expect("inside a recorded task");
///         let stop = attempt.token();
///         let _ = started.send(attempt.number());
///         for _item in 0.. {
///             if stop.is_cancelled() {
///                 return Err("stopped between two items");
///             }
///             tokio::task::yield_now().await; // one item of work
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
/// assert_eq!(running.await.unwrap(), 1);
/// imports.cancel(&7); // the task finishes its item, then returns
/// assert_eq!(imports.wait(&7).await, TaskState::Failed);
/// let failure = imports.task_info(&7).await.unwrap().failure.unwrap();
/// assert_eq!(failure.kind, FailureKind::Cancelled);
/// # }
/// ```
pub fn current_attempt() -> Option<CurrentAttempt> {
    CURRENT
        .try_with(|current| CurrentAttempt {
            run: Arc::clone(&current.run),
            attempt: current.attempt,
        })
        .ok()
}
