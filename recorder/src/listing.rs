//! Listing the ids in a state, and acting on the ids a predicate picks.
//!
//! No user code runs while a lock of the recorder is held: the ids (and what the predicate
//! looks at) are copied out under each bucket's lock, and the visitor or predicate runs on the
//! copies afterwards, so it may call the recorder, await nothing and still never deadlock.
//! The price is one clone per visited id, and the copies' memory until the call returns. (The
//! id's own `Clone`, `Hash` and `Eq` do run under the lock: they must not call the recorder.)

use std::hash::Hash;
use std::sync::Arc;

use crate::info::TaskInfo;
use crate::running::{Running, Stop};
use crate::transition::Record;
use crate::{AsyncTasksRecorder, TaskState};

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Calls `visit` with every id whose state is `state`, and returns how many it visited.
    ///
    /// `visit` runs with no lock of the recorder held, so it may call the recorder: cancel,
    /// remove, query or launch the ids it is given. The ids are first copied (one clone each)
    /// under the lock of one bucket of the map at a time, so the scan never blocks the whole
    /// recorder; then `visit` sees each copy.
    ///
    /// This scans every record (O(number of recorded ids)) without yielding to the runtime;
    /// for very large records call it from [`tokio::task::spawn_blocking`] if that matters.
    /// `Failed` ids are kept in an index of their own, so listing them costs
    /// O(number of failed ids). It is not a snapshot: ids that change state during the scan
    /// may be visited or not, and each visited id held `state` at some moment during the scan
    /// (it may have changed since: act on it through the recorder, which checks again).
    /// `NotFound` ids have no record: asking for them visits nothing.
    ///
    /// ```
    /// use tasks_recorder::{AsyncTasksRecorder, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let jobs: AsyncTasksRecorder<u32> = AsyncTasksRecorder::new();
    /// for id in 0..4 {
    ///     jobs.launch_block(id, async move { if id % 2 == 0 { Ok(()) } else { Err(()) } })
    ///         .await
    ///         .ok();
    /// }
    /// // The visitor may call the recorder.
    /// let visited = jobs.for_each_in_state(TaskState::Failed, |id| {
    ///     jobs.remove_failed(id);
    /// }).await;
    /// assert_eq!(visited, 2);
    /// assert_eq!(jobs.count_in_state(TaskState::Failed).await, 0);
    /// # }
    /// ```
    pub async fn for_each_in_state(&self, state: TaskState, mut visit: impl FnMut(&T)) -> usize {
        let ids = self.ids_in_state(state).await;
        for id in &ids {
            visit(id);
        }
        ids.len()
    }

    /// The ids whose state is `state`, cloned into a `Vec` (in no particular order).
    ///
    /// Same cost and consistency as [`for_each_in_state`](Self::for_each_in_state).
    pub async fn ids_in_state(&self, state: TaskState) -> Vec<T> {
        self.ids_now(state)
    }

    /// [`ids_in_state`](Self::ids_in_state), synchronous: the one scan that copies ids out.
    pub(crate) fn ids_now(&self, state: TaskState) -> Vec<T> {
        let mut ids = Vec::new();
        if state == TaskState::Failed {
            self.inner.failed.iter_sync(|id| {
                ids.push(id.clone());
                true
            });
            return ids;
        }
        self.inner.records.iter_sync(|id, record| {
            if record.state() == state {
                ids.push(id.clone());
            }
            true
        });
        ids
    }

    /// How many ids are in `state` (always 0 for `NotFound`). Same cost and consistency as
    /// [`for_each_in_state`](Self::for_each_in_state), with no clone; `Failed` ids are
    /// counted in O(1) (approximate while failed records come and go).
    pub async fn count_in_state(&self, state: TaskState) -> usize {
        if state == TaskState::Failed {
            return self.inner.failed.len();
        }
        let mut count = 0;
        self.inner.records.iter_sync(|_, record| {
            count += usize::from(record.state() == state);
            true
        });
        count
    }

    /// Cancels, as [`cancel`](Self::cancel) does, every running attempt for which `pick`
    /// returns `true`, in one pass; returns how many it asked to stop.
    ///
    /// `pick` sees each `Working` id with its [`TaskInfo`], and runs with no lock of the
    /// recorder held (it may call the recorder). Only the very attempt `pick` looked at is
    /// cancelled: if it ended meanwhile and the id was launched again, the new attempt runs
    /// on.
    ///
    /// ```
    /// use tasks_recorder::{AsyncTasksRecorder, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let jobs: AsyncTasksRecorder<u32> = AsyncTasksRecorder::new();
    /// for id in 0..6 {
    ///     jobs.launch(id, std::future::pending::<Result<(), ()>>()).await.ok();
    /// }
    /// let cancelled = jobs.cancel_where(|id, _info| id % 3 == 0);
    /// assert_eq!(cancelled, 2);
    /// assert_eq!(jobs.wait(&3).await, TaskState::Failed);
    /// assert_eq!(jobs.query_task_state(&4).await, TaskState::Working);
    /// # jobs.shutdown_with_grace(std::time::Duration::ZERO).await;
    /// # }
    /// ```
    pub fn cancel_where(&self, mut pick: impl FnMut(&T, &TaskInfo) -> bool) -> usize {
        let mut working: Vec<(T, TaskInfo, Arc<Running>)> = Vec::new();
        self.inner.records.iter_sync(|id, record| {
            if let Record::Working { run, .. } = record {
                working.push((id.clone(), record.info(), Arc::clone(run)));
            }
            true
        });
        let mut cancelled = 0;
        let grace = self.inner.machinery.cancel_grace();
        for (id, info, run) in working {
            if pick(&id, &info) {
                // Stopping an attempt that has ended already changes nothing.
                run.stop_gracefully(Stop::Cancel, grace);
                cancelled += 1;
            }
        }
        cancelled
    }

    /// Removes, as [`remove_failed`](Self::remove_failed) does, every `Failed` record for
    /// which `pick` returns `true`, in one pass; returns how many it removed.
    ///
    /// `pick` sees each `Failed` id with its [`TaskInfo`] (why and when it failed), and runs
    /// with no lock of the recorder held (it may call the recorder). A record is removed only
    /// if it is still the failure `pick` looked at: an id relaunched meanwhile is kept. Costs
    /// O(number of failed ids), plus one clone of each.
    ///
    /// ```
    /// use tasks_recorder::{AsyncTasksRecorder, FailureKind, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let jobs: AsyncTasksRecorder<u32> = AsyncTasksRecorder::new();
    /// jobs.launch_block(1, async { Err::<(), _>("bad input") }).await.ok();
    /// jobs.launch_block(2, async { Ok::<(), ()>(()) }).await.ok();
    /// let removed = jobs.remove_failed_where(|_id, info| {
    ///     info.failure.as_ref().is_some_and(|f| f.kind == FailureKind::Error)
    /// });
    /// assert_eq!(removed, 1);
    /// assert_eq!(jobs.query_task_state(&1).await, TaskState::NotFound);
    /// # }
    /// ```
    pub fn remove_failed_where(&self, mut pick: impl FnMut(&T, &TaskInfo) -> bool) -> usize {
        let mut failed = Vec::new();
        self.inner.failed.iter_sync(|id| {
            failed.push(id.clone());
            true
        });
        let mut removed = 0;
        for id in failed {
            let Some(info) = self.inner.records.read_sync(&id, |_, record| record.info()) else {
                continue;
            };
            if info.state != TaskState::Failed || !pick(&id, &info) {
                continue;
            }
            let at = info.failure.as_ref().map(|failure| failure.at);
            let same_failure = |record: &Record| match record {
                Record::Failed { attempts, failure } => {
                    *attempts == info.attempts && Some(failure.at) == at
                }
                _ => false,
            };
            removed += usize::from(self.inner.remove_failed_if(&id, same_failure));
        }
        removed
    }
}
