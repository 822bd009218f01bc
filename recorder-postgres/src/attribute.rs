//! `#[recorded_task(..., recorder = PG_JOBS, recorder_error = tasks_recorder_postgres::Error)]`:
//! a [`PgRecorder`] as the recorder of `tasks_recorder`'s attribute.
//!
//! The attribute launches through the hidden traits of `tasks_recorder::__private` (not public
//! API, like the code the attribute generates): [`TaskRecorder`], the four launch forms, each
//! a thin forward to the [`PgRecorder`] method of the same name that keeps only the state of
//! a refusal; [`RecorderHandle`], so that `recorder = ...` may be a `PgRecorder`, a reference,
//! an `Arc` or a `LazyLock` of one; and [`IntoRecorderError`], so that a failed launch (an
//! [`Error`]: nothing was launched) is returned as the type given by `recorder_error = ...`,
//! this crate's [`Error`] or any type that implements `From<Error>`. Since a launch through a
//! `PgRecorder` can fail, the attribute refuses one without `recorder_error = ...`, at the
//! `recorder = ...` expression.

use std::fmt;
use std::future::Future;

// Not public API: the impls are hidden from the docs, as the traits are.
use tasks_recorder::__private::{IntoRecorderError, Launched, RecorderHandle, TaskRecorder};

use crate::recorder::{compatible, error_text};
use crate::{Error, PgId, PgRecorder};

#[doc(hidden)]
impl<T: PgId> TaskRecorder for PgRecorder<T> {
    type Id = T;
    type Error = Error;

    #[inline]
    async fn recorded_launch<Fut, R, E>(self, id: T, task: Fut) -> Launched<Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        Ok(self.launch(id, task).await?.map_err(|(state, _task)| state))
    }

    #[inline]
    async fn recorded_launch_block<Fut, R, E>(self, id: T, task: Fut) -> Launched<Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        Ok(self
            .launch_block(id, task)
            .await?
            .map_err(|(state, _task)| state))
    }

    #[inline]
    async fn recorded_launch_with_error_text<Fut, R, E>(self, id: T, task: Fut) -> Launched<Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        Ok(self
            .launch_with_error_text(id, task)
            .await?
            .map_err(|(state, _task)| state))
    }

    /// `PgRecorder` has no public `launch_block_with_error_text`: its inline launch, keeping
    /// the error's text, as `launch_block` and `launch_with_error_text` are made of.
    #[inline]
    async fn recorded_launch_block_with_error_text<Fut, R, E>(
        self,
        id: T,
        task: Fut,
    ) -> Launched<Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        Ok(self
            .run_inline(id, task, error_text)
            .await?
            .map_err(|refusal| compatible(refusal).0))
    }
}

#[doc(hidden)]
impl<T: PgId> RecorderHandle<PgRecorder<T>> for PgRecorder<T> {
    #[inline]
    fn recorded_task_recorder(&self) -> PgRecorder<T> {
        self.clone()
    }
}

// Not recommended: a type without `From<Error>` is reported as unable to hold the error, with
// the fix, rather than as a missing `From` among every type that has one.
#[diagnostic::do_not_recommend]
#[doc(hidden)]
impl<E: From<Error>> IntoRecorderError<E> for Error {
    #[inline]
    fn into_recorder_error(self) -> E {
        E::from(self)
    }
}
