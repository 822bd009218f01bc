//! [`AsyncTasksRecorder`]: the records of every id, and the operations that apply the
//! [state machine](crate::transition) to them.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use scc::hash_map::Entry;
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::attempt::{Attempt, Revocation};
use crate::builder::Options;
use crate::info::{Counters, TaskInfo, Transition};
use crate::running::{Running, Stop};
use crate::tally::{Event, Tally};
use crate::trace;
use crate::transition::{self, LaunchRefusal, Outcome, Record, RevokeEnd, RevokeRefusal};
use crate::{Builder, LaunchError, RevokeFailReason, TaskState};

/// Records the state of async tasks launched under unique ids.
///
/// Every id has at most one record, held in one concurrent hash map ([`scc::HashMap`]) and
/// changed only under the lock of its entry, so every operation on an id is atomic and every
/// query is linearizable. See the [crate docs](crate) for the state machine and the
/// guarantees.
///
/// Clones share one record: clone the recorder (an [`Arc`] clone) to hand it to other tasks.
/// Every method is safe to call concurrently from any number of tasks and threads.
///
/// Besides the API of `async_tasks_recorder` 2.0.2 (`launch`, `launch_block`,
/// `query_task_state`, `query_task_state_quick`, `revoke_task_block`), a recorder can
/// [wait](Self::wait) for an id, [cancel](Self::cancel) it, [cancel every
/// task](Self::cancel_all), [close](Self::close) to new launches and [shut
/// down](Self::shutdown) gracefully; its [`Builder`] sets a concurrency limit and a
/// cancellation token.
pub struct AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    inner: Arc<Inner<T>>,
}

/// How ids are hashed: foldhash, seeded at random per recorder. It is several times cheaper
/// than std's SipHash, and every operation hashes its id once; its resistance to crafted
/// collisions is weaker than SipHash's, though the random seed keeps an attacker from
/// precomputing them.
type IdHasher = foldhash::fast::RandomState;

/// The records and the lifecycle state, shared by every clone of a recorder and every running
/// attempt.
///
/// Only the synchronous methods of the map are used, and no entry is held across an `.await`
/// nor while running foreign code that could drop an attempt: a lock is held for a few
/// instructions by a thread that is running, so waiting for it synchronously is short and
/// cannot deadlock. (scc hands a released lock to the next waiter in line; were that an async
/// waiter, its task could sit unpolled on the very worker thread that a synchronous waiter
/// blocks, and neither would ever run: so the two are never mixed.)
pub(crate) struct Inner<T> {
    records: scc::HashMap<T, Record, IdHasher>,
    /// The ids whose record is `Failed`, so that listing and counting them costs the number
    /// of failed ids, not of all records. Only failures, relaunches of failed ids and
    /// removals touch it, never the launch-to-success path. It is changed inside the critical
    /// section of the id's record, in the order that keeps "in the index" implying "`Failed`":
    /// a record becomes `Failed` before its id enters, and its id leaves before it stops
    /// being `Failed`. Lock order: a record's bucket, then the index's; never the reverse.
    failed: scc::HashSet<T, IdHasher>,
    /// Counts running attempts (for shutdown); its closed flag is the recorder's.
    tracker: TaskTracker,
    /// The concurrency limit, if any.
    pub(crate) limit: Option<Semaphore>,
    /// The token given to the builder: when cancelled, the recorder closes and cancels every
    /// running attempt.
    token: Option<CancellationToken>,
    /// Whether the task that watches `token` was started.
    watching: AtomicBool,
    /// The event counters.
    tally: Tally,
    /// The transitions stream, created by its first subscriber: until then, transitions cost
    /// one atomic load.
    transitions: OnceLock<broadcast::Sender<Transition<T>>>,
    /// The capacity of the transitions stream.
    transitions_capacity: usize,
    /// At most this many failed records are kept (the oldest are removed first).
    max_failed: Option<usize>,
    /// The recorder's name, for metrics and tracing.
    pub(crate) name: Arc<str>,
    /// How tracing shows an id, if it may.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) describe_id: Option<fn(&T) -> String>,
    /// What the watcher waits on: a child of `token`, so cancelled with it, and also cancelled
    /// by `_stop_watching` when the recorder is dropped, so the watcher ends too.
    wake_watcher: Option<CancellationToken>,
    _stop_watching: Option<DropGuard>,
}

