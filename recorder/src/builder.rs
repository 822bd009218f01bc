//! [`Builder`]: the options of a recorder.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::children::Family;
use crate::schedule::Schedule;
use crate::store::Limits;
use crate::{AsyncTasksRecorder, FailurePolicy};

/// Builds an [`AsyncTasksRecorder`] with options; made by [`AsyncTasksRecorder::builder`].
///
/// ```
/// use tasks_recorder::AsyncTasksRecorder;
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = CancellationToken::new();
/// let imports: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
///     .max_concurrency(8)
///     .cancellation_token(service.child_token())
///     .build();
/// assert!(imports.launch(1, async { Ok::<_, ()>(()) }).await.is_ok());
/// service.cancel(); // closes `imports` and cancels its running tasks
/// imports.shutdown().await;
/// assert!(imports.is_closed());
/// # }
/// ```
pub struct Builder<T> {
    options: Options,
    describe_id: Option<fn(&T) -> String>,
    id: PhantomData<fn() -> T>,
}

/// Everything a [`Builder`] sets.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) limits: Limits,
    pub(crate) token: Option<CancellationToken>,
    pub(crate) transitions_capacity: usize,
    pub(crate) max_failed: Option<usize>,
    pub(crate) name: Arc<str>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cancel_grace: Duration,
    pub(crate) policy: FailurePolicy,
    /// The family of the recorder's parent, if it is a child.
    pub(crate) parent: Option<Arc<Family>>,
    /// The parent's schedule, shared, until the child's builder sets limits of its own.
    pub(crate) inherited: Option<Option<Arc<Schedule>>>,
}

/// The name of a recorder built without [`Builder::name`].
pub(crate) const DEFAULT_NAME: &str = "tasks";

/// The default capacity of the transitions stream.
const TRANSITIONS_CAPACITY: usize = 1024;

