//! The public vocabulary: the state of a task id and why a revoke was refused.

use std::fmt;

/// The state of a task id, as answered by
/// [`query_task_state`](crate::AsyncTasksRecorder::query_task_state).
///
/// See the [crate docs](crate#the-state-machine) for the transitions between states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// A future launched under this id is running (or is queued to run).
    Working,
    /// A future launched under this id returned `Ok`. The id stays `Success` until it is
    /// revoked: it can never succeed a second time.
    Success,
    /// The last future launched under this id returned `Err`, panicked or was dropped before it
    /// finished. The id can be launched again.
    Failed,
    /// The id was never launched, or its success was revoked.
    NotFound,
}

impl TaskState {
    /// All four states, in declaration order.
    pub const ALL: [TaskState; 4] = [
        TaskState::Working,
        TaskState::Success,
        TaskState::Failed,
        TaskState::NotFound,
    ];

    /// The state's name in lower case: `"working"`, `"success"`, `"failed"` or `"not_found"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskState::Working => "working",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::NotFound => "not_found",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why [`revoke_task_block`](crate::AsyncTasksRecorder::revoke_task_block) did not revoke.
///
/// When the revoke future was not run, it is handed back unpolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeFailReason<Fut, E> {
    /// The id is not in [`TaskState::Success`] (it is working, failed or not found); the revoke
    /// future was not run.
    NotSuccess(Fut),
    /// Another revoke of this id is running; the revoke future was not run.
    Revoking(Fut),
    /// The revoke future ran and returned this error; the id stays [`TaskState::Success`].
    RevokeTaskError(E),
}

impl<Fut, E: fmt::Display> fmt::Display for RevokeFailReason<Fut, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevokeFailReason::NotSuccess(_) => f.write_str("the task has not succeeded"),
            RevokeFailReason::Revoking(_) => f.write_str("the task is already being revoked"),
            RevokeFailReason::RevokeTaskError(e) => write!(f, "the revoke task failed: {e}"),
        }
    }
}

impl<Fut, E> std::error::Error for RevokeFailReason<Fut, E>
where
    Fut: fmt::Debug,
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RevokeFailReason::RevokeTaskError(e) => Some(e),
            _ => None,
        }
    }
}
