//! What the record of a running attempt holds besides its number: how to cancel it, and the
//! tasks waiting for it to end.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::info::FailureKind;
use crate::TaskState;

/// The runtime side of a `Working` record, shared (in an `Arc`) by the record and the
/// launcher of the attempt.
#[derive(Debug)]
pub struct Running {
    cancel: Canceller,
    /// Who asked the attempt to stop: [`NOT_STOPPED`], [`CANCELLED`] or [`SHUT_DOWN`].
    stopped_by: AtomicU8,
    /// Created by the first waiter; `None` while the attempt runs, then the state it ended in.
    /// A waiter subscribes under the entry lock, so it cannot miss the end.
    waiters: OnceLock<watch::Sender<Option<TaskState>>>,
}

const NOT_STOPPED: u8 = 0;
const CANCELLED: u8 = 1;
const SHUT_DOWN: u8 = 2;
const LOST: u8 = 3;

/// Why the recorder stops an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `cancel` or `cancel_all`.
    Cancel,
    /// A shutdown's grace period ran out, or the recorder's token was cancelled.
    Shutdown,
    /// The store lost the attempt's lease: another process may run the id now.
    Lost,
}

/// How to stop a running attempt: its future is dropped at its next `.await`.
#[derive(Debug)]
pub(crate) enum Canceller {
    /// The attempt runs in a task of its own (`launch`): abort that task.
    ///
    /// The task is spawned after the entry lock is released (on a runtime that is shutting
    /// down, spawning drops the future at once, and its guard then locks the entry), so the
    /// abort handle arrives after the record. A cancel that comes first leaves `stopped_by`
    /// set, and the launcher aborts the task as soon as it has the handle: both look at the
    /// other's write under this mutex, which is never contended but by a cancel.
    Spawned(Mutex<Option<AbortHandle>>),
    /// The attempt runs inside its caller's future (`launch_block`), which races it against
    /// this token.
    Inline(CancellationToken),
}

impl Running {
    /// The record side of an attempt that `launch` spawns.
    pub fn spawned() -> Self {
        Running::with(Canceller::Spawned(Mutex::new(None)))
    }

    /// The record side of an attempt that `launch_block` runs, cancelled through `token`.
    pub fn inline(token: CancellationToken) -> Self {
        Running::with(Canceller::Inline(token))
    }

    fn with(cancel: Canceller) -> Self {
        Running {
            cancel,
            stopped_by: AtomicU8::new(NOT_STOPPED),
            waiters: OnceLock::new(),
        }
    }

    /// Hands over the abort handle of the spawned attempt; aborts at once if a cancel came
    /// first.
    pub fn spawned_as(&self, task: AbortHandle) {
        if let Canceller::Spawned(handle) = &self.cancel {
            let mut handle = handle.lock().unwrap_or_else(PoisonError::into_inner);
            if self.stopped_by.load(Ordering::Relaxed) != NOT_STOPPED {
                task.abort();
            }
            *handle = Some(task);
        }
    }

    /// Asks the attempt to stop; it settles as `Failed` once its future is dropped (or as
    /// whatever it returned, if it finished first). The first request names the reason.
    pub fn stop(&self, why: Stop) {
        self.mark_stopped(why);
        match &self.cancel {
            Canceller::Spawned(handle) => {
                let handle = handle.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(task) = handle.as_ref() {
                    task.abort();
                }
            }
            Canceller::Inline(token) => token.cancel(),
        }
    }

    /// Records that the recorder stops the attempt for `why`, unless it was already asked to
    /// stop: the first request names the reason.
    pub fn mark_stopped(&self, why: Stop) {
        let code = match why {
            Stop::Cancel => CANCELLED,
            Stop::Shutdown => SHUT_DOWN,
            Stop::Lost => LOST,
        };
        let _ = self.stopped_by.compare_exchange(
            NOT_STOPPED,
            code,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Why the recorder asked the attempt to stop, if it did.
    pub fn stopped_by(&self) -> Option<FailureKind> {
        match self.stopped_by.load(Ordering::Relaxed) {
            CANCELLED => Some(FailureKind::Cancelled),
            SHUT_DOWN => Some(FailureKind::ShutDown),
            LOST => Some(FailureKind::Lost),
            _ => None,
        }
    }

    /// A receiver that sees `Some` of the attempt's final state once it ends.
    pub fn subscribe(&self) -> watch::Receiver<Option<TaskState>> {
        self.waiters
            .get_or_init(|| watch::Sender::new(None))
            .subscribe()
    }

    /// The attempt ended in `state`: wakes every waiter with it.
    pub fn ended(&self, state: TaskState) {
        if let Some(waiters) = self.waiters.get() {
            waiters.send_replace(Some(state));
        }
    }

    /// The attempt's guard is gone. Its record was settled (and the waiters woken) unless
    /// settling it panicked (a panicking `Hash` or `Eq` of the id): the record then still
    /// reads `Working`, and the waiters are woken with that, rather than waiting forever.
    pub fn release(&self) {
        if let Some(waiters) = self.waiters.get() {
            waiters.send_if_modified(|state| {
                let unsettled = state.is_none();
                if unsettled {
                    *state = Some(TaskState::Working);
                }
                unsettled
            });
        }
    }
}
