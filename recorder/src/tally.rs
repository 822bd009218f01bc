//! The recorder's event counters: one atomic each, on its own cache line so that tasks
//! finishing on different threads do not fight over one line.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::info::{Counters, FailureKind};

#[derive(Debug, Default)]
#[repr(align(64))]
struct Counter(AtomicU64);

impl Counter {
    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn add_n(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every event the recorder counts. Each is counted where the state machine applies it, under
/// the id's entry lock, so each counts exactly once.
#[derive(Debug, Default)]
pub struct Tally {
    launched: Counter,
    /// Launches of a `Failed` id: each takes one id out of the failed gauge.
    relaunched: Counter,
    refused_running: Counter,
    refused_succeeded: Counter,
    refused_closed: Counter,
    refused_queue_full: Counter,
    policy_fired: Counter,
    succeeded: Counter,
    failed: Counter,
    panicked: Counter,
    cancelled: Counter,
    dropped: Counter,
    lost: Counter,
    timed_out: Counter,
    retried: Counter,
    /// Attempts that got their turn (counted only where attempts wait for it).
    started: Counter,
    /// Attempts that ended before their turn came.
    ended_queued: Counter,
    fenced: Counter,
    revoked: Counter,
    removed: Counter,
    /// Ids marked `Success` without running.
    marked: Counter,
    /// Marks of a `Failed` id: each takes one id out of the failed gauge.
    marked_failed: Counter,
}

/// An event to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An attempt started; `relaunch` if the id was `Failed`.
    Launched {
        /// The id was `Failed` before.
        relaunch: bool,
    },
    /// A launch was refused: the id was running.
    RefusedRunning,
    /// A launch was refused: the id had succeeded.
    RefusedSucceeded,
    /// A launch was refused: the recorder was closed.
    RefusedClosed,
    /// A launch was refused: the queue of attempts waiting for their turn was full.
    RefusedQueueFull,
    /// An attempt succeeded.
    Succeeded,
    /// An attempt failed, for this reason.
    Failed(FailureKind),
    /// A success was revoked.
    Revoked,
    /// A retrying attempt tried again.
    Retried,
    /// A queued attempt got its turn and started.
    Started,
    /// A queued attempt ended before its turn came.
    EndedQueued,
    /// The failure policy fired.
    PolicyFired,
    /// An id was marked `Success` without running; `failed` if it was `Failed` (a lost
    /// attempt included), else it was `NotFound`.
    Marked {
        /// The id was `Failed` before.
        failed: bool,
    },
    /// An end of an attempt or of a revoke that came too late (its lease ran out, or a newer
    /// attempt owns the record) and changed nothing.
    Fenced,
}

impl Tally {
    /// Counts `event` once.
    pub fn count(&self, event: Event) {
        match event {
            Event::Launched { relaunch } => {
                self.launched.add();
                if relaunch {
                    self.relaunched.add();
                }
            }
            Event::RefusedRunning => self.refused_running.add(),
            Event::RefusedSucceeded => self.refused_succeeded.add(),
            Event::RefusedClosed => self.refused_closed.add(),
            Event::RefusedQueueFull => self.refused_queue_full.add(),
            Event::Succeeded => self.succeeded.add(),
            Event::Failed(FailureKind::Error) => self.failed.add(),
            Event::Failed(FailureKind::Panicked) => self.panicked.add(),
            Event::Failed(FailureKind::Cancelled | FailureKind::ShutDown) => self.cancelled.add(),
            Event::Failed(FailureKind::Dropped) => self.dropped.add(),
            Event::Failed(FailureKind::Lost) => self.lost.add(),
            Event::Failed(FailureKind::TimedOut) => self.timed_out.add(),
            Event::Fenced => self.fenced.add(),
            Event::Revoked => self.revoked.add(),
            Event::Retried => self.retried.add(),
            Event::Started => self.started.add(),
            Event::EndedQueued => self.ended_queued.add(),
            Event::PolicyFired => self.policy_fired.add(),
            Event::Marked { failed } => {
                self.marked.add();
                if failed {
                    self.marked_failed.add();
                }
            }
        }
    }

    /// `n` failed records were removed.
    pub fn removed(&self, n: u64) {
        self.removed.add_n(n);
    }

    /// The counters now, with the gauges derived from them.
    pub fn snapshot(&self) -> Counters {
        // Ends are read before starts, so a gauge is never negative for an attempt that
        // ended during the snapshot.
        let revoked = self.revoked.get();
        let removed = self.removed.get();
        let succeeded = self.succeeded.get();
        let marked = self.marked.get();
        let failed = self.failed.get();
        let panicked = self.panicked.get();
        let cancelled = self.cancelled.get();
        let dropped = self.dropped.get();
        let lost = self.lost.get();
        let timed_out = self.timed_out.get();
        let relaunched = self.relaunched.get();
        let marked_failed = self.marked_failed.get();
        let ended_queued = self.ended_queued.get();
        let started = self.started.get();
        let launched = self.launched.get();
        let failures = failed + panicked + cancelled + dropped + lost + timed_out;
        Counters {
            launched_total: launched,
            started_total: started,
            refused_running_total: self.refused_running.get(),
            refused_succeeded_total: self.refused_succeeded.get(),
            refused_closed_total: self.refused_closed.get(),
            refused_queue_full_total: self.refused_queue_full.get(),
            succeeded_total: succeeded,
            failed_total: failed,
            panicked_total: panicked,
            cancelled_total: cancelled,
            dropped_total: dropped,
            lost_total: lost,
            timed_out_total: timed_out,
            retried_total: self.retried.get(),
            policy_fired_total: self.policy_fired.get(),
            fenced_total: self.fenced.get(),
            revoked_total: revoked,
            removed_total: removed,
            marked_succeeded_total: marked,
            working_now: launched.saturating_sub(succeeded + failures),
            queued_now: launched.saturating_sub(started + ended_queued),
            success_now: (succeeded + marked).saturating_sub(revoked),
            failed_now: failures.saturating_sub(relaunched + removed + marked_failed),
        }
    }
}
