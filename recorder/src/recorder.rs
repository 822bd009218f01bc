//! [`AsyncTasksRecorder`]: the records of every id, and the launch, query and revoke
//! operations that apply the [state machine](crate::transition) to them.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use scc::hash_map::Entry;

use crate::transition::{self, Outcome, Record, RevokeRefusal, Step};
use crate::{RevokeFailReason, TaskState};

/// Records the state of async tasks launched under unique ids.
///
/// Every id has at most one record, held in one concurrent hash map ([`scc::HashMap`]) and
/// changed only under the lock of its entry, so every operation on an id is atomic and every
/// query is linearizable. See the [crate docs](crate) for the state machine and the
/// guarantees.
///
/// Clones share one record: clone the recorder (an [`Arc`] clone) to hand it to other tasks.
///
/// Every method is safe to call concurrently from any number of tasks and threads.
pub struct AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    inner: Arc<Inner<T>>,
}

/// The records, shared by every clone of a recorder and every running task.
///
/// Only the synchronous methods of the map are used, and no entry is held across an `.await`:
/// a lock is held for a few instructions by a thread that is running, so waiting for it
/// synchronously is short and cannot deadlock. (scc hands a released lock to the next waiter
/// in line; were that an async waiter, its task could sit unpolled on the very worker thread
/// that a synchronous waiter blocks, and neither would ever run: so the two are never mixed.)
struct Inner<T> {
    records: scc::HashMap<T, Record>,
}

impl<T> Inner<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Applies `finish` for `attempt` of `id`. Synchronous: it also runs from `Drop`.
    fn settle(&self, id: &T, attempt: u32, outcome: Outcome) {
        self.records.update_sync(id, |_, record| {
            if let Some(next) = transition::finish(*record, attempt, outcome) {
                *record = next;
            }
        });
    }

    /// Applies `end_revoke` to `id`.
    fn end_revoke(&self, id: &T, revoked: bool) {
        if let Some(mut entry) = self.records.get_sync(id) {
            match transition::end_revoke(*entry.get(), revoked) {
                Step::Put(next) => *entry.get_mut() = next,
                Step::Remove => drop(entry.remove_entry()),
                Step::Keep => {}
            }
        }
    }
}

/// Settles one attempt of a task when dropped: with the outcome given to [`Attempt::finish`],
/// or as [`Outcome::Abandoned`] if the task panicked or its future was dropped first.
struct Attempt<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    inner: Arc<Inner<T>>,
    id: T,
    attempt: u32,
    outcome: Outcome,
}

impl<T> Attempt<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Runs `task` and records how it ended.
    async fn run<Fut, R, E>(mut self, task: Fut)
    where
        Fut: Future<Output = Result<R, E>>,
    {
        self.outcome = match task.await {
            Ok(_) => Outcome::Succeeded,
            Err(_) => Outcome::Failed,
        };
    }
}

impl<T> Drop for Attempt<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        self.inner.settle(&self.id, self.attempt, self.outcome);
    }
}

/// Puts a revoked id back to `Success` when dropped, unless [`Revocation::revoked`] ran first:
/// a revoke future that panics or is dropped half way leaves the id as it was.
struct Revocation<'a, T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    inner: &'a Inner<T>,
    id: T,
    done: bool,
}

impl<T> Revocation<'_, T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn end(mut self, revoked: bool) {
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

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Creates an empty recorder: every id is [`TaskState::NotFound`].
    pub fn new() -> Self {
        AsyncTasksRecorder {
            inner: Arc::new(Inner {
                records: scc::HashMap::new(),
            }),
        }
    }

    /// Starts a new attempt of `task_id` if the id is `NotFound` or `Failed`: the record
    /// becomes `Working` and the number of the attempt is returned. Otherwise returns the state
    /// that refuses the launch.
    async fn claim(&self, task_id: T) -> Result<Attempt<T>, TaskState> {
        let (id, attempt) = match self.inner.records.entry_sync(task_id) {
            Entry::Occupied(mut entry) => {
                let (attempt, next) = transition::launch(Some(*entry.get()))?;
                *entry.get_mut() = next;
                (entry.key().clone(), attempt)
            }
            Entry::Vacant(entry) => {
                let (attempt, next) = transition::launch(None)?;
                let id = entry.key().clone();
                entry.insert_entry(next);
                (id, attempt)
            }
        };
        Ok(Attempt {
            inner: Arc::clone(&self.inner),
            id,
            attempt,
            outcome: Outcome::Abandoned,
        })
    }

    /// Launches `task` under `task_id` on the current tokio runtime (with [`tokio::spawn`])
    /// and returns once the id is recorded as [`TaskState::Working`].
    ///
    /// The launch is refused, and `task` handed back unpolled, with
    /// `Err((TaskState::Working, task))` while another attempt of the id runs and
    /// `Err((TaskState::Success, task))` once the id has succeeded (until it is revoked). A
    /// `NotFound` or `Failed` id starts a new attempt.
    ///
    /// When `task` returns `Ok` the id becomes `Success`; when it returns `Err`, panics, or is
    /// dropped before it finishes (the runtime shut down), it becomes `Failed`. The output of
    /// `task` is dropped.
    ///
    /// After this returns `Ok`, no query of the id answers `NotFound` or a `Failed` from
    /// before the launch. Dropping the returned future before it completes launches nothing
    /// (the future is cancel safe).
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`].
    pub async fn launch<Fut, R, E>(&self, task_id: T, task: Fut) -> Result<(), (TaskState, Fut)>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        match self.claim(task_id).await {
            Ok(attempt) => {
                tokio::spawn(attempt.run(task));
                Ok(())
            }
            Err(state) => Err((state, task)),
        }
    }

    /// Like [`launch`](Self::launch), but runs `task` inside the returned future, and returns
    /// once `task` has finished and its outcome is recorded.
    ///
    /// Dropping the returned future while `task` runs (a `select!`, a timeout, a client that
    /// hung up) drops `task` and records the id as `Failed`: it is never left `Working`. If
    /// `task` panics, the id is recorded as `Failed` and the panic goes on to the caller.
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
        match self.claim(task_id).await {
            Ok(attempt) => {
                attempt.run(task).await;
                Ok(())
            }
            Err(state) => Err((state, task)),
        }
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
            Entry::Occupied(mut entry) => transition::begin_revoke(*entry.get()).map(|next| {
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
    /// time, so it never blocks the whole recorder; the scan runs without yielding to the
    /// runtime, so for very large records call it from
    /// [`tokio::task::spawn_blocking`] or a dedicated thread if that matters. It is not a snapshot: ids that change state
    /// during the scan may be visited or not, but each visited id held `state` at some moment
    /// during the call. `NotFound` ids have no record: asking for them visits nothing.
    pub async fn for_each_in_state(&self, state: TaskState, mut visit: impl FnMut(&T)) -> usize {
        let mut visited = 0;
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
    /// [`for_each_in_state`](Self::for_each_in_state).
    pub async fn count_in_state(&self, state: TaskState) -> usize {
        self.for_each_in_state(state, |_| {}).await
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
            .field("records", &self.inner.records.len())
            .finish_non_exhaustive()
    }
}
