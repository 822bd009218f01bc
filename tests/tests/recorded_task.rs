//! Run-time behaviour of functions under `#[recorded_task]`: what gets recorded under which
//! id, when a call is refused, and when it returns. Every scenario runs on a current-thread
//! and on a multi-thread runtime; tasks are synchronised with channels, never with sleeps.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tasks_recorder::{default_recorder, recorded_task, AsyncTasksRecorder, TaskState};
use tokio::sync::oneshot;

type Jobs = AsyncTasksRecorder<String>;

/// Waits until `id` is no longer `Working` in `jobs` (a spawned task records its outcome
/// after its body returns), and returns its state. A task that never settles fails the test
/// after a generous timeout instead of hanging it.
async fn settled(jobs: &Jobs, id: &str) -> TaskState {
    tokio::time::timeout(std::time::Duration::from_secs(20), jobs.wait(id))
        .await
        .unwrap_or_else(|_| panic!("task {id} never settled"))
}

/// Stores `file` for `user`: the id is derived from both arguments. `outcome` decides how the
/// body ends; `gate`, when given, holds the body until it is released. `runs` counts bodies
/// that actually started.
#[recorded_task(id = format!("{user}/{file}"), recorder = jobs)]
async fn store(
    jobs: Jobs,
    user: String,
    file: String,
    outcome: Outcome,
    gate: Option<oneshot::Receiver<()>>,
    runs: Arc<AtomicUsize>,
) -> Result<usize, String> {
    runs.fetch_add(1, Ordering::SeqCst);
    if let Some(gate) = gate {
        let _ = gate.await;
    }
    match outcome {
        Outcome::Ok => Ok(file.len()),
        Outcome::Err => Err(format!("cannot store {file} for {user}")),
        Outcome::Panic => panic!("storing {file} for {user} panicked"),
    }
}

/// Like [`store`], with `block`: the call returns once the body has finished.
#[recorded_task(id = format!("{user}/{file}"), recorder = jobs, block)]
async fn store_blocking(
    jobs: Jobs,
    user: String,
    file: String,
    outcome: Outcome,
    runs: Arc<AtomicUsize>,
) -> Result<usize, String> {
    tokio::task::yield_now().await;
    runs.fetch_add(1, Ordering::SeqCst);
    match outcome {
        Outcome::Ok => Ok(file.len()),
        Outcome::Err => Err(format!("cannot store {file} for {user}")),
        Outcome::Panic => panic!("storing {file} for {user} panicked"),
    }
}

/// How a test body ends.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Ok,
    Err,
    Panic,
}

/// An id type used by nothing else, so the default recorder of this test is its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct InvoiceId(u64);

/// Issues an invoice, recorded in the default recorder of [`InvoiceId`].
#[recorded_task(id = InvoiceId(number), block)]
async fn issue_invoice(number: u64, runs: Arc<AtomicUsize>) -> Result<(), String> {
    runs.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Calls `store` with no gate.
async fn call(
    jobs: &Jobs,
    file: &str,
    outcome: Outcome,
    runs: &Arc<AtomicUsize>,
) -> Result<(), TaskState> {
    store(
        jobs.clone(),
        "alice".into(),
        file.into(),
        outcome,
        None,
        runs.clone(),
    )
    .await
}

/// Declares one test per runtime flavour for an `async fn() ` scenario.
macro_rules! on_both_runtimes {
    ($($scenario:ident),* $(,)?) => {
        mod current_thread {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $scenario() {
                    super::$scenario().await
                }
            )*
        }
        mod multi_thread {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario().await
                }
            )*
        }
    };
}

on_both_runtimes!(
    id_is_derived_from_the_arguments,
    err_records_failed_and_allows_a_relaunch,
    ok_records_success_and_refuses_a_second_call,
    call_while_running_is_refused_with_working,
    panic_records_failed,
    default_recorder_is_used_without_recorder_key,
    block_waits_for_the_task,
    launch_without_block_returns_before_the_task_ends,
    timeout_key_times_the_body_out_and_the_body_sees_its_attempt,
    retry_key_runs_the_body_again_on_clones_of_its_arguments,
    output_key_hands_the_result_back,
);

/// Doubles `n`, refusing 0, and hands the result back through a handle.
#[recorded_task(id = n, recorder = counts, output)]
async fn double(counts: AsyncTasksRecorder<u64>, n: u64) -> Result<u64, String> {
    if n == 0 {
        return Err("zero".to_string());
    }
    Ok(n * 2)
}

