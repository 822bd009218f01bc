//! What the recorder tells about tasks besides their state: why one failed, how many
//! attempts it took, the counters of the whole recorder, and its transitions as they happen.

use std::fmt;
use std::time::Instant;

use crate::TaskState;

/// The record of one id, from [`task_info`](crate::AsyncTasksRecorder::task_info).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The id's state (a revoking id is `Success`).
    pub state: TaskState,
    /// How many times the id was launched since it was last `NotFound` (1 for the first
    /// attempt; failures and relaunches add up; a revoke starts again from 0).
    pub attempts: u32,
    /// Why the last attempt failed, when `state` is [`TaskState::Failed`].
    pub failure: Option<Failure>,
    /// The id is `Working` with an attempt that waits for its turn under the concurrency or
    /// rate limit, and has not started its future yet (see
    /// [`Builder::max_concurrency`](crate::Builder::max_concurrency) and
    /// [`Builder::rate_limit`](crate::Builder::rate_limit)). Always `false` for other states.
    pub queued: bool,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// What ended the attempt.
    pub kind: FailureKind,
    /// The error's text (launched with
    /// [`launch_with_error_text`](crate::AsyncTasksRecorder::launch_with_error_text) or its
    /// `_block` form) or the panic's message, when there is one.
    pub message: Option<String>,
    /// When the attempt ended.
    pub at: Instant,
}

/// What ended a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The future returned `Err`.
    Error,
    /// The future panicked.
    Panicked,
    /// The attempt was cancelled by [`cancel`](crate::AsyncTasksRecorder::cancel) or
    /// [`cancel_all`](crate::AsyncTasksRecorder::cancel_all).
    Cancelled,
    /// The attempt was cancelled by a shutdown: the grace period of
    /// [`shutdown_with_grace`](crate::AsyncTasksRecorder::shutdown_with_grace) ran out, or the
    /// recorder's cancellation token was cancelled.
    ShutDown,
    /// The future was dropped before it finished, by nobody's request through the recorder:
    /// a `launch_block` future dropped half way, or the runtime shut down.
    Dropped,
    /// The attempt's lease ran out before its end was recorded (a shared store only, such as
    /// `tasks-recorder-postgres`): its process crashed, hung, or lost the database. Another
    /// process may launch the id again.
    Lost,
    /// The attempt ran longer than its timeout ([`Builder::timeout`](crate::Builder::timeout)
    /// or [`launch_with_timeout`](crate::AsyncTasksRecorder::launch_with_timeout)), and its
    /// future was dropped.
    TimedOut,
}

