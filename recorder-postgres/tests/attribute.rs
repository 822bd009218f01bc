//! `#[recorded_task]` with a `PgRecorder` against a real server (a throwaway cluster the tests
//! start, or `DATABASE_URL`): launches through the attribute are recorded in the database,
//! refusals come back as `Ok(Err(state))`, and a database error comes back as `Err(error)`,
//! saying what failed, with the body never run. Each test says which bug it would catch.
#![forbid(unsafe_code)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{cluster, unique_name, within};
use tasks_recorder::{recorded_task, TaskState};
use tasks_recorder_pg_cluster::PgCluster;
use tasks_recorder_postgres::{Error, ErrorKind, PgRecorder};
use tokio::sync::oneshot;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn connect<T: tasks_recorder_postgres::PgId>(url: &str, name: &str) -> PgRecorder<T> {
    PgRecorder::<T>::builder()
        .lease(Duration::from_secs(5))
        .connect(url, name)
        .await
        .expect("connect")
}

/// Stores `name`, spawned; `gate`, when given, holds the body until it is released; `runs`
/// counts the bodies that started.
#[recorded_task(id = name.clone(), recorder = jobs, recorder_error = tasks_recorder_postgres::Error)]
async fn store(
    jobs: &PgRecorder<String>,
    name: String,
    gate: Option<oneshot::Receiver<()>>,
    runs: Arc<AtomicUsize>,
) -> Result<usize, String> {
    runs.fetch_add(1, Ordering::SeqCst);
    if let Some(gate) = gate {
        let _ = gate.await;
    }
    Ok(name.len())
}

/// Catches a launch through the attribute that is not recorded in the database, a refusal
/// reported as an error (or as a launch), and a refused body that runs: the first call is
/// `Working` in the database, a second call meanwhile is refused with `Working`, the id ends
/// `Success` as another recorder of the same name reads it, and a call after that is refused
/// with `Success`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launches_through_the_attribute_are_recorded_in_the_database() {
    let db = cluster();
    let name = unique_name("attribute");
    let jobs: PgRecorder<String> = connect(db.url(), &name).await;
    let replica: PgRecorder<String> = connect(db.url(), &name).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (release, gate) = oneshot::channel();

    let first = within(
        "launch",
        store(&jobs, "a.txt".into(), Some(gate), runs.clone()),
    )
    .await;
    assert!(matches!(first, Ok(Ok(()))), "{first:?}");
    assert_eq!(
        replica.query_task_state("a.txt").await.unwrap(),
        TaskState::Working
    );
    let meanwhile = within(
        "refused launch",
        store(&jobs, "a.txt".into(), None, runs.clone()),
    )
    .await;
    assert!(
        matches!(meanwhile, Ok(Err(TaskState::Working))),
        "{meanwhile:?}"
    );
    drop(release);
    assert_eq!(
        within("wait", replica.wait("a.txt")).await.unwrap(),
        TaskState::Success
    );
    let again = within(
        "refused launch",
        store(&jobs, "a.txt".into(), None, runs.clone()),
    )
    .await;
    assert!(matches!(again, Ok(Err(TaskState::Success))), "{again:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "a refused body ran");
    within("shutdown", jobs.shutdown()).await;
    within("shutdown", replica.shutdown()).await;
}

/// An application's state, holding its recorder.
#[derive(Clone)]
struct App {
    jobs: Arc<PgRecorder<u64>>,
}

/// `error_text`, spawned.
#[recorded_task(id = n, recorder = jobs, error_text, recorder_error = Error)]
async fn spawned_text(jobs: Arc<PgRecorder<u64>>, n: u64, good: bool) -> Result<(), String> {
    if good {
        Ok(())
    } else {
        Err(format!("job {n}: disk full"))
    }
}

/// `block`.
#[recorded_task(id = n, recorder = jobs, block, recorder_error = Error)]
async fn blocking(jobs: Arc<PgRecorder<u64>>, n: u64, good: bool) -> Result<(), String> {
    if good {
        Ok(())
    } else {
        Err(format!("job {n}: disk full"))
    }
}

/// `block` and `error_text`, through a field of the application's state, into a boxed error.
#[recorded_task(id = n, recorder = app.jobs, block, error_text, recorder_error = BoxError)]
async fn blocking_text(app: App, n: u64, good: bool) -> Result<(), String> {
    if good {
        Ok(())
    } else {
        Err(format!("job {n}: disk full"))
    }
}

