//! The competitors of the PostgreSQL section: [`PgRecorder`] through its public API, and a
//! hand-written [`Baseline`] that runs one autocommit statement per transition on the same
//! driver (`tokio-postgres`) and pool (`deadpool-postgres`, same size, same recycling).

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tasks_recorder::TaskState;
use tasks_recorder_postgres::PgRecorder;
use tokio_postgres::NoTls;

/// Something that launches a task under an id and waits until its end is recorded.
pub trait PgLauncher: Send + Sync + 'static {
    /// How the report names it.
    const NAME: &'static str;

    /// Launches a task under the fresh id `id` (its body returns `Ok(())` at once) and returns
    /// once the database has committed the task's success. Panics if the id is refused or on
    /// a database error: a benchmark that measured a failure would mislead.
    fn launch_and_wait(&self, id: u64) -> impl Future<Output = ()> + Send;

    /// Called once after the last launch of a run: returns once every end is recorded.
    fn finish(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Something that answers whether an id succeeded, in one read.
pub trait PgLookup: Send + Sync + 'static {
    /// How the report names it.
    const NAME: &'static str;

    /// One query of `id`: whether it reads succeeded.
    fn is_success(&self, id: u64) -> impl Future<Output = bool> + Send;
}

/// [`PgRecorder`]: `launch`, then `wait` (which reads the id's row, and again after each
/// change the recorder hears of, until it is no longer `Working`); `query_task_state`.
#[derive(Debug, Clone)]
pub struct Recorder(pub PgRecorder<u64>);

impl PgLauncher for Recorder {
    const NAME: &'static str = "PgRecorder";

    async fn launch_and_wait(&self, id: u64) {
        match self.0.launch(id, async { Ok::<(), ()>(()) }).await {
            Ok(Ok(())) => {}
            Ok(Err((state, _task))) => panic!("PgRecorder refused the fresh id {id}: {state}"),
            Err(error) => panic!("PgRecorder launch of {id}: {error}"),
        }
        match self.0.wait(&id).await {
            Ok(TaskState::Success) => {}
            Ok(state) => panic!("PgRecorder: {id} ended {state}, not Success"),
            Err(error) => panic!("PgRecorder wait for {id}: {error}"),
        }
    }
}

impl PgLookup for Recorder {
    const NAME: &'static str = "PgRecorder";

    async fn is_success(&self, id: u64) -> bool {
        match self.0.query_task_state(&id).await {
            Ok(state) => state == TaskState::Success,
            Err(error) => panic!("PgRecorder query of {id}: {error}"),
        }
    }
}

/// A diagnostic, not a competitor of the targets: [`PgRecorder`] with the per-task `wait`
/// left out. Each launch waits only until its task's body has run (an in-process signal);
/// the run ends once [`PgRecorder::running`] reads 0, i.e. once every end is committed (the
/// recorder counts an attempt until its end is recorded). The same work reaches the
/// database (claims and ends, batched), without the reads `wait` makes.
#[derive(Debug, Clone)]
pub struct NoWait(pub PgRecorder<u64>);

impl PgLauncher for NoWait {
    const NAME: &'static str = "PgRecorder, no wait";

    async fn launch_and_wait(&self, id: u64) {
        let (ran, body_ran) = tokio::sync::oneshot::channel();
        let task = async move {
            let _ = ran.send(());
            Ok::<(), ()>(())
        };
        match self.0.launch(id, task).await {
            Ok(Ok(())) => {}
            Ok(Err((state, _task))) => panic!("PgRecorder refused the fresh id {id}: {state}"),
            Err(error) => panic!("PgRecorder launch of {id}: {error}"),
        }
        body_ran.await.expect("the task ran");
    }

