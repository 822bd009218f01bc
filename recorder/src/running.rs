//! What the record of a running attempt holds besides its number: how to cancel it, and the
//! tasks waiting for it to end.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

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
    /// The task's own cancellation signal, made when the task first asks for it (see
    /// [`crate::CurrentAttempt::token`]): an attempt that never asks pays nothing for it.
    signal: OnceLock<CancellationToken>,
    /// The recorder asked the attempt to stop (the signal is cancelled as soon as it exists).
    signalled: AtomicBool,
    /// The recorder asked for the attempt's future to be dropped (see [`Canceller::Spawned`]).
    dropping: AtomicBool,
    /// The attempt waits for its turn (see [`crate::schedule`]).
    queued: AtomicBool,
}

const NOT_STOPPED: u8 = 0;
const CANCELLED: u8 = 1;
const SHUT_DOWN: u8 = 2;
const LOST: u8 = 3;
const TIMED_OUT: u8 = 4;
const POLICY: u8 = 5;

/// Why the recorder stops an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `cancel` or `cancel_all`.
    Cancel,
    /// A shutdown's grace period ran out, or the recorder's token was cancelled.
    Shutdown,
    /// The store lost the attempt's lease: another process may run the id now.
    Lost,
    /// The attempt ran out of its time.
    TimedOut,
    /// The recorder's failure policy fired (see [`crate::FailurePolicy`]).
    Policy,
}

/// How to stop a running attempt: its future is dropped at its next `.await`.
#[derive(Debug)]
pub(crate) enum Canceller {
    /// The attempt runs in a task of its own (`launch`): abort that task.
    ///
    /// The task is spawned after the entry lock is released (on a runtime that is shutting
    /// down, spawning drops the future at once, and its guard then locks the entry), so the
    /// abort handle arrives after the record. A forced stop that comes first leaves `dropping`
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
            signal: OnceLock::new(),
            signalled: AtomicBool::new(false),
            dropping: AtomicBool::new(false),
            queued: AtomicBool::new(false),
        }
    }

    /// Whether the attempt waits for its turn and has not started its future.
    pub fn is_queued(&self) -> bool {
        self.queued.load(Ordering::Relaxed)
    }

    /// Marks the attempt as waiting for its turn.
    pub(crate) fn set_queued(&self) {
        self.queued.store(true, Ordering::Relaxed);
    }

    /// Marks the attempt as no longer waiting (it starts, or ends unstarted); `true` if it
    /// was, exactly once.
    pub(crate) fn leave_queue(&self) -> bool {
        self.queued.load(Ordering::Relaxed) && self.queued.swap(false, Ordering::Relaxed)
    }

    /// Hands over the abort handle of the spawned attempt; aborts at once if a cancel came
    /// first.
    pub fn spawned_as(&self, task: AbortHandle) {
        if let Canceller::Spawned(handle) = &self.cancel {
            let mut handle = handle.lock().unwrap_or_else(PoisonError::into_inner);
            if self.dropping.load(Ordering::Relaxed) {
                task.abort();
            }
            *handle = Some(task);
        }
    }

    /// The task's cancellation signal, cancelled once the recorder asks the attempt to stop.
    /// The first call makes it, and marks the task as one that watches it (see
    /// [`stop_gracefully`](Self::stop_gracefully)).
    pub fn token(&self) -> CancellationToken {
        let token = self.signal.get_or_init(CancellationToken::new).clone();
        // Either this sees the request, or the request sees the token: no signal is missed.
        if self.signalled.load(Ordering::SeqCst) {
            token.cancel();
        }
        token
    }

    /// Whether the recorder asked the attempt to stop.
    pub fn is_signalled(&self) -> bool {
        self.signalled.load(Ordering::SeqCst)
    }

    /// Whether the task asked for its cancellation signal: it can finish its step when told.
    pub fn watches_signal(&self) -> bool {
        self.signal.get().is_some()
    }

    /// Tells the task to stop (its signal is cancelled), for `why`, without dropping it.
    pub fn signal(&self, why: Stop) {
        self.mark_stopped(why);
        self.signalled.store(true, Ordering::SeqCst);
        if let Some(token) = self.signal.get() {
            token.cancel();
        }
    }

    /// Graceful, then forced: signals the task, then drops its future after `grace` if it
    /// has not ended by then. A task that never asked for its signal could not see it, and is
    /// dropped at once; so is every task when `grace` is zero or no tokio runtime is at hand
    /// to time the grace.
    pub fn stop_gracefully(self: &Arc<Self>, why: Stop, grace: Duration) {
        self.signal(why);
        if grace.is_zero() || !self.watches_signal() {
            self.stop(why);
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                /// Drops the attempt when the grace is over, or when the timer task itself
                /// is dropped or panics (a runtime without its time driver cannot time a
                /// grace): a grace never lets the attempt run on unbounded.
                struct AtTheEnd(Arc<Running>, Stop);
                impl Drop for AtTheEnd {
                    fn drop(&mut self) {
                        // Dropping an attempt that already ended changes nothing.
                        self.0.stop(self.1);
                    }
                }
                let at_the_end = AtTheEnd(Arc::clone(self), why);
                runtime.spawn(async move {
                    let _at_the_end = at_the_end;
                    tokio::time::sleep(grace).await;
                });
            }
            Err(_) => self.stop(why),
        }
    }

    /// Asks the attempt to stop at once: signals it, and drops its future at its next
    /// `.await`. It settles as `Failed` once its future is dropped (or as whatever it
    /// returned, if it finished first). The first request names the reason.
    pub fn stop(&self, why: Stop) {
        self.signal(why);
        match &self.cancel {
            Canceller::Spawned(handle) => {
                let handle = handle.lock().unwrap_or_else(PoisonError::into_inner);
                // Under the lock: a launcher that has not handed over the abort handle yet
                // sees this when it does, and aborts then.
                self.dropping.store(true, Ordering::Relaxed);
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
            Stop::TimedOut => TIMED_OUT,
            Stop::Policy => POLICY,
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
            CANCELLED | POLICY => Some(FailureKind::Cancelled),
            SHUT_DOWN => Some(FailureKind::ShutDown),
            LOST => Some(FailureKind::Lost),
            TIMED_OUT => Some(FailureKind::TimedOut),
            _ => None,
        }
    }

    /// Whether the recorder's failure policy stopped the attempt.
    pub(crate) fn stopped_by_policy(&self) -> bool {
        self.stopped_by.load(Ordering::Relaxed) == POLICY
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
