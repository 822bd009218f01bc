//! The task's output for whoever launched it: [`launch_with_output`] returns a
//! [`TaskHandle`] that gives the task's own `Result`, or why the attempt ended without one;
//! [`launch_block_with_output`] returns the same inline.
//!
//! [`launch_with_output`]: crate::AsyncTasksRecorder::launch_with_output
//! [`launch_block_with_output`]: crate::AsyncTasksRecorder::launch_block_with_output

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::panic::{resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::attempt::{panic_message, Claimed};
use crate::launch::{launch_error, no_text};
use crate::running::Running;
use crate::{AsyncTasksRecorder, FailureKind, LaunchError};

/// Why an attempt ended without an output of its task.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoOutput {
    /// The task panicked, with this message if it was a string.
    Panicked(Option<String>),
    /// It was stopped by `cancel`, `cancel_all` or `cancel_where`.
    Cancelled,
    /// It was stopped by a shutdown, or by the recorder's cancellation token.
    ShutDown,
    /// It ran out of its time.
    TimedOut,
    /// Its lease ran out (a shared store only).
    Lost,
    /// Its future was dropped by nobody's request through the recorder (the runtime shut
    /// down, or the future of `launch_block_with_output` was dropped).
    Dropped,
}

impl NoOutput {
    /// The failure kind the attempt is recorded with.
    pub fn kind(&self) -> FailureKind {
        match self {
            NoOutput::Panicked(_) => FailureKind::Panicked,
            NoOutput::Cancelled => FailureKind::Cancelled,
            NoOutput::ShutDown => FailureKind::ShutDown,
            NoOutput::TimedOut => FailureKind::TimedOut,
            NoOutput::Lost => FailureKind::Lost,
            NoOutput::Dropped => FailureKind::Dropped,
        }
    }

    /// Why an attempt whose future was dropped before it finished ended, from the reason the
    /// recorder gave when it stopped it (none: dropped by nobody's request).
    fn of_stopped(run: &Running) -> NoOutput {
        match run.stopped_by() {
            Some(FailureKind::Cancelled) => NoOutput::Cancelled,
            Some(FailureKind::ShutDown) => NoOutput::ShutDown,
            Some(FailureKind::TimedOut) => NoOutput::TimedOut,
            Some(FailureKind::Lost) => NoOutput::Lost,
            _ => NoOutput::Dropped,
        }
    }
}

impl fmt::Display for NoOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoOutput::Panicked(Some(message)) => write!(f, "the task panicked: {message}"),
            NoOutput::Panicked(None) => f.write_str("the task panicked"),
            other => write!(f, "the task ended without an output: {}", other.kind()),
        }
    }
}

impl std::error::Error for NoOutput {}

/// The output of a launched task, as [`tokio::task::JoinHandle`] gives it: awaiting the handle
/// gives `Ok` of the task's own `Result<R, E>`, or `Err` of why the attempt ended without
/// one ([`NoOutput`]). It is ready once the task has ended; the id's record may be settled a
/// moment later (use [`wait`](AsyncTasksRecorder::wait) for the record).
///
/// Dropping the handle does not cancel the task, and loses only its output. The handle is
/// `Send` when `R` and `E` are.
#[must_use = "the handle gives the task's output; dropping it does not cancel the task"]
pub struct TaskHandle<R, E> {
    output: oneshot::Receiver<Result<Result<R, E>, NoOutput>>,
    run: Arc<Running>,
}

impl<R, E> fmt::Debug for TaskHandle<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle").finish_non_exhaustive()
    }
}

