//! The state every handle of a [`PgRecorder`](crate::PgRecorder), every running attempt and
//! every background task shares: the pool, this process's identity, the local attempts, and
//! the queues of the batched writers. It is the store the attempt machinery settles into.

use foldhash::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI64, AtomicUsize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use tasks_recorder::store::{failure_of, Event, Machinery, Outcome, Running, Stop, Store};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::error::{describe_key, Error};
use crate::id::PgId;
use crate::reads::ReadRequest;
use crate::sql;
use crate::timeouts::OperationClock;

/// An attempt of this process, by id key.
pub(crate) struct Local {
    pub(crate) attempt: u32,
    pub(crate) run: Arc<Running>,
    /// When its claim was sent: its lease cannot have started earlier.
    pub(crate) claimed_at: Instant,
}

/// A claim of an id waiting for the next batch.
pub(crate) struct ClaimRequest {
    pub(crate) key: Vec<u8>,
    pub(crate) answer: oneshot::Sender<Result<Claim, Error>>,
    /// Keeps a shutdown waiting until the claim is answered: a claim that commits for a
    /// launch that is gone is recorded as dropped before the shutdown returns.
    pub(crate) _hold: tokio_util::task::task_tracker::TaskTrackerToken,
}

/// What the database answered to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This process started attempt number `n`.
    Won(u32),
    /// Refused: the id is in this state (`Working` or `Success`).
    Refused(tasks_recorder::TaskState),
}

/// An end to record, queued for the writer.
pub(crate) enum End {
    /// Attempt `attempt` of `key` ended: the id becomes `state` (`SUCCESS` or `FAILED`).
    Attempt {
        key: Vec<u8>,
        attempt: u32,
        state: i16,
        failure: Option<(tasks_recorder::FailureKind, Option<String>)>,
        run: Arc<Running>,
    },
    /// Revoke number `token` of `key` ended without `Ok`: the id is `Success` again.
    RevokeFailed { key: Vec<u8>, token: i64 },
}

/// A queued end, with what keeps a shutdown waiting for it and when it is too late.
pub(crate) struct Queued {
    pub(crate) end: End,
    pub(crate) _hold: tokio_util::task::task_tracker::TaskTrackerToken,
    /// When the attempt's claim was sent (`None` for a revoke): its lease cannot have
    /// started earlier. The end is given up once [`Shared::give_up_at`] of it has passed:
    /// computed anew each time, since every renewal extends the lease.
    pub(crate) started: Option<Instant>,
}

/// Settings fixed at connection.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) name: String,
    pub(crate) lease: Duration,
    pub(crate) max_failed: Option<i64>,
    pub(crate) url: String,
    pub(crate) describe_ids: bool,
}

/// The shared state. Implements the store boundary of `tasks_recorder`.
pub(crate) struct Shared<T> {
    pub(crate) machinery: Machinery,
    pub(crate) pool: Pool,
    /// The connections of the batched claims and ends.
    pub(crate) batch_pool: Pool,
    /// The connection of the renewals.
    pub(crate) renew_pool: Pool,
    pub(crate) settings: Settings,
    /// This process's identity as an owner of leases: a number unique in the database.
    pub(crate) owner: i64,
    /// The recorder's number, the first column of its records' key.
    pub(crate) recorder: i32,
    /// The channel the recorder's changes are notified on.
    pub(crate) channel: String,
    /// The channel cancellations of this owner's attempts are notified on.
    pub(crate) cancel_channel: String,
    pub(crate) local: Mutex<HashMap<Vec<u8>, Local>>,
    /// The revokes this process runs, by id key: their revoke numbers. Their leases are
    /// renewed with the attempts'.
    pub(crate) revoking: Mutex<HashMap<Vec<u8>, i64>>,
    pub(crate) claims: mpsc::UnboundedSender<ClaimRequest>,
    /// The claims sent and not yet answered, the claimer's and the launches' own (see
    /// [`batch::submit`](crate::batch::submit)).
    pub(crate) claims_pending: AtomicUsize,
    /// The next claim statement's nonce: it tells this process's claims of an id apart.
    pub(crate) next_nonce: AtomicI64,
    pub(crate) ends: mpsc::UnboundedSender<Queued>,
    /// The queries waiting for the batched reader's next statement.
    pub(crate) reads: mpsc::UnboundedSender<ReadRequest>,
    /// The queries under way, alone or in the reader's hands (see
    /// [`reads::state_code`](crate::reads::state_code)).
    pub(crate) reads_pending: AtomicUsize,
    /// Bumped whenever records may have changed: a notification, a local write, a
    /// reconnection. Waiters read their id again.
    pub(crate) changes: watch::Sender<u64>,
    /// When the last renewal that succeeded was sent.
    pub(crate) renewed_at: Mutex<Instant>,
    /// What bounds every operation by the operation timeout.
    pub(crate) clock: OperationClock,
    pub(crate) ids: PhantomData<fn() -> T>,
}

