//! The batched writers: the claimer, which claims the ids of concurrent launches in one
//! statement, and the end writer, which records the ends of many attempts in one statement.
//! Both take whatever is queued when a batch starts, with no artificial delay: while one
//! batch commits, the next one fills, so a burst of launches shares commits and a single
//! launch waits for no one. A launch that finds no other claim pending claims its id itself,
//! in its own task ([`submit`]): a lone launch pays no hand-off to the claimer and back.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tasks_recorder::store::{Event, Stop, Store};
use tasks_recorder::{FailureKind, TaskState};
use tokio::sync::{mpsc, Semaphore};
use tokio_postgres::types::ToSql;

use crate::error::Error;
use crate::id::PgId;
use crate::shared::{Claim, ClaimRequest, End, Queued, Shared};
use crate::sql;

/// At most this many ids in one claim or end statement.
const MAX_BATCH: usize = 2048;

/// How many times a claim the database aborted to resolve a conflict is run again.
const MAX_CONFLICT_RETRIES: u32 = 8;

/// Runs the claimer until every handle of the recorder is gone. At most `in_flight` batches
/// are committing at once.
pub(crate) async fn claimer<T: PgId>(
    shared: Weak<Shared<T>>,
    mut requests: mpsc::UnboundedReceiver<ClaimRequest>,
    in_flight: usize,
) {
    let slots = Arc::new(Semaphore::new(in_flight.max(1)));
    let mut deferred: Vec<ClaimRequest> = Vec::new();
    loop {
        if deferred.is_empty() {
            match requests.recv().await {
                Some(request) => deferred.push(request),
                None => return,
            }
        }
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        take_queued(&mut requests, &mut deferred, MAX_BATCH);
        // One row can be claimed once per statement: a second launch of an id waits for the
        // next batch (where it is refused, or claims the id if the first one's claim failed).
        let mut seen = HashSet::new();
        let (batch, later): (Vec<_>, Vec<_>) = deferred
            .drain(..)
            .partition(|request| seen.insert(request.key.clone()));
        deferred = later;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let nonce = shared.next_nonce.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            claim_batch(&shared, batch, nonce).await;
            drop(slot);
        });
    }
}

/// Moves what `queue` holds now into `batch`, without waiting, until `batch` has `max` items.
pub(crate) fn take_queued<R>(
    queue: &mut mpsc::UnboundedReceiver<R>,
    batch: &mut Vec<R>,
    max: usize,
) {
    while batch.len() < max {
        match queue.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
}

/// Sends a launch's claim on its way; `Err` gives it back if the claimer is gone.
///
/// When no other claim is pending, the launch claims its id itself: the [`Direct`] it gets
/// runs the single-row statement when the launch awaits it, in the launch's own task, with
/// no hand-off to the claimer and back. The claim is answered through `request.answer` in
/// both cases, and a claim that commits for a launch that is gone is recorded as dropped
/// (see [`Direct`]). When claims are pending (a burst of launches), the claim joins the
/// claimer's next batch, and the [`Direct`] is empty.
pub(crate) fn submit<T: PgId>(
    shared: &Arc<Shared<T>>,
    request: ClaimRequest,
) -> Result<Direct, ClaimRequest> {
    if shared.claims_pending.fetch_add(1, Ordering::AcqRel) == 0 {
        let nonce = shared.next_nonce.fetch_add(1, Ordering::Relaxed);
        let own = Arc::clone(shared);
        let claim = async move { claim_batch(&own, vec![request], nonce).await };
        return Ok(Direct(Some((
            tokio::runtime::Handle::current(),
            Box::pin(claim),
        ))));
    }
    match shared.claims.send(request) {
        Ok(()) => Ok(Direct(None)),
        Err(refused) => {
            shared.claims_pending.fetch_sub(1, Ordering::AcqRel);
            Err(refused.0)
        }
    }
}

/// A launch's own claim statement (see [`submit`]), run when the launch awaits it. Dropped
/// before it ends (the launch was dropped), it finishes in a task of its own on the
/// launch's runtime: its statement may commit, and then its attempt is recorded as dropped,
/// not left `Working` until its lease runs out.
pub(crate) struct Direct(Option<(tokio::runtime::Handle, DirectClaim)>);

type DirectClaim = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Future for Direct {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some((_, claim)) = &mut self.0 {
            if claim.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.0 = None;
        }
        Poll::Ready(())
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        if let Some((runtime, claim)) = self.0.take() {
            runtime.spawn(claim);
        }
    }
}