impl<R, E> Future for TaskHandle<R, E> {
    type Output = Result<Result<R, E>, NoOutput>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.output).poll(cx) {
            Poll::Ready(Ok(output)) => Poll::Ready(output),
            // The task's future was dropped before it finished: the recorder says why.
            Poll::Ready(Err(_)) => Poll::Ready(Err(NoOutput::of_stopped(&self.run))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error the recorder records for a task whose error went to its handle: none of its
/// text is kept.
pub(crate) struct Handed;

/// `task`, made to hand its output (or its panic) to `output`, and to give the recorder
/// `Ok(())` or an `Err` to record.
async fn handing<Fut, R, E>(
    task: Fut,
    output: oneshot::Sender<Result<Result<R, E>, NoOutput>>,
) -> Result<(), Handed>
where
    Fut: Future<Output = Result<R, E>>,
{
    match AssertUnwindSafe(task).catch_unwind().await {
        Ok(Ok(value)) => {
            let _ = output.send(Ok(Ok(value)));
            Ok(())
        }
        Ok(Err(error)) => {
            let _ = output.send(Ok(Err(error)));
            Err(Handed)
        }
        Err(panic) => {
            let _ = output.send(Err(NoOutput::Panicked(panic_message(&*panic))));
            // The recorder records the panic too.
            resume_unwind(panic)
        }
    }
}

/// `claimed` with its task made to hand its output to the returned handle.
#[allow(clippy::type_complexity)]
pub(crate) fn with_output<T, S, Fut, R, E>(
    claimed: Claimed<T, S, Fut>,
) -> (
    Claimed<T, S, impl Future<Output = Result<(), Handed>>>,
    TaskHandle<R, E>,
)
where
    T: Send + Sync + 'static,
    S: crate::store::Store<T>,
    Fut: Future<Output = Result<R, E>>,
{
    let (sender, output) = oneshot::channel();
    let handle = TaskHandle {
        output,
        run: Arc::clone(&claimed.run),
    };
    let Claimed {
        attempt,
        run,
        task,
        timeout,
    } = claimed;
    let claimed = Claimed {
        attempt,
        run,
        task: handing(task, sender),
        timeout,
    };
    (claimed, handle)
}

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Like [`try_launch`](Self::try_launch), and returns a [`TaskHandle`] that gives the
    /// task's own `Result<R, E>` (or why the attempt ended without one) to whoever awaits
    /// it. The id is recorded as for `try_launch` (no text of an error is kept: the error
    /// itself goes to the handle).
    ///
    /// ```
    /// use tasks_recorder::{AsyncTasksRecorder, NoOutput, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let imports: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    /// let rows = imports
    ///     .launch_with_output(7, async { Ok::<u64, String>(1_250) })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(rows.await, Ok(Ok(1_250)));
    /// assert_eq!(imports.wait(&7).await, TaskState::Success);
    ///
    /// let boom = imports
    ///     .launch_with_output(8, async { panic!("bad row"); #[allow(unreachable_code)] Ok::<u64, String>(0) })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(boom.await, Err(NoOutput::Panicked(Some("bad row".into()))));
    /// # }
    /// ```
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed`, never left `Working`.
    pub async fn launch_with_output<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<TaskHandle<R, E>, LaunchError<Fut>>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let claimed = self
            .claim(task_id, task, Running::spawned, crate::store::Admit::Now)
            .map_err(launch_error)?;
        let (claimed, handle) = with_output(claimed);
        claimed.spawn(no_text);
        Ok(handle)
    }

    /// Like [`try_launch_block`](Self::try_launch_block), and returns the task's own
    /// `Result<R, E>` once the attempt has ended, or why it ended without one.
    ///
    /// ```
    /// use tasks_recorder::AsyncTasksRecorder;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let imports: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    /// let rows = imports
    ///     .launch_block_with_output(7, async { Err::<u64, _>("no such file") })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(rows, Ok(Err("no such file")));
    /// # }
    /// ```
    pub async fn launch_block_with_output<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<Result<Result<R, E>, NoOutput>, LaunchError<Fut>>
    where
        Fut: Future<Output = Result<R, E>>,
    {
        self.block_with_output(task_id, task, None)
            .await
            .map_err(launch_error)
    }

    /// `launch_block_with_output`, with the attempt's own timeout, if any.
    pub(crate) async fn block_with_output<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
        timeout: Option<std::time::Duration>,
    ) -> Result<Result<Result<R, E>, NoOutput>, (crate::transition::LaunchRefusal, Fut)>
    where
        Fut: Future<Output = Result<R, E>>,
    {
        let cancel = match &self.inner.machinery.token {
            Some(token) => token.child_token(),
            None => CancellationToken::new(),
        };
        let claimed = self.claim(
            task_id,
            task,
            || Running::inline(cancel.clone()),
            crate::store::Admit::Now,
        )?;
        let (mut claimed, handle) = with_output(claimed);
        claimed.timeout = timeout;
        claimed.run_inline(cancel, no_text).await;
        Ok(handle.await)
    }
}
