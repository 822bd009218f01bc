//! The lifecycle of attempts: waiting for one, cancelling one or all, closing the recorder and
//! shutting it down.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use crate::context;
use crate::recorder::Inner;
use crate::running::{Running, Stop};
use crate::transition::Record;
use crate::{AsyncTasksRecorder, TaskState};

impl<T> Inner<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Applies `stop` to the running side of every running attempt; returns how many.
    pub(crate) fn each_running(&self, mut stop: impl FnMut(&Arc<Running>)) -> usize {
        let mut running = 0;
        self.records.iter_sync(|_, record| {
            if let Record::Working { run, .. } = record {
                stop(run);
                running += 1;
            }
            true
        });
        running
    }

    /// Asks every running attempt to stop, graceful then forced (see
    /// [`Running::stop_gracefully`]); returns how many were asked.
    pub(crate) fn cancel_all(&self, why: Stop) -> usize {
        let grace = self.machinery.cancel_grace();
        self.each_running(|run| run.stop_gracefully(why, grace))
    }
}

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Waits until `task_id` is no longer [`TaskState::Working`] and returns the state its
    /// attempt ended in; returns at once with the current state if the id is not running.
    ///
    /// No polling and no missed wake-up: the waiter subscribes to the attempt under the lock
    /// of the id's entry, and the attempt's end publishes its final state under the same lock.
    /// It wakes whatever ends the attempt: success, failure, panic, cancellation or shutdown.
    /// Tasks nobody waits on pay nothing for this. Dropping the returned future changes
    /// nothing.
    ///
    /// It returns `Working` in one case only: the attempt ended but its record could not be
    /// updated, because the id's `Hash` or `Eq` panicked (the record then stays `Working`).
    ///
    /// # Panics
    /// Panics if called from inside the running attempt of `task_id` itself (e.g.
    /// `launch_block(2, async { recorder.wait(&2).await; .. })`): it would wait for itself
    /// forever. The attempt is then recorded `Failed` ([`FailureKind::Panicked`]) with that
    /// message. Waits that form a longer cycle (a task of id 1 waiting for id 2, whose task
    /// waits for id 1) cannot be detected and never end: don't write them.
    ///
    /// [`FailureKind::Panicked`]: crate::FailureKind::Panicked
    pub async fn wait<Q>(&self, task_id: &Q) -> TaskState
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let subscribed = self
            .inner
            .records
            .read_sync(task_id, |_, record| match record {
                Record::Working { run, .. } if context::is_inside(run) => Err(None),
                Record::Working { run, .. } => Err(Some(run.subscribe())),
                settled => Ok(settled.state()),
            });
        match subscribed {
            None => TaskState::NotFound,
            Some(Ok(state)) => state,
            Some(Err(None)) => panic!(
                "tasks-recorder: a task waits for its own id to stop being Working, \
                 which would never happen; wait for an id from outside its own task"
            ),
            Some(Err(Some(mut ended))) => {
                let ended = ended.wait_for(Option::is_some).await.map(|state| *state);
                match ended {
                    Ok(Some(state)) => state,
                    // Every end of an attempt publishes its state first; should the channel
                    // close without it, the record itself says how the attempt ended.
                    _ => self.query_task_state(task_id).await,
                }
            }
        }
    }

    /// Asks the running attempt of `task_id` to stop, graceful then forced: its
    /// cancellation signal ([`CurrentAttempt::token`](crate::CurrentAttempt::token)) is
    /// cancelled, and its future is dropped once the recorder's
    /// [grace](crate::Builder::cancel_grace) has passed if it has not ended by then. A task
    /// that never asked for its signal could not see it, and is dropped at once (at its next
    /// `.await`, or before it starts if it waits for the concurrency limit). The id is then
    /// recorded as `Failed` ([`FailureKind::Cancelled`](crate::FailureKind::Cancelled), also
    /// when the task returns `Err` after the signal) and can be launched again. Returns
    /// `false`, changing nothing, if the id is not `Working`.
    ///
    /// The id stays `Working` until the attempt has ended; [`wait`](Self::wait) for it to see
    /// the end. If the attempt returns `Ok`, before or after the signal, its success is
    /// recorded: a success is never hidden, so at most one success per id still holds.
    ///
    /// The grace is timed by a task spawned on the current tokio runtime; called outside a
    /// runtime, `cancel` drops the future at once, as [`cancel_now`](Self::cancel_now) does.
    pub fn cancel<Q>(&self, task_id: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let grace = self.inner.machinery.cancel_grace();
        self.stop_one(task_id, |run| run.stop_gracefully(Stop::Cancel, grace))
    }

    /// Like [`cancel`](Self::cancel), but drops the attempt's future at its next `.await`
    /// with no grace, whether or not its task watches its signal.
    pub fn cancel_now<Q>(&self, task_id: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.stop_one(task_id, |run| run.stop(Stop::Cancel))
    }

    /// Applies `stop` to the running attempt of `task_id`; `false` if it is not `Working`.
    fn stop_one<Q>(&self, task_id: &Q, stop: impl FnOnce(&Arc<Running>)) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner
            .records
            .read_sync(task_id, |_, record| match record {
                Record::Working { run, .. } => {
                    stop(run);
                    true
                }
                _ => false,
            })
            .unwrap_or(false)
    }

    /// Asks every running attempt to stop, as [`cancel`](Self::cancel) does for one, and
    /// returns how many it asked. The recorder stays open: attempts launched after the scan
    /// passed their id run normally.
    pub fn cancel_all(&self) -> usize {
        self.inner.cancel_all(Stop::Cancel)
    }

    /// Why the [failure policy](crate::FailurePolicy) fired (it names the failure that did
    /// it), or `None` if it has not.
    pub fn policy_fired(&self) -> Option<String> {
        self.inner.policy.fired().map(str::to_owned)
    }

    /// Closes the recorder to new launches: [`launch`](Self::launch) and friends refuse every
    /// new attempt (running attempts go on). Returns `true` if this call closed it. A closed
    /// recorder still answers queries, waits, cancels and revokes.
    pub fn close(&self) -> bool {
        self.inner.machinery.tracker.close()
    }

    /// Whether the recorder refuses new launches: it was [closed](Self::close) or shut down,
    /// or its cancellation token was cancelled.
    pub fn is_closed(&self) -> bool {
        self.inner.machinery.is_closed()
    }

    /// How many attempts are running (including those waiting for the concurrency limit).
    /// Approximate while launches race with it.
    pub fn running(&self) -> usize {
        self.inner.machinery.tracker.len()
    }

    /// Graceful shutdown: [closes](Self::close) the recorder, then waits until no attempt
    /// runs. When it returns, no task of this recorder runs and no id is `Working`.
    ///
    /// Dropping the returned future stops the waiting; the recorder stays closed.
    ///
    /// # Panics
    /// Panics if called from inside a running attempt of this recorder: it would wait for
    /// that attempt, its own caller, forever. Shut down from outside the recorder's tasks,
    /// e.g. from the task that launched them, or have the task cancel a
    /// [`CancellationToken`](tokio_util::sync::CancellationToken) that the service watches.
    /// (From inside a task, [`shutdown_with_grace`](Self::shutdown_with_grace) does end: its
    /// own task is cancelled with the others once the grace period is over.) A shutdown
    /// waiting for a task that waits for that shutdown through another path (a channel, a
    /// second recorder) cannot be detected and never ends.
    pub async fn shutdown(&self) {
        if context::is_inside_recorder(crate::store::address_of(&self.inner)) {
            panic!(
                "tasks-recorder: shutdown() called from inside a task of the same recorder, \
                 which would wait for itself forever; shut down from outside its tasks"
            );
        }
        self.inner.family.shutdown().await;
        self.close();
        self.inner.machinery.tracker.wait().await;
    }

    /// Shutdown with a grace period, graceful then forced: [closes](Self::close) the
    /// recorder, signals every running task at once (its
    /// [`CurrentAttempt::token`](crate::CurrentAttempt::token) is cancelled), and waits up to
    /// `grace` for the running attempts to finish; then drops the futures of the rest at
    /// their next `.await` and waits for that. Returns how many attempts were dropped.
    ///
    /// A task that sees the signal can finish its current step and return: an `Err` is
    /// recorded `Failed` with [`FailureKind::ShutDown`](crate::FailureKind::ShutDown), an `Ok`
    /// as `Success`. After the grace comes what `task_scope` calls the mercy period: a future
    /// is dropped only when it next yields, so a task that never reaches an `.await` (a
    /// blocking loop) is waited for, and this does not return before it ends.
    ///
    /// When it returns, no task of this recorder runs and no id is `Working`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tasks_recorder::{current_attempt, AsyncTasksRecorder, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let uploads: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    /// let (started, running) = tokio::sync::oneshot::channel();
    /// uploads
    ///     .try_launch(1, async move {
    ///         let stop = current_attempt().unwrap().token();
    ///         let _ = started.send(());
    ///         stop.cancelled().await;
    ///         // Told to stop: flush what is done, then end.
    ///         tokio::time::sleep(Duration::from_millis(100)).await;
    ///         Ok::<_, ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// running.await.unwrap();
    /// assert_eq!(uploads.shutdown_with_grace(Duration::from_secs(1)).await, 0);
    /// assert_eq!(uploads.query_task_state(&1).await, TaskState::Success);
    /// # }
    /// ```
    pub async fn shutdown_with_grace(&self, grace: Duration) -> usize {
        let children = self.inner.family.shutdown_with_grace(grace).await;
        self.close();
        // Graceful: every running task is told at once, and has the whole grace to finish.
        self.inner.each_running(|run| run.signal(Stop::Shutdown));
        if tokio::time::timeout(grace, self.inner.machinery.tracker.wait())
            .await
            .is_ok()
        {
            return children;
        }
        // Forced: whatever still runs is dropped at its next `.await`.
        let cancelled = self.inner.each_running(|run| run.stop(Stop::Shutdown));
        self.inner.machinery.tracker.wait().await;
        children + cancelled
    }
}