    async fn finish(&self) {
        while self.0.running() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

/// The key of `id`, as both competitors store it (`PgRecorder<u64>` stores a `u64` id as its
/// 8 big-endian bytes in a `bytea` column).
pub fn key(id: u64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

/// A pool like the recorder's: `deadpool-postgres`, `NoTls`, fast recycling (no statement
/// on checkout), at most `size` connections.
pub fn pool(url: &str, size: usize) -> Result<Pool, String> {
    let config = tokio_postgres::Config::from_str(url).map_err(|e| format!("bad URL: {e}"))?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| format!("pool: {e}"))
}

/// The hand-written baseline: a table `(k bytea PRIMARY KEY, state smallint, attempt integer,
/// lease_until timestamptz)` and one autocommit statement per transition:
///
/// - claim: `INSERT .. ON CONFLICT (k) DO UPDATE SET state = working, attempt = attempt + 1,
///   lease_until = .. WHERE state = failed OR (state = working AND lease_until < now)
///   RETURNING attempt` (a row: claimed; none: refused);
/// - then the task runs (`tokio::spawn`), and its end is
///   `UPDATE .. SET state = success WHERE k = $1 AND attempt = $2 AND state = working`;
/// - the launcher learns that the end committed in-process (a oneshot channel), which only
///   works inside one process: it reads nothing back;
/// - a query is `SELECT state FROM t WHERE k = $1`, the primary-key read.
///
/// Every statement is prepared once per connection (`prepare_cached`), like the recorder's.
#[derive(Debug, Clone)]
pub struct Baseline {
    pool: Pool,
    table: String,
    claim: Arc<str>,
    finish: Arc<str>,
    select: Arc<str>,
}

/// The states the baseline stores, as the recorder does.
const SUCCESS: i16 = 1;

impl Baseline {
    /// Creates the table `table` (dropped first if it exists) and a pool of `pool_size`.
    pub async fn create(url: &str, pool_size: usize, table: &str) -> Result<Self, String> {
        let pool = pool(url, pool_size)?;
        let client = pool.get().await.map_err(|e| format!("connect: {e}"))?;
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {table};
                 CREATE TABLE {table} (
                     k bytea PRIMARY KEY,
                     state smallint NOT NULL,
                     attempt integer NOT NULL,
                     lease_until timestamptz
                 );"
            ))
            .await
            .map_err(|e| format!("creating {table}: {e}"))?;
        drop(client);
        Ok(Baseline {
            pool,
            table: table.to_string(),
            claim: format!(
                "INSERT INTO {table} AS r (k, state, attempt, lease_until) \
                 VALUES ($1, 0, 1, clock_timestamp() + interval '30 seconds') \
                 ON CONFLICT (k) DO UPDATE SET state = 0, attempt = r.attempt + 1, \
                   lease_until = excluded.lease_until \
                 WHERE r.state = 3 OR (r.state = 0 AND r.lease_until < clock_timestamp()) \
                 RETURNING attempt"
            )
            .into(),
            finish: format!(
                "UPDATE {table} SET state = $3, lease_until = NULL \
                 WHERE k = $1 AND attempt = $2 AND state = 0"
            )
            .into(),
            select: format!("SELECT state FROM {table} WHERE k = $1").into(),
        })
    }

    /// Drops the table.
    pub async fn drop_table(&self) -> Result<(), String> {
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.table))
            .await
            .map_err(|e| e.to_string())
    }
}

impl PgLauncher for Baseline {
    const NAME: &'static str = "baseline";

    async fn launch_and_wait(&self, id: u64) {
        let key = key(id);
        let attempt: i32 = {
            let client = self.pool.get().await.expect("a baseline connection");
            let claim = client.prepare_cached(&self.claim).await.expect("prepare");
            let row = client
                .query_opt(&claim, &[&key])
                .await
                .expect("the baseline's claim");
            row.unwrap_or_else(|| panic!("the baseline refused the fresh id {id}"))
                .get(0)
        };
        let (done, finished) = tokio::sync::oneshot::channel();
        let (pool, finish) = (self.pool.clone(), Arc::clone(&self.finish));
        tokio::spawn(async move {
            let outcome = async { Ok::<(), ()>(()) }.await;
            let state: i16 = if outcome.is_ok() { SUCCESS } else { 3 };
            let client = pool.get().await.expect("a baseline connection");
            let finish = client.prepare_cached(&finish).await.expect("prepare");
            let changed = client
                .execute(&finish, &[&key, &attempt, &state])
                .await
                .expect("the baseline's end");
            let _ = done.send(changed);
        });
        let changed = finished.await.expect("the baseline's task ran");
        assert_eq!(changed, 1, "the baseline's end of {id} changed nothing");
    }
}

impl PgLookup for Baseline {
    const NAME: &'static str = "PK SELECT";

    async fn is_success(&self, id: u64) -> bool {
        let client = self.pool.get().await.expect("a baseline connection");
        let select = client.prepare_cached(&self.select).await.expect("prepare");
        let row = client
            .query_opt(&select, &[&key(id)])
            .await
            .expect("the primary-key SELECT");
        row.is_some_and(|row| row.get::<_, i16>(0) == SUCCESS)
    }
}