/// Claims `batch` in one statement and answers each launch.
async fn claim_batch<T: PgId>(shared: &Arc<Shared<T>>, batch: Vec<ClaimRequest>, nonce: i64) {
    let mut keys: Vec<&[u8]> = batch.iter().map(|request| request.key.as_slice()).collect();
    // One lock order for every statement that locks many rows (claims, ends, renewals): by
    // key. Concurrent statements sharing ids then wait for each other, never deadlock.
    keys.sort_unstable();
    let single = (batch.len() == 1).then(|| keys[0]);
    let lease = shared.lease_ms();
    let mut tries = 0;
    let answered = loop {
        let name = &shared.recorder;
        let answered = match single {
            Some(key) => {
                let params: [&(dyn ToSql + Sync); 5] = [name, &key, &shared.owner, &lease, &nonce];
                let claim =
                    |sql| shared.query_on(&shared.batch_pool, "launch", single, sql, &params);
                // A new id first (one plain insert), then by the record's state.
                match claim(sql::CLAIM_NEW).await {
                    Ok(rows) if rows.is_empty() => claim(sql::CLAIM_ONE).await.map(Answered::Rows),
                    Ok(rows) => Shared::<T>::get("launch", single, &rows[0], 0)
                        .map(|attempts: i32| Answered::New(attempts as u32)),
                    Err(error) => Err(error),
                }
            }
            None => {
                let params: [&(dyn ToSql + Sync); 5] = [name, &keys, &shared.owner, &lease, &nonce];
                shared
                    .query_on(&shared.batch_pool, "launch", None, sql::CLAIM, &params)
                    .await
                    .map(Answered::Rows)
            }
        };
        match answered {
            // Aborted to resolve a conflict with another statement (e.g. a revoke or a
            // trim, which lock in another order): nothing was committed, so run it again.
            Err(error) if error.is_conflict() && tries < MAX_CONFLICT_RETRIES => tries += 1,
            Ok(answered) => break answered,
            Err(error) => {
                // Nothing was claimed: every launch of the batch fails with the error.
                shared
                    .claims_pending
                    .fetch_sub(batch.len(), Ordering::AcqRel);
                for request in batch {
                    let id = Some(crate::error::describe_key(&request.key));
                    let _ = request.answer.send(Err(error.for_id(id)));
                }
                return;
            }
        }
    };
    // No longer pending, before any launch hears of it: a launch that launches again at once
    // finds no claim pending and claims its next id itself.
    shared
        .claims_pending
        .fetch_sub(batch.len(), Ordering::AcqRel);
    let rows = match answered {
        Answered::New(attempt) => {
            // The lone id of the batch was inserted: no row to decode by key.
            if let Some(request) = batch.into_iter().next() {
                answer_claim(shared, request, Ok(Claim::Won(attempt)));
            }
            return;
        }
        Answered::Rows(rows) => rows,
    };
    let mut answers: HashMap<Vec<u8>, Claim> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let decoded = (|| -> Result<(Vec<u8>, Claim), Error> {
            let key: Vec<u8> = Shared::<T>::get("launch", None, row, 0)?;
            let state: i16 = Shared::<T>::get("launch", None, row, 1)?;
            let attempts: i32 = Shared::<T>::get("launch", None, row, 2)?;
            let won: bool = Shared::<T>::get("launch", None, row, 3)?;
            let claim = if won {
                Claim::Won(attempts as u32)
            } else {
                Claim::Refused(sql::state_of(state))
            };
            Ok((key, claim))
        })();
        if let Ok((key, claim)) = decoded {
            answers.insert(key, claim);
        }
    }
    for request in batch {
        let answer = answers.remove(&request.key);
        let result = match answer {
            Some(claim) => Ok(claim),
            None => Err(Error::new(
                "launch",
                Some(crate::error::describe_key(&request.key)),
                crate::ErrorKind::Database,
            )),
        };
        answer_claim(shared, request, result);
    }
}

/// What a claim statement answered.
enum Answered {
    /// [`sql::CLAIM_NEW`] inserted the batch's lone id: its attempt number.
    New(u32),
    /// A row per id: its key, state, attempts, and whether this claim won it.
    Rows(Vec<tokio_postgres::Row>),
}