/// The same, inline: the wrapper returns the output itself.
#[recorded_task(id = n, recorder = counts, output, block)]
async fn double_inline(counts: AsyncTasksRecorder<u64>, n: u64) -> Result<u64, String> {
    if n == 0 {
        return Err("zero".to_string());
    }
    Ok(n * 2)
}

/// Catches an `output` key that loses the body's result or its error, or a refusal that is
/// not reported as the id's state.
async fn output_key_hands_the_result_back() {
    let counts = AsyncTasksRecorder::<u64>::new();
    let handle = double(counts.clone(), 4).await.expect("launched");
    assert_eq!(handle.await, Ok(Ok(8)));
    assert_eq!(
        double_inline(counts.clone(), 0).await,
        Ok(Ok(Err("zero".to_string())))
    );
    assert_eq!(double_inline(counts.clone(), 5).await, Ok(Ok(Ok(10))));
    assert_eq!(
        double(counts.clone(), 4).await.map(drop),
        Err(TaskState::Success),
        "a second launch of a succeeded id is refused"
    );
}

/// Fails until its `tries` counter reaches `succeed_on`, counting each try.
#[recorded_task(
    id = name.clone(),
    recorder = jobs,
    retry = tasks_recorder::Retry::new(5).backoff(std::time::Duration::from_millis(1)),
    error_text
)]
async fn flaky(
    jobs: Jobs,
    name: String,
    tries: Arc<AtomicUsize>,
    succeed_on: usize,
) -> Result<(), String> {
    let this_try = tries.fetch_add(1, Ordering::SeqCst) + 1;
    if this_try < succeed_on {
        return Err(format!("{name}: try {this_try} failed"));
    }
    Ok(())
}

/// Catches a `retry` key that does not run the body again, runs it with moved-out
/// arguments, records a success per try, or loses the last error's text.
async fn retry_key_runs_the_body_again_on_clones_of_its_arguments() {
    let jobs = Jobs::new();
    let tries = Arc::new(AtomicUsize::new(0));
    flaky(jobs.clone(), "r".to_string(), Arc::clone(&tries), 3)
        .await
        .expect("launched");
    assert_eq!(settled(&jobs, "r").await, TaskState::Success);
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    assert_eq!(jobs.task_info("r").await.map(|info| info.attempts), Some(3));
    let tries = Arc::new(AtomicUsize::new(0));
    flaky(
        jobs.clone(),
        "never".to_string(),
        Arc::clone(&tries),
        usize::MAX,
    )
    .await
    .expect("launched");
    assert_eq!(settled(&jobs, "never").await, TaskState::Failed);
    let failure = jobs.task_info("never").await.and_then(|info| info.failure);
    assert_eq!(
        failure.and_then(|f| f.message).as_deref(),
        Some("never: try 5 failed")
    );
}

/// A body that never ends unless told to stop, under a timeout: it reports what it sees of
/// its attempt, then waits for its signal.
#[recorded_task(id = name, recorder = jobs, timeout = std::time::Duration::from_millis(20))]
async fn stuck(jobs: Jobs, name: String, seen: oneshot::Sender<Option<u32>>) -> Result<(), String> {
    let attempt = tasks_recorder::current_attempt();
    let _ = seen.send(attempt.as_ref().map(|a| a.number()));
    if let Some(attempt) = attempt {
        attempt.token().cancelled().await;
    }
    Err("told to stop".to_string())
}

/// Catches a `timeout` key that is not applied, and a body that cannot reach its attempt's
/// context (its number and signal).
async fn timeout_key_times_the_body_out_and_the_body_sees_its_attempt() {
    let jobs = Jobs::new();
    let (seen, number) = oneshot::channel();
    stuck(jobs.clone(), "t".to_string(), seen)
        .await
        .expect("launched");
    assert_eq!(number.await.expect("the body ran"), Some(1));
    assert_eq!(settled(&jobs, "t").await, TaskState::Failed);
    let failure = jobs.task_info("t").await.and_then(|info| info.failure);
    assert_eq!(
        failure.map(|f| f.kind),
        Some(tasks_recorder::FailureKind::TimedOut)
    );
}

