//! Bounding the failed records: removing them by hand, by a predicate (see
//! [`listing`](crate::listing)), by age, or by count (`Builder::max_failed`). `Success`
//! records are never removed here: they are the at-most-once guarantee, and leave only by
//! revoke.

use std::borrow::Borrow;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::recorder::Inner;
use crate::transition::{self, Record};
use crate::{AsyncTasksRecorder, TaskState};

impl<T> Inner<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Removes the record of `id` if it is `Failed` and `still` holds for it; returns whether
    /// it did. `still` is the recorder's own code: it runs under the entry's lock.
    pub(crate) fn remove_failed_if<Q>(&self, id: &Q, still: impl FnOnce(&Record) -> bool) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(entry) = self.records.get_sync(id) else {
            return false;
        };
        if !(transition::remove_failed(entry.get()) && still(entry.get())) {
            return false;
        }
        self.failed.remove_sync(entry.key());
        self.machinery.tally.removed(1);
        self.publish(entry.key(), TaskState::Failed, TaskState::NotFound);
        drop(entry.remove_entry());
        true
    }

    /// Removes every failed record for which `doomed` holds, in one scan; returns how many
    /// it removed. `doomed` is the recorder's own code: it runs under a bucket's lock.
    fn retain_failed(&self, mut doomed: impl FnMut(&Record) -> bool) -> usize {
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
        self.machinery.tally.removed(removed as u64);
        removed
    }

    /// The `max_failed` policy: when more failed records are kept than allowed, removes the
    /// oldest, down to seven eighths of the limit, so the scan it takes is paid once per
    /// many failures.
    pub(crate) fn enforce_max_failed(&self) {
        let Some(max) = self.max_failed else { return };
        if self.machinery.tally.snapshot().failed_now <= max as u64 {
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
        self.retain_failed(|record| match record {
            Record::Failed { failure, .. } if budget > 0 && failure.at <= cutoff => {
                budget -= 1;
                true
            }
            _ => false,
        });
    }
}

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Removes the record of `task_id` if it is `Failed` (the id becomes `NotFound`); returns
    /// whether it did. Other states are left as they are.
    pub fn remove_failed<Q>(&self, task_id: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.remove_failed_if(task_id, |_| true)
    }

    /// Removes every `Failed` record; returns how many. Scans every record, like
    /// [`for_each_in_state`](Self::for_each_in_state). See also
    /// [`remove_failed_where`](Self::remove_failed_where) to pick the records to remove.
    pub fn clear_failed(&self) -> usize {
        self.inner.retain_failed(|_| true)
    }

    /// Removes the `Failed` records whose attempt ended more than `age` ago; returns how many.
    /// Call it periodically (e.g. from a [`tokio::time::interval`] loop) to bound memory by
    /// age; [`Builder::max_failed`](crate::Builder::max_failed) bounds it by count.
    pub fn remove_failed_older_than(&self, age: Duration) -> usize {
        let Some(cutoff) = Instant::now().checked_sub(age) else {
            return 0;
        };
        self.inner.retain_failed(|record| match record {
            Record::Failed { failure, .. } => failure.at < cutoff,
            _ => false,
        })
    }
}
