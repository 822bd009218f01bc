//! The batched reader: `query_task_state`s asked at the same time share one statement.
//!
//! A query that finds no other query under way reads its id itself, in its own task, with
//! one single-row statement: a lone query pays no hand-off. A query asked while others are
//! under way joins the reader's next batch, one `id = ANY(..)` statement for every query
//! queued when the batch starts (no artificial delay: while one batch runs, the next one
//! fills). Many concurrent queries then cost the database one statement, not one each.
//!
//! Still linearizable: the reader takes a query from its queue before the batch's statement
//! starts, and answers it after the statement returned, so the committed state the query
//! reads is the state at a moment between its call and its return. It never sees a state
//! that was not committed (each statement reads committed rows only).

use foldhash::{HashMap, HashMapExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::batch::take_queued;
use crate::error::{describe_key, Error};
use crate::id::PgId;
use crate::shared::Shared;
use crate::sql;

/// At most this many ids in one read statement.
const MAX_BATCH: usize = 1024;

/// The operation the errors of a query name.
const OPERATION: &str = "query_task_state";

/// A query waiting for the reader's next batch.
pub(crate) struct ReadRequest {
    key: Vec<u8>,
    answer: oneshot::Sender<Result<Option<i16>, Error>>,
}

/// The stored state code of the id `key` (leases applied), or `None` if it has no row:
/// read alone, or in the reader's next batch when other queries are under way.
pub(crate) async fn state_code<T: PgId>(
    shared: &Arc<Shared<T>>,
    key: &[u8],
) -> Result<Option<i16>, Error> {
    if shared.reads_pending.fetch_add(1, Ordering::AcqRel) == 0 {
        // Counted until it returns or is dropped, so that queries asked meanwhile batch.
        let _pending = Pending(&shared.reads_pending);
        return read_one(shared, key).await;
    }
    let (answer, answered) = oneshot::channel();
    let request = ReadRequest {
        key: key.to_vec(),
        answer,
    };
    if shared.reads.send(request).is_err() {
        // The reader is gone (its runtime shut down): read alone.
        let _pending = Pending(&shared.reads_pending);
        return read_one(shared, key).await;
    }
    match answered.await {
        Ok(answer) => answer,
        // The reader dropped the query unanswered: its runtime is shutting down.
        Err(_) => Err(Error::new(
            OPERATION,
            Some(describe_key(key)),
            crate::ErrorKind::Database,
        )),
    }
}

/// One query counted in [`Shared::reads_pending`] while it runs outside the reader.
struct Pending<'a>(&'a AtomicUsize);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads the state of one id, in one single-row statement.
async fn read_one<T: PgId>(shared: &Shared<T>, key: &[u8]) -> Result<Option<i16>, Error> {
    let row = shared
        .query_opt(OPERATION, Some(key), sql::STATE, &[&shared.recorder, &key])
        .await?;
    row.map(|row| Shared::<T>::get(OPERATION, Some(key), &row, 0))
        .transpose()
}

/// Runs the reader until every handle of the recorder is gone. At most `in_flight` batches
/// are read at once.
pub(crate) async fn reader<T: PgId>(
    shared: Weak<Shared<T>>,
    mut requests: mpsc::UnboundedReceiver<ReadRequest>,
    in_flight: usize,
) {
    let slots = Arc::new(Semaphore::new(in_flight.max(1)));
    while let Some(first) = requests.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        // Taken from the queue before the statement starts (see the module's docs).
        let mut batch = vec![first];
        take_queued(&mut requests, &mut batch, MAX_BATCH);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            read_batch(&shared, batch).await;
            drop(slot);
        });
    }
}

/// Reads the states of `batch` in one statement and answers each query.
async fn read_batch<T: PgId>(shared: &Shared<T>, mut batch: Vec<ReadRequest>) {
    let asked = batch.len();
    // Queries dropped while they waited need no answer.
    batch.retain(|request| !request.answer.is_closed());
    let states = if batch.is_empty() {
        Ok(HashMap::new())
    } else {
        read_many(shared, &batch).await
    };
    // No longer pending, before any query hears of it: a query asked next by the same
    // caller reads alone when nothing else is under way.
    shared.reads_pending.fetch_sub(asked, Ordering::AcqRel);
    for request in batch {
        let answer = match &states {
            Ok(states) => Ok(states.get(&request.key).copied()),
            Err(error) => Err(error.for_id(Some(describe_key(&request.key)))),
        };
        let _ = request.answer.send(answer);
    }
}

/// The state codes of the ids of `batch` that have a row. Any row that cannot be decoded
/// fails the whole batch: an id must never read `NotFound` because its row was unreadable.
async fn read_many<T: PgId>(
    shared: &Shared<T>,
    batch: &[ReadRequest],
) -> Result<HashMap<Vec<u8>, i16>, Error> {
    let keys: Vec<&[u8]> = batch.iter().map(|request| request.key.as_slice()).collect();
    let rows = shared
        .query(OPERATION, None, sql::STATES, &[&shared.recorder, &keys])
        .await?;
    let mut states = HashMap::with_capacity(rows.len());
    for row in &rows {
        let key: Vec<u8> = Shared::<T>::get(OPERATION, None, row, 0)?;
        let state: i16 = Shared::<T>::get(OPERATION, Some(&key), row, 1)?;
        states.insert(key, state);
    }
    Ok(states)
}
