use tasks_recorder::recorded_task;
use tasks_recorder_postgres::PgRecorder;

// The id check holds for a `PgRecorder` as for an `AsyncTasksRecorder`: reported at the id.
#[recorded_task(
    id = format!("job-{n}"),
    recorder = jobs,
    recorder_error = tasks_recorder_postgres::Error
)]
async fn run(jobs: &PgRecorder<u64>, n: u64) -> Result<(), String> {
    let _ = n;
    Ok(())
}

fn main() {}
