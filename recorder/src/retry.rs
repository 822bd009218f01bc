//! Retrying launches: a [`Retry`] policy, and [`launch_retrying`], which tries a task again
//! inside one attempt, so the id stays `Working` between tries.
//!
//! [`launch_retrying`]: crate::AsyncTasksRecorder::launch_retrying

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use crate::launch::{launch_error, no_text};
use crate::running::Running;
use crate::{AsyncTasksRecorder, LaunchError};

/// When a failed try is tried again, and after how long: at most
/// [`new`](Retry::new)`(max_tries)` tries, the `n`-th backoff
/// `min(backoff * 2^(n-1), max_backoff)` shortened by a random part of up to
/// [`jitter`](Retry::jitter) of it, and only for errors [`retry_if`](Retry::retry_if)
/// accepts (all of them by default).
///
/// ```
/// use std::time::Duration;
/// use tasks_recorder::Retry;
///
/// let policy = Retry::<std::io::Error>::new(5)
///     .backoff(Duration::from_millis(200))
///     .max_backoff(Duration::from_secs(10))
///     .jitter(0.5)
///     .retry_if(|error| error.kind() != std::io::ErrorKind::PermissionDenied);
/// assert_eq!(policy.max_tries(), 5);
/// assert!(policy.backoff_after(3) <= Duration::from_millis(800));
/// assert!(policy.backoff_after(3) >= Duration::from_millis(400));
/// ```
pub struct Retry<E> {
    max_tries: u32,
    backoff: Duration,
    max_backoff: Duration,
    jitter: f64,
    retry_if: Option<Predicate<E>>,
    describe: fn(&E) -> Option<String>,
}

/// The errors a [`Retry`] tries again after.
type Predicate<E> = Arc<dyn Fn(&E) -> bool + Send + Sync>;

impl<E> Retry<E> {
    /// At most `max_tries` tries in all (at least 1: `0` is taken as 1), with the defaults: a
    /// first backoff of 100 ms, doubling up to 30 s, with a jitter of half of it, for every
    /// error.
    pub fn new(max_tries: u32) -> Self {
        Retry {
            max_tries: max_tries.max(1),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            jitter: 0.5,
            retry_if: None,
            describe: no_text,
        }
    }

    /// The backoff after the first failed try; each next one doubles, up to
    /// [`max_backoff`](Self::max_backoff).
    pub fn backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    /// The longest backoff.
    pub fn max_backoff(mut self, cap: Duration) -> Self {
        self.max_backoff = cap;
        self
    }

    /// The part of each backoff that is random, from 0 (exact backoffs) to 1 (anywhere
    /// from zero to the backoff); 0.5 by default. Values outside, and NaN, are clamped.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Tries again only after an error for which `retry` returns `true`; any other error
    /// ends the attempt at once. `retry` runs with no lock of the recorder held.
    pub fn retry_if(mut self, retry: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.retry_if = Some(Arc::new(retry));
        self
    }

    /// Keeps `e.to_string()` of the last error as the failure's message (see
    /// [`task_info`](AsyncTasksRecorder::task_info)).
    pub fn keep_error_text(mut self) -> Self
    where
        E: fmt::Display,
    {
        self.describe = crate::launch::error_text;
        self
    }

    /// The most tries in all.
    pub fn max_tries(&self) -> u32 {
        self.max_tries
    }

    /// A backoff after the `tried`-th failed try (1 for the first), jitter drawn anew on
    /// each call: within `[(1 - jitter) * b, b]` where `b = min(backoff * 2^(tried-1),
    /// max_backoff)`.
    pub fn backoff_after(&self, tried: u32) -> Duration {
        let doublings = tried.saturating_sub(1).min(31);
        let full = self
            .backoff
            .checked_mul(1 << doublings)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff);
        full.mul_f64(1.0 - self.jitter * unit_random())
    }

    /// Whether `error` may be tried again.
    pub(crate) fn retries(&self, error: &E) -> bool {
        self.retry_if.as_ref().is_none_or(|retry| retry(error))
    }

    /// The text kept of the last error.
    pub(crate) fn describe(&self) -> fn(&E) -> Option<String> {
        self.describe
    }
}

/// A number in `[0, 1)`, from the standard library's randomly keyed hasher: jitter needs no
/// more than that.
fn unit_random() -> f64 {
    let bits = RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

impl<E> Clone for Retry<E> {
    fn clone(&self) -> Self {
        Retry {
            max_tries: self.max_tries,
            backoff: self.backoff,
            max_backoff: self.max_backoff,
            jitter: self.jitter,
            retry_if: self.retry_if.clone(),
            describe: self.describe,
        }
    }
}

impl<E> fmt::Debug for Retry<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("max_tries", &self.max_tries)
            .field("backoff", &self.backoff)
            .field("max_backoff", &self.max_backoff)
            .field("jitter", &self.jitter)
            .field("retry_if", &self.retry_if.is_some())
            .finish()
    }
}

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Launches a task that is tried again on failure, as one attempt: `make` makes a fresh
    /// future for each try, and `policy` says how often and after how long.
    ///
    /// While it retries, the id stays `Working`: queries say `Working`, other launches are
    /// refused, and [`wait`](Self::wait) returns only at the end. [`task_info`](Self::task_info)
    /// counts every try in `attempts`. The attempt ends with the first `Ok` (one success) or
    /// with the last error, recorded as the failure. A [`cancel`](Self::cancel), a shutdown or a
    /// [timeout](crate::Builder::timeout) (which covers all tries and backoffs together)
    /// interrupts a backoff at once; a task that returns `Err` after being told to stop is
    /// not tried again. A panic is not retried. Refused, like [`try_launch`](Self::try_launch),
    /// with `make` handed back unused.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tasks_recorder::{AsyncTasksRecorder, Retry, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pins: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    /// let tries = Arc::new(AtomicU32::new(0));
    /// let counted = Arc::clone(&tries);
    /// let flaky = move || {
    ///     let attempt = counted.fetch_add(1, Ordering::SeqCst) + 1;
    ///     async move { if attempt < 3 { Err("node busy") } else { Ok(()) } }
    /// };
    /// let policy = Retry::new(4).backoff(Duration::from_millis(500));
    /// pins.launch_retrying(1, policy, flaky).await.unwrap();
    /// assert_eq!(pins.wait(&1).await, TaskState::Success);
    /// assert_eq!(pins.task_info(&1).await.unwrap().attempts, 3);
    /// # }
    /// ```
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed`, never left `Working`.
    pub async fn launch_retrying<M, Fut, R, E>(
        &self,
        task_id: T,
        policy: Retry<E>,
        make: M,
    ) -> Result<(), LaunchError<M>>
    where
        M: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let claimed = self
            .claim(task_id, make, Running::spawned, crate::store::Admit::Now)
            .map_err(launch_error)?;
        let describe = policy.describe();
        claimed.spawn_retrying(policy, describe);
        Ok(())
    }
}
