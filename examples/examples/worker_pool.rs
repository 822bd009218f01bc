//! A worker pool's lifecycle: a recorder with a concurrency limit runs a stream of jobs, and
//! drains gracefully after N jobs or on Ctrl-C.
//!
//! What it shows:
//! - `Builder::max_concurrency`: at most 8 jobs run at once; the others wait their turn,
//!   already `Working` but queued (`TaskInfo::queued`, `Counters::queued_now`);
//! - `Builder::rate_limit`: at most 4,000 jobs start per second, 8 at once;
//! - back-pressure: `Builder::max_queued` lets at most 32 jobs wait for their turn, and the
//!   producer launches with `launch_when_room`, which waits for room (no polling), so it
//!   goes no faster than the jobs start;
//! - a job that fails is tried again (up to 3 tries, 1 ms apart and more) inside its
//!   attempt (`launch_retrying` does that for you, and counts the tries, but it refuses a
//!   launch when the queue is full instead of waiting for room);
//! - the drain: `close` (new launches are refused, running jobs go on), `wait` for the last
//!   job, then `shutdown_with_grace`, graceful then forced: it signals every running job at
//!   once, gives them 200 ms, then drops the two "stuck" jobs still running. An "import" job
//!   that watches its signal (`current_attempt().token()`) finishes the item it is on and
//!   stops, recorded as shut down with the item it reached; afterwards nothing is
//!   `Working`;
//! - a child recorder (`child_builder`) for the import: it shares the pool's limits, the
//!   pool's `shutdown_with_grace` drains it first, and its counters add into the pool's
//!   `aggregate_counters`;
//! - `counters` at the end.
//!
//! Run it (it finishes by itself in well under a second; Ctrl-C drains earlier):
//!
//! ```text
//! cargo run -p tasks-recorder-examples --example worker_pool          # 200 jobs
//! cargo run -p tasks-recorder-examples --example worker_pool -- 5000
//! ```
#![forbid(unsafe_code)]

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tasks_recorder::{current_attempt, AsyncTasksRecorder, LaunchError, Retry, TaskState};

/// How many jobs run at once.
const WORKERS: usize = 8;
/// How many jobs may wait for their turn.
const QUEUE: usize = 32;
/// How many jobs may start per second.
const RATE: u32 = 4_000;
/// How long the drain lets running jobs finish before it cancels them.
const GRACE: Duration = Duration::from_millis(200);
/// The ids of the stuck jobs (kept apart from the stream's ids).
const STUCK: [u64; 2] = [1_000_000, 1_000_001];
/// The id of the import, a long job that stops between two items when told.
const IMPORT: u64 = 2_000_000;

/// Why a job failed.
#[derive(Debug)]
struct JobError {
    id: u64,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}: the remote end refused the batch", self.id)
    }
}

/// One try of a job of the stream: 1 to 3 ms of work; one try in twenty fails.
async fn job(id: u64, work: Duration, fails: bool) -> Result<u64, JobError> {
    tokio::time::sleep(work).await;
    if fails {
        return Err(JobError { id });
    }
    Ok(id)
}

/// Why the import stopped early.
#[derive(Debug)]
struct Stopped {
    items: u32,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stopped when told, after {} whole items", self.items)
    }
}

/// A long import of items of 5 ms each, which watches its cancellation signal: told to
/// stop, it finishes the item it is on and returns, never leaving one half done.
async fn import() -> Result<(), Stopped> {
    let stop = match current_attempt() {
        Some(attempt) => attempt.token(),
        None => return Err(Stopped { items: 0 }),
    };
    for items in 0..10_000 {
        if stop.is_cancelled() {
            return Err(Stopped { items });
        }
        tokio::time::sleep(Duration::from_millis(5)).await; // one whole item
    }
    Ok(())
}

/// A job that would take a minute: the drain cancels it.
async fn stuck_job() -> Result<(), JobError> {
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(())
}

/// Up to 3 tries of a job, 1 ms apart and more; the last error if all fail.
async fn with_retries(id: u64, work: Duration) -> Result<u64, JobError> {
    // The recorder's own policy gives the tries and their backoffs.
    let retry = Retry::<JobError>::new(3).backoff(Duration::from_millis(1));
    let mut tries = fastrand::Rng::with_seed(id);
    let mut tried = 1;
    loop {
        match job(id, work, tries.u32(0..20) == 0).await {
            Err(_) if tried < retry.max_tries() => {
                tokio::time::sleep(retry.backoff_after(tried)).await;
                tried += 1;
            }
            ended => return ended,
        }
    }
}