/// Answers the launch of `request` with `result`.
fn answer_claim<T: PgId>(
    shared: &Arc<Shared<T>>,
    request: ClaimRequest,
    result: Result<Claim, Error>,
) {
    if let Err(Ok(Claim::Won(attempt))) = request.answer.send(result) {
        // The launch was dropped while its claim committed: the attempt ends at once,
        // recorded as dropped, so the id is not left `Working` until its lease runs out.
        abandon(shared, request.key, attempt);
    }
}

/// Records attempt `attempt` of `key`, claimed for a launch that is gone, as dropped.
fn abandon<T: PgId>(shared: &Arc<Shared<T>>, key: Vec<u8>, attempt: u32) {
    let queued = Queued {
        end: End::Attempt {
            key,
            attempt,
            state: sql::FAILED,
            failure: Some((FailureKind::Dropped, None)),
            run: Arc::new(tasks_recorder::store::Running::spawned()),
        },
        _hold: shared.machinery().hold(),
        started: Some(Instant::now()),
    };
    let _ = shared.ends.send(queued);
}

/// Runs the end writer until every handle of the recorder is gone and the queue is empty.
pub(crate) async fn end_writer<T: PgId>(
    shared: Weak<Shared<T>>,
    mut ends: mpsc::UnboundedReceiver<Queued>,
) {
    let mut pending: Vec<Queued> = Vec::new();
    let mut backoff = Duration::from_millis(20);
    loop {
        if pending.is_empty() {
            match ends.recv().await {
                Some(end) => pending.push(end),
                None => return,
            }
        }
        take_queued(&mut ends, &mut pending, MAX_BATCH);
        let Some(shared) = shared.upgrade() else {
            // Every handle and attempt is gone: nothing can be recorded any more.
            return;
        };
        // Ends whose lease ran out for sure would be fenced: they are lost.
        let now = Instant::now();
        pending.retain(|queued| {
            let keep = shared.give_up_at(queued.started) > now;
            if !keep {
                if let End::Attempt {
                    key, attempt, run, ..
                } = &queued.end
                {
                    shared.forget_local(key, *attempt);
                    shared
                        .machinery()
                        .tally()
                        .count(Event::Failed(FailureKind::Lost));
                    run.ended(TaskState::Failed);
                }
            }
            keep
        });
        match write_ends(&shared, &mut pending).await {
            Ok(()) => backoff = Duration::from_millis(20),
            Err(_) => {
                // The database is unreachable: try again, until the leases run out.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Writes the queued ends: the attempts' in one statement, the failed revokes one by one.
/// On success `pending` is empty; on an error, what was not written is left in it.
async fn write_ends<T: PgId>(
    shared: &Arc<Shared<T>>,
    pending: &mut Vec<Queued>,
) -> Result<(), Error> {
    let (attempts, revokes): (Vec<Queued>, Vec<Queued>) = pending
        .drain(..)
        .partition(|queued| matches!(queued.end, End::Attempt { .. }));
    if !attempts.is_empty() {
        if let Err(error) = write_attempts(shared, &attempts).await {
            pending.extend(attempts);
            pending.extend(revokes);
            return Err(error);
        }
    }
    let mut revokes = revokes.into_iter();
    while let Some(queued) = revokes.next() {
        if let End::RevokeFailed { key, token } = &queued.end {
            let written = shared
                .query(
                    "revoke",
                    Some(key),
                    sql::REVOKE_FAILED,
                    &[&shared.recorder, key, &shared.owner, token, &shared.channel],
                )
                .await;
            match written {
                Ok(rows) if rows.is_empty() => shared.machinery().tally().count(Event::Fenced),
                Ok(_) => {}
                Err(error) => {
                    pending.push(queued);
                    pending.extend(revokes);
                    return Err(error);
                }
            }
        }
    }
    shared.changed();
    Ok(())
}

/// Records the ends of `queued` attempts in one statement, then counts them and wakes their
/// waiters. An end that changed nothing came too late: it is counted as fenced.
async fn write_attempts<T: PgId>(shared: &Arc<Shared<T>>, queued: &[Queued]) -> Result<(), Error> {
    const OPERATION: &str = "record the end of an attempt";
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut attempts: Vec<i32> = Vec::new();
    let mut states: Vec<i16> = Vec::new();
    let mut kinds: Vec<Option<i16>> = Vec::new();
    let mut messages: Vec<Option<&str>> = Vec::new();
    // In key order, the lock order of every statement that locks many rows.
    let mut sorted: Vec<&Queued> = queued.iter().collect();
    sorted.sort_unstable_by(|a, b| end_key(a).cmp(end_key(b)));
    for queued in sorted {
        if let End::Attempt {
            key,
            attempt,
            state,
            failure,
            ..
        } = &queued.end
        {
            keys.push(key);
            attempts.push(*attempt as i32);
            states.push(*state);
            kinds.push(failure.as_ref().map(|(kind, _)| sql::kind_code(*kind)));
            messages.push(failure.as_ref().and_then(|(_, message)| message.as_deref()));
        }
    }
    let written: HashSet<(Vec<u8>, i32)> = if let ([key], [attempt], [state], [kind], [message]) = (
        &keys[..],
        &attempts[..],
        &states[..],
        &kinds[..],
        &messages[..],
    ) {
        let params: [&(dyn ToSql + Sync); 7] = [
            &shared.recorder,
            key,
            attempt,
            state,
            kind,
            message,
            &shared.owner,
        ];
        let rows = shared
            .query_on(
                &shared.batch_pool,
                OPERATION,
                Some(key),
                sql::FINISH_ONE,
                &params,
            )
            .await?;
        if let Some(row) = rows.first() {
            if Shared::<T>::get::<bool>(OPERATION, Some(key), row, 0)? {
                // A waiter of another process watches the row. The end is committed
                // whatever happens to the notification: a waiter that misses it reads the
                // row again when the lease it saw runs out.
                let _ = shared
                    .query_on(
                        &shared.batch_pool,
                        OPERATION,
                        Some(key),
                        sql::NOTIFY,
                        &[&shared.channel, &shared.owner],
                    )
                    .await;
            }
        }
        // A row: the end was written (the row names nothing else, the id is known).
        rows.first()
            .map(|_| ((*key).to_vec(), *attempt))
            .into_iter()
            .collect()
    } else {
        let params: [&(dyn ToSql + Sync); 8] = [
            &shared.recorder,
            &keys,
            &attempts,
            &states,
            &kinds,
            &messages,
            &shared.owner,
            &shared.channel,
        ];
        let rows = shared
            .query_on(&shared.batch_pool, OPERATION, None, sql::FINISH, &params)
            .await?;
        let mut written = HashSet::with_capacity(rows.len());
        for row in &rows {
            let key: Vec<u8> = Shared::<T>::get(OPERATION, None, row, 0)?;
            let attempt: i32 = Shared::<T>::get(OPERATION, None, row, 1)?;
            written.insert((key, attempt));
        }
        written
    };
    let tally = shared.machinery().tally();
    let mut failed = false;
    for queued in queued {
        let End::Attempt {
            key,
            attempt,
            state,
            failure,
            run,
        } = &queued.end
        else {
            continue;
        };
        shared.forget_local(key, *attempt);
        if written.contains(&(key.clone(), *attempt as i32)) {
            match failure {
                Some((kind, _)) => {
                    failed = true;
                    tally.count(Event::Failed(*kind));
                }
                None => tally.count(Event::Succeeded),
            }
            run.ended(sql::state_of(*state));
        } else {
            // Too late: the lease ran out, or a newer attempt owns the id.
            tally.count(Event::Fenced);
            if run.stopped_by() == Some(FailureKind::Lost) {
                tally.count(Event::Failed(FailureKind::Lost));
            }
            run.ended(TaskState::Failed);
        }
    }
    if let (true, Some(max)) = (failed, shared.settings.max_failed) {
        let _ = shared
            .query(
                "trim failed records",
                None,
                sql::TRIM_FAILED,
                &[&shared.recorder, &max],
            )
            .await;
    }
    Ok(())
}

/// The id key of a queued end.
fn end_key(queued: &Queued) -> &[u8] {
    match &queued.end {
        End::Attempt { key, .. } | End::RevokeFailed { key, .. } => key,
    }
}

/// Stops every local attempt: the lease of this process is lost.
pub(crate) fn lose_all<T: PgId>(shared: &Shared<T>) -> usize {
    shared.stop_local(Stop::Lost, |_, _| true)
}
