//! Child recorders: a recorder made by another
//! ([`child_builder`](crate::AsyncTasksRecorder::child_builder)), possibly of another id
//! type, for one subsystem of a service. It shares its parent's concurrency limit, rate limit
//! and queue bound unless given its own; its cancellation token is a child of the parent's;
//! its counters add into the parent's
//! [`aggregate_counters`](crate::AsyncTasksRecorder::aggregate_counters); and the parent's
//! shutdown closes and drains it first.

use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::info::Counters;
use crate::recorder::Inner;
use crate::AsyncTasksRecorder;

/// A boxed future of a child's shutdown.
type Shutting<'a, O> = Pin<Box<dyn Future<Output = O> + Send + 'a>>;

/// What a parent holds of a child, whatever its id type.
trait Child: Send + Sync {
    /// The child's aggregate counters; `None` once it is gone.
    fn aggregate(&self) -> Option<Counters>;
    /// Shuts the child down, if it is still there.
    fn shutdown(&self) -> Shutting<'_, ()>;
    /// Shuts the child down with a grace period, if it is still there; how many attempts it
    /// dropped.
    fn shutdown_with_grace(&self, grace: Duration) -> Shutting<'_, usize>;
    /// Whether the child is gone.
    fn is_gone(&self) -> bool;
}

/// A child recorder of id type `U`, held weakly: the parent does not keep it alive.
struct ChildOf<U>(Weak<Inner<U>>);

impl<U> ChildOf<U>
where
    U: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn recorder(&self) -> Option<AsyncTasksRecorder<U>> {
        self.0.upgrade().map(AsyncTasksRecorder::from_inner)
    }
}

impl<U> Child for ChildOf<U>
where
    U: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn aggregate(&self) -> Option<Counters> {
        self.recorder().map(|child| child.aggregate_counters())
    }

    fn shutdown(&self) -> Shutting<'_, ()> {
        let child = self.recorder();
        Box::pin(async move {
            if let Some(child) = child {
                child.shutdown().await;
            }
        })
    }

    fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }

    fn shutdown_with_grace(&self, grace: Duration) -> Shutting<'_, usize> {
        let child = self.recorder();
        Box::pin(async move {
            match child {
                Some(child) => child.shutdown_with_grace(grace).await,
                None => 0,
            }
        })
    }
}

/// A recorder's children, and what the ones that are gone counted.
#[derive(Default)]
pub(crate) struct Family {
    children: Mutex<Vec<Arc<dyn Child>>>,
    /// The totals of the children that are gone (their gauges are zero: their records went
    /// with them).
    retired: Mutex<Counters>,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family").finish_non_exhaustive()
    }
}

impl Family {
    fn children(&self) -> Vec<Arc<dyn Child>> {
        self.children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes `child` in.
    pub(crate) fn adopt<U>(&self, child: &Arc<Inner<U>>)
    where
        U: Eq + Hash + Clone + Send + Sync + 'static,
    {
        let mut children = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        children.push(Arc::new(ChildOf(Arc::downgrade(child))));
    }

    /// A child is gone (its last handle and task dropped): its totals stay in the aggregate,
    /// and its place is freed.
    pub(crate) fn retire(&self, counters: Counters) {
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(&counters.totals_only());
        self.children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|child| !child.is_gone());
    }

    /// `own` plus every child's aggregate, live or gone.
    pub(crate) fn aggregate(&self, own: Counters) -> Counters {
        let mut total = own;
        // The retired totals first: a child that goes meanwhile is missed by this snapshot
        // (both reads), never counted twice.
        total.add(&self.retired.lock().unwrap_or_else(PoisonError::into_inner));
        for child in self.children() {
            if let Some(counters) = child.aggregate() {
                total.add(&counters);
            }
        }
        total
    }

    /// Shuts every child down, one after the other.
    pub(crate) async fn shutdown(&self) {
        for child in self.children() {
            child.shutdown().await;
        }
    }

    /// Shuts every child down with `grace`, one after the other; how many attempts they
    /// dropped.
    pub(crate) async fn shutdown_with_grace(&self, grace: Duration) -> usize {
        let mut dropped = 0;
        for child in self.children() {
            dropped += child.shutdown_with_grace(grace).await;
        }
        dropped
    }
}

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// A [`Builder`](crate::Builder) of a child recorder, of any id type `U`, for one
    /// subsystem:
    ///
    /// - it shares this recorder's concurrency limit, rate limit and queue bound (their
    ///   attempts wait for the same turns), unless the builder sets limits of its own;
    /// - its cancellation token is a [child](tokio_util::sync::CancellationToken::child_token)
    ///   of this recorder's, if it has one: cancelling this one cancels the child, not the
    ///   reverse;
    /// - its counters add into this recorder's
    ///   [`aggregate_counters`](Self::aggregate_counters), and stay there when it is gone;
    /// - [`shutdown`](Self::shutdown) and [`shutdown_with_grace`](Self::shutdown_with_grace)
    ///   of this recorder close and drain its children first, one after the other, then this
    ///   one.
    ///
    /// It has this recorder's name until the builder gives it its own. This recorder does not
    /// keep it alive.
    ///
    /// ```
    /// use tasks_recorder::AsyncTasksRecorder;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder().max_concurrency(8).build();
    /// let thumbnails = service.child_builder::<String>().name("thumbnails").build();
    /// thumbnails.try_launch("a.png".to_string(), async { Ok::<_, ()>(()) }).await.unwrap();
    /// service.try_launch(1, async { Ok::<_, ()>(()) }).await.unwrap();
    /// service.shutdown().await; // the thumbnails first
    /// assert!(thumbnails.is_closed());
    /// assert_eq!(service.aggregate_counters().succeeded_total, 2);
    /// assert_eq!(service.counters().succeeded_total, 1);
    /// # }
    /// ```
    pub fn child_builder<U>(&self) -> crate::Builder<U>
    where
        U: Eq + Hash + Clone + Send + Sync + 'static,
    {
        crate::Builder::child_of(&self.inner.machinery, &self.inner.family)
    }

    /// This recorder's [`counters`](Self::counters) plus those of its children (and theirs),
    /// live or gone: a child that is gone keeps its totals here, and its gauges leave with
    /// its records. A snapshot of several recorders, each as exact as
    /// [`counters`](Self::counters).
    pub fn aggregate_counters(&self) -> Counters {
        self.inner.family.aggregate(self.counters())
    }
}
