//! The store boundary: what the attempt machinery needs from the place where records live.
//!
//! The machinery exists once, in this crate: the guard that settles a record whatever happens
//! to the future ([`Attempt`]), the running side of an attempt that cancels it and wakes its
//! waiters ([`Running`]), the schedule (concurrency and rate limits, the bounded queue), the
//! cancellation token, the shutdown tracker and the counters ([`Machinery`]), and the launch flow that spawns an attempt or
//! runs it inline ([`Claimed::spawn`], [`Claimed::run_inline`]). A store decides how a launch
//! is claimed and keeps the records; it tells the machinery how an attempt ends through
//! [`Store::settle`].
//!
//! Two stores implement it: the in-memory one of [`AsyncTasksRecorder`](crate::AsyncTasksRecorder)
//! (synchronous, one lock per entry) and the PostgreSQL one of `tasks-recorder-postgres`
//! (asynchronous, batched). The boundary is a trait with the store as a type parameter of
//! the machinery, so each store is compiled in, monomorphized: the in-memory hot path calls
//! its own `settle` directly, with no dynamic dispatch and no boxing, and costs what it did
//! before the boundary existed.
//!
//! This module is for store implementations: a user of the recorders never needs it. It is
//! hidden from the documentation and not covered by semver; `tasks-recorder-postgres`
//! depends on this crate's exact version.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

use crate::schedule::Schedule;
pub use crate::schedule::{Admit, QueueFull};

pub use crate::attempt::{panic_message, until_stopped, Attempt, Claimed, Revocation};
pub use crate::running::{Running, Stop};
pub use crate::tally::{Event, Tally};
pub use crate::transition::{failure_of, Outcome};

/// Where the records of a recorder live, as the attempt machinery sees it.
pub trait Store<T>: Send + Sync + 'static
where
    T: Send + Sync + 'static,
{
    /// The limit, token, tracker and counters the store's attempts run with.
    fn machinery(&self) -> &Machinery;

    /// Attempt number `attempt` of `id` ended with `outcome`; `run` is its running side.
    /// Called by the attempt's guard, also from `Drop`: it must be synchronous and short,
    /// and must not panic on a store error (a store that cannot record the end at once
    /// queues it). It must wake the attempt's waiters through [`Running::ended`] once the
    /// end is recorded.
    fn settle(&self, id: &T, attempt: u32, outcome: Outcome, run: &Arc<Running>);

    /// Revoke number `token` of `id` ended: `revoked` if its future returned `Ok`. Called
    /// by the revoke's guard, also from `Drop`, with the same rules as [`settle`](Self::settle).
    fn end_revoke(&self, id: &T, token: u64, revoked: bool);

    /// Attempt number `attempt` of `id` tries again (a retrying launch): counts the new try
    /// in the record, and returns the number the attempt goes on under. `None` (the default):
    /// the store does not count tries, and the attempt keeps its number.
    fn next_try(&self, _id: &T, _attempt: u32) -> Option<u32> {
        None
    }

    /// How `tracing` shows `id`, if it may.
    fn describe_id(&self, _id: &T) -> Option<String> {
        None
    }
}

/// What every recorder runs its attempts with, whatever its store: the concurrency limit, the
/// recorder's cancellation token, the shutdown tracker (whose closed flag is the recorder's)
/// and the event counters.
#[derive(Debug)]
pub struct Machinery {
    /// Counts running attempts (for shutdown); its closed flag is the recorder's.
    pub(crate) tracker: TaskTracker,
    /// The concurrency limit, the rate limit and the bound on queued attempts; `None` if
    /// attempts never wait for their turn.
    pub(crate) schedule: Option<Arc<Schedule>>,
    /// The token given to the builder: when cancelled, the recorder is closed, and every
    /// attempt stops at its next `.await` (each races its own future against the token, so
    /// this needs no watcher task and works from any runtime).
    pub(crate) token: Option<CancellationToken>,
    /// The event counters.
    pub(crate) tally: Tally,
    /// The recorder's name, for metrics and tracing.
    pub(crate) name: Arc<str>,
    /// How long an attempt may run (from when it starts, past the concurrency limit), unless
    /// its launch gives its own timeout; `None`: no limit.
    pub(crate) timeout: Option<Duration>,
    /// How long a task that watches its cancellation signal is given to stop before its
    /// future is dropped (see [`Running::stop_gracefully`]).
    pub(crate) cancel_grace: Duration,
}

/// When a recorder's attempts may start: what [`Machinery::new`] takes from a builder.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// At most this many attempts run their future at once.
    pub max_concurrency: Option<usize>,
    /// At most `.0` attempts start per `.1`, after a burst of `.2`.
    pub rate: Option<(u32, Duration, u32)>,
    /// At most this many attempts wait for their turn.
    pub max_queued: Option<usize>,
}

/// The grace a cancelled task that watches its signal is given by default.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(5);

