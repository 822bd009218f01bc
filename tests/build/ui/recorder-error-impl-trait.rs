use tasks_recorder::recorded_task;
use tasks_recorder_postgres::PgRecorder;

// The function's error type must be named: `impl Trait` would leave it to the body to
// decide, and the body's error is not the launch's.
#[recorded_task(id = name.clone(), recorder = jobs, recorder_error = impl std::error::Error)]
async fn rebuild(jobs: PgRecorder<String>, name: String) -> Result<(), String> {
    let _ = (jobs, name);
    Ok(())
}

fn main() {}
