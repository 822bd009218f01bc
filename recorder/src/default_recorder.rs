//! The process-wide default recorder of each id type, used by `#[recorded_task]` without a
//! `recorder = ...` key.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::AsyncTasksRecorder;

/// One leaked recorder per id type, keyed by the `TypeId` of the id type.
type Registry = Mutex<HashMap<TypeId, &'static (dyn Any + Send + Sync)>>;

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The process-wide default recorder for ids of type `T`: the recorder that
/// `#[recorded_task(id = ...)]` uses when no `recorder = ...` is given.
///
/// Every call with the same `T` returns the same recorder, so a function under
/// `#[recorded_task]` without `recorder =` and code that queries it share one record:
///
/// ```
/// use tasks_recorder::{default_recorder, TaskState};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Two ids of different types live in different recorders.
/// let ok = async { Ok::<_, std::io::Error>(()) };
/// assert!(default_recorder::<u64>().launch_block(7, ok).await.is_ok());
/// assert_eq!(default_recorder::<u64>().query_task_state(&7).await, TaskState::Success);
/// assert_eq!(default_recorder::<u32>().query_task_state(&7).await, TaskState::NotFound);
/// # }
/// ```
///
/// # Costs and memory
///
/// Each call locks one process-wide mutex for a hash map lookup by `TypeId` (the lock is
/// never held across an `.await`, and a poisoned lock is recovered). The first call for a type
/// creates its recorder and leaks it (`Box::leak`) to hand out a `&'static` reference: one
/// small allocation per id type ever used, never freed, while the records inside it are kept
/// for the life of the process like those of any static recorder. Prefer an explicit
/// `recorder = ...` (e.g. a `LazyLock` static) to keep unrelated tasks with the same id type
/// apart.
pub fn default_recorder<T>() -> &'static AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    let registry = REGISTRY.get_or_init(|| Mutex::new(HashMap::new()));
    // Nothing below can panic while the lock is held, but a poisoned lock still holds a
    // consistent map: take it rather than fail.
    let mut recorders = registry.lock().unwrap_or_else(PoisonError::into_inner);
    let slot = recorders
        .entry(TypeId::of::<T>())
        .or_insert_with(|| leak_new::<T>());
    match slot.downcast_ref::<AsyncTasksRecorder<T>>() {
        Some(recorder) => recorder,
        // Unreachable: the slot of `TypeId::of::<T>()` only ever holds a recorder of `T`.
        // Recover without panicking all the same.
        None => {
            let recorder = Box::leak(Box::new(AsyncTasksRecorder::<T>::new()));
            *slot = recorder;
            recorder
        }
    }
}

/// A new, leaked recorder for ids of type `T`.
fn leak_new<T>() -> &'static (dyn Any + Send + Sync)
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    Box::leak(Box::new(AsyncTasksRecorder::<T>::new()))
}
