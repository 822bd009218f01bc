//! Launching an attempt: spawned (`launch`, `try_launch`, `launch_with_error_text`) or run
//! inside the caller's future (`launch_block` and its forms).

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::running::Running;
use crate::store::Admit;
use crate::transition::LaunchRefusal;
use crate::{AsyncTasksRecorder, LaunchError, TaskState};

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// `launch` and `try_launch`: claims the id, then spawns the attempt once its record is
    /// stored and the entry unlocked.
    pub(crate) fn spawn<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
        describe: fn(&E) -> Option<String>,
        timeout: Option<Duration>,
        admit: Admit,
    ) -> Result<(), (LaunchRefusal, Fut)>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let mut claimed = self.claim(task_id, task, Running::spawned, admit)?;
        claimed.timeout = timeout;
        claimed.spawn(describe);
        Ok(())
    }

    /// `launch_block` and `try_launch_block`: claims the id, then runs the attempt inline,
    /// until it ends or is cancelled (by `cancel`, or by the recorder's token, whose child
    /// the attempt's token is).
    pub(crate) async fn run_inline<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
        describe: fn(&E) -> Option<String>,
        timeout: Option<Duration>,
        admit: Admit,
    ) -> Result<(), (LaunchRefusal, Fut)>
    where
        Fut: Future<Output = Result<R, E>>,
    {
        let cancel = match &self.inner.machinery.token {
            Some(token) => token.child_token(),
            None => CancellationToken::new(),
        };
        let mut claimed = self.claim(task_id, task, || Running::inline(cancel.clone()), admit)?;
        claimed.timeout = timeout;
        claimed.run_inline(cancel, describe).await;
        Ok(())
    }

    /// Launches `task` under `task_id` on the current tokio runtime (with [`tokio::spawn`])
    /// and returns once the id is recorded as [`TaskState::Working`].
    ///
    /// The launch is refused, and `task` handed back unpolled, with
    /// `Err((TaskState::Working, task))` while another attempt of the id runs and
    /// `Err((TaskState::Success, task))` once the id has succeeded (until it is revoked). A
    /// `NotFound` or `Failed` id starts a new attempt, unless the recorder is
    /// [closed](Self::close): then the refusal reports the id's current state, `NotFound` or
    /// `Failed` (use [`try_launch`](Self::try_launch) for an explicit
    /// [`LaunchError::Closed`]).
    ///
    /// When `task` returns `Ok` the id becomes `Success`; when it returns `Err`, panics, is
    /// [cancelled](Self::cancel), or is dropped before it finishes (the runtime shut down), it
    /// becomes `Failed`. The output of `task` is dropped. With a concurrency limit, the task
    /// waits for its turn inside the spawned task, already `Working`.
    ///
    /// After this returns `Ok`, no query of the id answers `NotFound` or a `Failed` from
    /// before the launch. The returned future completes on its first poll; dropping it before
    /// that launches nothing.
    ///
    /// The error holds the unpolled future, which is not `Debug`, so
    /// `launch(..).await.unwrap()` does not compile. Drop the future with
    /// `.map_err(|(state, _task)| state)`, or use [`try_launch`](Self::try_launch), whose
    /// [`LaunchError`] is `Debug` and an [`Error`](std::error::Error) whatever the future:
    ///
    /// ```
    /// use tasks_recorder::{AsyncTasksRecorder, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let jobs: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    /// jobs.try_launch(1, async { Ok::<_, ()>(()) }).await.unwrap();
    /// let refused = jobs.launch(1, async { Ok::<_, ()>(()) }).await.map_err(|(state, _)| state);
    /// assert!(matches!(refused, Ok(()) | Err(TaskState::Working | TaskState::Success)));
    /// # }
    /// ```
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed` ([`FailureKind::Dropped`](crate::FailureKind)),
    /// never left `Working`.
    pub async fn launch<Fut, R, E>(&self, task_id: T, task: Fut) -> Result<(), (TaskState, Fut)>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.spawn(task_id, task, no_text, None, Admit::Now)
            .map_err(compatible_refusal)
    }

    /// Like [`launch`](Self::launch), but says why a launch is refused with a
    /// [`LaunchError`], which tells a closed recorder apart.
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed` ([`FailureKind::Dropped`](crate::FailureKind)),
    /// never left `Working`.
    pub async fn try_launch<Fut, R, E>(&self, task_id: T, task: Fut) -> Result<(), LaunchError<Fut>>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.spawn(task_id, task, no_text, None, Admit::Now)
            .map_err(launch_error)
    }

    /// Like [`launch`](Self::launch), but runs `task` inside the returned future, and returns
    /// once `task` has finished and its outcome is recorded.
    ///
    /// Dropping the returned future while `task` runs (a `select!`, a timeout, a client that
    /// hung up) drops `task` and records the id as `Failed`: it is never left `Working`. If
    /// `task` panics, the id is recorded as `Failed` and the panic goes on to the caller. If
    /// the id is [cancelled](Self::cancel), `task` is dropped and this returns `Ok(())` with
    /// the id `Failed`.
    pub async fn launch_block<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<(), (TaskState, Fut)>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.run_inline(task_id, task, no_text, None, Admit::Now)
            .await
            .map_err(compatible_refusal)
    }

    /// Like [`try_launch`](Self::try_launch), and the attempt may run for at most `timeout`
    /// (counted from when its future starts, past the concurrency limit), instead of the
    /// recorder's [default](crate::Builder::timeout). A timed-out attempt is signalled and
    /// its future dropped at once; it is recorded `Failed` with
    /// [`FailureKind::TimedOut`](crate::FailureKind::TimedOut).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tasks_recorder::{AsyncTasksRecorder, FailureKind, TaskState};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pins: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
    /// let slow = async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     Ok::<_, ()>(())
    /// };
    /// pins.launch_with_timeout(1, Duration::from_secs(5), slow).await.unwrap();
    /// assert_eq!(pins.wait(&1).await, TaskState::Failed);
    /// assert_eq!(pins.task_info(&1).await.unwrap().failure.unwrap().kind, FailureKind::TimedOut);
    /// # }
    /// ```
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed` ([`FailureKind::Dropped`](crate::FailureKind)),
    /// never left `Working`.
    pub async fn launch_with_timeout<Fut, R, E>(
        &self,
        task_id: T,
        timeout: Duration,
        task: Fut,
    ) -> Result<(), LaunchError<Fut>>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.spawn(task_id, task, no_text, Some(timeout), Admit::Now)
            .map_err(launch_error)
    }

    /// Like [`try_launch`](Self::try_launch), but when the attempt could start and
    /// [`Builder::max_queued`](crate::Builder::max_queued) attempts wait already, waits for
    /// room instead of refusing: back-pressure, so that a producer goes no faster than the
    /// tasks start. An id that runs or succeeded is refused at once, as by `try_launch`. Room
    /// is given in the order launches asked for it. While it waits, nothing is claimed:
    /// dropping the returned future launches nothing, and the id can be launched by others
    /// meanwhile (then this is refused as usual, once it has room). It clones the id once.
    /// Without a bound it is `try_launch`.
    ///
    /// ```
    /// use tasks_recorder::AsyncTasksRecorder;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let imports: AsyncTasksRecorder<u32> = AsyncTasksRecorder::builder()
    ///     .max_concurrency(2)
    ///     .max_queued(4)
    ///     .build();
    /// // At most 2 run and 4 wait: the loop goes as fast as the imports start.
    /// for file in 0..20 {
    ///     imports.launch_when_room(file, async { Ok::<_, ()>(()) }).await.unwrap();
    /// }
    /// imports.shutdown().await;
    /// assert_eq!(imports.counters().succeeded_total, 20);
    /// # }
    /// ```
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed` ([`FailureKind::Dropped`](crate::FailureKind)),
    /// never left `Working`.
    pub async fn launch_when_room<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<(), LaunchError<Fut>>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let again = task_id.clone();
        match self.spawn(task_id, task, no_text, None, Admit::Check) {
            Err((LaunchRefusal::QueueFull { .. }, task)) => {
                let admit = self.inner.machinery.room().await;
                self.spawn(again, task, no_text, None, admit)
                    .map_err(launch_error)
            }
            launched => launched.map_err(launch_error),
        }
    }

    /// Like [`launch_block`](Self::launch_block), but says why a launch is refused with a
    /// [`LaunchError`].
    pub async fn try_launch_block<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<(), LaunchError<Fut>>
    where
        Fut: Future<Output = Result<R, E>>,
    {
        self.run_inline(task_id, task, no_text, None, Admit::Now)
            .await
            .map_err(launch_error)
    }

    /// Like [`launch`](Self::launch), and when `task` returns `Err(e)`, keeps `e.to_string()`
    /// as the failure's message (see [`task_info`](Self::task_info)). The text is kept with
    /// the failed record only, and freed when the id is launched again.
    ///
    /// # Panics
    /// Panics if called outside a tokio runtime, like [`tokio::spawn`]; an id that was about
    /// to start is then recorded as `Failed` ([`FailureKind::Dropped`](crate::FailureKind)),
    /// never left `Working`.
    pub async fn launch_with_error_text<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<(), (TaskState, Fut)>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.spawn(task_id, task, error_text, None, Admit::Now)
            .map_err(compatible_refusal)
    }

    /// Like [`launch_block`](Self::launch_block), keeping the error's text as
    /// [`launch_with_error_text`](Self::launch_with_error_text) does.
    pub async fn launch_block_with_error_text<Fut, R, E>(
        &self,
        task_id: T,
        task: Fut,
    ) -> Result<(), (TaskState, Fut)>
    where
        Fut: Future<Output = Result<R, E>>,
        E: fmt::Display,
    {
        self.run_inline(task_id, task, error_text, None, Admit::Now)
            .await
            .map_err(compatible_refusal)
    }
}

/// Keeps no text of an error (`launch`, `launch_block`).
pub(crate) fn no_text<E>(_: &E) -> Option<String> {
    None
}

/// Keeps the text of an error (`launch_with_error_text` and its `_block` form).
pub(crate) fn error_text<E: fmt::Display>(error: &E) -> Option<String> {
    Some(error.to_string())
}

/// A refusal as the 2.0.2-compatible methods report it: the state, and the unpolled task.
pub(crate) fn compatible_refusal<Fut>((refusal, task): (LaunchRefusal, Fut)) -> (TaskState, Fut) {
    let state = match refusal {
        LaunchRefusal::Running => TaskState::Working,
        LaunchRefusal::Succeeded => TaskState::Success,
        LaunchRefusal::Closed { current } | LaunchRefusal::QueueFull { current } => current,
    };
    (state, task)
}

/// A refusal as the `try_` methods report it.
pub(crate) fn launch_error<Fut>((refusal, task): (LaunchRefusal, Fut)) -> LaunchError<Fut> {
    match refusal {
        LaunchRefusal::Running => LaunchError::AlreadyRunning(task),
        LaunchRefusal::Succeeded => LaunchError::AlreadySucceeded(task),
        LaunchRefusal::Closed { .. } => LaunchError::Closed(task),
        LaunchRefusal::QueueFull { .. } => LaunchError::QueueFull(task),
    }
}