/// Calls the form `which` for id `n`.
async fn call(app: &App, which: usize, n: u64, good: bool) -> Result<TaskState, String> {
    let jobs = Arc::clone(&app.jobs);
    let launched = match which {
        0 => spawned_text(jobs, n, good).await.map_err(|e| e.to_string()),
        1 => blocking(jobs, n, good).await.map_err(|e| e.to_string()),
        _ => blocking_text(app.clone(), n, good)
            .await
            .map_err(|e| e.to_string()),
    }?;
    Ok(match launched {
        Ok(()) => TaskState::Working,
        Err(state) => state,
    })
}

/// Catches a launch form (`error_text`, `block`, both) that the attribute maps to the wrong
/// `PgRecorder` launch: a failure's text kept without `error_text` or lost with it, a body
/// that does not run, a failed id that cannot be launched again, or a success launched twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_launch_form_records_its_outcome() {
    let db = cluster();
    let app = App {
        jobs: Arc::new(connect(db.url(), &unique_name("forms")).await),
    };
    for (which, keeps_text) in [(0, true), (1, false), (2, true)] {
        let n = which as u64;
        // `Working` stands for a launch here.
        assert_eq!(call(&app, which, n, false).await, Ok(TaskState::Working));
        assert_eq!(
            within("wait", app.jobs.wait(&n)).await.unwrap(),
            TaskState::Failed,
            "form {which}"
        );
        let info = app.jobs.task_info(&n).await.unwrap().expect("a record");
        let message = info.failure.and_then(|failure| failure.message);
        let expected = keeps_text.then(|| format!("job {n}: disk full"));
        assert_eq!(message, expected, "form {which}");
        assert_eq!(call(&app, which, n, true).await, Ok(TaskState::Working));
        assert_eq!(
            within("wait", app.jobs.wait(&n)).await.unwrap(),
            TaskState::Success,
            "form {which}"
        );
        assert_eq!(
            call(&app, which, n, true).await,
            Ok(TaskState::Success),
            "form {which}"
        );
    }
    within("shutdown", app.jobs.shutdown()).await;
}

/// Catches a database error that the attribute panics on, hides (as a refusal or a launch),
/// or returns without saying what failed, and a body run although its claim failed: with
/// the server killed, the wrapper returns `Err(error)` naming the launch and the id, and,
/// through `recorder_error = Box<dyn Error + Send + Sync>`, the same error boxed.
#[test]
fn a_database_error_is_returned_by_the_wrapper() {
    if std::env::var("DATABASE_URL").is_ok() {
        eprintln!("skipped: DATABASE_URL points at a server this test must not kill");
        return;
    }
    let mut db = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (jobs, numbers) = runtime.block_on(async {
        let jobs: PgRecorder<String> = PgRecorder::builder()
            .operation_timeout(Duration::from_secs(3))
            .connect(db.url(), "unreachable")
            .await
            .expect("connect");
        let numbers: PgRecorder<u64> = PgRecorder::builder()
            .operation_timeout(Duration::from_secs(3))
            .connect(db.url(), "unreachable-numbers")
            .await
            .expect("connect");
        (jobs, numbers)
    });
    db.kill_server().expect("SIGKILL of the server");
    let runs = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        let failed = within(
            "a failed launch",
            store(&jobs, "x".into(), None, runs.clone()),
        )
        .await;
        let error = match failed {
            Err(error) => error,
            Ok(outcome) => panic!("a launch with the server down reported {outcome:?}"),
        };
        assert_eq!(error.operation(), "launch", "{error}");
        assert_eq!(error.id(), Some("x"), "{error}");
        assert!(error.is_transient(), "{error}");
        assert!(
            matches!(error.kind(), ErrorKind::Connection | ErrorKind::Timeout(_)),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("launch failed for id \"x\": "),
            "{error}"
        );

        let app = App {
            jobs: Arc::new(numbers),
        };
        let boxed = within("a failed launch", blocking_text(app, 7, true)).await;
        let error = match boxed {
            Err(error) => error,
            Ok(outcome) => panic!("a launch with the server down reported {outcome:?}"),
        };
        assert!(
            error.to_string().starts_with("launch failed for id"),
            "{error}"
        );
        let error = error
            .downcast_ref::<Error>()
            .expect("the boxed error is the recorder's");
        assert_eq!(error.operation(), "launch", "{error}");
        assert!(error.is_transient(), "{error}");
    });
    assert_eq!(runs.load(Ordering::SeqCst), 0, "a body ran without a claim");
    drop(jobs);
    drop(runtime);
}
