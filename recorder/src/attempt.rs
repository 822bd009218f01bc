//! Guards that settle a record whatever happens to the future that runs the work: it
//! finishes, panics, is cancelled, or is dropped half way.

use std::any::Any;
use std::future::Future;
use std::hash::Hash;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::recorder::Inner;
use crate::transition::Outcome;

/// One attempt of a task. When dropped, records how the attempt ended: the outcome set by
/// [`Attempt::run`], or [`Outcome::Abandoned`] if the task panicked or its future was dropped
/// (cancelled, aborted, runtime shut down) before it finished.
pub(crate) struct Attempt<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    pub(crate) inner: Arc<Inner<T>>,
    pub(crate) id: T,
    pub(crate) attempt: u32,
    pub(crate) outcome: Outcome,
    /// Counts the attempt as running for shutdown; released after the record is settled
    /// (fields drop after `Drop::drop`), so a finished shutdown sees every record settled.
    pub(crate) _running: TaskTrackerToken,
}

impl<T> Attempt<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Waits for a permit of the concurrency limit, if any, then runs `task` and records how
    /// it ended; `describe` gives the text of an error, if it is kept. A panic of `task` is
    /// recorded first, then goes on.
    pub(crate) async fn run<Fut, R, E>(mut self, task: Fut, describe: fn(&E) -> Option<String>)
    where
        Fut: Future<Output = Result<R, E>>,
    {
        let permit = match &self.inner.limit {
            // The semaphore is never closed, so `acquire` cannot fail.
            Some(limit) => limit.acquire().await.ok(),
            None => None,
        };
        let mut task = pin!(task);
        let ended = std::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                Err(panic) => Poll::Ready(Err(panic)),
            }
        })
        .await;
        drop(permit);
        self.outcome = match ended {
            Ok(Ok(_)) => Outcome::Succeeded,
            Ok(Err(error)) => Outcome::Failed(describe(&error)),
            Err(panic) => {
                self.outcome = Outcome::Panicked(panic_message(&*panic));
                drop(self);
                resume_unwind(panic);
            }
        };
    }

    /// [`run`](Self::run), stopped (and recorded as abandoned) when `cancel` is cancelled.
    pub(crate) async fn run_until_cancelled<Fut, R, E>(
        self,
        task: Fut,
        describe: fn(&E) -> Option<String>,
        cancel: CancellationToken,
    ) where
        Fut: Future<Output = Result<R, E>>,
    {
        cancel.run_until_cancelled(self.run(task, describe)).await;
    }
}

impl<T> Drop for Attempt<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        let outcome = std::mem::replace(&mut self.outcome, Outcome::Abandoned);
        self.inner.settle(&self.id, self.attempt, outcome);
    }
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
