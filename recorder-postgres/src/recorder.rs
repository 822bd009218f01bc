//! [`PgRecorder`]: the operations of `tasks_recorder::AsyncTasksRecorder`, on records kept in
//! PostgreSQL. The launch flow after the claim, the guards, cancellation, limits and shutdown
//! are `tasks_recorder`'s own; this module claims, reads and revokes in the database.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tasks_recorder::store::{
    address_of, is_inside, is_inside_recorder, task_info, Attempt, Claimed, Event, Revocation,
    Running, Stop,
};
use tasks_recorder::{Counters, LaunchError, RevokeFailReason, TaskInfo, TaskState};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::connect::PgBuilder;
use crate::error::{describe_key, Error, ErrorKind};
use crate::id::{PgId, PgKey};
use crate::shared::{Claim, ClaimRequest, Local, Shared};
use crate::sql;

/// Records the state of tasks launched under unique ids in PostgreSQL, shared by every
/// process that connects to the same database under the same name.
///
/// It has the operations of [`AsyncTasksRecorder`](tasks_recorder::AsyncTasksRecorder), with
/// the same names and meaning, and returns database errors as [`Error`]s. See the [crate
/// docs](crate) for what leases and fencing guarantee across processes.
///
/// Clones share one connection pool and one set of background tasks. When the last clone is
/// dropped, the background tasks stop: [`shutdown`](Self::shutdown) first, so that every end
/// is recorded.
pub struct PgRecorder<T: PgId> {
    pub(crate) handle: Arc<Handle<T>>,
}

/// What the clones of a recorder share: the store, and the guard that stops the background
/// tasks when the last clone is gone.
pub(crate) struct Handle<T: PgId> {
    pub(crate) shared: Arc<Shared<T>>,
    pub(crate) _stop: DropGuard,
}

impl<T: PgId> Clone for PgRecorder<T> {
    fn clone(&self) -> Self {
        PgRecorder {
            handle: Arc::clone(&self.handle),
        }
    }
}

impl<T: PgId> fmt::Debug for PgRecorder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.handle.shared;
        f.debug_struct("PgRecorder")
            .field("name", &shared.settings.name)
            .field("owner", &shared.owner)
            .field("running", &shared.machinery.running())
            .field("closed", &shared.machinery.is_closed())
            .finish_non_exhaustive()
    }
}

/// Keeps no text of an error.
fn no_text<E>(_: &E) -> Option<String> {
    None
}

/// Keeps the text of an error.
pub(crate) fn error_text<E: fmt::Display>(error: &E) -> Option<String> {
    Some(error.to_string())
}

/// A refusal as the 2.0.2-compatible forms report it.
pub(crate) fn compatible<Fut>(refusal: LaunchError<Fut>) -> (TaskState, Fut) {
    match refusal {
        LaunchError::AlreadyRunning(task) => (TaskState::Working, task),
        LaunchError::AlreadySucceeded(task) => (TaskState::Success, task),
        LaunchError::Closed(task) => (TaskState::NotFound, task),
        // `QueueFull`: this recorder bounds no queue (`max_queued`), so it never refuses this
        // way; the id was not looked at.
        other => (TaskState::NotFound, other.into_task()),
    }
}

impl<T: PgId> PgRecorder<T> {
    /// Connects to the database at `url` as the recorder `name`, with the default options
    /// (see [`builder`](Self::builder) and [`PgBuilder::connect`]).
    pub async fn connect(url: &str, name: &str) -> Result<Self, Error> {
        PgBuilder::default().connect(url, name).await
    }

    /// A [`PgBuilder`] to set the lease, the pool size, a concurrency limit, `max_failed`,
    /// timeouts and a cancellation token.
    pub fn builder() -> PgBuilder<T> {
        PgBuilder::default()
    }

    fn shared(&self) -> &Arc<Shared<T>> {
        &self.handle.shared
    }

