//! `#[recorded_task]` under a renamed dependency: this package depends on `tasks-recorder` as
//! `async_tasks_recorder` (the README's migration path) and nothing here is named
//! `tasks_recorder`, so every function below compiles only if the expansion finds the runtime
//! crate under the name this package's `Cargo.toml` gives it. Every key of the attribute is
//! used: `id`, `recorder`, `block`, `error_text`, `recorder_error`, `crate`, the default
//! recorder (no `recorder`), and a `#[tracing::instrument]` below the attribute (moved above a
//! copy of it, which names the runtime crate too).
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_tasks_recorder::{default_recorder, recorded_task, AsyncTasksRecorder, TaskState};
use tasks_recorder_postgres::PgRecorder;
use tasks_recorder_renamed_dependency::count_bytes;

type Jobs = AsyncTasksRecorder<String>;

static JOBS: LazyLock<Jobs> = LazyLock::new(Jobs::new);

/// Waits until `id` is no longer `Working` in `jobs` and returns its state; a task that never
/// settles fails the test after a generous timeout instead of hanging it.
async fn settled(jobs: &Jobs, id: &str) -> TaskState {
    tokio::time::timeout(Duration::from_secs(20), jobs.wait(id))
        .await
        .unwrap_or_else(|_| panic!("task {id} never settled"))
}

/// `id` and `recorder` (a static), spawned.
#[recorded_task(id = name.clone(), recorder = JOBS)]
async fn spawned(name: String, good: bool) -> Result<usize, String> {
    if good {
        Ok(name.len())
    } else {
        Err(format!("{name} failed"))
    }
}

/// `block` and `error_text`.
#[recorded_task(id = name.clone(), recorder = jobs, block, error_text)]
async fn verify(jobs: Jobs, name: String, good: bool) -> Result<(), String> {
    if good {
        Ok(())
    } else {
        Err(format!("checksum mismatch in {name}"))
    }
}

/// An id type used by nothing else, so its default recorder is this test's own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ImportId(u64);

/// The default recorder (no `recorder`).
#[recorded_task(id = ImportId(number), block)]
async fn import(number: u64) -> Result<(), String> {
    let _ = number;
    Ok(())
}

/// `recorder_error` with an in-memory recorder (whose launches never fail).
#[recorded_task(id = name.clone(), recorder = jobs, block, recorder_error = tasks_recorder_postgres::Error)]
async fn swappable(jobs: Jobs, name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

/// `crate = "..."` still wins: here it names the renamed crate explicitly.
#[recorded_task(id = name.clone(), recorder = jobs, block, crate = "async_tasks_recorder")]
async fn explicit(jobs: Arc<Jobs>, name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

/// `#[instrument]` below the attribute: moved above a copy of `#[recorded_task]`, named
/// through the runtime crate.
#[recorded_task(id = name.clone(), recorder = jobs, block)]
#[tracing::instrument(skip(jobs))]
async fn instrumented(jobs: Jobs, name: String) -> Result<(), String> {
    Ok(())
}

/// A `PgRecorder` (its impls are of the same runtime crate, reached by another name here).
#[recorded_task(id = name.clone(), recorder = pg, recorder_error = tasks_recorder_postgres::Error)]
async fn on_postgres(pg: Arc<PgRecorder<String>>, name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

/// Catches an expansion that names `::tasks_recorder` (this file would not compile), or one
/// that records through the renamed crate in the wrong place: each launch form records its
/// outcome in the recorder it was given.
#[tokio::test(flavor = "current_thread")]
async fn every_key_works_under_the_renamed_dependency() {
    // `id`, `recorder`, spawned.
    assert_eq!(spawned("a".into(), false).await, Ok(()));
    assert_eq!(settled(&JOBS, "a").await, TaskState::Failed);
    assert_eq!(spawned("a".into(), true).await, Ok(()));
    assert_eq!(settled(&JOBS, "a").await, TaskState::Success);
    assert_eq!(spawned("a".into(), true).await, Err(TaskState::Success));

    // `block`, `error_text`.
    let jobs = Jobs::new();
    assert_eq!(verify(jobs.clone(), "b.iso".into(), false).await, Ok(()));
    let failure = jobs.task_info("b.iso").await.and_then(|info| info.failure);
    assert_eq!(
        failure.and_then(|failure| failure.message).as_deref(),
        Some("checksum mismatch in b.iso")
    );

    // The default recorder.
    assert_eq!(import(7).await, Ok(()));
    assert_eq!(
        default_recorder::<ImportId>()
            .query_task_state(&ImportId(7))
            .await,
        TaskState::Success
    );

    // `recorder_error`.
    assert!(matches!(
        swappable(jobs.clone(), "c".into()).await,
        Ok(Ok(()))
    ));
    assert!(matches!(
        swappable(jobs.clone(), "c".into()).await,
        Ok(Err(TaskState::Success))
    ));

    // `crate = "..."`.
    let shared = Arc::new(Jobs::new());
    assert_eq!(explicit(shared.clone(), "d".into()).await, Ok(()));
    assert_eq!(shared.query_task_state("d").await, TaskState::Success);

    // `#[instrument]` below.
    assert_eq!(instrumented(jobs.clone(), "e".into()).await, Ok(()));
    assert_eq!(jobs.query_task_state("e").await, TaskState::Success);

    // The library's function, expanded in a library build.
    assert_eq!(count_bytes(jobs.clone(), "f".into()).await, Ok(()));
    assert_eq!(jobs.query_task_state("f").await, TaskState::Success);
}

/// Catches a `PgRecorder` refused by the attribute under a renamed runtime crate, or a wrapper
/// of another signature. Only compiled: no database is started here.
#[test]
fn a_pg_recorder_launches_through_the_renamed_crate() {
    fn wrapper<F, Fut>(_: F)
    where
        F: Fn(Arc<PgRecorder<String>>, String) -> Fut,
        Fut: Future<Output = Result<Result<(), TaskState>, tasks_recorder_postgres::Error>> + Send,
    {
    }
    wrapper(on_postgres);
}
