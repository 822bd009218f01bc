//! Several functions share one recorder (a `LazyLock` static); the recorder may also be an
//! `Arc`, a reference, or reached through a re-export with `crate = "..."`.
use std::sync::{Arc, LazyLock};

use tasks_recorder::{recorded_task, AsyncTasksRecorder, TaskState};

mod reexport {
    pub use ::tasks_recorder;
}

static JOBS: LazyLock<AsyncTasksRecorder<String>> = LazyLock::new(AsyncTasksRecorder::new);

#[recorded_task(id = format!("import-{n}"), recorder = JOBS, block)]
async fn import(n: u32) -> Result<(), String> {
    let _ = n;
    Ok(())
}

#[recorded_task(id = format!("export-{n}"), recorder = &*JOBS, block)]
async fn export(n: u32) -> Result<(), String> {
    Err(format!("export {n} failed"))
}

#[recorded_task(id = name, recorder = jobs, block, crate = "crate::reexport::tasks_recorder")]
async fn through_arc(jobs: Arc<AsyncTasksRecorder<String>>, name: String) -> Result<(), String> {
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(import(1).await, Ok(()));
        assert_eq!(export(1).await, Ok(()));
        assert_eq!(JOBS.query_task_state("import-1").await, TaskState::Success);
        assert_eq!(JOBS.query_task_state("export-1").await, TaskState::Failed);
        let jobs = Arc::new(AsyncTasksRecorder::new());
        assert_eq!(through_arc(jobs.clone(), "a".into()).await, Ok(()));
        assert_eq!(through_arc(jobs, "a".into()).await, Err(TaskState::Success));
    });
}
