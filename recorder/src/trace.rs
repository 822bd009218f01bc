//! The `tracing` feature: a span per attempt carrying its id, a debug event per transition,
//! a warn event per failure. Ids show only if the builder was told how
//! ([`Builder::describe_ids`](crate::Builder::describe_ids)). Without the feature, the
//! functions here that the recorder always calls do nothing.

#[cfg(feature = "tracing")]
use std::future::Future;
#[cfg(feature = "tracing")]
use std::hash::Hash;

#[cfg(not(feature = "tracing"))]
mod off {
    use std::future::Future;
    use std::hash::Hash;

    use crate::attempt::Attempt;

    /// No span without the feature.
    pub(crate) struct TaskSpan;

    pub(crate) fn task_span<T>(_attempt: &Attempt<T>) -> TaskSpan
    where
        T: Eq + Hash + Clone + Send + Sync + 'static,
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
fn describe<T>(inner: &Inner<T>, id: &T) -> Option<String> {
    inner.describe_id.map(|describe| describe(id))
}

/// The span an attempt runs in.
#[cfg(feature = "tracing")]
pub(crate) fn task_span<T>(attempt: &Attempt<T>) -> tracing::Span
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    tracing::info_span!(
        "task",
        recorder = %attempt.inner.name,
        id = describe(&attempt.inner, &attempt.id),
        attempt = attempt.attempt,
    )
}

/// A transition of `id`, at debug level.
#[cfg(feature = "tracing")]
pub(crate) fn transition<T>(inner: &Inner<T>, id: &T, from: TaskState, to: TaskState) {
    tracing::debug!(
        recorder = %inner.name,
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
        recorder = %inner.name,
        id = describe(inner, id),
        attempt,
        kind = %failure.kind,
        message = failure.message.as_deref(),
        "task failed"
    );
}
