//! A `PgRecorder` as the recorder, with `recorder_error = <type>`: by value, by reference,
//! through an `Arc` field and a function returning a `&'static`, with every launch form
//! (`block`, `error_text`); the error type may be `tasks_recorder_postgres::Error` or any
//! type that implements `From` of it. The wrappers are `Send` (spawnable) and return
//! `Result<Result<(), TaskState>, E>`. With an in-memory recorder, `recorder_error` is
//! accepted and never errs, so a function keeps its signature when its recorder is swapped.
// Catches a PgRecorder that the attribute does not accept, a launch form it lacks, a wrapper
// that is not `Send`, or a `recorder_error` refused with the in-memory recorder. Nothing
// here connects to a database: the PgRecorder functions are only compiled.
#![deny(warnings)]

use std::sync::{Arc, OnceLock};

use tasks_recorder::{recorded_task, AsyncTasksRecorder, TaskState};
use tasks_recorder_postgres::PgRecorder;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An application's own error, which can hold the recorder's.
#[derive(Debug)]
enum AppError {
    Recorder(tasks_recorder_postgres::Error),
}

impl From<tasks_recorder_postgres::Error> for AppError {
    fn from(error: tasks_recorder_postgres::Error) -> Self {
        AppError::Recorder(error)
    }
}

#[derive(Clone)]
struct App {
    jobs: Arc<PgRecorder<String>>,
}

static PG_JOBS: OnceLock<PgRecorder<u64>> = OnceLock::new();

/// The process's recorder, connected at start-up (not in this test).
fn pg_jobs() -> &'static PgRecorder<u64> {
    PG_JOBS.get().expect("connected at start-up")
}

#[recorded_task(id = name.clone(), recorder = jobs, recorder_error = tasks_recorder_postgres::Error)]
async fn by_value(jobs: PgRecorder<String>, name: String) -> Result<usize, String> {
    Ok(name.len())
}

#[recorded_task(id = n, recorder = jobs, block, recorder_error = BoxError)]
async fn by_reference(jobs: &PgRecorder<u64>, n: u64) -> Result<(), String> {
    let _ = n;
    Ok(())
}

#[recorded_task(id = format!("report-{day}"), recorder = app.jobs, error_text, recorder_error = AppError)]
async fn through_arc_field(app: App, day: u32) -> Result<(), std::io::Error> {
    let _ = app;
    Ok(())
}

#[recorded_task(id = n.into(), recorder = pg_jobs(), block, error_text, recorder_error = anyhow_like::Error)]
async fn through_static(n: u32) -> Result<(), String> {
    Err(format!("job {n} failed"))
}

/// Any type with `From<tasks_recorder_postgres::Error>` works, as `anyhow::Error` would.
mod anyhow_like {
    #[derive(Debug)]
    pub struct Error(#[allow(dead_code)] pub String);

    impl<E: std::error::Error> From<E> for Error {
        fn from(error: E) -> Self {
            Error(error.to_string())
        }
    }
}

#[recorded_task(id = n, recorder = jobs, block, recorder_error = tasks_recorder_postgres::Error)]
async fn in_memory(jobs: &AsyncTasksRecorder<u64>, n: u64) -> Result<(), String> {
    let _ = n;
    Ok(())
}

fn assert_send<F: std::future::Future + Send + 'static>(future: F) -> F {
    future
}

/// Compiled only: the wrappers' futures are `Send` and their outputs are as documented.
#[allow(dead_code)]
async fn compiled_only(jobs: PgRecorder<String>, numbers: PgRecorder<u64>, app: App) {
    let _: Result<Result<(), TaskState>, tasks_recorder_postgres::Error> =
        assert_send(by_value(jobs, "a".to_string())).await;
    let _: Result<Result<(), TaskState>, BoxError> = by_reference(&numbers, 1).await;
    let _: Result<Result<(), TaskState>, AppError> =
        assert_send(through_arc_field(app, 1)).await;
    let _: Result<Result<(), TaskState>, anyhow_like::Error> =
        assert_send(through_static(1)).await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let jobs = AsyncTasksRecorder::new();
        assert!(matches!(in_memory(&jobs, 1).await, Ok(Ok(()))));
        assert!(matches!(
            in_memory(&jobs, 1).await,
            Ok(Err(TaskState::Success))
        ));
    });
}