impl<T> Builder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// The default options: no concurrency limit, no cancellation token.
    pub fn new() -> Self {
        Builder {
            options: Options {
                limits: Limits::default(),
                token: None,
                transitions_capacity: TRANSITIONS_CAPACITY,
                max_failed: None,
                name: Arc::from(DEFAULT_NAME),
                timeout: None,
                cancel_grace: crate::store::DEFAULT_CANCEL_GRACE,
                policy: FailurePolicy::ignore(),
                parent: None,
                inherited: None,
            },
            describe_id: None,
            id: PhantomData,
        }
    }

    /// At most `limit` attempts run their future at once; the others wait their turn, in
    /// launch order, inside their task. They already count as `Working` and can be cancelled
    /// while they wait. `0` means no limit (the default), and so does any limit above
    /// [`Semaphore::MAX_PERMITS`].
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.options.limits.max_concurrency =
            (limit != 0 && limit <= Semaphore::MAX_PERMITS).then_some(limit);
        self.options.inherited = None;
        self
    }

    /// At most `starts` attempts start their future per `per`, on average, after a burst of
    /// up to `burst` at once (a token bucket: it holds `burst` starts, and refills one every
    /// `per / starts`). An attempt waits for the rate limit after its place under the
    /// [concurrency limit](Self::max_concurrency), if any, so starts never exceed the rate.
    /// While it waits it is queued ([`TaskInfo::queued`](crate::TaskInfo::queued)): `Working`,
    /// cancellable, not started. `starts` of `0` (or a `per` so short that a start would take
    /// no time) sets no rate limit, the default; a `burst` of `0` is taken as 1.
    ///
    /// The bucket runs on tokio's clock, so paused time (`tokio::time::pause`) drives it:
    ///
    /// ```
    /// use std::time::Duration;
    /// use tasks_recorder::AsyncTasksRecorder;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // 10 starts per second, at most 5 at once.
    /// let calls: AsyncTasksRecorder<u32> = AsyncTasksRecorder::builder()
    ///     .rate_limit(10, Duration::from_secs(1), 5)
    ///     .build();
    /// let start = tokio::time::Instant::now();
    /// for id in 0..25 {
    ///     calls.try_launch(id, async { Ok::<_, ()>(()) }).await.unwrap();
    /// }
    /// for id in 0..25 {
    ///     calls.wait(&id).await;
    /// }
    /// // 5 at once, then 20 more at 10 per second.
    /// assert!(start.elapsed() >= Duration::from_secs(2));
    /// # }
    /// ```
    pub fn rate_limit(mut self, starts: u32, per: Duration, burst: u32) -> Self {
        self.options.limits.rate = (starts != 0).then_some((starts, per, burst));
        self.options.inherited = None;
        self
    }

    /// At most `limit` attempts wait for their turn under the
    /// [concurrency limit](Self::max_concurrency) or the [rate limit](Self::rate_limit)
    /// (queued attempts). When that many are queued, a launch that would start a new attempt
    /// is refused and its future handed back:
    /// [`LaunchError::QueueFull`](crate::LaunchError::QueueFull) from the forms that return a
    /// [`LaunchError`](crate::LaunchError), and the id's current state (`NotFound` or
    /// `Failed`) from the 2.0.2-compatible ones, as for a closed recorder. A launch refused
    /// because the id runs or succeeded says so first. [`launch_when_room`] waits for room
    /// instead (back-pressure: a producer goes no faster than the tasks start); while it
    /// waits it has claimed nothing, so dropping it launches nothing. `0` means no bound (the
    /// default); so does any bound above [`Semaphore::MAX_PERMITS`]. Without either limit
    /// nothing ever waits, and this bounds nothing.
    ///
    /// [`launch_when_room`]: AsyncTasksRecorder::launch_when_room
    ///
    /// ```
    /// use tasks_recorder::{AsyncTasksRecorder, LaunchError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let imports: AsyncTasksRecorder<u32> = AsyncTasksRecorder::builder()
    ///     .max_concurrency(1)
    ///     .max_queued(1)
    ///     .build();
    /// let (release, released) = tokio::sync::oneshot::channel::<()>();
    /// imports.try_launch(1, async move { released.await.map_err(drop) }).await.unwrap();
    /// tokio::task::yield_now().await; // 1 starts and holds the only place
    /// imports.try_launch(2, async { Ok::<_, ()>(()) }).await.unwrap(); // queued
    /// let refused = imports.try_launch(3, async { Ok::<_, ()>(()) }).await;
    /// assert!(matches!(refused, Err(LaunchError::QueueFull(_))));
    /// release.send(()).unwrap();
    /// // `launch_when_room` waits for room instead of refusing.
    /// assert!(imports.launch_when_room(3, async { Ok::<_, ()>(()) }).await.is_ok());
    /// # }
    /// ```
    pub fn max_queued(mut self, limit: usize) -> Self {
        self.options.limits.max_queued = (limit != 0).then_some(limit);
        self.options.inherited = None;
        self
    }

    /// Ties the recorder to `token`: when it is cancelled, the recorder closes to new launches
    /// and cancels every running attempt, as [`close`](AsyncTasksRecorder::close) and
    /// [`cancel_all`](AsyncTasksRecorder::cancel_all) do.
    ///
    /// Give each recorder a [child token](CancellationToken::child_token) of a service-wide
    /// token to cancel them all together, or of another recorder's token to build a
    /// hierarchy. No watcher task is involved: each attempt races its own future against the
    /// token, and every launch checks it, so the token works whatever runtime the recorder
    /// is used from (a recorder in a `static` serves one runtime after another). Attempts
    /// stopped by the token are recorded `Failed` with
    /// [`FailureKind::ShutDown`](crate::FailureKind::ShutDown). While the token is set, each
    /// attempt pays for one registration with it (a short lock of the token's waiter list).
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.options.token = Some(token);
        self
    }

    /// How many transitions the [transitions
    /// stream](AsyncTasksRecorder::subscribe_transitions) buffers for its slowest subscriber
    /// before that subscriber starts losing the oldest ones (1024 by default; `0` is taken as
    /// 1, and a huge value is capped at `usize::MAX / 2`, the channel's own limit).
    pub fn transitions_capacity(mut self, capacity: usize) -> Self {
        self.options.transitions_capacity = capacity.clamp(1, usize::MAX / 2);
        self
    }

    /// Keeps at most `limit` `Failed` records: when a failure goes over the limit, the oldest
    /// failed records are removed (their ids become `NotFound`), down to seven eighths of the
    /// limit, so the scan this takes is paid once per many failures. `Success` records are
    /// never removed by this: they are the at-most-once guarantee, and leave only by revoke.
    /// `0` means no limit (the default).
    pub fn max_failed(mut self, limit: usize) -> Self {
        self.options.max_failed = (limit != 0).then_some(limit);
        self
    }

    /// Names the recorder (`"tasks"` by default): the `recorder` label of its
    /// metrics (`publish_metrics`, with the `metrics` feature) and the `recorder` field of its
    /// `tracing` spans and events, so that several recorders can be told apart.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.name = Arc::from(name.into());
        self
    }

    /// How the `tracing` feature shows an id in spans and events (ids are not shown without
    /// it, since the id type need not be printable). See also
    /// [`describe_ids`](Self::describe_ids).
    pub fn describe_ids_with(mut self, describe: fn(&T) -> String) -> Self {
        self.describe_id = Some(describe);
        self
    }

    /// Every attempt may run for at most `timeout`, counted from when its future starts
    /// (past the concurrency limit, if any); unless its launch gives its own
    /// ([`launch_with_timeout`](AsyncTasksRecorder::launch_with_timeout)). A timed-out attempt
    /// is signalled (see [`current_attempt`](crate::current_attempt)) and its future dropped
    /// at once, since it had its whole time; it is recorded `Failed` with
    /// [`FailureKind::TimedOut`](crate::FailureKind::TimedOut). No timeout by default. A
    /// future that never reaches an `.await` cannot be dropped, and overruns its timeout.
    /// Timeouts, graces and retry backoffs use tokio's timer: the runtime needs its time
    /// driver (`enable_time` or `enable_all`, which `#[tokio::main]` and `#[tokio::test]` set);
    /// without it, an attempt with a timeout panics at its start and is recorded `Failed`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tasks_recorder::{AsyncTasksRecorder, FailureKind, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let jobs: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
    ///     .timeout(Duration::from_secs(30))
    ///     .build();
    /// jobs.try_launch(1, std::future::pending::<Result<(), ()>>()).await.unwrap();
    /// assert_eq!(jobs.wait(&1).await, TaskState::Failed); // 30 s later, in paused time
    /// assert_eq!(jobs.task_info(&1).await.unwrap().failure.unwrap().kind, FailureKind::TimedOut);
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// How long a cancelled attempt whose task watches its cancellation signal
    /// ([`CurrentAttempt::token`](crate::CurrentAttempt::token)) is given to stop on its own,
    /// by [`cancel`](AsyncTasksRecorder::cancel) and
    /// [`cancel_all`](AsyncTasksRecorder::cancel_all), before its future is dropped (5 s by
    /// default; zero drops at once). A task that never asked for its signal is dropped at
    /// once whatever this is: it could not see the request.
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.options.cancel_grace = grace;
        self
    }

    /// What the recorder does when its tasks fail: nothing by default; see
    /// [`FailurePolicy`] for stopping everything on the first failure, on chosen ones, or
    /// after a number of them within a window. The in-memory recorder only.
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.options.policy = policy;
        self
    }

    /// The builder of a child of a recorder whose `machinery` and `family` these are.
    pub(crate) fn child_of(machinery: &crate::store::Machinery, family: &Arc<Family>) -> Self {
        let mut builder = Builder::new();
        builder.options.token = machinery.token.as_ref().map(CancellationToken::child_token);
        builder.options.parent = Some(Arc::clone(family));
        builder.options.inherited = Some(machinery.schedule.clone());
        builder.options.name = Arc::clone(&machinery.name);
        builder
    }

    /// The recorder.
    pub fn build(self) -> AsyncTasksRecorder<T> {
        AsyncTasksRecorder::from_options(self.options, self.describe_id)
    }
}

impl<T> Builder<T>
where
    T: Eq + Hash + Clone + Send + Sync + fmt::Debug + 'static,
{
    /// Shows ids with their `Debug` form in `tracing` spans and events.
    pub fn describe_ids(self) -> Self {
        self.describe_ids_with(|id| format!("{id:?}"))
    }
}

impl<T> Default for Builder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Builder::new()
    }
}

impl<T> Clone for Builder<T> {
    fn clone(&self) -> Self {
        Builder {
            options: self.options.clone(),
            describe_id: self.describe_id,
            id: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("options", &self.options)
            .finish()
    }
}
