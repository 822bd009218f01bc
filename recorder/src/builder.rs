//! [`Builder`]: the options of a recorder.

use std::hash::Hash;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::AsyncTasksRecorder;

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
#[derive(Debug, Clone, Default)]
pub struct Builder {
    max_concurrency: Option<usize>,
    token: Option<CancellationToken>,
}

impl Builder {
    /// The default options: no concurrency limit, no cancellation token.
    pub fn new() -> Self {
        Builder::default()
    }

    /// At most `limit` attempts run their future at once; the others wait their turn, in
    /// launch order, inside their task. They already count as `Working` and can be cancelled
    /// while they wait. `0` means no limit (the default), and so does any limit above
    /// [`Semaphore::MAX_PERMITS`].
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = (limit != 0 && limit <= Semaphore::MAX_PERMITS).then_some(limit);
        self
    }

    /// Ties the recorder to `token`: when it is cancelled, the recorder closes to new launches
    /// and cancels every running attempt, as [`close`](AsyncTasksRecorder::close) and
    /// [`cancel_all`](AsyncTasksRecorder::cancel_all) do.
    ///
    /// Give each recorder a [child token](CancellationToken::child_token) of a service-wide
    /// token to cancel them all together, or of another recorder's token to build a
    /// hierarchy. The recorder watches the token from a small task, started when the recorder
    /// is built inside a tokio runtime (or at its first launch); the task ends when the
    /// recorder is dropped.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// The recorder.
    pub fn build<T>(self) -> AsyncTasksRecorder<T>
    where
        T: Eq + Hash + Clone + Send + Sync + 'static,
    {
        AsyncTasksRecorder::from_parts(self.max_concurrency, self.token)
    }
}
