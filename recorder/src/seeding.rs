//! Seeding known successes: marking ids `Success` without running anything (one, or
//! thousands at startup), and exporting every `Success` id, so that a service can persist its
//! successes itself and restore them at its next start.
//!
//! A mark applies [`transition::mark_succeeded`] under the lock of the id's entry, as a
//! launch applies [`transition::launch`]: a mark and a launch of the same id are ordered, so
//! at most one of them makes the id `Success`, and a mark never touches a running attempt.

use std::fmt;
use std::hash::Hash;

use scc::hash_map::Entry;

use crate::recorder::Inner;
use crate::tally::Event;
use crate::transition::{self, Record};
use crate::{AsyncTasksRecorder, TaskState};

/// Why [`mark_succeeded`](AsyncTasksRecorder::mark_succeeded) left an id as it was.
///
/// Only a `NotFound` or `Failed` id can be marked; every other state is one of these, and the
/// id's record is unchanged.
///
/// ```
/// use tasks_recorder::{AsyncTasksRecorder, MarkError, TaskState};
///
/// let jobs: AsyncTasksRecorder<u32> = AsyncTasksRecorder::new();
/// jobs.mark_succeeded(1).unwrap();
/// let again = jobs.mark_succeeded(1).unwrap_err();
/// assert_eq!(again, MarkError::AlreadySucceeded);
/// assert_eq!(again.state(), TaskState::Success);
/// assert_eq!(again.to_string(), "the task has already succeeded");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MarkError {
    /// An attempt of the id is running ([`TaskState::Working`]): its own outcome decides.
    AlreadyRunning,
    /// A revoke of the id is running: the id reads [`TaskState::Success`], and becomes
    /// `NotFound` or stays `Success` as the revoke ends. Mark it again after that.
    Revoking,
    /// The id is [`TaskState::Success`] already: what the mark asked for holds.
    AlreadySucceeded,
}

impl MarkError {
    /// The state the id reads in: `Working`, or `Success` (revoking or succeeded).
    pub const fn state(self) -> TaskState {
        match self {
            MarkError::AlreadyRunning => TaskState::Working,
            MarkError::Revoking | MarkError::AlreadySucceeded => TaskState::Success,
        }
    }
}

impl fmt::Display for MarkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MarkError::AlreadyRunning => "the task is running",
            MarkError::Revoking => "the task is being revoked",
            MarkError::AlreadySucceeded => "the task has already succeeded",
        })
    }
}

impl std::error::Error for MarkError {}

/// What a bulk mark did, from
/// [`mark_all_succeeded`](AsyncTasksRecorder::mark_all_succeeded): every id given is
/// counted once, in exactly one of the three.
///
/// ```
/// use tasks_recorder::{AsyncTasksRecorder, SeedReport};
///
/// let jobs: AsyncTasksRecorder<&'static str> = AsyncTasksRecorder::new();
/// let report: SeedReport<_> = jobs.mark_all_succeeded(["a", "b", "a"]);
/// assert_eq!((report.marked, report.already_succeeded), (2, 1));
/// assert!(report.refused.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeedReport<T> {
    /// How many ids became `Success` (they were `NotFound` or `Failed`).
    pub marked: usize,
    /// How many ids were `Success` already, and were left so (an id given twice is counted
    /// here the second time).
    pub already_succeeded: usize,
    /// The ids left as they were because they run or are being revoked, with which
    /// ([`MarkError::AlreadyRunning`] or [`MarkError::Revoking`]), in the order given.
    pub refused: Vec<(T, MarkError)>,
}

impl<T> Default for SeedReport<T> {
    fn default() -> Self {
        SeedReport {
            marked: 0,
            already_succeeded: 0,
            refused: Vec::new(),
        }
    }
}