impl<T: PgId> Shared<T> {
    /// Runs `sql` with `params` for `operation` (of the id `key`, if any), within the
    /// operation timeout, and returns its rows.
    pub(crate) async fn query(
        &self,
        operation: &'static str,
        key: Option<&[u8]>,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.query_on(&self.pool, operation, key, sql, params).await
    }

    /// Like [`query`](Self::query), on the connections of `pool`.
    pub(crate) async fn query_on(
        &self,
        pool: &Pool,
        operation: &'static str,
        key: Option<&[u8]>,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let id = || key.map(describe_key);
        let work = async {
            let client = pool
                .get()
                .await
                .map_err(|e| Error::from_source(operation, id(), e))?;
            let statement = client
                .prepare_cached(sql)
                .await
                .map_err(|e| Error::from_source(operation, id(), e))?;
            client
                .query(&statement, params)
                .await
                .map_err(|e| Error::from_source(operation, id(), e))
        };
        self.clock.bound(work).await.unwrap_or_else(|| {
            Err(Error::new(
                operation,
                id(),
                crate::ErrorKind::Timeout(self.clock.timeout()),
            ))
        })
    }

    /// Like [`query`](Self::query), for a statement that returns at most one row.
    pub(crate) async fn query_opt(
        &self,
        operation: &'static str,
        key: Option<&[u8]>,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        Ok(self
            .query(operation, key, sql, params)
            .await?
            .into_iter()
            .next())
    }

    /// Column `index` of `row`, as an error of `operation` if it is not of type `V`.
    pub(crate) fn get<'r, V: tokio_postgres::types::FromSql<'r>>(
        operation: &'static str,
        key: Option<&[u8]>,
        row: &'r Row,
        index: usize,
    ) -> Result<V, Error> {
        row.try_get(index)
            .map_err(|e| Error::from_source(operation, key.map(describe_key), e))
    }

    /// The lease in milliseconds, as the statements take it.
    pub(crate) fn lease_ms(&self) -> f64 {
        self.settings.lease.as_secs_f64() * 1000.0
    }