    /// Claims `id` for a new attempt: counted as running first (so a shutdown waits for it),
    /// then claimed in the next batch, committed before this returns.
    async fn claim<F>(
        &self,
        id: T,
        task: F,
        running: impl FnOnce() -> Running,
    ) -> Result<Result<Claimed<T, Shared<T>, F>, LaunchError<F>>, Error> {
        let shared = self.shared();
        let tally = shared.machinery.tally();
        let Some(counted) = shared.machinery.enter() else {
            tally.count(Event::RefusedClosed);
            return Ok(Err(LaunchError::Closed(task)));
        };
        let key = id.key_bytes().into_owned();
        let (answer, answered) = tokio::sync::oneshot::channel();
        let request = ClaimRequest {
            key: key.clone(),
            answer,
            _hold: shared.machinery.hold(),
        };
        let claimed_at = Instant::now();
        match crate::batch::submit(shared, request) {
            Ok(direct) => direct.await,
            Err(_) => {
                return Err(Error::new(
                    "launch",
                    Some(describe_key(&key)),
                    ErrorKind::Connection,
                ))
            }
        }
        let claim = answered
            .await
            .map_err(|_| Error::new("launch", Some(describe_key(&key)), ErrorKind::Connection))??;
        let attempt = match claim {
            Claim::Won(attempt) => attempt,
            Claim::Refused(TaskState::Working) => {
                tally.count(Event::RefusedRunning);
                return Ok(Err(LaunchError::AlreadyRunning(task)));
            }
            Claim::Refused(_) => {
                tally.count(Event::RefusedSucceeded);
                return Ok(Err(LaunchError::AlreadySucceeded(task)));
            }
        };
        tally.count(Event::Launched {
            relaunch: attempt > 1,
        });
        let run = Arc::new(running());
        shared.machinery.enqueue(&run);
        shared.local().insert(
            key,
            Local {
                attempt,
                run: Arc::clone(&run),
                claimed_at,
            },
        );
        let attempt = Attempt::new(Arc::clone(shared), id, attempt, Arc::clone(&run), counted);
        Ok(Ok(Claimed {
            attempt,
            run,
            task,
            timeout: None,
        }))
    }

