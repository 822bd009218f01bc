//! What a recorder does when its tasks fail: nothing (the default), or stop: close to new
//! launches and cancel every running attempt, on the first failure, on one a predicate
//! picks, or after a number of them, possibly within a time window
//! ([`Builder::on_failure`](crate::Builder::on_failure)).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::info::{Failure, FailureKind};

/// What a recorder does when an attempt fails; set with
/// [`Builder::on_failure`](crate::Builder::on_failure).
///
/// Only failures of the tasks themselves count: an `Err`
/// ([`FailureKind::Error`]), a panic ([`FailureKind::Panicked`]) or a timeout
/// ([`FailureKind::TimedOut`]). Cancellations, shutdowns and drops never do, so the policy's
/// own cancellations cannot feed it.
///
/// When it fires, once, the recorder closes to new launches (as
/// [`close`](crate::AsyncTasksRecorder::close)) and cancels every running attempt (as
/// [`cancel_all`](crate::AsyncTasksRecorder::cancel_all): graceful, then forced). A cancelled
/// attempt is recorded `Failed` ([`FailureKind::Cancelled`]) with a message naming the
/// failure that fired the policy; an attempt that finishes first keeps its own outcome, so a
/// policy never turns a success into a failure.
/// [`Counters::policy_fired_total`](crate::Counters::policy_fired_total) counts the firing,
/// and [`policy_fired`](crate::AsyncTasksRecorder::policy_fired) says why.
///
/// ```
/// use std::time::Duration;
/// use tasks_recorder::{AsyncTasksRecorder, FailurePolicy, TaskState};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Stop everything after 3 failures within a minute.
/// let uploads: AsyncTasksRecorder<u32> = AsyncTasksRecorder::builder()
///     .on_failure(FailurePolicy::cancel_all().after(3).within(Duration::from_secs(60)))
///     .build();
/// uploads.try_launch(100, std::future::pending::<Result<(), String>>()).await.unwrap();
/// for id in 0..3 {
///     uploads.try_launch(id, async { Err::<(), _>("disk full") }).await.unwrap();
///     uploads.wait(&id).await;
/// }
/// assert_eq!(uploads.wait(&100).await, TaskState::Failed); // cancelled by the policy
/// assert!(uploads.is_closed());
/// assert!(uploads.policy_fired().unwrap().contains("3 failures"));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct FailurePolicy {
    /// `None`: the failures change nothing.
    stop: Option<Stopping>,
}

/// A predicate that picks the failures that count.
type Pick = Arc<dyn Fn(&Failure) -> bool + Send + Sync>;

#[derive(Clone)]
struct Stopping {
    /// Which failures count; `None`: every one that counts at all.
    pick: Option<Pick>,
    /// How many counted failures fire the policy (at least 1).
    after: u32,
    /// Within how long of each other; `None`: ever.
    within: Option<Duration>,
}

impl FailurePolicy {
    /// Failures change nothing: the default.
    pub fn ignore() -> Self {
        FailurePolicy { stop: None }
    }

    /// Stops the recorder on the first failure (see [`after`](Self::after) for more).
    pub fn cancel_all() -> Self {
        FailurePolicy {
            stop: Some(Stopping {
                pick: None,
                after: 1,
                within: None,
            }),
        }
    }

    /// Stops the recorder on the first failure that `pick` chooses (e.g. by its kind or
    /// message); the others do not count. `pick` runs with no lock of the recorder held.
    pub fn cancel_all_if(pick: impl Fn(&Failure) -> bool + Send + Sync + 'static) -> Self {
        FailurePolicy {
            stop: Some(Stopping {
                pick: Some(Arc::new(pick)),
                after: 1,
                within: None,
            }),
        }
    }

    /// Fires at the `failures`-th counted failure instead of the first (`0` is taken as 1).
    /// Does nothing to [`ignore`](Self::ignore).
    pub fn after(mut self, failures: u32) -> Self {
        if let Some(stop) = &mut self.stop {
            stop.after = failures.max(1);
        }
        self
    }

    /// Counts only the failures of the last `window` (on tokio's clock): fires when
    /// [`after`](Self::after) of them happened within it. Does nothing to
    /// [`ignore`](Self::ignore).
    pub fn within(mut self, window: Duration) -> Self {
        if let Some(stop) = &mut self.stop {
            stop.within = Some(window);
        }
        self
    }

    /// Whether the policy can ever fire.
    pub(crate) fn is_ignore(&self) -> bool {
        self.stop.is_none()
    }
}

impl fmt::Debug for FailurePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.stop {
            None => f.write_str("FailurePolicy::ignore()"),
            Some(stop) => f
                .debug_struct("FailurePolicy::cancel_all")
                .field("picked", &stop.pick.is_some())
                .field("after", &stop.after)
                .field("within", &stop.within)
                .finish(),
        }
    }
}

/// A recorder's policy and what it counted.
#[derive(Debug, Default)]
pub(crate) struct PolicyState {
    policy: FailurePolicy,
    /// When the counted failures happened (the last `after` of them at most).
    counted: Mutex<VecDeque<Instant>>,
    /// Why the policy fired, once it has.
    fired: OnceLock<String>,
}

impl PolicyState {
    pub(crate) fn new(policy: FailurePolicy) -> Self {
        PolicyState {
            policy,
            counted: Mutex::new(VecDeque::new()),
            fired: OnceLock::new(),
        }
    }

    /// Whether failures are looked at at all (the success path never is).
    pub(crate) fn is_active(&self) -> bool {
        !self.policy.is_ignore()
    }

    /// Why the policy fired, if it has.
    pub(crate) fn fired(&self) -> Option<&str> {
        self.fired.get().map(String::as_str)
    }

    /// Counts `failure` (described as `what`); `true` if the policy fires now, which happens
    /// once. Runs with no lock of the recorder held.
    pub(crate) fn count(&self, failure: &Failure, what: impl FnOnce() -> String) -> bool {
        let Some(stop) = &self.policy.stop else {
            return false;
        };
        if !matches!(
            failure.kind,
            FailureKind::Error | FailureKind::Panicked | FailureKind::TimedOut
        ) || self.fired.get().is_some()
        {
            return false;
        }
        if stop.pick.as_ref().is_some_and(|pick| !pick(failure)) {
            return false;
        }
        let reached = {
            let mut counted = self.counted.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            counted.push_back(now);
            if let Some(window) = stop.within {
                while counted
                    .front()
                    .is_some_and(|&at| now.saturating_duration_since(at) > window)
                {
                    counted.pop_front();
                }
            }
            while counted.len() > stop.after as usize {
                counted.pop_front();
            }
            counted.len() >= stop.after as usize
        };
        if !reached {
            return false;
        }
        let why = match (stop.after, stop.within) {
            (1, _) => format!("the failure policy fired on {}", what()),
            (n, None) => format!(
                "the failure policy fired after {n} failures, the last {}",
                what()
            ),
            (n, Some(window)) => format!(
                "the failure policy fired after {n} failures within {window:?}, the last {}",
                what()
            ),
        };
        self.fired.set(why).is_ok()
    }
}