    /// The local attempts (poisoning is harmless: every critical section is a map operation).
    pub(crate) fn local(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Local>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Attempt `attempt` of `key` is no longer this process's to renew: its end was recorded,
    /// refused, or given up.
    pub(crate) fn forget_local(&self, key: &[u8], attempt: u32) {
        let mut local = self.local();
        if local.get(key).is_some_and(|l| l.attempt == attempt) {
            local.remove(key);
        }
    }

    /// The revoke number `token` of `key` ended here: its lease is no longer renewed.
    pub(crate) fn end_local_revoke(&self, key: &[u8], token: i64) {
        let mut revoking = self.revoking.lock().unwrap_or_else(PoisonError::into_inner);
        if revoking.get(key) == Some(&token) {
            revoking.remove(key);
        }
    }

    /// Records may have changed: wakes the waiters to read their ids again.
    pub(crate) fn changed(&self) {
        // Nobody waits on the database (a waiter of a local attempt hears of its end through
        // the attempt): no notification to send. A waiter that subscribes after this reads
        // the database afterwards, and sees what was committed before.
        if self.changes.receiver_count() > 0 {
            self.changes
                .send_modify(|generation| *generation = generation.wrapping_add(1));
        }
    }

    /// Stops the local attempts that `pick` chooses, for `why`; returns how many.
    pub(crate) fn stop_local(
        &self,
        why: Stop,
        mut pick: impl FnMut(&[u8], &Local) -> bool,
    ) -> usize {
        let picked: Vec<Arc<Running>> = self
            .local()
            .iter()
            .filter(|(key, local)| pick(key, local))
            .map(|(_, local)| Arc::clone(&local.run))
            .collect();
        // Stopping runs no code of the user's, but keep the map unlocked while it happens.
        // A cancel is graceful, then forced; a lost lease or a shutdown's end is forced.
        let grace = self.machinery.cancel_grace();
        for run in &picked {
            match why {
                Stop::Cancel => run.stop_gracefully(why, grace),
                _ => run.stop(why),
            }
        }
        picked.len()
    }

    /// Signals every local attempt to stop, for `why`, without dropping any.
    pub(crate) fn signal_local(&self, why: Stop) {
        let running: Vec<Arc<Running>> = self
            .local()
            .values()
            .map(|local| Arc::clone(&local.run))
            .collect();
        for run in running {
            run.signal(why);
        }
    }

    /// The latest moment a queued end can still be recorded: the lease of what this process
    /// owns runs out no sooner than a lease after the last renewal sent, or after the claim
    /// (`started`) if that came later.
    pub(crate) fn give_up_at(&self, started: Option<Instant>) -> Instant {
        let renewed = *self
            .renewed_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        renewed.max(started.unwrap_or(renewed)) + self.settings.lease
    }

    fn queue(&self, end: End, started: Option<Instant>) {
        let queued = Queued {
            end,
            _hold: self.machinery.hold(),
            started,
        };
        if let Err(lost) = self.ends.send(queued) {
            // The writer is gone (the recorder was dropped): the end cannot be recorded, and
            // its lease will run out, so the id will read `Failed` (lost).
            drop(lost);
            self.machinery
                .tally()
                .count(Event::Failed(tasks_recorder::FailureKind::Lost));
        }
    }
}

impl<T: PgId> Store<T> for Shared<T> {
    fn machinery(&self) -> &Machinery {
        &self.machinery
    }

    /// Queues the end for the batched writer (this runs from `Drop`: no I/O here). The
    /// attempt leaves the local attempts when its end is recorded (or given up); its waiters
    /// are woken then, and a shutdown waits for that.
    fn settle(&self, id: &T, attempt: u32, outcome: Outcome, run: &Arc<Running>) {
        let key = id.key_bytes().into_owned();
        // The attempt stays among the local ones (its lease renewed, its waiters subscribed
        // to it) until its end is committed: the row is `Working` until then.
        let started = self
            .local()
            .get(&key)
            .filter(|l| l.attempt == attempt)
            .map(|l| l.claimed_at);
        let failure = failure_of(outcome, run.stopped_by());
        let state = if failure.is_some() {
            sql::FAILED
        } else {
            sql::SUCCESS
        };
        self.queue(
            End::Attempt {
                key,
                attempt,
                state,
                failure,
                run: Arc::clone(run),
            },
            started,
        );
    }

    fn end_revoke(&self, id: &T, token: u64, revoked: bool) {
        // An `Ok` revoke is recorded by the revoke itself; only the failed or dropped ones
        // come here.
        let key = id.key_bytes().into_owned();
        self.end_local_revoke(&key, token as i64);
        if !revoked {
            self.queue(
                End::RevokeFailed {
                    key,
                    token: token as i64,
                },
                None,
            );
        }
    }

    fn describe_id(&self, id: &T) -> Option<String> {
        self.settings
            .describe_ids
            .then(|| describe_key(&id.key_bytes()))
    }
}
