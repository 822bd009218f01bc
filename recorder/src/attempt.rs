//! The attempt machinery, shared by every store: guards that settle a record whatever happens
//! to the future that runs the work (it finishes, panics, is cancelled, or is dropped half
//! way), and the launch flow that runs a claimed attempt, spawned or inline.

use std::any::Any;
use std::future::Future;
use std::panic::{resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::context::{self, Current};
use crate::running::{Running, Stop};
use crate::store::Store;
use crate::tally::Event;
use crate::trace;
use crate::transition::Outcome;

/// One attempt of a task, of id `id` in store `S`. When dropped without being finished,
/// records the attempt as [`Outcome::Abandoned`]: its future was dropped (cancelled, aborted,
/// runtime shut down) before it finished.
pub struct Attempt<T, S>
where
    T: Send + Sync + 'static,
    S: Store<T>,
{
    pub(crate) store: Arc<S>,
    pub(crate) id: T,
    pub(crate) attempt: u32,
    finished: bool,
    /// The store took the end (settled it, or queued it to be settled and its waiters
    /// woken then). Still `false` after `finish` only if the store's `settle` panicked.
    handed_over: bool,
    /// The running side of the attempt's record: its waiters are woken when the guard drops,
    /// even if the record could not be settled (see [`Running::release`]).
    run: Arc<Running>,
    /// Counts the attempt as running for shutdown; released after the record is settled
    /// (fields drop after `Drop::drop`), so a finished shutdown sees every record settled.
    _running: TaskTrackerToken,
}

impl<T, S> Attempt<T, S>
where
    T: Send + Sync + 'static,
    S: Store<T>,
{
    /// The guard of attempt number `attempt` of `id`, whose claim `store` has recorded;
    /// `running` counts it for shutdown (see [`Machinery::enter`](crate::store::Machinery::enter)).
    pub fn new(
        store: Arc<S>,
        id: T,
        attempt: u32,
        run: Arc<Running>,
        running: TaskTrackerToken,
    ) -> Self {
        Attempt {
            store,
            id,
            attempt,
            finished: false,
            handed_over: false,
            run,
            _running: running,
        }
    }

    /// The attempt's number (its fencing token in a shared store).
    pub fn number(&self) -> u32 {
        self.attempt
    }

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
            recorder: crate::store::address_of(&self.store),
            run: Arc::clone(&self.run),
            attempt: self.attempt,
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

    /// [`run`](Self::run), after waiting for a permit of the concurrency limit, if any, and
    /// for at most `timeout` from then: a timed-out attempt is signalled and dropped at once
    /// (it had its whole time), recorded as [`FailureKind::TimedOut`](crate::FailureKind).
    pub(crate) async fn run_limited<Fut, R, E>(
        self,
        task: Fut,
        describe: fn(&E) -> Option<String>,
        timeout: Option<Duration>,
    ) where
        Fut: Future<Output = Result<R, E>>,
    {
        self.limited(timeout, move |attempt| attempt.run(task, describe))
            .await;
    }

    /// Runs `body` (which runs and finishes the attempt) after waiting for its turn under the
    /// concurrency and rate limits, if any, and for at most `timeout` from then.
    async fn limited<B, F>(self, timeout: Option<Duration>, body: B)
    where
        B: FnOnce(Self) -> F,
        F: Future<Output = ()>,
    {
        let store = Arc::clone(&self.store);
        let _turn = match &store.machinery().schedule {
            Some(schedule) => {
                // Queued since its claim (`Machinery::enqueue`); an end before its turn is
                // counted by the guard.
                let turn = schedule.turn().await;
                if self.run.leave_queue() {
                    schedule.give_back_room();
                    store.machinery().tally.count(Event::Started);
                }
                Some(turn)
            }
            None => None,
        };
        match timeout {
            None => body(self).await,
            Some(timeout) => {
                let run = Arc::clone(&self.run);
                let attempt = std::pin::pin!(body(self));
                let expired = std::pin::pin!(tokio::time::sleep(timeout));
                if let Either::Right(_) = select(attempt, expired).await {
                    // Marked before the attempt's future (and its guard) is dropped, on
                    // return: the guard records this reason.
                    run.signal(Stop::TimedOut);
                }
            }
        }
    }

    /// Runs the tries of a retrying attempt: each try is a fresh future from `make`, polled
    /// as the current attempt. An `Err` is tried again after the policy's backoff while the
    /// policy allows it and nobody asked the attempt to stop; each new try is counted in the
    /// record ([`Store::next_try`]). The attempt ends with the first `Ok`, or with the last
    /// error. A signal to stop interrupts the backoff at once.
    pub(crate) async fn run_retrying<M, Fut, R, E>(
        mut self,
        mut make: M,
        policy: crate::retry::Retry<E>,
        describe: fn(&E) -> Option<String>,
    ) where
        M: FnMut() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let mut tried = 1;
        loop {
            let current = Current {
                recorder: crate::store::address_of(&self.store),
                run: Arc::clone(&self.run),
                attempt: self.attempt,
            };
            let try_once = AssertUnwindSafe(async { make().await }).catch_unwind();
            let error = match context::scope(current, try_once).await {
                Ok(Ok(_)) => return self.finish(Outcome::Succeeded),
                Ok(Err(error)) => error,
                Err(panic) => {
                    self.finish(Outcome::Panicked(panic_message(&*panic)));
                    resume_unwind(panic);
                }
            };
            if tried >= policy.max_tries() || self.run.is_signalled() || !policy.retries(&error) {
                return self.finish(Outcome::Failed(describe(&error)));
            }
            let backoff = std::pin::pin!(tokio::time::sleep(policy.backoff_after(tried)));
            // A task that watches its signal is given a grace when cancelled: the backoff
            // must not use it up. (Otherwise a stop drops this future, backoff included.)
            if self.run.watches_signal() {
                let token = self.run.token();
                let stopped = std::pin::pin!(token.cancelled());
                if let Either::Right(_) = select(backoff, stopped).await {
                    return self.finish(Outcome::Failed(describe(&error)));
                }
            } else {
                backoff.await;
            }
            if let Some(next) = self.store.next_try(&self.id, self.attempt) {
                self.attempt = next;
            }
            self.store
                .machinery()
                .tally
                .count(crate::tally::Event::Retried);
            tried += 1;
        }
    }

    /// Counts an attempt that ends before its turn came (cancelled, dropped or shut down
    /// while queued), so that it leaves the queued gauge.
    fn count_if_queued(&self) {
        if self.run.leave_queue() {
            self.store.machinery().left_queue_unstarted();
        }
    }

    /// Records how the attempt ended.
    fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.count_if_queued();
        self.store
            .settle(&self.id, self.attempt, outcome, &self.run);
        self.handed_over = true;
    }
}

