//! The state machine of one task id: every transition the recorder makes is decided here.
//!
//! Each function takes the id's current record (`None` when the id has none) and says what
//! the event does to it. The functions know nothing of the container that holds the records
//! nor of the runtime: the recorder applies their answer atomically, under the lock of the
//! id's entry.
//!
//! ```text
//!            launch                 Ok                    revoke ok
//! NotFound ─────────▶ Working ─────────────▶ Success ──▶ Revoking ─────────▶ NotFound
//!                      │   ▲                    ▲           │
//!                      │   │ launch             └───────────┘ revoke Err, panic or dropped
//!                      ▼   │
//!                     Failed  ◀── Err, panic, cancelled, or dropped before it finished
//!                        │
//!                        └──── remove_failed (by hand, by age, max_failed) ──▶ NotFound
//!
//! NotFound, Failed ── mark_succeeded (nothing runs) ──▶ Success
//! ```
//!
//! A mark is refused while the id is `Working` or `Revoking`, and finds a `Success` id as it
//! is: it never ends a running attempt, so at most one success per id still holds.
//!
//! `Revoking` is reported as [`TaskState::Success`]: the task did succeed, and stays
//! succeeded unless the revoke future returns `Ok`. A closed recorder refuses launches of
//! `NotFound` and `Failed` ids.
//!
//! A shared store (`tasks-recorder-postgres`) applies the same rules in SQL, plus two about
//! leases, which an in-memory record never needs, since its process cannot outlive it:
//!
//! - a `Working` record whose lease ran out is `Failed` ([`FailureKind::Lost`]): it reads so,
//!   and a launch treats it as any failed id (a new attempt, its number one higher), as does
//!   a mark (it becomes `Success`);
//! - a `Revoking` record whose lease ran out is `Success`: it reads so, and can be revoked
//!   again.
//!
//! An end (of an attempt or of a revoke) changes the record only if the record is still that
//! attempt's (or revoke's) and its lease has not run out: the attempt number is the fencing
//! token. The agreement test of that crate runs the same operations on both stores and
//! compares the states and attempt counts.

use std::sync::Arc;
use std::time::Instant;

use crate::info::{Failure, FailureKind, TaskInfo};
use crate::running::Running;
use crate::{MarkError, TaskState};

/// The one authoritative record of a launched id. Ids without a record are `NotFound`.
///
/// `attempts` counts the launches of the id since it was last `NotFound`; the number of the
/// current or last attempt is also the generation that lets a finishing attempt recognise its
/// own record.
#[derive(Debug)]
pub(crate) enum Record {
    /// Attempt number `attempts` is running; `run` holds how to cancel it and its waiters.
    Working { attempts: u32, run: Arc<Running> },
    /// Attempt number `attempts` succeeded.
    Success { attempts: u32 },
    /// A revoke future is running for this succeeded id.
    Revoking { attempts: u32 },
    /// Attempt number `attempts` failed, for this reason (boxed: only failed ids pay for it).
    Failed {
        attempts: u32,
        failure: Box<Failure>,
    },
}

impl Record {
    /// The state a query reports for this record.
    pub(crate) fn state(&self) -> TaskState {
        match self {
            Record::Working { .. } => TaskState::Working,
            Record::Success { .. } | Record::Revoking { .. } => TaskState::Success,
            Record::Failed { .. } => TaskState::Failed,
        }
    }

    /// What [`task_info`](crate::AsyncTasksRecorder::task_info) reports for this record.
    pub(crate) fn info(&self) -> TaskInfo {
        let (attempts, failure) = match self {
            Record::Working { attempts, .. }
            | Record::Success { attempts }
            | Record::Revoking { attempts } => (*attempts, None),
            Record::Failed { attempts, failure } => (*attempts, Some(Failure::clone(failure))),
        };
        let queued = matches!(self, Record::Working { run, .. } if run.is_queued());
        TaskInfo {
            state: self.state(),
            attempts,
            failure,
            queued,
        }
    }
}

