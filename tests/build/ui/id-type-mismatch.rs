use std::sync::LazyLock;

use tasks_recorder::{recorded_task, AsyncTasksRecorder};

static JOBS: LazyLock<AsyncTasksRecorder<u64>> = LazyLock::new(AsyncTasksRecorder::new);

#[recorded_task(id = format!("job-{n}"), recorder = JOBS)]
async fn run(n: u64) -> Result<(), String> {
    let _ = n;
    Ok(())
}

fn main() {}
