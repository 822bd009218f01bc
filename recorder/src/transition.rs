//! The state machine of one task id: every transition the recorder makes is decided here.
//!
//! Each function takes the id's current record (`None` when the id has none) and returns what
//! to do with it. The functions know nothing of the container that holds the records: the
//! recorder applies their answer to the record atomically, under the lock of the id's entry.
//!
//! ```text
//!            launch                 Ok                    revoke ok
//! NotFound ─────────▶ Working ─────────────▶ Success ──▶ Revoking ─────────▶ NotFound
//!    ▲                 │   ▲                    ▲           │
//!    │                 │   │ launch             └───────────┘ revoke Err, panic or dropped
//!    │ (never leaves   │   │
//!    │  without a      ▼   │
//!    │  launch)       Failed  ◀── Err, panic, or the task dropped before it finished
//! ```
//!
//! `Revoking` is reported as [`TaskState::Success`]: the task did succeed, and stays
//! succeeded unless the revoke future returns `Ok`.

use crate::TaskState;

/// The one authoritative record of a launched id. Ids without a record are `NotFound`.
///
/// `attempts` counts the launches of the id since it was last `NotFound`; the number of the
/// current or last attempt is also the generation that lets a finishing attempt recognise its
/// own record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// Attempt number `attempts` is running.
    Working { attempts: u32 },
    /// Attempt number `attempts` succeeded.
    Success { attempts: u32 },
    /// A revoke future is running for this succeeded id.
    Revoking { attempts: u32 },
    /// Attempt number `attempts` failed.
    Failed { attempts: u32 },
}

impl Record {
    /// The state a query reports for this record.
    pub(crate) fn state(self) -> TaskState {
        match self {
            Record::Working { .. } => TaskState::Working,
            Record::Success { .. } | Record::Revoking { .. } => TaskState::Success,
            Record::Failed { .. } => TaskState::Failed,
        }
    }
}

/// How one attempt of a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The future returned `Ok`.
    Succeeded,
    /// The future returned `Err`.
    Failed,
    /// The future panicked, or was dropped before it finished.
    Abandoned,
}

/// What to do with an id's record when a revoke ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Store this record for the id.
    Put(Record),
    /// Remove the id's record: the id is `NotFound` again.
    Remove,
    /// Leave the record as it is: the event does not apply to it.
    Keep,
}

/// Why a revoke is refused before its future runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevokeRefusal {
    /// The id is not `Success`.
    NotSuccess,
    /// Another revoke of the id is running.
    Revoking,
}

/// A launch of the id: starts a new attempt unless the id is running or succeeded.
///
/// Returns the new attempt's number and its `Working` record, or the state that refuses the
/// launch.
pub(crate) fn launch(current: Option<Record>) -> Result<(u32, Record), TaskState> {
    let attempt = match current {
        None => 1,
        Some(Record::Failed { attempts }) => attempts.saturating_add(1),
        Some(Record::Working { .. }) => return Err(TaskState::Working),
        Some(Record::Success { .. } | Record::Revoking { .. }) => return Err(TaskState::Success),
    };
    Ok((attempt, Record::Working { attempts: attempt }))
}

/// Attempt number `attempt` of the id ended with `outcome`.
///
/// Returns the record to store. Only that attempt's own `Working` record changes (`None`
/// otherwise): anything else means the attempt was already settled and the record now belongs
/// to a later attempt, so it is kept.
pub(crate) fn finish(current: Record, attempt: u32, outcome: Outcome) -> Option<Record> {
    match current {
        Record::Working { attempts } if attempts == attempt => Some(match outcome {
            Outcome::Succeeded => Record::Success { attempts },
            Outcome::Failed | Outcome::Abandoned => Record::Failed { attempts },
        }),
        _ => None,
    }
}

/// A revoke of the id begins: only a `Success` id can be revoked, one revoke at a time.
/// Returns the `Revoking` record to store, or why the revoke is refused. (An id without a
/// record is `NotFound`, and refused with [`RevokeRefusal::NotSuccess`].)
pub(crate) fn begin_revoke(current: Record) -> Result<Record, RevokeRefusal> {
    match current {
        Record::Success { attempts } => Ok(Record::Revoking { attempts }),
        Record::Revoking { .. } => Err(RevokeRefusal::Revoking),
        Record::Working { .. } | Record::Failed { .. } => Err(RevokeRefusal::NotSuccess),
    }
}

/// The revoke future of the id ended: on `Ok` (`revoked`) the id becomes `NotFound`;
/// otherwise (`Err`, panic, or the revoke dropped half way) it is `Success` again.
pub(crate) fn end_revoke(current: Record, revoked: bool) -> Step {
    match current {
        Record::Revoking { .. } if revoked => Step::Remove,
        Record::Revoking { attempts } => Step::Put(Record::Success { attempts }),
        _ => Step::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a machine that lets a succeeded (or revoking) id start again.
    #[test]
    fn launch_refuses_running_and_succeeded_ids() {
        assert_eq!(launch(Some(Record::Working { attempts: 1 })), Err(TaskState::Working));
        assert_eq!(launch(Some(Record::Success { attempts: 1 })), Err(TaskState::Success));
        assert_eq!(launch(Some(Record::Revoking { attempts: 1 })), Err(TaskState::Success));
        assert_eq!(launch(None), Ok((1, Record::Working { attempts: 1 })));
        assert_eq!(
            launch(Some(Record::Failed { attempts: 2 })),
            Ok((3, Record::Working { attempts: 3 }))
        );
    }

    /// Catches a stale attempt (cancelled, then relaunched) overwriting the new attempt.
    #[test]
    fn finish_only_touches_its_own_attempt() {
        let current = Record::Working { attempts: 2 };
        assert_eq!(finish(current, 1, Outcome::Succeeded), None);
        assert_eq!(
            finish(current, 2, Outcome::Abandoned),
            Some(Record::Failed { attempts: 2 })
        );
        assert_eq!(finish(Record::Failed { attempts: 2 }, 2, Outcome::Failed), None);
    }

    /// Catches 2.0.2's bug: a refused revoke must leave no "revoking" mark behind.
    #[test]
    fn refused_revoke_changes_nothing() {
        for current in [Record::Working { attempts: 1 }, Record::Failed { attempts: 1 }] {
            assert_eq!(begin_revoke(current), Err(RevokeRefusal::NotSuccess));
        }
        assert_eq!(
            end_revoke(Record::Revoking { attempts: 4 }, false),
            Step::Put(Record::Success { attempts: 4 })
        );
        assert_eq!(end_revoke(Record::Revoking { attempts: 4 }, true), Step::Remove);
    }
}
