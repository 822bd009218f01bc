//! The context of the running attempt, kept in a task-local while its future is polled, so
//! that the recorder can tell when a task calls it about itself: a task that waits for its
//! own id, or shuts down its own recorder, would wait for itself forever.

use std::future::Future;
use std::sync::Arc;

use crate::running::Running;

tokio::task_local! {
    /// Set while an attempt's future is polled (spawned by `launch`, or run inline by
    /// `launch_block`); the innermost attempt wins.
    static CURRENT: Current;
}

/// Which attempt is running, by address: of its recorder's shared state, and of the running
/// side of its record. Both stay allocated while the attempt runs (its guard holds them), so
/// an address names one recorder and one attempt for as long as the attempt can be current.
pub(crate) struct Current {
    pub(crate) recorder: usize,
    pub(crate) run: usize,
}

/// Runs `future` as the attempt `current`.
pub(crate) fn scope<F: Future>(current: Current, future: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(current, future)
}

/// Whether the caller runs inside the attempt whose running side is `run`.
pub fn is_inside(run: &Arc<Running>) -> bool {
    CURRENT
        .try_with(|current| current.run == Arc::as_ptr(run) as usize)
        .unwrap_or(false)
}

/// Whether the caller runs inside an attempt of the recorder at address `recorder`.
pub fn is_inside_recorder(recorder: usize) -> bool {
    CURRENT
        .try_with(|current| current.recorder == recorder)
        .unwrap_or(false)
}
