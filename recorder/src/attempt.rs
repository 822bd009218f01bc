//! Guards that settle a record whatever happens to the future that runs the work: it
//! finishes, panics, is cancelled, or is dropped half way.

use std::any::Any;
use std::future::Future;
use std::hash::Hash;
use std::panic::{resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use futures_util::FutureExt;

use futures_util::future::{select, Either};
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::context::{self, Current};
use crate::recorder::Inner;
use crate::running::{Running, Stop};
use crate::transition::Outcome;

/// One attempt of a task. When dropped without [`Attempt::finish`], records the attempt as
/// [`Outcome::Abandoned`]: its future was dropped (cancelled, aborted, runtime shut down)
/// before it finished.
pub(crate) struct Attempt<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    pub(crate) inner: Arc<Inner<T>>,
    pub(crate) id: T,
    pub(crate) attempt: u32,
    pub(crate) finished: bool,
    /// The running side of the attempt's record: its waiters are woken when the guard drops,
    /// even if the record could not be settled (see [`Running::release`]).
    pub(crate) run: Arc<Running>,
    /// Counts the attempt as running for shutdown; released after the record is settled
    /// (fields drop after `Drop::drop`), so a finished shutdown sees every record settled.
    pub(crate) _running: TaskTrackerToken,
}

impl<T> Attempt<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Runs `task` and records how it ended; `describe` gives the text of an error, if it is
    /// kept. A panic of `task` is recorded first, then goes on. While `task` is polled, the
    /// attempt is the [current one](crate::context).
    ///
    /// A combinator chain rather than an `async fn`: the future tokio stores and moves is then
    /// the task plus this guard, with no second copy of the task and no slot for the
    /// concurrency limit's permit when there is no limit.
    pub(crate) fn run<Fut, R, E>(
        self,
        task: Fut,
        describe: fn(&E) -> Option<String>,
    ) -> impl Future<Output = ()>
    where
        Fut: Future<Output = Result<R, E>>,
    {
        let current = Current {
            recorder: Arc::as_ptr(&self.inner) as usize,
            run: Arc::as_ptr(&self.run) as usize,
        };
        context::scope(current, AssertUnwindSafe(task).catch_unwind()).map(move |ended| {
            let outcome = match ended {
                Ok(Ok(_)) => Outcome::Succeeded,
                Ok(Err(error)) => Outcome::Failed(describe(&error)),
                Err(panic) => {
                    self.finish(Outcome::Panicked(panic_message(&*panic)));
                    resume_unwind(panic);
                }
            };
            self.finish(outcome);
        })
    }

    /// [`run`](Self::run), after waiting for a permit of the concurrency limit, if any.
    pub(crate) async fn run_limited<Fut, R, E>(self, task: Fut, describe: fn(&E) -> Option<String>)
    where
        Fut: Future<Output = Result<R, E>>,
    {
        let inner = Arc::clone(&self.inner);
        // The semaphore is never closed, so `acquire` cannot fail.
        let _permit = match &inner.limit {
            Some(limit) => limit.acquire().await.ok(),
            None => None,
        };
        self.run(task, describe).await;
    }

    /// Records how the attempt ended.
    fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.inner.settle(&self.id, self.attempt, outcome);
    }
}

impl<T> Drop for Attempt<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        if !self.finished {
            self.inner
                .settle(&self.id, self.attempt, Outcome::Abandoned);
        }
        // A no-op once the record is settled; wakes the waiters if settling it panicked.
        self.run.release();
    }
}

/// Runs `attempt` (the future of an attempt, whose guard is inside it) until it ends or
/// `stop` is cancelled. On a cancellation, the attempt is marked as stopped by `why` (unless
/// the recorder already asked it to stop for another reason) before its future is dropped,
/// so its guard records that reason. The attempt is polled first, so an attempt that is
/// ready when the token fires keeps its own outcome.
pub(crate) async fn until_stopped<F>(attempt: F, stop: &CancellationToken, run: &Running, why: Stop)
where
    F: Future<Output = ()>,
{
    let attempt = std::pin::pin!(attempt);
    let stopped = std::pin::pin!(stop.cancelled());
    if let Either::Right(_) = select(attempt, stopped).await {
        run.mark_stopped(why);
    }
    // Returning drops the attempt's future (and its guard) if it did not finish.
}

/// The message of a panic payload, when it is a string (as `panic!` makes it).
fn panic_message(panic: &(dyn Any + Send)) -> Option<String> {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
}

/// A revoke in progress. When dropped before [`Revocation::end`], puts the id back to
/// `Success`: a revoke future that panics or is dropped half way leaves the id as it was.
pub(crate) struct Revocation<'a, T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    pub(crate) inner: &'a Inner<T>,
    pub(crate) id: T,
    pub(crate) done: bool,
}

impl<T> Revocation<'_, T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// The revoke future returned: `Ok` (`revoked`) or `Err`.
    pub(crate) fn end(mut self, revoked: bool) {
        self.done = true;
        self.inner.end_revoke(&self.id, revoked);
    }
}

impl<T> Drop for Revocation<'_, T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        if !self.done {
            self.inner.end_revoke(&self.id, false);
        }
    }
}