/// How one attempt of a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The future returned `Ok`.
    Succeeded,
    /// The future returned `Err`, with the error's text if it was kept.
    Failed(Option<String>),
    /// The future panicked, with the panic's message if it had one.
    Panicked(Option<String>),
    /// The future was dropped before it finished: cancelled, or dropped by its owner.
    Abandoned,
}

/// Why a launch is refused; the future is handed back unpolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaunchRefusal {
    /// Another attempt of the id is running.
    Running,
    /// The id succeeded (or is being revoked).
    Succeeded,
    /// The recorder is closed; the id is in `current` (`NotFound` or `Failed`).
    Closed { current: TaskState },
    /// The id could start a new attempt, but as many attempts as the recorder's bound allows
    /// wait for their turn already; the id is in `current` (`NotFound` or `Failed`).
    QueueFull { current: TaskState },
}

/// Why a revoke is refused before its future runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevokeRefusal {
    /// The id is not `Success`.
    NotSuccess,
    /// Another revoke of the id is running.
    Revoking,
}

/// What to do with an id's record when a revoke ends.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RevokeEnd {
    /// Store this record for the id.
    Put(Record),
    /// Remove the id's record: the id is `NotFound` again.
    Remove,
    /// Leave the record as it is: it is not this revoke's.
    Keep,
}

/// A launch of the id, on a recorder that is `closed()` or not: returns the number of the new
/// attempt (the caller stores `Working { attempts: n, .. }`), or why the launch is refused.
///
/// A running or succeeded id is refused first, so a closed recorder still reports those, and
/// `closed` is asked only for ids that could start.
pub(crate) fn launch(
    current: Option<&Record>,
    closed: impl FnOnce() -> bool,
) -> Result<u32, LaunchRefusal> {
    let next = match current {
        Some(Record::Working { .. }) => return Err(LaunchRefusal::Running),
        Some(Record::Success { .. } | Record::Revoking { .. }) => {
            return Err(LaunchRefusal::Succeeded)
        }
        None => 1,
        Some(Record::Failed { attempts, .. }) => attempts.saturating_add(1),
    };
    if closed() {
        let current = current.map_or(TaskState::NotFound, Record::state);
        return Err(LaunchRefusal::Closed { current });
    }
    Ok(next)
}

/// Attempt number `attempt` of the id ended with `outcome`, at `at`.
///
/// Returns the record to store. Only that attempt's own `Working` record changes (`None`
/// otherwise): anything else means the attempt was already settled and the record now belongs
/// to a later attempt, so it is kept. An abandoned attempt failed as
/// [`FailureKind::Cancelled`] or [`FailureKind::ShutDown`] if the recorder asked it to stop,
/// and as [`FailureKind::Dropped`] otherwise.
pub(crate) fn finish(
    current: &Record,
    attempt: u32,
    outcome: Outcome,
    at: impl FnOnce() -> Instant,
) -> Option<Record> {
    let Record::Working { attempts, run } = current else {
        return None;
    };
    if *attempts != attempt {
        return None;
    }
    let Some((kind, message)) = failure_of(outcome, run.stopped_by()) else {
        return Some(Record::Success { attempts: attempt });
    };
    Some(Record::Failed {
        attempts: attempt,
        failure: Box::new(Failure {
            kind,
            message,
            at: at(),
        }),
    })
}

/// Attempt number `attempt` of the id tries again (a retrying launch): the id stays
/// `Working`, and the record counts the try as an attempt. Returns the attempt's new number,
/// or `None` (nothing changes) if the record is not that attempt's `Working` one.
pub(crate) fn next_try(current: &mut Record, attempt: u32) -> Option<u32> {
    match current {
        Record::Working { attempts, .. } if *attempts == attempt => {
            *attempts += 1;
            Some(*attempts)
        }
        _ => None,
    }
}