    pub(crate) async fn spawn<Fut, R, E>(
        &self,
        id: T,
        task: Fut,
        describe: fn(&E) -> Option<String>,
        timeout: Option<Duration>,
    ) -> Result<Result<(), LaunchError<Fut>>, Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        Ok(self
            .claim(id, task, Running::spawned)
            .await?
            .map(|mut claimed| {
                claimed.timeout = timeout;
                claimed.spawn(describe)
            }))
    }

    pub(crate) async fn run_inline<Fut, R, E>(
        &self,
        id: T,
        task: Fut,
        describe: fn(&E) -> Option<String>,
        timeout: Option<Duration>,
    ) -> Result<Result<(), LaunchError<Fut>>, Error>
    where
        Fut: Future<Output = Result<R, E>>,
    {
        let cancel = match self.shared().machinery.token() {
            Some(token) => token.child_token(),
            None => CancellationToken::new(),
        };
        let inline = cancel.clone();
        match self
            .claim(id, task, move || Running::inline(inline))
            .await?
        {
            Ok(mut claimed) => {
                claimed.timeout = timeout;
                claimed.run_inline(cancel, describe).await;
                Ok(Ok(()))
            }
            Err(refused) => Ok(Err(refused)),
        }
    }

    /// Launches `task` under `id` with [`tokio::spawn`], once the database has committed the
    /// id as `Working` for this process; as
    /// [`AsyncTasksRecorder::launch`](tasks_recorder::AsyncTasksRecorder::launch).
    ///
    /// `Ok(Err((state, task)))` hands the task back unpolled: the id is `Working` (here or in
    /// another process) or `Success`, or the recorder is closed (`NotFound`). Claims of
    /// concurrent launches share one statement and one commit.
    ///
    /// # Errors
    /// The claim did not commit (the database is unreachable, or timed out): the task was
    /// not polled and is dropped. If the claim did commit but the answer was lost, the id
    /// reads `Working` until the lease runs out, then `Failed` ([`Lost`]).
    ///
    /// [`Lost`]: tasks_recorder::FailureKind::Lost
    pub async fn launch<Fut, R, E>(
        &self,
        id: T,
        task: Fut,
    ) -> Result<Result<(), (TaskState, Fut)>, Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        Ok(self
            .spawn(id, task, no_text, None)
            .await?
            .map_err(compatible))
    }

    /// Like [`launch`](Self::launch), saying why a launch is refused with a [`LaunchError`].
    pub async fn try_launch<Fut, R, E>(
        &self,
        id: T,
        task: Fut,
    ) -> Result<Result<(), LaunchError<Fut>>, Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.spawn(id, task, no_text, None).await
    }

    /// Like [`try_launch`](Self::try_launch), and the attempt may run for at most `timeout`
    /// (from when its future starts), instead of the recorder's
    /// ([`PgBuilder::timeout`](crate::PgBuilder::timeout)); as
    /// [`AsyncTasksRecorder::launch_with_timeout`](tasks_recorder::AsyncTasksRecorder::launch_with_timeout).
    /// A timed-out attempt is signalled, dropped, and recorded `Failed`
    /// ([`FailureKind::TimedOut`](tasks_recorder::FailureKind::TimedOut)).
    pub async fn launch_with_timeout<Fut, R, E>(
        &self,
        id: T,
        timeout: Duration,
        task: Fut,
    ) -> Result<Result<(), LaunchError<Fut>>, Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.spawn(id, task, no_text, Some(timeout)).await
    }

    /// Like [`launch`](Self::launch), keeping `e.to_string()` of an `Err(e)` as the failure's
    /// message.
    pub async fn launch_with_error_text<Fut, R, E>(
        &self,
        id: T,
        task: Fut,
    ) -> Result<Result<(), (TaskState, Fut)>, Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        Ok(self
            .spawn(id, task, error_text, None)
            .await?
            .map_err(compatible))
    }

    /// Like [`launch`](Self::launch), but runs `task` inside the returned future; as
    /// [`AsyncTasksRecorder::launch_block`](tasks_recorder::AsyncTasksRecorder::launch_block).
    /// Returns once the task has ended; its end is recorded by the batched writer right
    /// after (use [`wait`](Self::wait) to see it recorded).
    pub async fn launch_block<Fut, R, E>(
        &self,
        id: T,
        task: Fut,
    ) -> Result<Result<(), (TaskState, Fut)>, Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        Ok(self
            .run_inline(id, task, no_text, None)
            .await?
            .map_err(compatible))
    }

    /// Like [`launch_block`](Self::launch_block), with a [`LaunchError`].
    pub async fn try_launch_block<Fut, R, E>(
        &self,
        id: T,
        task: Fut,
    ) -> Result<Result<(), LaunchError<Fut>>, Error>
    where
        Fut: Future<Output = Result<R, E>>,
    {
        self.run_inline(id, task, no_text, None).await
    }

    /// The state of `id`, read in one statement from its row: a committed state, leases
    /// applied (an expired `Working` reads `Failed`, an expired revoke `Success`).
    ///
    /// Queries asked at the same time share statements: a query that finds none under way
    /// reads alone, the others join one batched read (as many ids as are asked meanwhile).
    /// Either way the state is the committed state at a moment between the call and its
    /// return, so queries stay linearizable with every other operation, in any process.
    ///
    /// # Errors
    /// The database could not be reached or did not answer within the operation timeout;
    /// the error names the id.
    pub async fn query_task_state<Q>(&self, id: &Q) -> Result<TaskState, Error>
    where
        T: Borrow<Q>,
        Q: PgKey + ?Sized,
    {
        let key = id.key_bytes();
        let code = crate::reads::state_code(self.shared(), &key).await?;
        Ok(code.map_or(TaskState::NotFound, sql::state_of))
    }

    /// The record of `id`: its state, attempts, and why its last attempt failed; `None` if it
    /// is `NotFound`. A lost attempt failed with [`FailureKind::Lost`] when its lease ran out.
    ///
    /// [`FailureKind::Lost`]: tasks_recorder::FailureKind::Lost
    pub async fn task_info<Q>(&self, id: &Q) -> Result<Option<TaskInfo>, Error>
    where
        T: Borrow<Q>,
        Q: PgKey + ?Sized,
    {
        const OPERATION: &str = "task_info";
        let shared = self.shared();
        let key = id.key_bytes();
        let Some(row) = shared
            .query_opt(
                OPERATION,
                Some(&key),
                sql::INFO,
                &[&shared.recorder, &key.as_ref()],
            )
            .await?
        else {
            return Ok(None);
        };
        let get_key = Some(key.as_ref());
        let state = sql::state_of(Shared::<T>::get(OPERATION, get_key, &row, 0)?);
        let attempts: i32 = Shared::<T>::get(OPERATION, get_key, &row, 1)?;
        let kind: Option<i16> = Shared::<T>::get(OPERATION, get_key, &row, 2)?;
        let message: Option<String> = Shared::<T>::get(OPERATION, get_key, &row, 3)?;
        let age_ms: Option<f64> = Shared::<T>::get(OPERATION, get_key, &row, 4)?;
        let failure = match (state, kind) {
            (TaskState::Failed, Some(kind)) => {
                let age = Duration::from_secs_f64(age_ms.unwrap_or(0.0).max(0.0) / 1000.0);
                let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
                Some((sql::kind_of(kind), message, at))
            }
            _ => None,
        };
        let attempts = attempts.max(0) as u32;
        // Only the process that runs an attempt knows whether it waits for its turn.
        let queued = state == TaskState::Working
            && shared
                .local()
                .get(key.as_ref())
                .is_some_and(|local| local.attempt == attempts && local.run.is_queued());
        Ok(Some(task_info(state, attempts, failure, queued)))
    }

    /// Revokes the success of `id` by running `revoke_task` in this process; as
    /// [`AsyncTasksRecorder::revoke_task_block`](tasks_recorder::AsyncTasksRecorder::revoke_task_block).
    /// While it runs, the id reads `Success`, cannot be launched, and holds a lease of this
    /// process; if that lease runs out (the process crashed or hung), the id stays `Success`
    /// and may be revoked again.
    ///
    /// # Errors
    /// A database error, at the start (nothing ran) or at the end (the undo ran; the id stays
    /// revoking until its lease runs out, then reads `Success`). [`ErrorKind::LeaseLost`]:
    /// the undo returned `Ok` after the lease ran out; the id stays `Success`.
    pub async fn revoke_task_block<Fut, R, E>(
        &self,
        id: T,
        revoke_task: Fut,
    ) -> Result<Result<R, RevokeFailReason<Fut, E>>, Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        const OPERATION: &str = "revoke_task_block";
        let shared = self.shared();
        let key = id.key_bytes().into_owned();
        let lease = shared.lease_ms();
        let begun = shared
            .query_opt(
                OPERATION,
                Some(&key),
                sql::BEGIN_REVOKE,
                &[&shared.recorder, &key, &shared.owner, &lease],
            )
            .await?;
        let (token, seen): (Option<i64>, Option<i16>) = match &begun {
            Some(row) => (
                Shared::<T>::get(OPERATION, Some(&key), row, 0)?,
                Shared::<T>::get(OPERATION, Some(&key), row, 1)?,
            ),
            None => (None, None),
        };
        let Some(token) = token else {
            return Ok(Err(match seen {
                Some(sql::SUCCESS | sql::REVOKING) => RevokeFailReason::Revoking(revoke_task),
                _ => RevokeFailReason::NotSuccess(revoke_task),
            }));
        };
        shared
            .revoking
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.clone(), token);
        let revocation = Revocation::new(&**shared, id, token as u64);
        let undone = revoke_task.await;
        revocation.disarm();
        shared.end_local_revoke(&key, token);
        let (sql, revoked) = match &undone {
            Ok(_) => (sql::REVOKED, true),
            Err(_) => (sql::REVOKE_FAILED, false),
        };
        let rows = shared
            .query(
                OPERATION,
                Some(&key),
                sql,
                &[
                    &shared.recorder,
                    &key,
                    &shared.owner,
                    &token,
                    &shared.channel,
                ],
            )
            .await?;
        shared.changed();
        if rows.is_empty() {
            shared.machinery.tally().count(Event::Fenced);
            if revoked {
                return Err(Error::new(
                    OPERATION,
                    Some(describe_key(&key)),
                    ErrorKind::LeaseLost,
                ));
            }
        } else if revoked {
            shared.machinery.tally().count(Event::Revoked);
        }
        Ok(undone.map_err(RevokeFailReason::RevokeTaskError))
    }

    /// Waits until `id` is no longer `Working` and returns its state; as
    /// [`AsyncTasksRecorder::wait`](tasks_recorder::AsyncTasksRecorder::wait), across
    /// processes. Woken through `LISTEN/NOTIFY` (no polling): it reads the record again after
    /// each change of the recorder, after each reconnection of the listener, and when the
    /// lease it waits on runs out (the id then reads `Failed`, lost).
    ///
    /// Waiting for an attempt of this process reads nothing: its committed end wakes the
    /// waiter. Waiting for another process's attempt first marks its row as watched (one
    /// write, by the first waiter of that attempt), since an end notifies the other
    /// processes only when someone there waits for it.
    ///
    /// # Panics
    /// Panics if called from inside the running attempt of `id` itself: it would wait for
    /// itself forever.
    pub async fn wait<Q>(&self, id: &Q) -> Result<TaskState, Error>
    where
        T: Borrow<Q>,
        Q: PgKey + ?Sized,
    {
        const OPERATION: &str = "wait";
        let shared = self.shared();
        let key = id.key_bytes();
        let (own, local) = match shared.local().get(key.as_ref()) {
            Some(local) => (is_inside(&local.run), Some(local.run.subscribe())),
            None => (false, None),
        };
        if own {
            panic!(
                "tasks-recorder-postgres: a task waits for its own id to stop being Working, \
                 which would never happen; wait for an id from outside its own task"
            );
        }
        // An attempt of this process: its end wakes the waiter once it is committed, with
        // no read of the database. A success is final; any other end (a failure, or an end
        // that came too late and changed nothing) is read from the database.
        if let Some(mut ended) = local {
            if let Ok(state) = ended.wait_for(Option::is_some).await {
                if *state == Some(TaskState::Success) {
                    return Ok(TaskState::Success);
                }
            }
        }
        // Subscribed before the first read: a change committed after the read wakes it.
        let mut changes = shared.changes.subscribe();
        loop {
            changes.borrow_and_update();
            let row = shared
                .query_opt(
                    OPERATION,
                    Some(&key),
                    sql::STATE_AND_LEASE,
                    &[&shared.recorder, &key.as_ref()],
                )
                .await?;
            let Some(row) = row else {
                return Ok(TaskState::NotFound);
            };
            let state = sql::state_of(Shared::<T>::get(OPERATION, Some(&key), &row, 0)?);
            if state != TaskState::Working {
                return Ok(state);
            }
            let mut left: Option<f64> = Shared::<T>::get(OPERATION, Some(&key), &row, 1)?;
            let watched: bool = Shared::<T>::get(OPERATION, Some(&key), &row, 2)?;
            if !watched {
                // Its end notifies only a watched row: mark it, then sleep.
                let marked = shared
                    .query_opt(
                        OPERATION,
                        Some(&key),
                        sql::WATCH,
                        &[&shared.recorder, &key.as_ref()],
                    )
                    .await?;
                match marked {
                    Some(row) => left = Shared::<T>::get(OPERATION, Some(&key), &row, 0)?,
                    // It changed in between (ended, or another waiter marked it): read again.
                    None => continue,
                }
            }
            let left = Duration::from_secs_f64(left.unwrap_or(0.0).max(0.0) / 1000.0);
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Err(Error::new(OPERATION, Some(describe_key(&key)), ErrorKind::Connection));
                    }
                }
                // The lease may run out: then the id reads `Failed` (lost).
                _ = tokio::time::sleep(left + Duration::from_millis(5)) => {}
            }
        }
    }

    /// Asks the running attempt of `id` to stop, wherever it runs; returns whether the id was
    /// `Working`. An attempt of this process stops at its next `.await`; another process's
    /// attempt is marked in the database and its owner is notified (it also sees the mark at
    /// its next renewal, at the latest). The id becomes `Failed` (`Cancelled`) once the
    /// attempt's future is dropped; if it finished first, its own outcome is recorded.
    pub async fn cancel<Q>(&self, id: &Q) -> Result<bool, Error>
    where
        T: Borrow<Q>,
        Q: PgKey + ?Sized,
    {
        let shared = self.shared();
        let key = id.key_bytes();
        let local = shared
            .local()
            .get(key.as_ref())
            .map(|local| Arc::clone(&local.run));
        if let Some(run) = local {
            run.stop_gracefully(Stop::Cancel, shared.machinery.cancel_grace());
            return Ok(true);
        }
        let rows = shared
            .query(
                "cancel",
                Some(&key),
                sql::REQUEST_CANCEL,
                &[&shared.recorder, &key.as_ref()],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Asks every attempt of this process to stop, as [`cancel`](Self::cancel) does for one;
    /// returns how many it asked. Attempts of other processes run on.
    pub fn cancel_all(&self) -> usize {
        self.shared().stop_local(Stop::Cancel, |_, _| true)
    }

    /// The ids in `state`, across every process (leases applied).
    pub async fn ids_in_state(&self, state: TaskState) -> Result<Vec<T>, Error> {
        const OPERATION: &str = "ids_in_state";
        let shared = self.shared();
        let codes = sql::codes_of(state);
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let rows = shared
            .query(
                OPERATION,
                None,
                sql::IDS_IN_STATE,
                &[&shared.recorder, &codes],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let key: Vec<u8> = Shared::<T>::get(OPERATION, None, row, 0)?;
                T::from_key_bytes(&key).ok_or_else(|| {
                    Error::new(OPERATION, Some(describe_key(&key)), ErrorKind::BadId)
                })
            })
            .collect()
    }

    /// How many ids are in `state`, across every process (leases applied).
    pub async fn count_in_state(&self, state: TaskState) -> Result<usize, Error> {
        const OPERATION: &str = "count_in_state";
        let shared = self.shared();
        let codes = sql::codes_of(state);
        if codes.is_empty() {
            return Ok(0);
        }
        let row = shared
            .query_opt(
                OPERATION,
                None,
                sql::COUNT_IN_STATE,
                &[&shared.recorder, &codes],
            )
            .await?;
        let count: i64 = match row {
            Some(row) => Shared::<T>::get(OPERATION, None, &row, 0)?,
            None => 0,
        };
        Ok(count.max(0) as usize)
    }

    /// Removes the record of `id` if it is `Failed` (lost ones included); returns whether
    /// it did.
    pub async fn remove_failed<Q>(&self, id: &Q) -> Result<bool, Error>
    where
        T: Borrow<Q>,
        Q: PgKey + ?Sized,
    {
        let shared = self.shared();
        let key = id.key_bytes();
        let rows = shared
            .query(
                "remove_failed",
                Some(&key),
                &format!("{} RETURNING 1", sql::REMOVE_FAILED),
                &[&shared.recorder, &key.as_ref()],
            )
            .await?;
        if !rows.is_empty() {
            shared.machinery.tally().removed(1);
            shared.changed();
        }
        Ok(!rows.is_empty())
    }

    /// This process's event counters, with the state gauges (`working_now`, `success_now`,
    /// `failed_now`) read from the database, so that they count every process's ids.
    pub async fn counters(&self) -> Result<Counters, Error> {
        const OPERATION: &str = "counters";
        let shared = self.shared();
        let mut counters = shared.machinery.counters();
        let row = shared
            .query_opt(OPERATION, None, sql::GAUGES, &[&shared.recorder])
            .await?;
        if let Some(row) = row {
            let gauge = |index| -> Result<u64, Error> {
                let count: i64 = Shared::<T>::get(OPERATION, None, &row, index)?;
                Ok(count.max(0) as u64)
            };
            counters.working_now = gauge(0)?;
            counters.success_now = gauge(1)?;
            counters.failed_now = gauge(2)?;
        }
        Ok(counters)
    }

    /// The recorder's name.
    pub fn name(&self) -> &str {
        &self.shared().settings.name
    }

    /// The attempt number of `id` when it runs in this process: the fencing token a task can
    /// give to its own side effects (e.g. store it with what it writes, and refuse writes of
    /// a lower number), so that a process that lost its lease cannot overwrite a newer
    /// attempt's work. `None` if `id` has no attempt running here.
    pub fn local_attempt<Q>(&self, id: &Q) -> Option<u32>
    where
        T: Borrow<Q>,
        Q: PgKey + ?Sized,
    {
        self.shared()
            .local()
            .get(id.key_bytes().as_ref())
            .map(|local| local.attempt)
    }

    /// Closes the recorder to new launches in this process; `true` if this call closed it.
    pub fn close(&self) -> bool {
        self.shared().machinery.close()
    }

    /// Whether this process's recorder refuses new launches.
    pub fn is_closed(&self) -> bool {
        self.shared().machinery.is_closed()
    }

    /// How many attempts of this process run, or have ends not yet recorded.
    pub fn running(&self) -> usize {
        self.shared().machinery.running()
    }

    /// Graceful shutdown of this process's part: closes the recorder, then waits until no
    /// attempt of this process runs and every end is recorded in the database (or, if the
    /// database stays unreachable, until the leases run out).
    ///
    /// # Panics
    /// Panics if called from inside a running attempt of this recorder: it would wait for
    /// itself forever.
    pub async fn shutdown(&self) {
        if is_inside_recorder(address_of(self.shared())) {
            panic!(
                "tasks-recorder-postgres: shutdown() called from inside a task of the same \
                 recorder, which would wait for itself forever; shut down from outside its tasks"
            );
        }
        self.close();
        self.shared().machinery.drained().await;
    }

    /// Like [`shutdown`](Self::shutdown), cancelling the attempts still running after
    /// `grace`; returns how many it cancelled.
    pub async fn shutdown_with_grace(&self, grace: Duration) -> usize {
        self.close();
        let machinery = &self.shared().machinery;
        // Graceful: every local task is told at once, and has the whole grace to finish.
        self.shared().signal_local(Stop::Shutdown);
        if tokio::time::timeout(grace, machinery.drained())
            .await
            .is_ok()
        {
            return 0;
        }
        let cancelled = self.shared().stop_local(Stop::Shutdown, |_, _| true);
        machinery.drained().await;
        cancelled
    }
}