impl<T> Inner<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Marks `id` as succeeded under its entry's lock: stores the record the state machine
    /// gives, takes a failed id out of the failed index first (so "in the index" still
    /// implies `Failed`), counts the mark and publishes the transition. An id refused because
    /// it runs or is being revoked is cloned into `refused`, if given.
    fn mark(&self, id: T, refused: Option<&mut Vec<(T, MarkError)>>) -> Result<(), MarkError> {
        let entry = self.records.entry_sync(id);
        let current = match &entry {
            Entry::Occupied(occupied) => Some(occupied.get()),
            Entry::Vacant(_) => None,
        };
        let from = current.map_or(TaskState::NotFound, Record::state);
        let next = match transition::mark_succeeded(current) {
            Ok(next) => next,
            Err(refusal) => {
                if let (Entry::Occupied(occupied), Some(refused)) = (&entry, refused) {
                    if refusal != MarkError::AlreadySucceeded {
                        refused.push((occupied.key().clone(), refusal));
                    }
                }
                return Err(refusal);
            }
        };
        let failed = from == TaskState::Failed;
        match entry {
            Entry::Occupied(mut occupied) => {
                if failed {
                    self.failed.remove_sync(occupied.key());
                }
                *occupied.get_mut() = next;
                self.machinery.tally.count(Event::Marked { failed });
                self.publish(occupied.key(), from, TaskState::Success);
            }
            Entry::Vacant(vacant) => {
                let occupied = vacant.insert_entry(next);
                self.machinery.tally.count(Event::Marked { failed });
                self.publish(occupied.key(), from, TaskState::Success);
            }
        }
        Ok(())
    }
}

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Marks `task_id` as [`TaskState::Success`] without running anything: for work known to
    /// be done elsewhere (found at startup, restored from a file, done by hand).
    ///
    /// A `NotFound` or `Failed` id becomes `Success` (a failed one keeps its number of
    /// attempts; a new one has none): it is counted in
    /// [`Counters::marked_succeeded_total`](crate::Counters::marked_succeeded_total) and
    /// published on the [transitions stream](Self::subscribe_transitions) (from `NotFound` or
    /// `Failed` to `Success`). From then on, launches of the id are refused as succeeded,
    /// until it is revoked.
    ///
    /// Any other id is left as it is, with the reason: [`MarkError::AlreadyRunning`] while an
    /// attempt runs (its own outcome decides; [`wait`](Self::wait) for it, then mark again if
    /// it failed), [`MarkError::Revoking`] while a revoke runs, and
    /// [`MarkError::AlreadySucceeded`]. A mark and a launch of the same id are decided under
    /// the same lock, one after the other: at most one success per id still holds. A closed
    /// recorder still takes marks, since they run nothing.
    ///
    /// Costs what a launch's claim does, with no spawn: one entry lookup with the lock held.
    ///
    /// ```
    /// use tasks_recorder::{AsyncTasksRecorder, MarkError, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pins: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
    /// // The node already holds this pin: record it, pin nothing.
    /// assert_eq!(pins.mark_succeeded("cid-1".to_string()), Ok(()));
    /// assert_eq!(pins.query_task_state("cid-1").await, TaskState::Success);
    /// let pin = async { Ok::<_, ()>(()) };
    /// let (state, _unpolled) = pins.launch("cid-1".to_string(), pin).await.unwrap_err();
    /// assert_eq!(state, TaskState::Success);
    ///
    /// // A running id is refused: only its own attempt can end it.
    /// let slow = std::future::pending::<Result<(), ()>>();
    /// pins.launch("cid-2".to_string(), slow).await.ok();
    /// assert_eq!(pins.mark_succeeded("cid-2".to_string()), Err(MarkError::AlreadyRunning));
    /// assert_eq!(pins.counters().marked_succeeded_total, 1);
    /// # pins.shutdown_with_grace(std::time::Duration::ZERO).await;
    /// # }
    /// ```
    pub fn mark_succeeded(&self, task_id: T) -> Result<(), MarkError> {
        self.inner.mark(task_id, None)
    }

    /// Marks every id of `ids` as [`mark_succeeded`](Self::mark_succeeded) does, one after
    /// the other, and reports how many were marked, how many had succeeded already, and
    /// which were refused (running or being revoked). This is also the import of
    /// [`successes`](Self::successes): restoring a saved set at startup.
    ///
    /// Synchronous, with no allocation per id beyond the record itself (a refused id is
    /// cloned into the report): thousands of ids take a few milliseconds. Each id is marked
    /// atomically on its own; the whole is not a transaction, so a launch racing the import
    /// may win some ids (they are then `Working`, and reported refused).
    ///
    /// ```
    /// use tasks_recorder::{AsyncTasksRecorder, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let before: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    /// for id in 0..1_000 {
    ///     before.launch_block(id, async move { if id % 10 == 0 { Err(()) } else { Ok(()) } })
    ///         .await
    ///         .ok();
    /// }
    /// // Save the successes on shutdown (here in a Vec; a file in the `seeding` example)...
    /// let saved = before.successes();
    /// assert_eq!(saved.len(), 900);
    ///
    /// // ...and restore them at the next start, while id 7 is already running again.
    /// let after: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    /// after.launch(7, std::future::pending::<Result<(), ()>>()).await.ok();
    /// let report = after.mark_all_succeeded(saved);
    /// assert_eq!((report.marked, report.already_succeeded), (899, 0));
    /// assert_eq!(report.refused, vec![(7, tasks_recorder::MarkError::AlreadyRunning)]);
    /// assert_eq!(after.count_in_state(TaskState::Success).await, 899);
    /// # after.shutdown_with_grace(std::time::Duration::ZERO).await;
    /// # }
    /// ```
    pub fn mark_all_succeeded(&self, ids: impl IntoIterator<Item = T>) -> SeedReport<T> {
        let mut report = SeedReport::default();
        for id in ids {
            match self.inner.mark(id, Some(&mut report.refused)) {
                Ok(()) => report.marked += 1,
                Err(MarkError::AlreadySucceeded) => report.already_succeeded += 1,
                // Cloned into `report.refused` under the entry's lock.
                Err(MarkError::AlreadyRunning | MarkError::Revoking) => {}
            }
        }
        report
    }

    /// Every id that is [`TaskState::Success`] (revoking ones included), cloned into a `Vec`
    /// in no particular order: what to save so that [`mark_all_succeeded`](Self::mark_all_succeeded)
    /// restores it later.
    ///
    /// Synchronous (it can run from a shutdown hook), with the cost and consistency of
    /// [`ids_in_state`](Self::ids_in_state): the ids are copied out one bucket at a time, so
    /// the scan never blocks the whole recorder, and what is done with them runs with no lock
    /// of the recorder held. Taken after [`shutdown`](Self::shutdown), when nothing runs any
    /// more, it is exact.
    ///
    /// ```
    /// use tasks_recorder::AsyncTasksRecorder;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let jobs: AsyncTasksRecorder<u32> = AsyncTasksRecorder::new();
    /// jobs.launch_block(1, async { Ok::<_, ()>(()) }).await.ok();
    /// jobs.launch_block(2, async { Err::<(), _>(()) }).await.ok();
    /// jobs.mark_succeeded(3).unwrap();
    /// let mut saved = jobs.successes();
    /// saved.sort();
    /// assert_eq!(saved, [1, 3]);
    /// # }
    /// ```
    pub fn successes(&self) -> Vec<T> {
        self.ids_now(TaskState::Success)
    }
}
