//! Reading the records: one id's state or record, and the recorder's name, size, counters and
//! transitions stream.

use std::borrow::Borrow;
use std::hash::Hash;

use tokio::sync::broadcast;

use crate::info::{Counters, TaskInfo, Transition};
use crate::{AsyncTasksRecorder, TaskState};

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
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

    /// The recorder's name, set by [`Builder::name`](crate::Builder::name) (`"tasks"` by default).
    pub fn name(&self) -> &str {
        &self.inner.machinery.name
    }

    /// The recorder's counters and gauges: a few atomic loads, no lock. See [`Counters`] for
    /// what each counts and how exact a snapshot is.
    pub fn counters(&self) -> Counters {
        self.inner.machinery.counters()
    }

    /// A stream of every state change from now on, as [`Transition`]s: `NotFound` or `Failed`
    /// to `Working` on launch, `Working` to `Success` or `Failed` when an attempt ends,
    /// `Success` to `NotFound` on revoke, `Failed` to `NotFound` when a failed record is
    /// removed. Each id's transitions arrive in order.
    ///
    /// It is a [`tokio::sync::broadcast`] channel: a subscriber that falls more than its
    /// capacity behind (1024 by default, see [`Builder::transitions_capacity`](crate::Builder::transitions_capacity)) loses the
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
