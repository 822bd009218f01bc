//! An import service built with `#[recorded_task]`: each import is launched at most once
//! successfully per source URL, a failed import can be retried, and a client asking for an
//! import that is already running is told so instead of starting a second one.
//!
//! Run with `cargo run -p tasks-recorder-examples --example recorded_task`.
#![forbid(unsafe_code)]

use std::sync::LazyLock;

use tasks_recorder::{recorded_task, AsyncTasksRecorder, TaskState};
use tokio::sync::oneshot;

/// Every import of the service, by source URL.
static IMPORTS: LazyLock<AsyncTasksRecorder<String>> = LazyLock::new(AsyncTasksRecorder::new);

/// What a client asks to import.
struct ImportRequest {
    source: String,
    rows: Vec<&'static str>,
}

/// Why an import failed.
#[derive(Debug)]
struct ImportError(String);

/// Imports the rows of `request.source`; runs as a task recorded under the source URL.
/// `done` is told how the import ended (a real service would write to its database instead).
#[recorded_task(id = request.source.clone(), recorder = IMPORTS)]
async fn import(
    request: ImportRequest,
    done: oneshot::Sender<String>,
) -> Result<usize, ImportError> {
    let result = if request.rows.iter().any(|row| row.is_empty()) {
        Err(ImportError(format!("{}: empty row", request.source)))
    } else {
        Ok(request.rows.len())
    };
    let _ = done.send(match &result {
        Ok(rows) => format!("{} finished: {rows} rows imported", request.source),
        Err(ImportError(why)) => format!("{} failed: {why}", request.source),
    });
    result
}

/// Sends a small report; waits for it to be sent (`block`), recorded in the default recorder
/// of its id type (`u32`), since no `recorder =` is given.
#[recorded_task(id = day, block)]
async fn daily_report(day: u32) -> std::io::Result<()> {
    println!("  report for day {day} sent");
    Ok(())
}

/// Asks for an import and tells what happened, as an HTTP handler would answer.
async fn handle(source: &str, rows: Vec<&'static str>) -> Option<oneshot::Receiver<String>> {
    let (done, finished) = oneshot::channel();
    let request = ImportRequest {
        source: source.to_string(),
        rows,
    };
    match import(request, done).await {
        Ok(()) => {
            println!("{source}: import launched");
            return Some(finished);
        }
        Err(TaskState::Working) => println!("{source}: already importing, try later"),
        Err(TaskState::Success) => println!("{source}: already imported"),
        Err(state) => println!("{source}: refused ({state})"),
    }
    None
}

/// Waits for an import launched by `handle` and prints its state.
async fn finish(source: &str, finished: Option<oneshot::Receiver<String>>) {
    if let Some(finished) = finished {
        if let Ok(message) = finished.await {
            println!("  {message}");
        }
    }
    // The outcome is recorded just after the body returns.
    while IMPORTS.query_task_state(source).await == TaskState::Working {
        tokio::task::yield_now().await;
    }
    println!(
        "  {source} is now {}",
        IMPORTS.query_task_state(source).await
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = "https://example.invalid/a.csv";
    let b = "https://example.invalid/b.csv";

    // On a current-thread runtime a launched import has not run yet when `import` returns:
    // a second request for the same source while it is pending is refused as Working.
    let first = handle(a, vec!["1,apple", "2,pear"]).await;
    let _ = handle(a, vec!["1,apple", "2,pear"]).await;
    finish(a, first).await;
    // Once it succeeded, the same source is never imported twice.
    let _ = handle(a, vec!["1,apple"]).await;

    // A failed import is recorded Failed and can be retried.
    let broken = handle(b, vec!["1,plum", ""]).await;
    finish(b, broken).await;
    let retry = handle(b, vec!["1,plum"]).await;
    finish(b, retry).await;

    // Without `recorder =`, the default recorder of the id type is used.
    println!("daily report:");
    println!("  first call: {:?}", daily_report(20).await);
    println!("  second call: {:?}", daily_report(20).await);
    let reports = tasks_recorder::default_recorder::<u32>();
    println!("  day 20 is {}", reports.query_task_state(&20).await);
}
