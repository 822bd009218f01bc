use tasks_recorder::{recorded_task, AsyncTasksRecorder};

#[recorded_task(id = name.as_str(), recorder = jobs)]
async fn rebuild(jobs: AsyncTasksRecorder<String>, name: String) -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = rebuild(AsyncTasksRecorder::new(), "docs".to_string());
}
