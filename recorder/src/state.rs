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

/// Why [`try_launch`](crate::AsyncTasksRecorder::try_launch) (or
/// [`try_launch_block`](crate::AsyncTasksRecorder::try_launch_block)) refused a launch; the
/// task's future is handed back unpolled in every case. New reasons may be added: match
/// with a wildcard arm.
#[non_exhaustive]
pub enum LaunchError<Fut> {
    /// Another attempt of the id is running ([`TaskState::Working`]).
    AlreadyRunning(Fut),
    /// The id has succeeded ([`TaskState::Success`]) and was not revoked.
    AlreadySucceeded(Fut),
    /// The recorder is closed (by [`close`](crate::AsyncTasksRecorder::close), a shutdown, or
    /// its cancellation token) and accepts no new attempt. The id is `NotFound` or `Failed`.
    Closed(Fut),
    /// As many attempts as [`Builder::max_queued`](crate::Builder::max_queued) allows wait for
    /// their turn already; the id was not looked at. Launch forms that are not `try_` wait for
    /// room instead.
    QueueFull(Fut),
}

impl<Fut> LaunchError<Fut> {
    /// The future that was not launched.
    pub fn into_task(self) -> Fut {
        match self {
            LaunchError::AlreadyRunning(task)
            | LaunchError::AlreadySucceeded(task)
            | LaunchError::Closed(task)
            | LaunchError::QueueFull(task) => task,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            LaunchError::AlreadyRunning(_) => "the task is already running",
            LaunchError::AlreadySucceeded(_) => "the task has already succeeded",
            LaunchError::Closed(_) => "the recorder is closed",
            LaunchError::QueueFull(_) => "too many launches wait for their turn",
        }
    }
}

impl<Fut> fmt::Debug for LaunchError<Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            LaunchError::AlreadyRunning(_) => "AlreadyRunning",
            LaunchError::AlreadySucceeded(_) => "AlreadySucceeded",
            LaunchError::Closed(_) => "Closed",
            LaunchError::QueueFull(_) => "QueueFull",
        };
        f.debug_tuple(name).finish_non_exhaustive()
    }
}

impl<Fut> fmt::Display for LaunchError<Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl<Fut> std::error::Error for LaunchError<Fut> {}
