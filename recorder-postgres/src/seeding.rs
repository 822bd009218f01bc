//! Seeding known successes in the database: [`PgRecorder::mark_succeeded`] and its bulk form,
//! one statement ([`sql::MARK`]) per thousand ids.

use std::collections::{BTreeSet, HashMap, HashSet};

use tasks_recorder::store::Event;
use tasks_recorder::{MarkError, SeedReport};

use crate::error::{describe_key, Error, ErrorKind};
use crate::id::PgId;
use crate::recorder::PgRecorder;
use crate::shared::Shared;
use crate::sql;

/// At most this many ids go to the database in one statement.
const MARK_BATCH: usize = 1_000;

/// What one statement answered for each id it was given.
type Answers = HashMap<Vec<u8>, Result<(), MarkError>>;

impl<T: PgId> PgRecorder<T> {
    /// Marks `id` as `Success` without running anything, for every process sharing the
    /// recorder; as
    /// [`AsyncTasksRecorder::mark_succeeded`](tasks_recorder::AsyncTasksRecorder::mark_succeeded).
    ///
    /// A `NotFound` or `Failed` id becomes `Success`, a lost one too (its `Working` row's
    /// lease ran out: it reads `Failed`); a `Working` id under a live lease, in any process,
    /// is refused with [`MarkError::AlreadyRunning`], a revoking one with
    /// [`MarkError::Revoking`], a succeeded one with [`MarkError::AlreadySucceeded`]. The mark
    /// is one committed statement, ordered with every claim of the id by the row's lock: at
    /// most one success per id holds across processes. Waiters in every process are woken.
    ///
    /// ```no_run
    /// use tasks_recorder::MarkError;
    /// use tasks_recorder_postgres::PgRecorder;
    ///
    /// # async fn demo(pins: PgRecorder<String>) -> Result<(), tasks_recorder_postgres::Error> {
    /// match pins.mark_succeeded("cid-1".to_string()).await? {
    ///     Ok(()) | Err(MarkError::AlreadySucceeded) => println!("recorded as pinned"),
    ///     Err(why) => println!("not marked: {why}"),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The statement did not commit (the database is unreachable, or timed out): nothing is
    /// marked. If it committed but the answer was lost, the id is `Success`.
    pub async fn mark_succeeded(&self, id: T) -> Result<Result<(), MarkError>, Error> {
        const OPERATION: &str = "mark_succeeded";
        let key = id.key_bytes().into_owned();
        let mut answers = self.mark_keys(OPERATION, vec![key.clone()]).await?;
        answers
            .remove(&key)
            .ok_or_else(|| Error::new(OPERATION, Some(describe_key(&key)), ErrorKind::Database))
    }

    /// Marks every id of `ids` as [`mark_succeeded`](Self::mark_succeeded) does, and reports
    /// what it did as
    /// [`AsyncTasksRecorder::mark_all_succeeded`](tasks_recorder::AsyncTasksRecorder::mark_all_succeeded)
    /// does: marked, already succeeded (an id given twice is counted there the second time),
    /// or refused (running or revoking, in any process), in the order given.
    ///
    /// One statement and one commit per thousand distinct ids, each row locked in the order
    /// of its key (the order of every statement that locks many rows).
    ///
    /// ```no_run
    /// use tasks_recorder_postgres::PgRecorder;
    ///
    /// # async fn demo(pins: PgRecorder<String>) -> Result<(), tasks_recorder_postgres::Error> {
    /// // At startup: the node says which pins it already holds.
    /// let held = vec!["cid-1".to_string(), "cid-2".to_string()];
    /// let report = pins.mark_all_succeeded(held).await?;
    /// println!("{} marked, {} pinned already", report.marked, report.already_succeeded);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A statement did not commit: the ids of the statements before it are marked, the rest
    /// are not. Marking them all again is harmless (the marked ones count as already
    /// succeeded).
    pub async fn mark_all_succeeded(
        &self,
        ids: impl IntoIterator<Item = T>,
    ) -> Result<SeedReport<T>, Error> {
        const OPERATION: &str = "mark_all_succeeded";
        let ids: Vec<T> = ids.into_iter().collect();
        let keys: BTreeSet<Vec<u8>> = ids.iter().map(|id| id.key_bytes().into_owned()).collect();
        let answers = self
            .mark_keys(OPERATION, keys.into_iter().collect())
            .await?;
        let mut report = SeedReport::default();
        let mut seen = HashSet::new();
        for id in ids {
            let key = id.key_bytes().into_owned();
            let answer = answers.get(&key).copied().ok_or_else(|| {
                Error::new(OPERATION, Some(describe_key(&key)), ErrorKind::Database)
            })?;
            // An id given again finds the record its first mark left.
            let again = !seen.insert(key);
            match answer {
                Ok(()) if !again => report.marked += 1,
                Ok(()) | Err(MarkError::AlreadySucceeded) => report.already_succeeded += 1,
                Err(refusal) => report.refused.push((id, refusal)),
            }
        }
        Ok(report)
    }

    /// Runs [`sql::MARK`] over `keys` (distinct and sorted), a batch at a time; counts the
    /// marks and wakes this process's waiters if any id was marked.
    async fn mark_keys(
        &self,
        operation: &'static str,
        keys: Vec<Vec<u8>>,
    ) -> Result<Answers, Error> {
        let shared = &self.handle.shared;
        let mut answers = HashMap::with_capacity(keys.len());
        let mut marked_any = false;
        for batch in keys.chunks(MARK_BATCH) {
            let key = match batch {
                [one] => Some(one.as_slice()),
                _ => None,
            };
            let rows = shared
                .query(
                    operation,
                    key,
                    sql::MARK,
                    &[&shared.recorder, &batch, &shared.channel, &shared.owner],
                )
                .await?;
            for row in &rows {
                let id: Vec<u8> = Shared::<T>::get(operation, key, row, 0)?;
                let marked: bool = Shared::<T>::get(operation, key, row, 1)?;
                let attempts: i32 = Shared::<T>::get(operation, key, row, 2)?;
                let code: i16 = Shared::<T>::get(operation, key, row, 3)?;
                let answer = match code {
                    _ if marked => {
                        marked_any = true;
                        // Only a launched id has attempts: it was `Failed` (or lost).
                        shared.machinery.tally().count(Event::Marked {
                            failed: attempts > 0,
                        });
                        Ok(())
                    }
                    sql::WORKING => Err(MarkError::AlreadyRunning),
                    sql::REVOKING => Err(MarkError::Revoking),
                    _ => Err(MarkError::AlreadySucceeded),
                };
                answers.insert(id, answer);
            }
        }
        if marked_any {
            shared.changed();
        }
        Ok(answers)
    }
}
