//! The `tracing` feature: a span per attempt carrying its id, a debug event per transition,
//! a warn event per failure. Ids show only if the builder was told how
//! ([`Builder::describe_ids`](crate::Builder::describe_ids)). Without the feature, the
//! functions here that the recorder always calls do nothing.

#[cfg(feature = "tracing")]
use std::future::Future;

#[cfg(not(feature = "tracing"))]
mod off {
    use std::future::Future;

    use crate::attempt::Attempt;
    use crate::store::Store;

    /// No span without the feature.
    pub(crate) struct TaskSpan;

    pub(crate) fn task_span<T, S>(_attempt: &Attempt<T, S>) -> TaskSpan
    where
        T: Send + Sync + 'static,
        S: Store<T>,
    {
        TaskSpan
    }

    pub(crate) fn in_span<F: Future>(future: F, _span: TaskSpan) -> F {
        future
    }
}

#[cfg(not(feature = "tracing"))]
pub(crate) use off::{in_span, task_span};

/// Runs `future` inside `span`.
#[cfg(feature = "tracing")]
pub(crate) fn in_span<F: Future>(
    future: F,
    span: tracing::Span,
) -> impl Future<Output = F::Output> {
    tracing::Instrument::instrument(future, span)
}

#[cfg(feature = "tracing")]
use crate::attempt::Attempt;
#[cfg(feature = "tracing")]
use crate::info::Failure;
#[cfg(feature = "tracing")]
use crate::recorder::Inner;
#[cfg(feature = "tracing")]
use crate::TaskState;

#[cfg(feature = "tracing")]
use crate::store::Store;

#[cfg(feature = "tracing")]
fn describe<T>(inner: &Inner<T>, id: &T) -> Option<String> {
    inner.describe_id.map(|describe| describe(id))
}

/// The span an attempt runs in.
#[cfg(feature = "tracing")]
pub(crate) fn task_span<T, S>(attempt: &Attempt<T, S>) -> tracing::Span
where
    T: Send + Sync + 'static,
    S: Store<T>,
{
    tracing::info_span!(
        "task",
        recorder = %attempt.store.machinery().name,
        id = attempt.store.describe_id(&attempt.id),
        attempt = attempt.attempt,
    )
}

/// A transition of `id`, at debug level.
#[cfg(feature = "tracing")]
pub(crate) fn transition<T>(inner: &Inner<T>, id: &T, from: TaskState, to: TaskState) {
    tracing::debug!(
        recorder = %inner.machinery.name,
        id = describe(inner, id),
        %from,
        %to,
        "task transition"
    );
}

/// A failed attempt of `id`, at warn level.
#[cfg(feature = "tracing")]
pub(crate) fn failure<T>(inner: &Inner<T>, id: &T, attempt: u32, failure: &Failure) {
    tracing::warn!(
        recorder = %inner.machinery.name,
        id = describe(inner, id),
        attempt,
        kind = %failure.kind,
        message = failure.message.as_deref(),
        "task failed"
    );
}