impl Machinery {
    /// The machinery of a recorder named `name`, whose attempts wait for their turn under
    /// `limits`, tied to `token` if given.
    pub fn new(name: Arc<str>, limits: Limits, token: Option<CancellationToken>) -> Self {
        Machinery {
            tracker: TaskTracker::new(),
            schedule: Schedule::new(limits.max_concurrency, limits.rate, limits.max_queued)
                .map(Arc::new),
            token,
            tally: Tally::default(),
            name,
            timeout: None,
            cancel_grace: DEFAULT_CANCEL_GRACE,
        }
    }

    /// Sets the recorder's default timeout of an attempt (`None`: none) and the grace of a
    /// cancelled task that watches its signal.
    pub fn with_timeouts(mut self, timeout: Option<Duration>, cancel_grace: Duration) -> Self {
        self.timeout = timeout;
        self.cancel_grace = cancel_grace;
        self
    }

    /// Marks a new attempt's `run` as queued if attempts wait for their turn here: it is, until
    /// its turn comes. Called when the attempt is claimed, before its record is visible.
    pub fn enqueue(&self, run: &Running) {
        if self.schedule.is_some() {
            run.set_queued();
        }
    }

    /// A place among the queued attempts, once there is room, for the launch form that waits
    /// (see [`Builder::max_queued`](crate::Builder::max_queued)); `None` if their number is
    /// not bounded. Dropping the future takes nothing.
    pub async fn room(&self) -> Admit {
        if let Some(schedule) = &self.schedule {
            schedule.wait_for_room().await;
        }
        Admit::Taken
    }

    /// Takes the place among the queued attempts of a launch that `admit` says has none yet
    /// (`Err` if none is free). The claim gives it back if it refuses the launch; the attempt
    /// gives it back when it starts or ends unstarted.
    pub fn admit(&self, admit: Admit) -> Result<(), QueueFull> {
        match (admit, &self.schedule) {
            (Admit::Now | Admit::Check, Some(schedule)) => schedule.try_take_room(),
            _ => Ok(()),
        }
    }

    /// A place among the queued attempts taken for a launch that was refused after all.
    pub fn refused_after_admit(&self) {
        if let Some(schedule) = &self.schedule {
            schedule.give_back_room();
        }
    }

    /// A queued attempt ended before its turn came: it leaves the queue.
    pub(crate) fn left_queue_unstarted(&self) {
        if let Some(schedule) = &self.schedule {
            schedule.give_back_room();
        }
        self.tally.count(crate::tally::Event::EndedQueued);
    }

    /// The counters now: the tally's, with the queued and started ones of a recorder whose
    /// attempts never wait (every attempt starts when it is launched).
    pub fn counters(&self) -> crate::Counters {
        let mut counters = self.tally.snapshot();
        if self.schedule.is_none() {
            counters.started_total = counters.launched_total;
            counters.queued_now = 0;
        }
        counters
    }

    /// The grace of a cancelled task that watches its signal.
    pub fn cancel_grace(&self) -> Duration {
        self.cancel_grace
    }

    /// The recorder's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event counters.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The recorder's cancellation token, if it has one.
    pub fn token(&self) -> Option<&CancellationToken> {
        self.token.as_ref()
    }

    /// Whether new launches are refused: closed, or the token cancelled.
    pub fn is_closed(&self) -> bool {
        self.tracker.is_closed() || self.token.as_ref().is_some_and(|t| t.is_cancelled())
    }

    /// Closes the recorder to new launches; `true` if this call closed it.
    pub fn close(&self) -> bool {
        self.tracker.close()
    }

    /// Counts a launch as running, then checks that the recorder is open: the tracker keeps
    /// the count and the closed flag in one atomic, so a shutdown that closes the recorder
    /// after this check waits for the attempt. `None` if the recorder is closed.
    pub fn enter(&self) -> Option<TaskTrackerToken> {
        let running = self.tracker.token();
        (!self.is_closed()).then_some(running)
    }

    /// A token that keeps a shutdown waiting until it is dropped (e.g. for an end of an
    /// attempt that is not recorded yet).
    pub fn hold(&self) -> TaskTrackerToken {
        self.tracker.token()
    }

    /// How many attempts run (or hold the shutdown).
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Waits until the recorder is closed and nothing holds it.
    pub async fn drained(&self) {
        self.tracker.wait().await;
    }
}

pub use crate::context::{is_inside, is_inside_recorder};

/// The record of an id as a store read it: `state`, `attempts`, why its last attempt
/// failed (`kind`, the message, and when) if it is `Failed`, and whether its attempt waits
/// for its turn (`queued`).
pub fn task_info(
    state: crate::TaskState,
    attempts: u32,
    failure: Option<(crate::FailureKind, Option<String>, std::time::Instant)>,
    queued: bool,
) -> crate::TaskInfo {
    crate::TaskInfo {
        state,
        attempts,
        failure: failure.map(|(kind, message, at)| crate::Failure { kind, message, at }),
        queued,
    }
}

/// The address that names a store's recorder in the running attempt's context (see
/// [`is_inside_recorder`]).
pub fn address_of<S>(store: &Arc<S>) -> usize {
    Arc::as_ptr(store) as *const () as usize
}
