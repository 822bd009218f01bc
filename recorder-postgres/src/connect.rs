//! Connecting: [`PgBuilder`], the schema and its migration, and the background tasks.

use foldhash::{HashMap, HashMapExt};
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tasks_recorder::store::{Limits, Machinery};
use tokio::sync::{mpsc, watch};
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorKind};
use crate::id::PgId;
use crate::recorder::{Handle, PgRecorder};
use crate::shared::{Settings, Shared};
use crate::timeouts::{self, OperationClock};
use crate::{background, batch, reads, sql};

/// Builds a [`PgRecorder`] with options; made by [`PgRecorder::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use tasks_recorder_postgres::PgRecorder;
///
/// # async fn demo() -> Result<(), tasks_recorder_postgres::Error> {
/// let uploads: PgRecorder<String> = PgRecorder::builder()
///     .lease(Duration::from_secs(10))
///     .pool_size(8)
///     .max_concurrency(64)
///     .connect("postgres://app@db/app", "uploads")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgBuilder<T> {
    lease: Duration,
    pool_size: usize,
    max_concurrency: Option<usize>,
    rate: Option<(u32, Duration, u32)>,
    max_failed: Option<i64>,
    operation_timeout: Duration,
    token: Option<CancellationToken>,
    describe_ids: bool,
    timeout: Option<Duration>,
    cancel_grace: Duration,
    ids: PhantomData<fn() -> T>,
}

impl<T: PgId> Default for PgBuilder<T> {
    fn default() -> Self {
        PgBuilder {
            lease: Duration::from_secs(30),
            pool_size: 16,
            max_concurrency: None,
            rate: None,
            max_failed: None,
            operation_timeout: Duration::from_secs(30),
            token: None,
            describe_ids: false,
            timeout: None,
            cancel_grace: tasks_recorder::store::DEFAULT_CANCEL_GRACE,
            ids: PhantomData,
        }
    }
}