impl<T, S> Drop for Attempt<T, S>
where
    T: Send + Sync + 'static,
    S: Store<T>,
{
    fn drop(&mut self) {
        if !self.finished {
            self.count_if_queued();
            self.store
                .settle(&self.id, self.attempt, Outcome::Abandoned, &self.run);
            self.handed_over = true;
        }
        // Settling panicked (a panicking `Hash` or `Eq` of the id): the record could not be
        // found, so nothing will wake the waiters but this.
        if !self.handed_over {
            self.run.release();
        }
    }
}

/// A launch that a store accepted and recorded: the attempt's guard, the running side of its
/// record, and the task to run. What happens next is the same for every store.
pub struct Claimed<T, S, F>
where
    T: Send + Sync + 'static,
    S: Store<T>,
{
    /// The attempt's guard.
    pub attempt: Attempt<T, S>,
    /// The running side of its record.
    pub run: Arc<Running>,
    /// The task, not polled yet.
    pub task: F,
    /// The attempt's own timeout; `None`: the recorder's ([`Machinery::timeout`]).
    ///
    /// [`Machinery::timeout`]: crate::store::Machinery
    pub timeout: Option<Duration>,
}

impl<T, S, Fut, R, E> Claimed<T, S, Fut>
where
    T: Send + Sync + 'static,
    S: Store<T>,
    Fut: Future<Output = Result<R, E>>,
{
    /// Spawns the attempt on the current runtime (its record is stored, and no lock of the
    /// store is held). With a recorder token, the attempt races its future against the token,
    /// so a cancelled token stops it from any runtime. `describe` gives the text of an error,
    /// if it is kept.
    ///
    /// Outside a runtime, `tokio::spawn` panics and drops the attempt, which records it as
    /// `Failed`: nothing is left `Working`.
    pub fn spawn(self, describe: fn(&E) -> Option<String>)
    where
        Fut: Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        T: 'static,
    {
        let Claimed {
            attempt,
            run,
            task,
            timeout,
        } = self;
        let span = trace::task_span(&attempt);
        let machinery = attempt.store.machinery();
        let timeout = timeout.or(machinery.timeout);
        let plain = machinery.schedule.is_none() && timeout.is_none();
        let spawned = match (machinery.token.clone(), plain) {
            (None, true) => tokio::spawn(trace::in_span(attempt.run(task, describe), span)),
            (None, false) => tokio::spawn(trace::in_span(
                attempt.run_limited(task, describe, timeout),
                span,
            )),
            (Some(token), _) => {
                let stopped = Arc::clone(&run);
                let attempt = attempt.run_limited(task, describe, timeout);
                tokio::spawn(trace::in_span(
                    async move { until_stopped(attempt, &token, &stopped, Stop::Shutdown).await },
                    span,
                ))
            }
        };
        run.spawned_as(spawned.abort_handle());
    }

    /// Runs the attempt inside the returned future until it ends or `cancel` is cancelled
    /// (by `cancel` of the id, or by the recorder's token when `cancel` is its child).
    pub async fn run_inline(self, cancel: CancellationToken, describe: fn(&E) -> Option<String>) {
        let Claimed {
            attempt,
            run,
            task,
            timeout,
        } = self;
        let span = trace::task_span(&attempt);
        let timeout = timeout.or(attempt.store.machinery().timeout);
        let attempt = attempt.run_limited(task, describe, timeout);
        trace::in_span(until_stopped(attempt, &cancel, &run, Stop::Shutdown), span).await;
    }
}

