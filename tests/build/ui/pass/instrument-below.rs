//! `#[instrument]` below `#[recorded_task]` is moved above a copy of it, which is named through
//! `crate = "..."` when given; a `cfg_attr(.., instrument(..))` is moved too. `ret(Display)`
//! compiles on the job (`Ok` is a number) but not on the wrapper (`Ok` is `()`).
// Catches a moved `#[recorded_task]` that cannot be resolved (a re-export), or an
// `instrument` (under `cfg_attr` or not) left on the wrapper.
use std::sync::{Arc, LazyLock};

use tasks_recorder::{recorded_task, AsyncTasksRecorder, TaskState};

mod reexport {
    pub use ::tasks_recorder;
}

static JOBS: LazyLock<AsyncTasksRecorder<String>> = LazyLock::new(AsyncTasksRecorder::new);

/// Through a re-export.
#[recorded_task(id = name.clone(), recorder = jobs, block, crate = "crate::reexport::tasks_recorder")]
#[tracing::instrument(skip(jobs), ret(Display), err(Display))]
async fn through_reexport(
    jobs: Arc<AsyncTasksRecorder<String>>,
    name: String,
) -> Result<usize, String> {
    tracing::info!("working");
    Ok(name.len())
}

/// Under a `cfg_attr`.
#[recorded_task(id = format!("cfg-{n}"), recorder = JOBS, block)]
#[cfg_attr(all(), tracing::instrument(level = "debug", ret(Display), err(Display)))]
#[must_use]
async fn under_cfg_attr(n: u32) -> Result<u32, String> {
    Ok(n)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let jobs = Arc::new(AsyncTasksRecorder::new());
        assert_eq!(through_reexport(jobs.clone(), "a".into()).await, Ok(()));
        assert_eq!(
            through_reexport(jobs, "a".into()).await,
            Err(TaskState::Success)
        );
        assert_eq!(under_cfg_attr(1).await, Ok(()));
        assert_eq!(JOBS.query_task_state("cfg-1").await, TaskState::Success);
    });
}
