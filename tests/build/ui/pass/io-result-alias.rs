//! A `Result` under another name (`std::io::Result<T>`) is accepted: the check is on the type.
use std::sync::LazyLock;

use tasks_recorder::{recorded_task, AsyncTasksRecorder, TaskState};

static FILES: LazyLock<AsyncTasksRecorder<String>> = LazyLock::new(AsyncTasksRecorder::new);

/// Reads a file (pretend).
#[recorded_task(id = path.clone(), recorder = FILES, block)]
async fn read_file(path: String) -> std::io::Result<Vec<u8>> {
    let _ = path.len();
    Ok(Vec::new())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(read_file("a".to_string()).await, Ok(()));
        assert_eq!(read_file("a".to_string()).await, Err(TaskState::Success));
    });
}
