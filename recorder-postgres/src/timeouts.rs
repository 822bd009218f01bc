//! The operation timeout: one clock per recorder that ticks four times per timeout, which
//! every database operation watches, instead of a timer of its own per operation.
//!
//! Why not `tokio::time::timeout` around each operation: its timer is put into tokio's timer
//! wheel and taken out again, under the wheel's lock, which the runtime's driver thread also
//! takes each time it wakes up (on every reply from the server). On 2 cores, a query then woke
//! a parked thread about every other time (`strace`: 0.53 `futex` calls per query, none
//! without the timer), and a query answered one at a time took about 35 µs longer than the
//! same query without it. Watching the tick count costs a few atomic operations per
//! operation, and takes a lock only when a tick is sent.

use std::future::Future;
use std::sync::Weak;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::id::PgId;
use crate::shared::Shared;

/// Ticks per operation timeout.
const TICKS: u64 = 4;

/// The clock of a recorder's operations.
pub(crate) struct OperationClock {
    ticks: watch::Sender<u64>,
    timeout: Duration,
}

impl OperationClock {
    pub(crate) fn new(timeout: Duration) -> Self {
        OperationClock {
            ticks: watch::Sender::new(0),
            timeout,
        }
    }

    /// The operation timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `work` to its end, or gives it up (`None`) once the timeout has passed: never
    /// sooner, and at most a quarter of the timeout later (more only if the runtime is too
    /// busy to run [`ticker`]).
    pub(crate) async fn bound<R>(&self, work: impl Future<Output = R>) -> Option<R> {
        let mut ticks = self.ticks.subscribe();
        // The tick under way has partly passed: one more than the timeout's worth.
        let deadline = *ticks.borrow_and_update() + TICKS + 1;
        tokio::select! {
            biased;
            done = work => Some(done),
            _ = ticks.wait_for(|now| *now >= deadline) => None,
        }
    }

    fn tick(&self) {
        self.ticks.send_modify(|now| *now += 1);
    }
}

/// Advances the operations' clock of `shared` every quarter of its timeout, until every
/// handle and task of the recorder is gone (the batched writers may still be recording ends
/// after the last handle was dropped, and their operations time out too).
pub(crate) async fn ticker<T: PgId>(shared: Weak<Shared<T>>) {
    let period = match shared.upgrade() {
        Some(shared) => shared.clock.timeout() / TICKS as u32,
        None => return,
    };
    let mut interval = tokio::time::interval(period.max(Duration::from_millis(1)));
    // Late ticks come late (a timeout is never shortened), not in a burst.
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.clock.tick();
    }
}
