//! When a claimed attempt starts: its turn under the concurrency limit
//! ([`Builder::max_concurrency`](crate::Builder::max_concurrency)) and the rate limit
//! ([`Builder::rate_limit`](crate::Builder::rate_limit)), and the bound on the attempts that
//! wait for their turn ([`Builder::max_queued`](crate::Builder::max_queued)).
//!
//! An attempt waiting for its turn is *queued*: it reads `Working` (it holds its id), but
//! [`TaskInfo::queued`](crate::TaskInfo::queued) says it has not started, and the counters
//! count it in [`Counters::queued_now`](crate::Counters::queued_now) until it starts
//! ([`Counters::started_total`](crate::Counters::started_total)) or ends unstarted. A recorder
//! with neither limit queues nothing and pays nothing for this.

use std::num::NonZeroU32;
use std::ops::Add;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit, TryAcquireError};

/// The limits an attempt waits for before it starts, and the bound on waiting attempts.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// At most this many attempts run at once.
    limit: Option<Semaphore>,
    /// At most this many attempts start per period, after a burst.
    rate: Option<Rate>,
    /// Places for queued attempts: one is taken before the claim, and given back when the
    /// attempt starts or ends.
    room: Option<Semaphore>,
}

/// A token bucket on tokio's clock, so that paused time (`tokio::time::pause`) drives it.
struct Rate(RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>);

impl std::fmt::Debug for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rate")
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(tokio::time::Instant);

impl Add<Nanos> for TokioInstant {
    type Output = Self;

    fn add(self, other: Nanos) -> Self {
        TokioInstant(self.0 + Duration::from(other))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(
            self.0
                .checked_sub(Duration::from(duration))
                .unwrap_or(self.0),
        )
    }
}

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(tokio::time::Instant::now())
    }
}

/// The queue of attempts waiting for their turn is full.
#[derive(Debug)]
pub struct QueueFull;

/// How a launch takes its place among the queued attempts (when their number is bounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// At its claim, or the launch is refused ([`QueueFull`]): every launch form but
    /// `launch_when_room`.
    Now,
    /// At its claim, or the launch is handed back as `QueueFull`, not counted as refused: the
    /// caller waits for room and claims again (`launch_when_room`).
    Check,
    /// Taken already, by a launch that waited for room.
    Taken,
}

/// An attempt's turn: it may run while this is held.
pub(crate) struct Turn<'a>(#[allow(dead_code)] Option<SemaphorePermit<'a>>);

impl Schedule {
    /// The schedule of `max_concurrency` attempts at once, `rate` (starts, per period, burst)
    /// and `max_queued` waiting attempts; `None` if there is no limit to wait for (a bound on
    /// the queue alone bounds nothing: no attempt ever waits).
    pub(crate) fn new(
        max_concurrency: Option<usize>,
        rate: Option<(u32, Duration, u32)>,
        max_queued: Option<usize>,
    ) -> Option<Self> {
        let rate = rate.and_then(|(starts, per, burst)| {
            let starts = NonZeroU32::new(starts)?;
            // Each start takes `per / starts`; a bucket refills one start at that period.
            let period = per.checked_div(starts.get()).filter(|p| !p.is_zero())?;
            let burst = NonZeroU32::new(burst.max(1))?;
            let quota = Quota::with_period(period)?.allow_burst(burst);
            Some(Rate(RateLimiter::direct_with_clock(quota, TokioClock)))
        });
        if max_concurrency.is_none() && rate.is_none() {
            return None;
        }
        Some(Schedule {
            limit: max_concurrency.map(Semaphore::new),
            rate,
            room: max_queued
                .filter(|&n| n <= Semaphore::MAX_PERMITS)
                .map(Semaphore::new),
        })
    }

    /// Takes a place in the queue at once, if it is bounded. A place is a permit of `room`
    /// that is forgotten when taken and added back by [`give_back_room`](Self::give_back_room),
    /// so that no guard travels with the attempt (and a launch costs nothing more without a
    /// bound).
    pub(crate) fn try_take_room(&self) -> Result<(), QueueFull> {
        match &self.room {
            None => Ok(()),
            Some(room) => match room.try_acquire() {
                Ok(permit) => {
                    permit.forget();
                    Ok(())
                }
                Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => Err(QueueFull),
            },
        }
    }

    /// Takes a place in the queue, if it is bounded, once there is room (first come, first
    /// served). Dropping the future gives up its place in line and takes nothing.
    pub(crate) async fn wait_for_room(&self) {
        if let Some(room) = &self.room {
            // The semaphore is never closed.
            if let Ok(permit) = room.acquire().await {
                permit.forget();
            }
        }
    }

    /// Gives back a place taken by [`try_take_room`](Self::try_take_room) or
    /// [`wait_for_room`](Self::wait_for_room): its attempt started, ended unstarted, or was
    /// refused.
    pub(crate) fn give_back_room(&self) {
        if let Some(room) = &self.room {
            room.add_permits(1);
        }
    }

    /// Waits for the attempt's turn: a place under the concurrency limit (in launch order),
    /// then a start allowed by the rate limit, so that starts never exceed the rate. Dropping
    /// the future takes nothing.
    pub(crate) async fn turn(&self) -> Turn<'_> {
        // The semaphore is never closed, so `acquire` cannot fail.
        let permit = match &self.limit {
            Some(limit) => limit.acquire().await.ok(),
            None => None,
        };
        if let Some(Rate(rate)) = &self.rate {
            // A refused check takes nothing: waiting and checking again is cancel-safe.
            while let Err(not_until) = rate.check() {
                let wait = not_until.wait_time_from(TokioClock.now());
                tokio::time::sleep(wait).await;
            }
        }
        Turn(permit)
    }
}
