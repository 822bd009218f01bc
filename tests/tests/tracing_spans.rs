//! The `tracing` feature: tasks run in a span carrying their id, transitions are debug
//! events and failures warn events. A test binary of its own with one test, holding the
//! global subscriber: tracing caches each callsite's interest process-wide, so a thread-local
//! subscriber in a binary whose other tests hit the same callsites concurrently sees its
//! spans only some of the time.
#![cfg(feature = "tracing")]
#![forbid(unsafe_code)]

mod support;

use support::within;
use tasks_recorder::{AsyncTasksRecorder, TaskState};

/// Catches tasks that run outside their span, or failures that are not logged (the
/// `tracing` feature).
#[tokio::test(flavor = "current_thread")]
async fn tasks_run_in_a_span_carrying_their_id() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Log {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let recorder: AsyncTasksRecorder<String> = AsyncTasksRecorder::builder()
        .name("imports")
        .describe_ids()
        .build();
    let launched = recorder
        .launch_with_error_text("batch-7".to_string(), async {
            tracing::info!("inside the task");
            Err::<(), _>("bad row 3")
        })
        .await;
    assert!(launched.is_ok());
    assert_eq!(
        within("wait", recorder.wait("batch-7")).await,
        TaskState::Failed
    );
    let text = String::from_utf8_lossy(
        &log.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    let inside = text
        .lines()
        .find(|line| line.contains("inside the task"))
        .expect("the task logged");
    assert!(
        inside.contains("task{recorder=imports") && inside.contains("batch-7"),
        "{inside}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains("task failed") && l.contains("bad row 3")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("DEBUG") && l.contains("task transition")),
        "{text}"
    );
}