/// Launches jobs `0..n`, each once there is room among the queued ones (back-pressure);
/// returns how many it launched.
async fn produce(pool: &AsyncTasksRecorder<u64>, n: u64) -> u64 {
    let mut rng = fastrand::Rng::with_seed(7);
    for id in 0..n {
        let work = Duration::from_millis(rng.u64(1..=3));
        if pool
            .launch_when_room(id, with_retries(id, work))
            .await
            .is_err()
        {
            return id;
        }
    }
    n
}

#[tokio::main]
async fn main() -> ExitCode {
    let n = match std::env::args().nth(1).map(|arg| arg.parse::<u64>()) {
        None => 200,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: worker_pool [NUMBER_OF_JOBS]   (default 200)");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let pool: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .name("pool")
        .max_concurrency(WORKERS)
        .rate_limit(RATE, Duration::from_secs(1), WORKERS as u32)
        .max_queued(QUEUE)
        .build();

    for id in STUCK {
        // A fresh recorder accepts every id: these launches are not refused.
        let _ = pool.launch(id, stuck_job()).await;
    }
    // The import runs in a child recorder of its own: a subsystem of the pool.
    let imports: AsyncTasksRecorder<u64> = pool.child_builder().name("imports").build();
    let _ = imports.launch_with_error_text(IMPORT, import()).await;
    println!(
        "pool: {WORKERS} workers, {RATE} starts/s, {QUEUE} queued at most; {n} jobs to run, plus {} stuck ones",
        STUCK.len()
    );

    // Run until every job is launched, or until Ctrl-C.
    let launched = tokio::select! {
        launched = produce(&pool, n) => {
            println!("all {launched} jobs launched");
            launched
        }
        _ = tokio::signal::ctrl_c() => {
            let launched = pool.counters().launched_total.saturating_sub(STUCK.len() as u64);
            println!("Ctrl-C after {launched} jobs: draining");
            launched
        }
    };

    // The drain. First, no new job.
    pool.close();
    let refused = pool.try_launch(u64::MAX, stuck_job()).await;
    if let Err(LaunchError::Closed(_)) = refused {
        println!("closed: new jobs are refused ({} running)", pool.running());
    }
    // The last job of the stream, then the others, within the grace period.
    if let Some(last) = launched.checked_sub(1) {
        println!("job {last} ended: {}", pool.wait(&last).await);
    }
    let cancelled = pool.shutdown_with_grace(GRACE).await;
    println!(
        "shut down after a {} ms grace period: {cancelled} job(s) cancelled",
        GRACE.as_millis()
    );
    for id in STUCK {
        if let Some(info) = pool.task_info(&id).await {
            let why = info.failure.map(|f| f.to_string()).unwrap_or_default();
            println!("  stuck job {id}: {} ({why})", info.state);
        }
    }
    let import_stopped = match imports
        .task_info(&IMPORT)
        .await
        .and_then(|info| info.failure)
    {
        Some(failure) => {
            println!("  import: {failure}");
            failure.kind == tasks_recorder::FailureKind::ShutDown && failure.message.is_some()
        }
        None => false,
    };
    let failed = pool.ids_in_state(TaskState::Failed).await;
    if let Some(info) = match failed
        .iter()
        .find(|id| !STUCK.contains(id) && **id != IMPORT)
    {
        Some(id) => pool.task_info(id).await,
        None => None,
    } {
        if let Some(failure) = info.failure {
            println!("  a failed job: {failure}");
        }
    }

    let c = pool.aggregate_counters();
    println!("counters of the pool and its child:");
    println!("  launched   {:>6}", c.launched_total);
    println!("  started    {:>6}", c.started_total);
    println!("  queued     {:>6}", c.queued_now);
    println!("  succeeded  {:>6}", c.succeeded_total);
    println!("  failed     {:>6}", c.failed_total);
    println!("  cancelled  {:>6}", c.cancelled_total);
    println!("  refused    {:>6}", c.refused_total());
    println!("  working    {:>6}", c.working_now);
    println!("done in {} ms", started.elapsed().as_millis());

    let working = pool.count_in_state(TaskState::Working).await;
    if !import_stopped {
        eprintln!("worker_pool: the import did not stop on its signal with its reason");
        return ExitCode::FAILURE;
    }
    if working == 0 && c.working_now == 0 && pool.running() == 0 && imports.running() == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("worker_pool: {working} job(s) still Working after the shutdown");
        ExitCode::FAILURE
    }
}