impl<T> Inner<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Whether new launches are refused.
    fn is_closed(&self) -> bool {
        self.tracker.is_closed() || self.token.as_ref().is_some_and(|t| t.is_cancelled())
    }

    /// Publishes a transition of `id` to the subscribers, if anyone ever subscribed. Called
    /// under the id's entry lock, so each id's transitions are published in order.
    fn publish(&self, id: &T, from: TaskState, to: TaskState) {
        #[cfg(feature = "tracing")]
        crate::trace::transition(self, id, from, to);
        if let Some(transitions) = self.transitions.get() {
            // No receiver left is not an error: the transition is simply not watched.
            let _ = transitions.send(Transition {
                id: id.clone(),
                from,
                to,
            });
        }
    }

    /// What happens when an attempt ends: applies `finish` for `attempt` of `id`, counts the
    /// outcome, publishes the transition, and wakes the attempt's waiters with the state it
    /// ended in. Synchronous: it also runs from `Drop`.
    pub(crate) fn settle(&self, id: &T, attempt: u32, outcome: Outcome) {
        let failed = self.records.update_sync(id, |id, record| {
            let next = transition::finish(record, attempt, outcome, Instant::now)?;
            let state = next.state();
            self.tally.count(match &next {
                Record::Failed { failure, .. } => {
                    #[cfg(feature = "tracing")]
                    crate::trace::failure(self, id, attempt, failure);
                    Event::Failed(failure.kind)
                }
                _ => Event::Succeeded,
            });
            self.publish(id, TaskState::Working, state);
            if let Record::Working { run, .. } = std::mem::replace(record, next) {
                run.ended(state);
            }
            if state == TaskState::Failed {
                // The record is `Failed` already; an id is in the index at most once.
                let _ = self.failed.insert_sync(id.clone());
            }
            Some(state == TaskState::Failed)
        });
        if failed.flatten() == Some(true) {
            self.enforce_max_failed();
        }
    }

    /// Applies `end_revoke` to `id`.
    pub(crate) fn end_revoke(&self, id: &T, revoked: bool) {
        if let Some(mut entry) = self.records.get_sync(id) {
            match transition::end_revoke(entry.get(), revoked) {
                RevokeEnd::Put(next) => *entry.get_mut() = next,
                RevokeEnd::Remove => {
                    self.tally.count(Event::Revoked);
                    self.publish(entry.key(), TaskState::Success, TaskState::NotFound);
                    drop(entry.remove_entry());
                }
                RevokeEnd::Keep => {}
            }
        }
    }

    /// Asks every running attempt to stop; returns how many were asked.
    fn cancel_all(&self, why: Stop) -> usize {
        let mut cancelled = 0;
        self.records.iter_sync(|_, record| {
            if let Record::Working { run, .. } = record {
                run.stop(why);
                cancelled += 1;
            }
            true
        });
        cancelled
    }

    /// Removes every failed record for which `doomed` holds; returns how many it removed.
    fn remove_failed_where(&self, mut doomed: impl FnMut(&Record) -> bool) -> usize {
        let mut removed = 0;
        self.records.retain_sync(|id, record| {
            if transition::remove_failed(record) && doomed(record) {
                self.failed.remove_sync(id);
                self.publish(id, TaskState::Failed, TaskState::NotFound);
                removed += 1;
                return false;
            }
            true
        });
        self.tally.removed(removed as u64);
        removed
    }

    /// The `max_failed` policy: when more failed records are kept than allowed, removes the
    /// oldest, down to seven eighths of the limit, so the scan it takes is paid once per
    /// many failures.
    fn enforce_max_failed(&self) {
        let Some(max) = self.max_failed else { return };
        if self.tally.snapshot().failed_now <= max as u64 {
            return;
        }
        let target = max - max / 8;
        let mut ages = Vec::new();
        self.records.iter_sync(|_, record| {
            if let Record::Failed { failure, .. } = record {
                ages.push(failure.at);
            }
            true
        });
        if ages.len() <= target {
            return;
        }
        let excess = ages.len() - target;
        let (_, cutoff, _) = ages.select_nth_unstable(excess - 1);
        let cutoff = *cutoff;
        let mut budget = excess;
        self.remove_failed_where(|record| match record {
            Record::Failed { failure, .. } if budget > 0 && failure.at <= cutoff => {
                budget -= 1;
                true
            }
            _ => false,
        });
    }

    /// Starts, once and if there is a runtime, the task that closes the recorder and cancels
    /// every attempt when the builder's token is cancelled. It holds only a weak reference,
    /// and ends when the recorder is dropped.
    fn watch_token(self: &Arc<Self>) {
        let (Some(token), Some(wake)) = (&self.token, &self.wake_watcher) else {
            return;
        };
        if self.watching.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.watching.swap(true, Ordering::AcqRel) {
            return;
        }
        let woken = wake.clone();
        let token = token.clone();
        let inner: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            woken.cancelled().await;
            if let (true, Some(inner)) = (token.is_cancelled(), inner.upgrade()) {
                inner.tracker.close();
                inner.cancel_all(Stop::Shutdown);
            }
        });
    }
}

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Creates an empty recorder (every id is [`TaskState::NotFound`]) with no concurrency
    /// limit and no cancellation token. Use [`builder`](Self::builder) for those.
    pub fn new() -> Self {
        Builder::new().build()
    }

    /// A [`Builder`] to set a concurrency limit or a cancellation token.
    pub fn builder() -> Builder<T> {
        Builder::new()
    }

    pub(crate) fn from_options(options: Options, describe_id: Option<fn(&T) -> String>) -> Self {
        let Options {
            max_concurrency,
            token,
            transitions_capacity,
            max_failed,
            name,
        } = options;
        let wake_watcher = token.as_ref().map(CancellationToken::child_token);
        let stop_watching = wake_watcher.clone().map(CancellationToken::drop_guard);
        let inner = Arc::new(Inner {
            records: scc::HashMap::with_hasher(IdHasher::default()),
            failed: scc::HashSet::with_hasher(IdHasher::default()),
            tracker: TaskTracker::new(),
            limit: max_concurrency.map(Semaphore::new),
            token,
            watching: AtomicBool::new(false),
            tally: Tally::default(),
            transitions: OnceLock::new(),
            transitions_capacity,
            max_failed,
            name,
            describe_id,
            wake_watcher,
            _stop_watching: stop_watching,
        });
        inner.watch_token();
        AsyncTasksRecorder { inner }
    }

    /// What happens on launch, for `launch`, `launch_block` and the `try_` forms: under the
    /// id's entry lock, asks the state machine whether a new attempt starts; if so, stores the
    /// `Working` record, built from `running`, and returns the attempt's guard (with the id
    /// cloned once, for the guard to find the record again). Otherwise hands `task` back with
    /// the reason.
    ///
    /// Nothing that could drop an attempt (a spawn) runs while the entry is locked.
    fn claim<F>(
        &self,
        task_id: T,
        task: F,
        running: impl FnOnce() -> Running,
    ) -> Result<Claimed<T, F>, (LaunchRefusal, F)> {
        self.inner.watch_token();
        let entry = self.inner.records.entry_sync(task_id);
        let current = match &entry {
            Entry::Occupied(occupied) => Some(occupied.get()),
            Entry::Vacant(_) => None,
        };
        let from = current.map_or(TaskState::NotFound, Record::state);
        // Counted as running before the closed check: the tracker keeps the count and the
        // closed flag in one atomic, so a shutdown that closes the recorder after this check
        // waits for this attempt. Launches refused because the id runs or succeeded never
        // look at either.
        let mut running_token = None;
        let closed = || {
            running_token = Some(self.inner.tracker.token());
            self.inner.is_closed()
        };
        let attempt = match transition::launch(current, closed) {
            Ok(attempt) => attempt,
            Err(refusal) => {
                self.inner.tally.count(match refusal {
                    LaunchRefusal::Running => Event::RefusedRunning,
                    LaunchRefusal::Succeeded => Event::RefusedSucceeded,
                    LaunchRefusal::Closed { .. } => Event::RefusedClosed,
                });
                return Err((refusal, task));
            }
        };
        self.inner.tally.count(Event::Launched {
            relaunch: from == TaskState::Failed,
        });
        let run = Arc::new(running());
        let record = Record::Working {
            attempts: attempt,
            run: Arc::clone(&run),
        };
        let id = match entry {
            Entry::Occupied(mut occupied) => {
                if from == TaskState::Failed {
                    self.inner.failed.remove_sync(occupied.key());
                }
                *occupied.get_mut() = record;
                occupied.key().clone()
            }
            Entry::Vacant(vacant) => vacant.insert_entry(record).key().clone(),
        };
        self.inner.publish(&id, from, TaskState::Working);
        let guard = Attempt {
            inner: Arc::clone(&self.inner),
            id,
            attempt,
            finished: false,
            _running: running_token.unwrap_or_else(|| self.inner.tracker.token()),
        };
        Ok(Claimed {
            attempt: guard,
            run,
            task,
        })
    }

    /// `launch` and `try_launch`: claims the id, then spawns the attempt once its record is
    /// stored and the entry unlocked.
    fn spawn<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
        describe: fn(&E) -> Option<String>,
    ) -> Result<(), (LaunchRefusal, Fut)>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let Claimed { attempt, run, task } = self.claim(task_id, task, Running::spawned)?;
        // Outside a runtime, `tokio::spawn` panics and drops the attempt, which records it as
        // `Failed`: nothing is left `Working`.
        let span = trace::task_span(&attempt);
        let spawned = if self.inner.limit.is_some() {
            tokio::spawn(trace::in_span(attempt.run_limited(task, describe), span))
        } else {
            tokio::spawn(trace::in_span(attempt.run(task, describe), span))
        };
        run.spawned_as(spawned.abort_handle());
        Ok(())
    }

    /// `launch_block` and `try_launch_block`: claims the id, then runs the attempt inline,
    /// until it ends or is cancelled.
    async fn run_inline<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
        describe: fn(&E) -> Option<String>,
    ) -> Result<(), (LaunchRefusal, Fut)>
    where
        Fut: Future<Output = Result<R, E>>,
    {
        let cancel = CancellationToken::new();
        let Claimed { attempt, task, .. } =
            self.claim(task_id, task, || Running::inline(cancel.clone()))?;
        let span = trace::task_span(&attempt);
        trace::in_span(attempt.run_until_cancelled(task, describe, cancel), span).await;
        Ok(())
    }

    /// Launches `task` under `task_id` on the current tokio runtime (with [`tokio::spawn`])
    /// and returns once the id is recorded as [`TaskState::Working`].
    ///
    /// The launch is refused, and `task` handed back unpolled, with
    /// `Err((TaskState::Working, task))` while another attempt of the id runs and
    /// `Err((TaskState::Success, task))` once the id has succeeded (until it is revoked). A
    /// `NotFound` or `Failed` id starts a new attempt, unless the recorder is
    /// [closed](Self::close): then the refusal reports the id's current state, `NotFound` or
    /// `Failed` (use [`try_launch`](Self::try_launch) for an explicit
    /// [`LaunchError::Closed`]).
    ///
    /// When `task` returns `Ok` the id becomes `Success`; when it returns `Err`, panics, is
    /// [cancelled](Self::cancel), or is dropped before it finishes (the runtime shut down), it
    /// becomes `Failed`. The output of `task` is dropped. With a concurrency limit, the task
    /// waits for its turn inside the spawned task, already `Working`.
    ///
    /// After this returns `Ok`, no query of the id answers `NotFound` or a `Failed` from
    /// before the launch. The returned future completes on its first poll; dropping it before
    /// that launches nothing.
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed` ([`FailureKind::Dropped`](crate::FailureKind)),
    /// never left `Working`.
    pub async fn launch<Fut, R, E>(&self, task_id: T, task: Fut) -> Result<(), (TaskState, Fut)>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.spawn(task_id, task, no_text)
            .map_err(compatible_refusal)
    }

    /// Like [`launch`](Self::launch), but says why a launch is refused with a
    /// [`LaunchError`], which tells a closed recorder apart.
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed` ([`FailureKind::Dropped`](crate::FailureKind)),
    /// never left `Working`.
    pub async fn try_launch<Fut, R, E>(&self, task_id: T, task: Fut) -> Result<(), LaunchError<Fut>>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.spawn(task_id, task, no_text).map_err(launch_error)
    }

    /// Like [`launch`](Self::launch), but runs `task` inside the returned future, and returns
    /// once `task` has finished and its outcome is recorded.
    ///
    /// Dropping the returned future while `task` runs (a `select!`, a timeout, a client that
    /// hung up) drops `task` and records the id as `Failed`: it is never left `Working`. If
    /// `task` panics, the id is recorded as `Failed` and the panic goes on to the caller. If
    /// the id is [cancelled](Self::cancel), `task` is dropped and this returns `Ok(())` with
    /// the id `Failed`.
    pub async fn launch_block<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<(), (TaskState, Fut)>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.run_inline(task_id, task, no_text)
            .await
            .map_err(compatible_refusal)
    }

    /// Like [`launch_block`](Self::launch_block), but says why a launch is refused with a
    /// [`LaunchError`].
    pub async fn try_launch_block<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<(), LaunchError<Fut>>
    where
        Fut: Future<Output = Result<R, E>>,
    {
        self.run_inline(task_id, task, no_text)
            .await
            .map_err(launch_error)
    }

    /// Like [`launch`](Self::launch), and when `task` returns `Err(e)`, keeps `e.to_string()`
    /// as the failure's message (see [`task_info`](Self::task_info)). The text is kept with
    /// the failed record only, and freed when the id is launched again.
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed` ([`FailureKind::Dropped`](crate::FailureKind)),
    /// never left `Working`.
    pub async fn launch_with_error_text<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<(), (TaskState, Fut)>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.spawn(task_id, task, error_text)
            .map_err(compatible_refusal)
    }

    /// Like [`launch_block`](Self::launch_block), keeping the error's text as
    /// [`launch_with_error_text`](Self::launch_with_error_text) does.
    pub async fn launch_block_with_error_text<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<(), (TaskState, Fut)>
    where
        Fut: Future<Output = Result<R, E>>,
        E: fmt::Display,
    {
        self.run_inline(task_id, task, error_text)
            .await
            .map_err(compatible_refusal)
    }

    /// The state of `task_id`, read atomically from its one record: a linearizable answer.
    ///
    /// Accepts any borrowed form of the id, e.g. `&str` for a `AsyncTasksRecorder<String>`.
    /// Costs one hash map read.
    pub async fn query_task_state<Q>(&self, task_id: &Q) -> TaskState
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner
            .records
            .read_sync(task_id, |_, record| record.state())
            .unwrap_or(TaskState::NotFound)
    }

    /// Kept for compatibility with `async_tasks_recorder`, where it was a cheaper query that
    /// could answer `Working` for an id never launched. Here every query reads the one record
    /// of the id, so this is [`query_task_state`](Self::query_task_state): as cheap, and
    /// exact.
    pub async fn query_task_state_quick<Q>(&self, task_id: &Q) -> TaskState
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.query_task_state(task_id).await
    }

    /// Revokes the success of `target_task_id` by running `revoke_task` inside the returned
    /// future: on `Ok(r)` the id becomes [`TaskState::NotFound`] (and can be launched again)
    /// and `Ok(r)` is returned.
    ///
    /// Refused, with `revoke_task` handed back unpolled, with
    /// [`RevokeFailReason::NotSuccess`] unless the id is `Success`, and with
    /// [`RevokeFailReason::Revoking`] while another revoke of the id runs: at most one revoke
    /// of an id runs at a time. A refusal changes nothing.
    ///
    /// While the revoke runs the id still reads `Success` and cannot be launched. If
    /// `revoke_task` returns `Err(e)` ([`RevokeFailReason::RevokeTaskError`]), panics, or the
    /// returned future is dropped before it finishes, the id stays `Success` and can be
    /// revoked again.
    pub async fn revoke_task_block<Fut, R, E>(
        &self,
        target_task_id: T,
        revoke_task: Fut,
    ) -> Result<R, RevokeFailReason<Fut, E>>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let begun = match self.inner.records.entry_sync(target_task_id) {
            Entry::Occupied(mut entry) => transition::begin_revoke(entry.get()).map(|next| {
                *entry.get_mut() = next;
                entry.key().clone()
            }),
            // No record: the id is `NotFound`.
            Entry::Vacant(_) => Err(RevokeRefusal::NotSuccess),
        };
        let id = match begun {
            Ok(id) => id,
            Err(RevokeRefusal::Revoking) => return Err(RevokeFailReason::Revoking(revoke_task)),
            Err(RevokeRefusal::NotSuccess) => {
                return Err(RevokeFailReason::NotSuccess(revoke_task))
            }
        };
        let revocation = Revocation {
            inner: &self.inner,
            id,
            done: false,
        };
        match revoke_task.await {
            Ok(r) => {
                revocation.end(true);
                Ok(r)
            }
            Err(e) => {
                revocation.end(false);
                Err(RevokeFailReason::RevokeTaskError(e))
            }
        }
    }

    /// Calls `visit` with every id whose state is `state`, and returns how many it visited.
    ///
    /// This scans every record (O(number of recorded ids)), locking one bucket of the map at a
    /// time, so it never blocks the whole recorder; the scan does not yield to the runtime, so
    /// for very large records call it from [`tokio::task::spawn_blocking`] if that matters.
    /// `Failed` ids are kept in an index of their own, so listing them costs
    /// O(number of failed ids). It is not a snapshot: ids that change state during the scan
    /// may be visited or not, but each visited id held `state` at some moment during the call.
    /// `NotFound` ids have no record: asking for them visits nothing.
    ///
    /// `visit` runs while a bucket of the recorder is locked: it must not call this recorder
    /// (that can deadlock). To act on the ids, collect them with
    /// [`ids_in_state`](Self::ids_in_state) first.
    pub async fn for_each_in_state(&self, state: TaskState, mut visit: impl FnMut(&T)) -> usize {
        let mut visited = 0;
        if state == TaskState::Failed {
            self.inner.failed.iter_sync(|id| {
                visit(id);
                visited += 1;
                true
            });
            return visited;
        }
        self.inner.records.iter_sync(|id, record| {
            if record.state() == state {
                visit(id);
                visited += 1;
            }
            true
        });
        visited
    }

    /// The ids whose state is `state`, cloned into a `Vec` (in no particular order).
    ///
    /// Same cost and consistency as [`for_each_in_state`](Self::for_each_in_state), plus one
    /// clone per listed id.
    pub async fn ids_in_state(&self, state: TaskState) -> Vec<T> {
        let mut ids = Vec::new();
        self.for_each_in_state(state, |id| ids.push(id.clone()))
            .await;
        ids
    }

    /// How many ids are in `state` (always 0 for `NotFound`). Same cost and consistency as
    /// [`for_each_in_state`](Self::for_each_in_state), except for `Failed`, which is counted
    /// in O(1) (approximate while failed records come and go).
    pub async fn count_in_state(&self, state: TaskState) -> usize {
        if state == TaskState::Failed {
            return self.inner.failed.len();
        }
        self.for_each_in_state(state, |_| {}).await
    }

    /// The record of `task_id`: its state, its number of attempts, and why its last attempt
    /// failed if it is `Failed`; `None` if it is `NotFound`. One hash map read (plus a copy of
    /// the failure's message).
    pub async fn task_info<Q>(&self, task_id: &Q) -> Option<TaskInfo>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner
            .records
            .read_sync(task_id, |_, record| record.info())
    }

    /// The recorder's name, set by [`Builder::name`] (`"tasks"` by default).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The recorder's counters and gauges: a few atomic loads, no lock. See [`Counters`] for
    /// what each counts and how exact a snapshot is.
    pub fn counters(&self) -> Counters {
        self.inner.tally.snapshot()
    }

    /// A stream of every state change from now on, as [`Transition`]s: `NotFound` or `Failed`
    /// to `Working` on launch, `Working` to `Success` or `Failed` when an attempt ends,
    /// `Success` to `NotFound` on revoke, `Failed` to `NotFound` when a failed record is
    /// removed. Each id's transitions arrive in order.
    ///
    /// It is a [`tokio::sync::broadcast`] channel: a subscriber that falls more than its
    /// capacity behind (1024 by default, see [`Builder::transitions_capacity`]) loses the
    /// oldest transitions and is told how many with
    /// [`RecvError::Lagged`](broadcast::error::RecvError::Lagged); it never slows the tasks
    /// down. Until the first subscription, the stream costs nothing; after it, every
    /// transition clones its id.
    pub fn subscribe_transitions(&self) -> broadcast::Receiver<Transition<T>> {
        self.inner
            .transitions
            .get_or_init(|| broadcast::Sender::new(self.inner.transitions_capacity))
            .subscribe()
    }

    /// Removes the record of `task_id` if it is `Failed` (the id becomes `NotFound`); returns
    /// whether it did. Other states are left as they are.
    pub fn remove_failed<Q>(&self, task_id: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(entry) = self.inner.records.get_sync(task_id) else {
            return false;
        };
        if !transition::remove_failed(entry.get()) {
            return false;
        }
        self.inner.failed.remove_sync(entry.key());
        self.inner.tally.removed(1);
        self.inner
            .publish(entry.key(), TaskState::Failed, TaskState::NotFound);
        drop(entry.remove_entry());
        true
    }

    /// Removes every `Failed` record; returns how many. Scans every record, like
    /// [`for_each_in_state`](Self::for_each_in_state).
    pub fn clear_failed(&self) -> usize {
        self.inner.remove_failed_where(|_| true)
    }

    /// Removes the `Failed` records whose attempt ended more than `age` ago; returns how many.
    /// Call it periodically (e.g. from a [`tokio::time::interval`] loop) to bound memory by
    /// age; [`Builder::max_failed`] bounds it by count.
    pub fn remove_failed_older_than(&self, age: Duration) -> usize {
        let Some(cutoff) = Instant::now().checked_sub(age) else {
            return 0;
        };
        self.inner.remove_failed_where(|record| match record {
            Record::Failed { failure, .. } => failure.at < cutoff,
            _ => false,
        })
    }

    /// How many ids have a record (are not `NotFound`). O(1) but approximate while records
    /// are added or removed concurrently.
    pub fn len(&self) -> usize {
        self.inner.records.len()
    }

    /// Whether no id has a record: every id is `NotFound`. Approximate like [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.inner.records.is_empty()
    }

    /// Waits until `task_id` is no longer [`TaskState::Working`] and returns the state its
    /// attempt ended in; returns at once with the current state if the id is not running.
    ///
    /// No polling and no missed wake-up: the waiter subscribes to the attempt under the lock
    /// of the id's entry, and the attempt's end publishes its final state under the same lock.
    /// It wakes whatever ends the attempt: success, failure, panic, cancellation or shutdown.
    /// Tasks nobody waits on pay nothing for this. Dropping the returned future changes
    /// nothing.
    pub async fn wait<Q>(&self, task_id: &Q) -> TaskState
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let subscribed = self
            .inner
            .records
            .read_sync(task_id, |_, record| match record {
                Record::Working { run, .. } => Err(run.subscribe()),
                settled => Ok(settled.state()),
            });
        match subscribed {
            None => TaskState::NotFound,
            Some(Ok(state)) => state,
            Some(Err(mut ended)) => {
                let ended = ended
                    .wait_for(|state| *state != TaskState::Working)
                    .await
                    .map(|state| *state);
                match ended {
                    Ok(state) => state,
                    // Every end of an attempt publishes its state first; should the channel close
                    // without it, the record itself says how the attempt ended.
                    Err(_) => self.query_task_state(task_id).await,
                }
            }
        }
    }

    /// Asks the running attempt of `task_id` to stop: its future is dropped at its next
    /// `.await` (or before it starts, if it waits for the concurrency limit), and the id is
    /// then recorded as `Failed` and can be launched again. Returns `false`, changing nothing,
    /// if the id is not `Working`.
    ///
    /// The id stays `Working` until the future is actually dropped; [`wait`](Self::wait) for
    /// it to see the end. If the attempt finishes before it sees the cancellation, its own
    /// outcome is recorded (a success is never hidden, so at most one success per id still
    /// holds).
    pub fn cancel<Q>(&self, task_id: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner
            .records
            .read_sync(task_id, |_, record| match record {
                Record::Working { run, .. } => {
                    run.stop(Stop::Cancel);
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

    /// Closes the recorder to new launches: [`launch`](Self::launch) and friends refuse every
    /// new attempt (running attempts go on). Returns `true` if this call closed it. A closed
    /// recorder still answers queries, waits, cancels and revokes.
    pub fn close(&self) -> bool {
        self.inner.tracker.close()
    }

    /// Whether the recorder refuses new launches: it was [closed](Self::close) or shut down,
    /// or its cancellation token was cancelled.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// How many attempts are running (including those waiting for the concurrency limit).
    /// Approximate while launches race with it.
    pub fn running(&self) -> usize {
        self.inner.tracker.len()
    }

    /// Graceful shutdown: [closes](Self::close) the recorder, then waits until no attempt
    /// runs. When it returns, no task of this recorder runs and no id is `Working`.
    ///
    /// Dropping the returned future stops the waiting; the recorder stays closed.
    pub async fn shutdown(&self) {
        self.close();
        self.inner.tracker.wait().await;
    }

    /// Shutdown with a grace period: [closes](Self::close) the recorder and waits up to
    /// `grace` for the running attempts to finish; then [cancels](Self::cancel_all) the rest
    /// and waits for them to be dropped. Returns how many attempts were cancelled.
    ///
    /// When it returns, no task of this recorder runs and no id is `Working`. (An attempt
    /// that never reaches an `.await` cannot be dropped, and is waited for.)
    pub async fn shutdown_with_grace(&self, grace: Duration) -> usize {
        self.close();
        if tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_ok()
        {
            return 0;
        }
        let cancelled = self.inner.cancel_all(Stop::Shutdown);
        self.inner.tracker.wait().await;
        cancelled
    }
}

/// A launch the state machine accepted: the attempt's guard, the running side of its record,
/// and the task to run.
struct Claimed<T, F>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    attempt: Attempt<T>,
    run: Arc<Running>,
    task: F,
}

/// Keeps no text of an error (`launch`, `launch_block`).
fn no_text<E>(_: &E) -> Option<String> {
    None
}

/// Keeps the text of an error (`launch_with_error_text` and its `_block` form).
fn error_text<E: fmt::Display>(error: &E) -> Option<String> {
    Some(error.to_string())
}

/// A refusal as the 2.0.2-compatible methods report it: the state, and the unpolled task.
fn compatible_refusal<Fut>((refusal, task): (LaunchRefusal, Fut)) -> (TaskState, Fut) {
    let state = match refusal {
        LaunchRefusal::Running => TaskState::Working,
        LaunchRefusal::Succeeded => TaskState::Success,
        LaunchRefusal::Closed { current } => current,
    };
    (state, task)
}

/// A refusal as the `try_` methods report it.
fn launch_error<Fut>((refusal, task): (LaunchRefusal, Fut)) -> LaunchError<Fut> {
    match refusal {
        LaunchRefusal::Running => LaunchError::AlreadyRunning(task),
        LaunchRefusal::Succeeded => LaunchError::AlreadySucceeded(task),
        LaunchRefusal::Closed { .. } => LaunchError::Closed(task),
    }
}

impl<T> Clone for AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Another handle to the same records.
    fn clone(&self) -> Self {
        AsyncTasksRecorder {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Default for AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Same as [`AsyncTasksRecorder::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncTasksRecorder")
            .field("name", &self.inner.name)
            .field("records", &self.inner.records.len())
            .field("running", &self.inner.tracker.len())
            .field("closed", &self.inner.is_closed())
            .finish_non_exhaustive()
    }
}