impl<T: PgId> PgBuilder<T> {
    /// How long a `Working` or revoking record stays this process's without a renewal (30 s
    /// by default; at least 300 ms). Leases are renewed every third of it. After a crash, the
    /// ids of the crashed process read `Failed` ([`FailureKind::Lost`]) once this much time
    /// has passed, and can be launched again; a process that cannot renew for this long stops
    /// its own attempts.
    ///
    /// [`FailureKind::Lost`]: tasks_recorder::FailureKind::Lost
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(300));
        self
    }

    /// The most connections the recorder opens (16 by default, at least 2), besides the one
    /// it listens on.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(2);
        self
    }

    /// At most `limit` attempts of this process run their future at once (`0`: no limit,
    /// the default), as [`tasks_recorder::Builder::max_concurrency`].
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = (limit != 0).then_some(limit);
        self
    }

    /// At most `starts` attempts of this process start per `per`, after a burst of `burst`,
    /// as [`tasks_recorder::Builder::rate_limit`]. The limit is per process: each replica
    /// has its own bucket. A queued attempt holds its id (`Working`, under a lease) while it
    /// waits.
    pub fn rate_limit(mut self, starts: u32, per: Duration, burst: u32) -> Self {
        self.rate = (starts != 0).then_some((starts, per, burst));
        self
    }

    /// Keeps at most `limit` failed records of this recorder (`0`: no limit, the default),
    /// removing the oldest after each batch of failures. Lost attempts are kept.
    pub fn max_failed(mut self, limit: usize) -> Self {
        self.max_failed = (limit != 0).then(|| i64::try_from(limit).unwrap_or(i64::MAX));
        self
    }

    /// How long one database operation may take before it fails with
    /// [`ErrorKind::Timeout`] (30 s by default). An operation is given up no sooner than
    /// this, and at most a quarter of it later: every operation watches one clock of the
    /// recorder's, which ticks four times per timeout, rather than a timer of its own.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Ties the recorder to `token`, as [`tasks_recorder::Builder::cancellation_token`]:
    /// when it is cancelled, the recorder closes and this process's attempts stop.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Every attempt of this process may run for at most `timeout`, as
    /// [`tasks_recorder::Builder::timeout`]: then it is signalled, dropped, and recorded
    /// `Failed` ([`FailureKind::TimedOut`](tasks_recorder::FailureKind::TimedOut)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long a cancelled attempt whose task watches its signal
    /// ([`tasks_recorder::CurrentAttempt::token`]) is given to stop before its future is
    /// dropped (5 s by default), as [`tasks_recorder::Builder::cancel_grace`].
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// Shows ids (as text, or hex) in `tracing` spans and events.
    pub fn describe_ids(mut self) -> Self {
        self.describe_ids = true;
        self
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname`) as
    /// the recorder `name`. Creates or migrates the schema under an advisory lock (so that
    /// processes starting at once are safe), checks that `name` holds ids of type `T`, and
    /// starts the background tasks (claims, ends, leases, notifications) on the current
    /// runtime: the recorder serves that runtime. Many recorders (names) share a database.
    ///
    /// # Errors
    /// The URL is invalid, the database cannot be reached, its schema is newer than this
    /// crate's ([`ErrorKind::SchemaTooNew`]), or `name` holds another id type
    /// ([`ErrorKind::IdTypeMismatch`]).
    pub async fn connect(self, url: &str, name: &str) -> Result<PgRecorder<T>, Error> {
        const OPERATION: &str = "connect";
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| Error::with_kind(OPERATION, None, ErrorKind::InvalidUrl, e))?;
        let pool = |config: tokio_postgres::Config, size: usize| {
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
                // No timeouts of the pool's own: each operation's timeout covers the wait
                // for a connection and its creation (one timer per operation, not two).
                // The most recently used connection first: its statements are prepared.
                .queue_mode(deadpool_postgres::QueueMode::Lifo)
                .build()
                .map_err(|e| Error::from_source(OPERATION, None, e))
        };
        let in_flight = (self.pool_size / 2).max(1);
        // The batched claims and ends have connections of their own, and so has the
        // renewal: a burst of queries never delays a lease.
        let batch_pool = pool(config.clone(), in_flight + 2)?;
        let renew_pool = pool(config.clone(), 1)?;
        let pool = pool(config, self.pool_size)?;
        let timeout = self.operation_timeout;
        let identity = tokio::time::timeout(timeout, migrate::<T>(&pool, name))
            .await
            .unwrap_or_else(|_| Err(Error::new(OPERATION, None, ErrorKind::Timeout(timeout))))?;
        let (claims, claim_requests) = mpsc::unbounded_channel();
        let (ends, queued_ends) = mpsc::unbounded_channel();
        let (reads, read_requests) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            machinery: Machinery::new(
                Arc::from(name),
                Limits {
                    max_concurrency: self.max_concurrency,
                    rate: self.rate,
                    max_queued: None,
                },
                self.token.clone(),
            )
            .with_timeouts(self.timeout, self.cancel_grace),
            pool,
            batch_pool,
            renew_pool,
            settings: Settings {
                name: name.to_owned(),
                lease: self.lease,
                max_failed: self.max_failed,
                url: url.to_owned(),
                describe_ids: self.describe_ids,
            },
            owner: identity.owner,
            recorder: identity.recorder,
            channel: identity.channel,
            cancel_channel: identity.cancel_channel,
            local: Mutex::new(HashMap::new()),
            revoking: Mutex::new(HashMap::new()),
            claims,
            claims_pending: AtomicUsize::new(0),
            next_nonce: AtomicI64::new(1),
            ends,
            reads,
            reads_pending: AtomicUsize::new(0),
            changes: watch::Sender::new(0),
            renewed_at: Mutex::new(Instant::now()),
            clock: OperationClock::new(self.operation_timeout),
            ids: PhantomData,
        });
        let weak = Arc::downgrade(&shared);
        tokio::spawn(batch::claimer(weak.clone(), claim_requests, in_flight));
        tokio::spawn(batch::end_writer(weak.clone(), queued_ends));
        // Batched queries use the main pool, at most a quarter of it: fewer batches at once
        // make larger ones (with 64 concurrent queries on 2 cores, 2 or 4 batches at once
        // read an id in half the time that 8 did), and leave connections to lone statements.
        tokio::spawn(reads::reader(
            weak.clone(),
            read_requests,
            (self.pool_size / 4).max(1),
        ));
        tokio::spawn(timeouts::ticker(weak.clone()));
        tokio::spawn(background::renewer(weak.clone(), stop.clone()));
        tokio::spawn(background::listener(weak, stop.clone()));
        Ok(PgRecorder {
            handle: Arc::new(Handle {
                shared,
                _stop: stop.drop_guard(),
            }),
        })
    }
}

/// Who this process is, and where it listens.
struct Identity {
    owner: i64,
    recorder: i32,
    channel: String,
    cancel_channel: String,
}

/// Creates or migrates the schema, one process at a time, registers the recorder's id type,
/// and makes this process's identity.
async fn migrate<T: PgId>(pool: &Pool, name: &str) -> Result<Identity, Error> {
    const OPERATION: &str = "connect";
    let fail = |e: tokio_postgres::Error| Error::from_source(OPERATION, None, e);
    let mut client = pool
        .get()
        .await
        .map_err(|e| Error::from_source(OPERATION, None, e))?;
    let transaction = client.transaction().await.map_err(fail)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&sql::MIGRATION_LOCK])
        .await
        .map_err(fail)?;
    transaction.batch_execute(sql::CREATE).await.map_err(fail)?;
    let version: Option<i32> = transaction
        .query_one("SELECT max(version) FROM tasks_recorder_schema", &[])
        .await
        .map_err(fail)?
        .get(0);
    match version {
        Some(found) if found > sql::SCHEMA_VERSION => {
            return Err(Error::new(
                OPERATION,
                None,
                ErrorKind::SchemaTooNew {
                    found,
                    supported: sql::SCHEMA_VERSION,
                },
            ));
        }
        Some(found) if found == sql::SCHEMA_VERSION => {}
        // A new database, or an older version: add what it lacks.
        _ => {
            transaction
                .batch_execute(sql::UPGRADE)
                .await
                .map_err(fail)?;
            transaction
                .execute("DELETE FROM tasks_recorder_schema", &[])
                .await
                .map_err(fail)?;
            transaction
                .execute(
                    "INSERT INTO tasks_recorder_schema (version) VALUES ($1)",
                    &[&sql::SCHEMA_VERSION],
                )
                .await
                .map_err(fail)?;
        }
    }
    transaction
        .execute(
            "INSERT INTO tasks_recorder_recorders (name, id_type) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &T::TYPE_NAME],
        )
        .await
        .map_err(fail)?;
    let registered = transaction
        .query_one(
            "SELECT id_type, number FROM tasks_recorder_recorders WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(fail)?;
    let stored: String = registered.try_get(0).map_err(fail)?;
    let recorder: i32 = registered.try_get(1).map_err(fail)?;
    if stored != T::TYPE_NAME {
        return Err(Error::new(
            OPERATION,
            None,
            ErrorKind::IdTypeMismatch {
                stored,
                requested: T::TYPE_NAME,
            },
        ));
    }
    let row = transaction
        .query_one(sql::IDENTITY, &[&name])
        .await
        .map_err(fail)?;
    transaction.commit().await.map_err(fail)?;
    Ok(Identity {
        owner: row.try_get(0).map_err(fail)?,
        recorder,
        channel: row.try_get(1).map_err(fail)?,
        cancel_channel: row.try_get(2).map_err(fail)?,
    })
}