impl<T, S, M> Claimed<T, S, M>
where
    T: Send + Sync + 'static,
    S: Store<T>,
{
    /// Spawns a retrying attempt, as [`spawn`](Self::spawn) does a one-future attempt: `task`
    /// makes a fresh future for each try, and `policy` says when and after how long to try
    /// again. The timeout, if any, covers every try and backoff together.
    pub(crate) fn spawn_retrying<Fut, R, E>(
        self,
        policy: crate::retry::Retry<E>,
        describe: fn(&E) -> Option<String>,
    ) where
        M: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let Claimed {
            attempt,
            run,
            task: make,
            timeout,
        } = self;
        let span = trace::task_span(&attempt);
        let machinery = attempt.store.machinery();
        let timeout = timeout.or(machinery.timeout);
        let token = machinery.token.clone();
        let body = attempt.limited(timeout, move |attempt| {
            attempt.run_retrying(make, policy, describe)
        });
        let spawned = match token {
            None => tokio::spawn(trace::in_span(body, span)),
            Some(token) => {
                let stopped = Arc::clone(&run);
                tokio::spawn(trace::in_span(
                    async move { until_stopped(body, &token, &stopped, Stop::Shutdown).await },
                    span,
                ))
            }
        };
        run.spawned_as(spawned.abort_handle());
    }
}

/// Runs `attempt` (the future of an attempt, whose guard is inside it) until it ends or
/// `stop` is cancelled. On a cancellation, the attempt is marked as stopped by `why` (unless
/// the recorder already asked it to stop for another reason) before its future is dropped,
/// so its guard records that reason. The attempt is polled first, so an attempt that is
/// ready when the token fires keeps its own outcome.
pub async fn until_stopped<F>(attempt: F, stop: &CancellationToken, run: &Running, why: Stop)
where
    F: Future<Output = ()>,
{
    let attempt = std::pin::pin!(attempt);
    let stopped = std::pin::pin!(stop.cancelled());
    if let Either::Right(_) = select(attempt, stopped).await {
        run.signal(why);
    }
    // Returning drops the attempt's future (and its guard) if it did not finish.
}

/// The message of a panic payload, when it is a string (as `panic!` makes it).
pub fn panic_message(panic: &(dyn Any + Send)) -> Option<String> {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
}

/// A revoke in progress, number `token` of `id`. When dropped before [`Revocation::end`],
/// puts the id back to `Success`: a revoke future that panics or is dropped half way leaves
/// the id as it was.
pub struct Revocation<'a, T, S>
where
    T: Send + Sync + 'static,
    S: Store<T>,
{
    store: &'a S,
    id: T,
    token: u64,
    done: bool,
}

impl<'a, T, S> Revocation<'a, T, S>
where
    T: Send + Sync + 'static,
    S: Store<T>,
{
    /// The guard of revoke number `token` of `id`, which `store` has begun.
    pub fn new(store: &'a S, id: T, token: u64) -> Self {
        Revocation {
            store,
            id,
            token,
            done: false,
        }
    }

    /// The revoke future returned: `Ok` (`revoked`) or `Err`.
    pub fn end(mut self, revoked: bool) {
        self.done = true;
        self.store.end_revoke(&self.id, self.token, revoked);
    }

    /// The revoke ended and the store recorded it by other means (e.g. awaited it).
    pub fn disarm(mut self) {
        self.done = true;
    }
}

impl<T, S> Drop for Revocation<'_, T, S>
where
    T: Send + Sync + 'static,
    S: Store<T>,
{
    fn drop(&mut self) {
        if !self.done {
            self.store.end_revoke(&self.id, self.token, false);
        }
    }
}
