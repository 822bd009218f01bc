use tasks_recorder::recorded_task;
use tasks_recorder_postgres::PgRecorder;

// `std::io::Error` cannot hold a `tasks_recorder_postgres::Error` (no `From`): reported at
// the type.
#[recorded_task(id = name.clone(), recorder = jobs, recorder_error = std::io::Error)]
async fn rebuild(jobs: PgRecorder<String>, name: String) -> Result<(), String> {
    Ok(())
}

fn main() {}