/// How an attempt that ended with `outcome` is recorded: `None` if it succeeded, else why it
/// failed and the error's or panic's text. An abandoned attempt failed as the reason the
/// recorder gave when it asked it to stop (`stopped_by`: cancelled, shut down, lost), and
/// as [`FailureKind::Dropped`] if nobody asked. Every store records ends this way.
pub fn failure_of(
    outcome: Outcome,
    stopped_by: Option<FailureKind>,
) -> Option<(FailureKind, Option<String>)> {
    match outcome {
        Outcome::Succeeded => None,
        // An error after the recorder told the task to stop: the task ended because it was
        // told (cancelled, shut down, timed out, lost).
        Outcome::Failed(message) => Some((stopped_by.unwrap_or(FailureKind::Error), message)),
        Outcome::Panicked(message) => Some((FailureKind::Panicked, message)),
        Outcome::Abandoned => Some((stopped_by.unwrap_or(FailureKind::Dropped), None)),
    }
}

/// A removal of the id's failed record (by hand, by age, or by the `max_failed` policy):
/// only a `Failed` record can be removed; the id is then `NotFound`.
pub(crate) fn remove_failed(current: &Record) -> bool {
    matches!(current, Record::Failed { .. })
}

/// A revoke of the id begins: only a `Success` id can be revoked, one revoke at a time.
///
/// Returns the `Revoking` record to store, or why the revoke is refused. (An id without a
/// record is `NotFound`, and refused with [`RevokeRefusal::NotSuccess`].)
pub(crate) fn begin_revoke(current: &Record) -> Result<Record, RevokeRefusal> {
    match *current {
        Record::Success { attempts } => Ok(Record::Revoking { attempts }),
        Record::Revoking { .. } => Err(RevokeRefusal::Revoking),
        Record::Working { .. } | Record::Failed { .. } => Err(RevokeRefusal::NotSuccess),
    }
}

/// The revoke future of the id ended: on `Ok` (`revoked`) the id becomes `NotFound`;
/// otherwise (`Err`, panic, or the revoke dropped half way) it is `Success` again.
pub(crate) fn end_revoke(current: &Record, revoked: bool) -> RevokeEnd {
    match *current {
        Record::Revoking { .. } if revoked => RevokeEnd::Remove,
        Record::Revoking { attempts } => RevokeEnd::Put(Record::Success { attempts }),
        _ => RevokeEnd::Keep,
    }
}

