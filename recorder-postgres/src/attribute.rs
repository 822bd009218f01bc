//! `#[recorded_task(..., recorder = PG_JOBS, recorder_error = tasks_recorder_postgres::Error)]`:
//! a [`PgRecorder`] as the recorder of `tasks_recorder`'s attribute.
//!
//! The attribute launches through the hidden traits of `tasks_recorder::__private` (not public
//! API, like the code the attribute generates): [`TaskRecorder`], whose one method makes
//! every launch form ([`Launch`]) as the [`PgRecorder`] method of that form does, keeping only
//! the state of a refusal; [`RecorderHandle`], so that `recorder = ...` may be a `PgRecorder`,
//! a reference, an `Arc` or a `LazyLock` of one; and [`IntoRecorderError`], so that a failed launch (an
//! [`Error`]: nothing was launched) is returned as the type given by `recorder_error = ...`,
//! this crate's [`Error`] or any type that implements `From<Error>`. Since a launch through a
//! `PgRecorder` can fail, the attribute refuses one without `recorder_error = ...`, at the
//! `recorder = ...` expression.

use std::future::Future;

// Not public API: the impls are hidden from the docs, as the traits are.
use tasks_recorder::__private::{
    IntoRecorderError, Launch, Launched, RecorderHandle, TaskRecorder,
};

use crate::recorder::compatible;
use crate::{Error, PgId, PgRecorder};

#[doc(hidden)]
impl<T: PgId> TaskRecorder for PgRecorder<T> {
    type Id = T;
    type Error = Error;

    /// As `launch`, `launch_block` and `launch_with_error_text`, which are made of the same two
    /// calls (`block` with `error_text`, which has no public method, too).
    #[inline]
    async fn recorded_launch<Fut, R, E>(
        self,
        id: T,
        task: Fut,
        launch: Launch<E>,
    ) -> Launched<Error>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let launched = if launch.block {
            self.run_inline(id, task, launch.describe, launch.timeout)
                .await?
        } else {
            self.spawn(id, task, launch.describe, launch.timeout)
                .await?
        };
        Ok(launched.map_err(|refusal| compatible(refusal).0))
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
