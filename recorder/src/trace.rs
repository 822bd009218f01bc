//! The `tracing` feature: a span per attempt carrying its id, a debug event per transition,
//! a warn event per failure. Ids show only if the builder was told how
//! ([`Builder::describe_ids`](crate::Builder::describe_ids)).

use std::hash::Hash;

use crate::attempt::Attempt;
use crate::info::Failure;
use crate::recorder::Inner;
use crate::TaskState;

fn describe<T>(inner: &Inner<T>, id: &T) -> Option<String> {
    inner.describe_id.map(|describe| describe(id))
}

/// The span an attempt runs in.
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
