use tasks_recorder::recorded_task;
use tasks_recorder_postgres::PgRecorder;

// A launch through a `PgRecorder` can fail with a database error, which
// `Result<(), TaskState>` cannot return: reported at the recorder, saying to add
// `recorder_error = tasks_recorder_postgres::Error`.
#[recorded_task(id = name.clone(), recorder = jobs)]
async fn rebuild(jobs: PgRecorder<String>, name: String) -> Result<(), String> {
    Ok(())
}

fn main() {}