/// A mark of the id as succeeded, without running anything: a `NotFound` id (no record)
/// becomes `Success` with no attempt, a `Failed` one `Success` with its attempts kept.
///
/// Returns the record to store, or why nothing changes: the id runs, is being revoked, or
/// has succeeded already.
pub(crate) fn mark_succeeded(current: Option<&Record>) -> Result<Record, MarkError> {
    match current {
        None => Ok(Record::Success { attempts: 0 }),
        Some(Record::Failed { attempts, .. }) => Ok(Record::Success {
            attempts: *attempts,
        }),
        Some(Record::Working { .. }) => Err(MarkError::AlreadyRunning),
        Some(Record::Revoking { .. }) => Err(MarkError::Revoking),
        Some(Record::Success { .. }) => Err(MarkError::AlreadySucceeded),
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Record::Working { attempts: a, .. }, Record::Working { attempts: b, .. })
            | (Record::Success { attempts: a }, Record::Success { attempts: b })
            | (Record::Revoking { attempts: a }, Record::Revoking { attempts: b })
            | (Record::Failed { attempts: a, .. }, Record::Failed { attempts: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl Eq for Record {}

#[cfg(test)]
mod tests {
    use super::*;

    fn working(attempts: u32) -> Record {
        Record::Working {
            attempts,
            run: Arc::new(Running::inline(Default::default())),
        }
    }

    fn failed(attempts: u32, kind: FailureKind) -> Record {
        Record::Failed {
            attempts,
            failure: Box::new(Failure {
                kind,
                message: None,
                at: Instant::now(),
            }),
        }
    }

    /// Catches a machine that lets a succeeded (or revoking) id start again, or a closed
    /// recorder that hides why an id is refused.
    #[test]
    fn launch_refuses_running_and_succeeded_ids() {
        for closed in [false, true] {
            let launch = |record: &Record| launch(Some(record), || closed);
            assert_eq!(launch(&working(1)), Err(LaunchRefusal::Running));
            assert_eq!(
                launch(&Record::Success { attempts: 1 }),
                Err(LaunchRefusal::Succeeded)
            );
            assert_eq!(
                launch(&Record::Revoking { attempts: 1 }),
                Err(LaunchRefusal::Succeeded)
            );
        }
        assert_eq!(launch(None, || false), Ok(1));
        assert_eq!(
            launch(Some(&failed(2, FailureKind::Error)), || false),
            Ok(3)
        );
        assert_eq!(
            launch(None, || true),
            Err(LaunchRefusal::Closed {
                current: TaskState::NotFound
            })
        );
        assert_eq!(
            launch(Some(&failed(2, FailureKind::Error)), || true),
            Err(LaunchRefusal::Closed {
                current: TaskState::Failed
            })
        );
    }

    /// Catches a stale attempt (cancelled, then relaunched) overwriting the new attempt.
    #[test]
    fn finish_only_touches_its_own_attempt() {
        let now = Instant::now;
        let current = working(2);
        assert_eq!(finish(&current, 1, Outcome::Succeeded, now), None);
        let abandoned = finish(&current, 2, Outcome::Abandoned, now).expect("its own attempt");
        assert_eq!(
            abandoned.info().failure.map(|f| f.kind),
            Some(FailureKind::Dropped)
        );
        assert_eq!(
            finish(&current, 2, Outcome::Succeeded, now),
            Some(Record::Success { attempts: 2 })
        );
        let settled = failed(2, FailureKind::Error);
        assert_eq!(finish(&settled, 2, Outcome::Failed(None), now), None);
    }

    /// Catches 2.0.2's bug: a refused revoke must leave no "revoking" mark behind.
    #[test]
    fn refused_revoke_changes_nothing() {
        for current in [working(1), failed(1, FailureKind::Panicked)] {
            assert_eq!(begin_revoke(&current), Err(RevokeRefusal::NotSuccess));
        }
        let revoking = Record::Revoking { attempts: 4 };
        assert_eq!(begin_revoke(&revoking), Err(RevokeRefusal::Revoking));
        assert_eq!(
            end_revoke(&revoking, false),
            RevokeEnd::Put(Record::Success { attempts: 4 })
        );
        assert_eq!(end_revoke(&revoking, true), RevokeEnd::Remove);
        assert_eq!(
            end_revoke(&Record::Success { attempts: 4 }, true),
            RevokeEnd::Keep
        );
    }

    /// Catches a mark that ends a running attempt (two successes for one id), lets a revoke
    /// half way be forgotten, or loses the attempts of a failed id.
    #[test]
    fn mark_only_settles_ids_that_do_not_run() {
        assert_eq!(mark_succeeded(None), Ok(Record::Success { attempts: 0 }));
        assert_eq!(
            mark_succeeded(Some(&failed(3, FailureKind::Lost))),
            Ok(Record::Success { attempts: 3 })
        );
        assert_eq!(
            mark_succeeded(Some(&working(1))),
            Err(MarkError::AlreadyRunning)
        );
        assert_eq!(
            mark_succeeded(Some(&Record::Revoking { attempts: 1 })),
            Err(MarkError::Revoking)
        );
        assert_eq!(
            mark_succeeded(Some(&Record::Success { attempts: 1 })),
            Err(MarkError::AlreadySucceeded)
        );
    }
}