/// Catches an id evaluated from the wrong arguments (or a constant): the task must be recorded
/// under `user/file`, and only there.
async fn id_is_derived_from_the_arguments() {
    let jobs = Jobs::new();
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(call(&jobs, "a.txt", Outcome::Ok, &runs).await, Ok(()));
    assert_eq!(settled(&jobs, "alice/a.txt").await, TaskState::Success);
    assert_eq!(
        jobs.query_task_state("alice/b.txt").await,
        TaskState::NotFound
    );
    assert_eq!(jobs.len(), 1);
}

/// Catches an `Err` body recorded as `Success` (or left `Working`), and a `Failed` id that
/// cannot be launched again.
async fn err_records_failed_and_allows_a_relaunch() {
    let jobs = Jobs::new();
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(call(&jobs, "a.txt", Outcome::Err, &runs).await, Ok(()));
    assert_eq!(settled(&jobs, "alice/a.txt").await, TaskState::Failed);
    assert_eq!(call(&jobs, "a.txt", Outcome::Ok, &runs).await, Ok(()));
    assert_eq!(settled(&jobs, "alice/a.txt").await, TaskState::Success);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

/// Catches a success that does not stick: a second call for a succeeded id must be refused
/// with `Err(TaskState::Success)` without running the body again.
async fn ok_records_success_and_refuses_a_second_call() {
    let jobs = Jobs::new();
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(call(&jobs, "a.txt", Outcome::Ok, &runs).await, Ok(()));
    assert_eq!(settled(&jobs, "alice/a.txt").await, TaskState::Success);
    assert_eq!(
        call(&jobs, "a.txt", Outcome::Ok, &runs).await,
        Err(TaskState::Success)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        jobs.query_task_state("alice/a.txt").await,
        TaskState::Success
    );
}

/// Catches a wrapper that launches twice under one id, or reports something other than
/// `Working` while the first task runs.
async fn call_while_running_is_refused_with_working() {
    let jobs = Jobs::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let (release, gate) = oneshot::channel();
    let first = store(
        jobs.clone(),
        "alice".into(),
        "a.txt".into(),
        Outcome::Ok,
        Some(gate),
        runs.clone(),
    );
    assert_eq!(first.await, Ok(()));
    assert_eq!(
        jobs.query_task_state("alice/a.txt").await,
        TaskState::Working
    );
    assert_eq!(
        call(&jobs, "a.txt", Outcome::Err, &runs).await,
        Err(TaskState::Working)
    );
    release.send(()).expect("the first task holds the gate");
    assert_eq!(settled(&jobs, "alice/a.txt").await, TaskState::Success);
    // Only the first body ran; the refused one was dropped unpolled.
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Catches a panicking body left `Working` forever (the id could then never be relaunched).
async fn panic_records_failed() {
    let jobs = Jobs::new();
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(call(&jobs, "a.txt", Outcome::Panic, &runs).await, Ok(()));
    assert_eq!(settled(&jobs, "alice/a.txt").await, TaskState::Failed);
    assert_eq!(call(&jobs, "a.txt", Outcome::Ok, &runs).await, Ok(()));
    assert_eq!(settled(&jobs, "alice/a.txt").await, TaskState::Success);
}

/// Catches a function without `recorder =` that records nowhere visible, or in a recorder
/// other than `tasks_recorder::default_recorder::<Id>()`.
async fn default_recorder_is_used_without_recorder_key() {
    // Both runtimes share the process-wide recorder: use a distinct id per flavour.
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let number = NEXT.fetch_add(1, Ordering::SeqCst) as u64;
    let runs = Arc::new(AtomicUsize::new(0));
    let invoices = default_recorder::<InvoiceId>();
    assert_eq!(
        invoices.query_task_state(&InvoiceId(number)).await,
        TaskState::NotFound
    );
    assert_eq!(issue_invoice(number, runs.clone()).await, Ok(()));
    assert_eq!(
        invoices.query_task_state(&InvoiceId(number)).await,
        TaskState::Success
    );
    assert_eq!(
        issue_invoice(number, runs.clone()).await,
        Err(TaskState::Success)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // The same recorder every time.
    assert!(std::ptr::eq(invoices, default_recorder::<InvoiceId>()));
}

/// Catches `block` ignored (spawning instead): when the call returns, the body has run and
/// its outcome is recorded, with no waiting.
async fn block_waits_for_the_task() {
    let jobs = Jobs::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let stored = store_blocking(
        jobs.clone(),
        "bob".into(),
        "a.txt".into(),
        Outcome::Ok,
        runs.clone(),
    );
    assert_eq!(stored.await, Ok(()));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(jobs.query_task_state("bob/a.txt").await, TaskState::Success);
    let failed = store_blocking(
        jobs.clone(),
        "bob".into(),
        "b.txt".into(),
        Outcome::Err,
        runs.clone(),
    );
    assert_eq!(failed.await, Ok(()));
    assert_eq!(jobs.query_task_state("bob/b.txt").await, TaskState::Failed);
}

/// Catches a wrapper without `block` that runs the body inline: the call must return while
/// the task still waits on its gate.
async fn launch_without_block_returns_before_the_task_ends() {
    let jobs = Jobs::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let (release, gate) = oneshot::channel::<()>();
    let launched = store(
        jobs.clone(),
        "carol".into(),
        "a.txt".into(),
        Outcome::Ok,
        Some(gate),
        runs.clone(),
    );
    assert_eq!(launched.await, Ok(()));
    assert_eq!(
        jobs.query_task_state("carol/a.txt").await,
        TaskState::Working
    );
    drop(release);
    assert_eq!(settled(&jobs, "carol/a.txt").await, TaskState::Success);
}

/// A checksum job that keeps its error's text: the `error_text` key.
#[recorded_task(id = name.clone(), recorder = jobs, error_text, block)]
async fn verify(jobs: Jobs, name: String, good: bool) -> Result<(), String> {
    if good {
        Ok(())
    } else {
        Err(format!("checksum mismatch in {name}"))
    }
}

/// Catches an `error_text` key that loses the error's text (or keeps it without the key).
#[tokio::test(flavor = "current_thread")]
async fn error_text_keeps_the_message() {
    let jobs = Jobs::new();
    assert_eq!(verify(jobs.clone(), "a.iso".into(), false).await, Ok(()));
    let info = jobs.task_info("a.iso").await.expect("recorded");
    let failure = info.failure.expect("failed");
    assert_eq!(
        failure.message.as_deref(),
        Some("checksum mismatch in a.iso")
    );
    assert_eq!(verify(jobs.clone(), "a.iso".into(), true).await, Ok(()));
    assert_eq!(jobs.query_task_state("a.iso").await, TaskState::Success);
}

/// The error a function under `recorder_error = ...` returns a failed launch as: never
/// returned with an in-memory recorder, whose launches cannot fail.
#[derive(Debug, PartialEq)]
struct NeverReturned;

/// `recorder_error` with an in-memory recorder, spawned.
#[recorded_task(id = name.clone(), recorder = jobs, recorder_error = NeverReturned)]
async fn swappable(jobs: Jobs, name: String, good: bool) -> Result<(), String> {
    if good {
        Ok(())
    } else {
        Err(format!("{name} failed"))
    }
}

/// `recorder_error` with `block` and `error_text`.
#[recorded_task(id = name.clone(), recorder = jobs, block, error_text, recorder_error = NeverReturned)]
async fn swappable_block(jobs: Jobs, name: String, good: bool) -> Result<(), String> {
    if good {
        Ok(())
    } else {
        Err(format!("{name} failed"))
    }
}

/// Catches `recorder_error` changing what is recorded with an in-memory recorder, or a
/// refusal reported at the wrong level: the launch and the refusal are `Ok(..)`, the body's
/// outcome is recorded as without the key, and the error text is kept.
#[tokio::test(flavor = "current_thread")]
async fn recorder_error_with_an_in_memory_recorder_never_errs() {
    let jobs = Jobs::new();
    assert_eq!(swappable(jobs.clone(), "a".into(), false).await, Ok(Ok(())));
    assert_eq!(settled(&jobs, "a").await, TaskState::Failed);
    assert_eq!(swappable(jobs.clone(), "a".into(), true).await, Ok(Ok(())));
    assert_eq!(settled(&jobs, "a").await, TaskState::Success);
    assert_eq!(
        swappable(jobs.clone(), "a".into(), true).await,
        Ok(Err(TaskState::Success))
    );
    assert_eq!(
        swappable_block(jobs.clone(), "b".into(), false).await,
        Ok(Ok(()))
    );
    let failure = jobs.task_info("b").await.and_then(|info| info.failure);
    assert_eq!(
        failure.and_then(|failure| failure.message).as_deref(),
        Some("b failed")
    );
    assert_eq!(
        swappable_block(jobs.clone(), "b".into(), true).await,
        Ok(Ok(()))
    );
    assert_eq!(
        swappable_block(jobs.clone(), "b".into(), true).await,
        Ok(Err(TaskState::Success))
    );
}

/// The spans of `#[instrument]` around `#[recorded_task]` jobs: which span each event of a job
/// was emitted in.
mod instrument {
    use std::sync::{Arc, Mutex};

    use tasks_recorder::{recorded_task, AsyncTasksRecorder, TaskState};
    use tracing::instrument;
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    type Jobs = AsyncTasksRecorder<u64>;

    /// An event's name, and the name of the span it was emitted in (`None` outside any span).
    type Event = (String, Option<String>);

    /// Every event, in order.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<Event>>>);

    impl<S> Layer<S> for Seen
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let span = ctx.event_span(event).map(|span| span.name().to_string());
            let name = event.metadata().name().to_string();
            self.0.lock().unwrap().push((name, span));
        }
    }

    /// `#[recorded_task]` above `#[instrument]`: the order that used to instrument the wrapper.
    /// `_note` is borrowed, which the task allows since `skip` keeps it out of the task's span.
    #[recorded_task(id = n, recorder = jobs)]
    #[instrument(name = "job_below", skip(jobs, _note))]
    async fn below(jobs: Jobs, n: u64, _note: &str) -> Result<(), String> {
        tokio::task::yield_now().await;
        tracing::info!(name: "working_below", n);
        Ok(())
    }

    /// `#[instrument]` above `#[recorded_task]`.
    #[instrument(name = "job_above", skip(jobs))]
    #[recorded_task(id = n, recorder = jobs)]
    async fn above(jobs: Jobs, n: u64) -> Result<(), String> {
        tokio::task::yield_now().await;
        tracing::info!(name: "working_above", n);
        Ok(())
    }

    /// Like `below`, with `block` and other attributes around `#[instrument]`, and `err`.
    #[recorded_task(id = n, recorder = jobs, block)]
    #[allow(clippy::unused_async)]
    #[instrument(name = "job_block", skip(jobs), err)]
    #[doc = "Fails."]
    async fn below_block(jobs: Jobs, n: u64) -> Result<(), String> {
        tracing::info!(name: "working_block", n);
        Err(format!("job {n} failed"))
    }

    // Catches `#[recorded_task]` moving `#[instrument]` onto the wrapper (the launch), whose
    // span then does not cover the spawned job: every job event must be in its own span.
    #[tokio::test(flavor = "current_thread")]
    async fn instrument_spans_the_job_in_both_orders() {
        let seen = Seen::default();
        // A scoped subscriber: on a current-thread runtime, spawned tasks run on this thread.
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(seen.clone()));
        let jobs = Jobs::new();
        assert_eq!(below(jobs.clone(), 1, "first").await, Ok(()));
        assert_eq!(above(jobs.clone(), 2).await, Ok(()));
        assert_eq!(jobs.wait(&1).await, TaskState::Success);
        assert_eq!(jobs.wait(&2).await, TaskState::Success);
        assert_eq!(below_block(jobs.clone(), 3).await, Ok(()));
        assert_eq!(jobs.query_task_state(&3).await, TaskState::Failed);
        // The wrapper keeps its other attributes.
        assert_eq!(
            below(jobs.clone(), 1, "first").await,
            Err(TaskState::Success)
        );

        let seen = seen.0.lock().unwrap().clone();
        let span_of = |event: &str| {
            let spans: Vec<_> = seen
                .iter()
                .filter(|(name, _)| name == event)
                .map(|(_, span)| span.clone())
                .collect();
            assert_eq!(spans.len(), 1, "{event} emitted once: {seen:?}");
            spans[0].clone()
        };
        assert_eq!(span_of("working_below").as_deref(), Some("job_below"));
        assert_eq!(span_of("working_above").as_deref(), Some("job_above"));
        assert_eq!(span_of("working_block").as_deref(), Some("job_block"));
        // `err` sees the body's error, not the launch's `Result<(), TaskState>`.
        let errors: Vec<_> = seen
            .iter()
            .filter(|(_, span)| span.as_deref() == Some("job_block"))
            .collect();
        assert_eq!(
            errors.len(),
            2,
            "the job's event and its `err` event: {seen:?}"
        );
    }
}
