//! The recorder of the jobs, in memory or in PostgreSQL, behind one type ([`Jobs`]), so that
//! each route is written once for both.

use std::convert::Infallible;
use std::time::Duration;

use tasks_recorder::{AsyncTasksRecorder, Counters, RevokeFailReason, TaskInfo, TaskState};
use tasks_recorder_postgres::PgRecorder;

use super::simulated_job::{run_job, simulate, JobSpec};
use super::DatabaseError;

/// The answer of an operation that reads or writes the database: in memory, always `Ok`.
pub(super) type Db<T> = Result<T, DatabaseError>;

/// Why a revoke was refused.
pub(super) enum RevokeRefused {
    /// Another revoke of the id runs.
    Revoking,
    /// The id is not `Success` (any more).
    NotSuccess,
}

/// The recorder of the jobs, in memory or in PostgreSQL: the operations the routes use, each
/// written once for both (the in-memory answers are wrapped in `Ok`).
#[derive(Debug, Clone)]
pub(super) enum Jobs {
    Memory(AsyncTasksRecorder<String>),
    Postgres(PgRecorder<String>),
}

impl Jobs {
    /// Launches the job `id`: `Ok(Ok(()))` launched, `Ok(Err(state))` refused (see
    /// [`run_job`]), `Err` the database failed (the job did not start).
    pub(super) async fn launch(&self, id: String, spec: JobSpec) -> Db<Result<(), TaskState>> {
        match self {
            // The attribute does not support `PgRecorder`: the database mode launches
            // directly.
            Jobs::Memory(jobs) => Ok(run_job(jobs.clone(), id, spec).await),
            Jobs::Postgres(jobs) => {
                let work = {
                    let id = id.clone();
                    async move { simulate(&id, spec).await }
                };
                let launched = jobs.launch_with_error_text(id, work).await?;
                Ok(launched.map_err(|(state, _work)| state))
            }
        }
    }

    pub(super) async fn task_info(&self, id: &str) -> Db<Option<TaskInfo>> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.task_info(id).await),
            Jobs::Postgres(jobs) => jobs.task_info(id).await,
        }
    }

    pub(super) async fn query_task_state(&self, id: &str) -> Db<TaskState> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.query_task_state(id).await),
            Jobs::Postgres(jobs) => jobs.query_task_state(id).await,
        }
    }

    /// Revokes the success of `id`; the undo of a simulated job has nothing to undo.
    pub(super) async fn revoke(&self, id: String) -> Db<Result<(), RevokeRefused>> {
        let undo = async { Ok::<(), Infallible>(()) };
        let revoked = match self {
            Jobs::Memory(jobs) => jobs.revoke_task_block(id, undo).await,
            Jobs::Postgres(jobs) => jobs.revoke_task_block(id, undo).await?,
        };
        Ok(match revoked {
            Ok(()) => Ok(()),
            Err(RevokeFailReason::Revoking(_)) => Err(RevokeRefused::Revoking),
            Err(RevokeFailReason::NotSuccess(_)) => Err(RevokeRefused::NotSuccess),
            Err(RevokeFailReason::RevokeTaskError(never)) => match never {},
        })
    }

    /// Asks the running attempt of `id` to stop (in PostgreSQL, wherever it runs); whether
    /// the id was `Working`.
    pub(super) async fn cancel(&self, id: &str) -> Db<bool> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.cancel(id)),
            Jobs::Postgres(jobs) => jobs.cancel(id).await,
        }
    }

    /// Waits until `id` is no longer `Working`.
    pub(super) async fn wait(&self, id: &str) -> Db<TaskState> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.wait(id).await),
            Jobs::Postgres(jobs) => jobs.wait(id).await,
        }
    }

    pub(super) async fn remove_failed(&self, id: &str) -> Db<bool> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.remove_failed(id)),
            Jobs::Postgres(jobs) => jobs.remove_failed(id).await,
        }
    }

    pub(super) async fn ids_in_state(&self, state: TaskState) -> Db<Vec<String>> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.ids_in_state(state).await),
            Jobs::Postgres(jobs) => jobs.ids_in_state(state).await,
        }
    }

    pub(super) async fn count_in_state(&self, state: TaskState) -> Db<usize> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.count_in_state(state).await),
            Jobs::Postgres(jobs) => jobs.count_in_state(state).await,
        }
    }

    /// The counters; in PostgreSQL, this instance's event counters with the state gauges of
    /// every instance.
    pub(super) async fn counters(&self) -> Db<Counters> {
        match self {
            Jobs::Memory(jobs) => Ok(jobs.counters()),
            Jobs::Postgres(jobs) => jobs.counters().await,
        }
    }

    /// How many jobs this instance runs now (no database read).
    pub(super) async fn working_here(&self) -> usize {
        match self {
            Jobs::Memory(jobs) => jobs.count_in_state(TaskState::Working).await,
            Jobs::Postgres(jobs) => jobs.running(),
        }
    }

    pub(super) fn name(&self) -> &str {
        match self {
            Jobs::Memory(jobs) => jobs.name(),
            Jobs::Postgres(jobs) => jobs.name(),
        }
    }

    pub(super) fn close(&self) -> bool {
        match self {
            Jobs::Memory(jobs) => jobs.close(),
            Jobs::Postgres(jobs) => jobs.close(),
        }
    }

    /// Lets this instance's jobs finish for `grace`, then cancels the rest; how many it
    /// cancelled. In PostgreSQL, returns once every end is recorded (or, the database being
    /// unreachable, once the leases ran out).
    pub(super) async fn shutdown_with_grace(&self, grace: Duration) -> usize {
        match self {
            Jobs::Memory(jobs) => jobs.shutdown_with_grace(grace).await,
            Jobs::Postgres(jobs) => jobs.shutdown_with_grace(grace).await,
        }
    }
}
