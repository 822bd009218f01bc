//! A crate that depends on `tasks-recorder` under the name `async_tasks_recorder`, as a user
//! migrating from `async_tasks_recorder` 2.0.2 does (see the README's migration section). Its
//! tests, in `tests/`, use every key of `#[recorded_task]` through that name.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use async_tasks_recorder::{recorded_task, AsyncTasksRecorder};

/// Counts `name`'s bytes under the id `name` in `jobs`, running the count inside the call:
/// the attribute in a library build of a crate with a renamed dependency.
///
/// Returns `Ok(())` when the count ran, or the state that refused it.
#[recorded_task(id = name.clone(), recorder = jobs, block)]
pub async fn count_bytes(jobs: AsyncTasksRecorder<String>, name: String) -> Result<usize, String> {
    Ok(name.len())
}