impl FailureKind {
    /// The kind's name in lower case, e.g. `"panicked"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Panicked => "panicked",
            FailureKind::Cancelled => "cancelled",
            FailureKind::ShutDown => "shut_down",
            FailureKind::Dropped => "dropped",
            FailureKind::Lost => "lost",
            FailureKind::TimedOut => "timed_out",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => write!(f, "{}: {message}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// One change of an id's state, from
/// [`subscribe_transitions`](crate::AsyncTasksRecorder::subscribe_transitions).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition<T> {
    /// The id that changed.
    pub id: T,
    /// Its state before.
    pub from: TaskState,
    /// Its state after.
    pub to: TaskState,
}

/// The recorder's counters and gauges at one moment, from
/// [`counters`](crate::AsyncTasksRecorder::counters).
///
/// The name of each field says its kind: `*_total` fields are **counters**, which only grow
/// and count events from the recorder's creation; `*_now` fields are **gauges**, how many ids
/// are in a state at this moment.
///
/// Every counter is exact: each event is counted once, whatever ends an attempt (panics and
/// cancellations included). The counters are read one by one, so while tasks run, a snapshot
/// may show an event in one counter and not yet in another; the gauges are derived from them
/// and may be off by the transitions in flight.
///
/// ```
/// use tasks_recorder::AsyncTasksRecorder;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let jobs: AsyncTasksRecorder<u32> = AsyncTasksRecorder::new();
/// jobs.launch_block(1, async { Ok::<_, ()>(()) }).await.ok();
/// jobs.launch_block(2, async { Err::<(), _>("no") }).await.ok();
/// let c = jobs.counters();
/// assert_eq!((c.launched_total, c.succeeded_total, c.failed_total), (2, 1, 1));
/// assert_eq!((c.working_now, c.success_now, c.failed_now), (0, 1, 1));
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Counter: attempts started (launches accepted).
    pub launched_total: u64,
    /// Counter: attempts that got their turn under the concurrency and rate limits and began
    /// to run their future (Dynamo's "started"; `launched_total` is its "issued"). Without
    /// either limit, every launched attempt starts at once, and this equals
    /// `launched_total`.
    pub started_total: u64,
    /// Counter: launches refused because the id was running.
    pub refused_running_total: u64,
    /// Counter: launches refused because the id had succeeded.
    pub refused_succeeded_total: u64,
    /// Counter: launches refused because the recorder was closed.
    pub refused_closed_total: u64,
    /// Counter: launches refused because as many attempts as
    /// [`Builder::max_queued`](crate::Builder::max_queued) allows waited for their turn
    /// (Dynamo's "rejected").
    pub refused_queue_full_total: u64,
    /// Counter: attempts that returned `Ok`.
    pub succeeded_total: u64,
    /// Counter: attempts that returned `Err`.
    pub failed_total: u64,
    /// Counter: attempts that panicked.
    pub panicked_total: u64,
    /// Counter: attempts cancelled (by `cancel`, `cancel_all`, or a shutdown).
    pub cancelled_total: u64,
    /// Counter: attempts dropped before they finished, by nobody's request (see
    /// [`FailureKind::Dropped`]).
    pub dropped_total: u64,
    /// Counter: attempts whose lease ran out before their end was recorded (see
    /// [`FailureKind::Lost`]; a shared store only).
    pub lost_total: u64,
    /// Counter: attempts that ran out of their time (see [`FailureKind::TimedOut`]).
    pub timed_out_total: u64,
    /// Counter: firings of the failure policy (see [`FailurePolicy`](crate::FailurePolicy));
    /// at most 1.
    pub policy_fired_total: u64,
    /// Counter: tries after the first of retrying attempts (see
    /// [`launch_retrying`](crate::AsyncTasksRecorder::launch_retrying)).
    pub retried_total: u64,
    /// Counter: ends of attempts or revokes that came too late and changed nothing: a newer
    /// attempt owned the record, or the lease had run out (a shared store only).
    pub fenced_total: u64,
    /// Counter: successes revoked.
    pub revoked_total: u64,
    /// Counter: failed records removed (by `remove_failed`, `clear_failed`, age, or the
    /// `max_failed` policy).
    pub removed_total: u64,
    /// Counter: ids marked `Success` without running anything, by
    /// [`mark_succeeded`](crate::AsyncTasksRecorder::mark_succeeded) or
    /// [`mark_all_succeeded`](crate::AsyncTasksRecorder::mark_all_succeeded) (marks refused,
    /// or of ids that had succeeded already, are not counted).
    pub marked_succeeded_total: u64,
    /// Gauge: ids `Working` now, queued ones included.
    pub working_now: u64,
    /// Gauge: attempts waiting for their turn now ([`TaskInfo::queued`]): launched, neither
    /// started nor ended. A backlog shows here; slow tasks show in `working_now` alone.
    pub queued_now: u64,
    /// Gauge: ids `Success` now (revoking ones included).
    pub success_now: u64,
    /// Gauge: ids `Failed` now.
    pub failed_now: u64,
}

impl Counters {
    /// Adds `other`'s counters and gauges to these (a parent's aggregate, see
    /// [`aggregate_counters`](crate::AsyncTasksRecorder::aggregate_counters)).
    pub(crate) fn add(&mut self, other: &Counters) {
        // Every field by name: a new one that is not added here does not compile.
        let Counters {
            launched_total,
            started_total,
            refused_running_total,
            refused_succeeded_total,
            refused_closed_total,
            refused_queue_full_total,
            succeeded_total,
            failed_total,
            panicked_total,
            cancelled_total,
            dropped_total,
            lost_total,
            timed_out_total,
            policy_fired_total,
            retried_total,
            fenced_total,
            revoked_total,
            removed_total,
            marked_succeeded_total,
            working_now,
            queued_now,
            success_now,
            failed_now,
        } = *other;
        self.launched_total += launched_total;
        self.started_total += started_total;
        self.refused_running_total += refused_running_total;
        self.refused_succeeded_total += refused_succeeded_total;
        self.refused_closed_total += refused_closed_total;
        self.refused_queue_full_total += refused_queue_full_total;
        self.succeeded_total += succeeded_total;
        self.failed_total += failed_total;
        self.panicked_total += panicked_total;
        self.cancelled_total += cancelled_total;
        self.dropped_total += dropped_total;
        self.lost_total += lost_total;
        self.timed_out_total += timed_out_total;
        self.policy_fired_total += policy_fired_total;
        self.retried_total += retried_total;
        self.fenced_total += fenced_total;
        self.revoked_total += revoked_total;
        self.removed_total += removed_total;
        self.marked_succeeded_total += marked_succeeded_total;
        self.working_now += working_now;
        self.queued_now += queued_now;
        self.success_now += success_now;
        self.failed_now += failed_now;
    }

    /// These counters with the gauges at zero: what a recorder that is gone leaves behind.
    pub(crate) fn totals_only(mut self) -> Counters {
        self.working_now = 0;
        self.queued_now = 0;
        self.success_now = 0;
        self.failed_now = 0;
        self
    }

    /// Counter: launches refused, for any reason.
    pub fn refused_total(&self) -> u64 {
        self.refused_running_total
            + self.refused_succeeded_total
            + self.refused_closed_total
            + self.refused_queue_full_total
    }
}
