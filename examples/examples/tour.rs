//! A tour of tasks-recorder under a realistic mixed workload, checked as it runs.
//!
//! What it shows: 50,000 jobs (by default) launched by 512 concurrent clients into one
//! recorder with a concurrency limit of 256 (from the builder). Each try of a job does a tiny
//! bit of work (a `yield` or a `tokio::time::sleep` of 0 to 2 ms) and then succeeds, returns
//! an error (now and then a permanent one), panics, or (first tries only) hangs.
//!
//! Each client gives its id at most 4 tries, drawn up front:
//! - It launches them with [`launch_retrying`] and a [`Retry`] policy (a backoff of 1 ms,
//!   doubling up to 4 ms, half of it jitter; permanent errors are not retried; the error's
//!   text is kept). The recorder tries again after an error, keeps the id `Working` in
//!   between, and records the last error if every try fails.
//! - A panic is not retried by the policy: it ends the attempt `Failed` (`Panicked`). The
//!   client then relaunches the id with the tries it has left, which it reads from
//!   `task_info(..).attempts` (every try counts there).
//! - A first try that hangs is launched on its own: most with [`launch_with_timeout`] (10 ms),
//!   so it ends `Failed` with [`FailureKind::TimedOut`]; one in four without a timeout, and its
//!   client [`cancel`]s it. The client then relaunches the id with its other 3 tries.
//!   (Retrying launches get no timeout of their own: a [`Builder::timeout`] would cover all
//!   their tries and backoffs together, and the tour sets none.)
//!
//! Clients also send duplicate launches (refused while the job runs, or once it succeeded),
//! `wait` for the outcome, and revoke some successes (relaunching half of those). At the end,
//! 64 hanging jobs are left for `shutdown_with_grace` to cancel, and one launch after the
//! shutdown is refused as closed. A live progress bar (on a terminal only) shows the states;
//! the tour ends with a table of states, counters and throughput.
//!
//! It then checks the invariants and exits with status 1 if any is broken:
//! - no id ever succeeded twice without a revoke in between (counted with atomics inside the
//!   jobs);
//! - after the shutdown, no id is `Working` and no task runs;
//! - every id is in the state its client expects, learned from `wait` (a failed id with all
//!   its tries used, or a permanent error);
//! - the recorder's counters agree with the records and with what the clients and jobs
//!   counted themselves: `launched` counts attempts (a retrying launch is one attempt),
//!   `retried` the tries after the first of each attempt (so every error of a job was either
//!   retried or recorded as the failure), `timed out` the hanging tries given a timeout, and
//!   `cancelled` the clients' cancels plus the shutdown's.
//!
//! The jobs' deliberate panics are kept off stderr by a panic hook; any other panic is
//! printed as usual. Randomness comes from `fastrand` with a fixed seed: each id's plan is
//! the same on every run (only the interleaving, and the backoffs' jitter, differ).
//!
//! ```text
//! cargo run --release --example tour                  # 50,000 jobs
//! cargo run --release --example tour -- --quick       # 2,000 jobs, a second or two
//! cargo run --release --example tour -- --jobs 200000 --seed 7
//! ```
//!
//! [`launch_retrying`]: AsyncTasksRecorder::launch_retrying
//! [`launch_with_timeout`]: AsyncTasksRecorder::launch_with_timeout
//! [`cancel`]: AsyncTasksRecorder::cancel
//! [`Builder::timeout`]: tasks_recorder::Builder::timeout
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::fmt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tasks_recorder::{AsyncTasksRecorder, Counters, FailureKind, LaunchError, Retry, TaskState};

/// The start of the message of every panic the tour causes on purpose.
const DELIBERATE: &str = "tour: deliberate panic";
/// How many clients launch jobs at once.
const CLIENTS: usize = 512;
/// How many jobs run at once (the recorder's concurrency limit).
const MAX_CONCURRENCY: usize = 256;
/// A client gives its id at most this many tries in all.
const MAX_TRIES: u32 = 4;
/// How long a hanging try launched with a timeout runs before it is stopped.
const HANG_TIMEOUT: Duration = Duration::from_millis(10);

/// The command line.
struct Args {
    jobs: u64,
    seed: u64,
    tail: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        jobs: 50_000,
        seed: 42,
        tail: 64,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let text = words.next().ok_or(format!("{name} needs a number"))?;
            text.parse()
                .map_err(|_| format!("{name} needs a number, not {text:?}"))
        };
        match word.as_str() {
            "--quick" => {
                args.jobs = 2_000;
                args.tail = 16;
            }
            "--jobs" => args.jobs = number("--jobs")?.max(1),
            "--seed" => args.seed = number("--seed")?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// How a try of a job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeed,
    /// Returns an error that the retry policy tries again after.
    Fail,
    /// Returns an error that the retry policy does not try again after.
    FailPermanently,
    Panic,
    /// Sleeps for an hour: its timeout, its client's cancel, or the shutdown stops it.
    Hang,
}

/// The work of a try before it ends.
#[derive(Debug, Clone, Copy)]
enum Latency {
    Yield,
    SleepMs(u64),
}

/// One try's plan.
#[derive(Debug, Clone, Copy)]
struct Plan {
    latency: Latency,
    outcome: Outcome,
}

impl Plan {
    /// A plan for try `tried` (1 for the first). Only a first try hangs.
    fn draw(rng: &mut fastrand::Rng, tried: u32) -> Plan {
        let latency = if rng.bool() {
            Latency::Yield
        } else {
            Latency::SleepMs(rng.u64(0..=2))
        };
        let roll = rng.u32(0..100);
        let outcome = match (tried, roll) {
            (1, 0..=74) => Outcome::Succeed,
            (1, 75..=85) => Outcome::Fail,
            (1, 86) => Outcome::FailPermanently,
            (1, 87..=94) => Outcome::Panic,
            (1, _) => Outcome::Hang,
            (_, 0..=59) => Outcome::Succeed,
            (_, 60..=82) => Outcome::Fail,
            (_, 83..=84) => Outcome::FailPermanently,
            (_, _) => Outcome::Panic,
        };
        Plan { latency, outcome }
    }

    fn succeeding(rng: &mut fastrand::Rng) -> Plan {
        Plan {
            outcome: Outcome::Succeed,
            ..Plan::draw(rng, 1)
        }
    }
}

/// The state a client expects its id to end in.
const EXPECT_UNSET: u8 = 0;
const EXPECT_SUCCESS: u8 = 1;
const EXPECT_FAILED: u8 = 2;
const EXPECT_NOT_FOUND: u8 = 3;

/// What the clients and the jobs count, to check the recorder against.
struct Tally {
    /// Successes of each id, counted by the job itself.
    successes: Vec<AtomicU64>,
    /// Revokes of each id, counted by the revoke future.
    revokes: Vec<AtomicU64>,
    /// The state each client expects its id to end in.
    expected: Vec<AtomicU8>,
    double_successes: AtomicU64,
    /// Launches accepted, of every form.
    launched: AtomicU64,
    /// Retrying launches accepted.
    retrying_launches: AtomicU64,
    /// Tries made by the retrying launches (the first of each included).
    tries: AtomicU64,
    /// Hanging tries launched with a timeout.
    timeouts: AtomicU64,
    refused_running: AtomicU64,
    refused_succeeded: AtomicU64,
    /// Errors returned by the jobs, retried or not.
    errors: AtomicU64,
    panics: AtomicU64,
    /// Cancels by the clients that stopped an attempt.
    cancelled: AtomicU64,
    /// Things that went against the recorder's documented behaviour, seen by a client.
    surprises: AtomicU64,
    /// Ids whose client is done.
    done: AtomicU64,
}

impl Tally {
    fn new(ids: u64) -> Tally {
        let ids = usize::try_from(ids).unwrap_or(usize::MAX);
        Tally {
            successes: (0..ids).map(|_| AtomicU64::new(0)).collect(),
            revokes: (0..ids).map(|_| AtomicU64::new(0)).collect(),
            expected: (0..ids).map(|_| AtomicU8::new(EXPECT_UNSET)).collect(),
            double_successes: AtomicU64::new(0),
            launched: AtomicU64::new(0),
            retrying_launches: AtomicU64::new(0),
            tries: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            refused_running: AtomicU64::new(0),
            refused_succeeded: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            surprises: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    fn slot(id: u64) -> usize {
        usize::try_from(id).unwrap_or(usize::MAX)
    }

    fn surprise(&self, what: &str, id: u64) {
        if self.surprises.fetch_add(1, SeqCst) < 10 {
            eprintln!("tour: unexpected: {what} (id {id})");
        }
    }
}

/// The error of a job that fails on purpose.
#[derive(Debug)]
struct Simulated {
    /// Not worth trying again: the retry policy gives up at once.
    permanent: bool,
}

/// The text the retry policy keeps of an error that is not worth trying again.
const PERMANENT: &str = "simulated permanent error";

impl fmt::Display for Simulated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.permanent {
            PERMANENT
        } else {
            "simulated error"
        })
    }
}

/// One try of job `id`.
async fn job(tally: Arc<Tally>, id: u64, plan: Plan) -> Result<(), Simulated> {
    match plan.latency {
        Latency::Yield => tokio::task::yield_now().await,
        Latency::SleepMs(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
    }
    match plan.outcome {
        Outcome::Fail | Outcome::FailPermanently => {
            tally.errors.fetch_add(1, SeqCst);
            let permanent = plan.outcome == Outcome::FailPermanently;
            return Err(Simulated { permanent });
        }
        Outcome::Panic => {
            tally.panics.fetch_add(1, SeqCst);
            panic!("{DELIBERATE} in job {id}");
        }
        Outcome::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
        Outcome::Succeed => {}
    }
    // No `.await` from here on: the success is counted exactly when the job returns `Ok`.
    let slot = Tally::slot(id);
    let before = tally.successes[slot].fetch_add(1, SeqCst);
    if before != tally.revokes[slot].load(SeqCst) {
        tally.double_successes.fetch_add(1, SeqCst);
    }
    Ok(())
}

/// Counts a launch, or its refusal. Returns whether it launched.
fn accepted<F>(tally: &Tally, id: u64, launch: Result<(), LaunchError<F>>) -> bool {
    match launch {
        Ok(()) => {
            tally.launched.fetch_add(1, SeqCst);
            true
        }
        Err(LaunchError::AlreadyRunning(_)) => {
            tally.refused_running.fetch_add(1, SeqCst);
            false
        }
        Err(LaunchError::AlreadySucceeded(_)) => {
            tally.refused_succeeded.fetch_add(1, SeqCst);
            false
        }
        Err(LaunchError::Closed(_)) => {
            tally.surprise("launch refused as closed", id);
            false
        }
        // The tour bounds no queue.
        Err(_) => {
            tally.surprise("launch refused", id);
            false
        }
    }
}

/// Launches one try of `id` as an attempt of its own; counts it, or its refusal.
async fn launch(jobs: &AsyncTasksRecorder<u64>, tally: &Arc<Tally>, id: u64, plan: Plan) -> bool {
    let launch = jobs.try_launch(id, job(Arc::clone(tally), id, plan)).await;
    accepted(tally, id, launch)
}

/// Launches `plans` as one retrying attempt of `id`, a try for each plan at most: a backoff
/// of 1 ms doubling up to 4 ms, half of it jitter; a permanent error is not retried.
async fn launch_retrying(
    jobs: &AsyncTasksRecorder<u64>,
    tally: &Arc<Tally>,
    id: u64,
    plans: Vec<Plan>,
) -> bool {
    let max_tries = u32::try_from(plans.len()).unwrap_or(u32::MAX);
    let policy = Retry::new(max_tries)
        .backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(4))
        .jitter(0.5)
        .retry_if(|error: &Simulated| !error.permanent)
        .keep_error_text();
    let mut plans = plans.into_iter();
    let made = Arc::clone(tally);
    let make = move || {
        made.tries.fetch_add(1, SeqCst);
        let plan = plans.next().unwrap_or_else(|| {
            made.surprise("the policy tried more often than it allows", id);
            Plan {
                latency: Latency::Yield,
                outcome: Outcome::Succeed,
            }
        });
        job(Arc::clone(&made), id, plan)
    };
    let launched = accepted(tally, id, jobs.launch_retrying(id, policy, make).await);
    if launched {
        tally.retrying_launches.fetch_add(1, SeqCst);
    }
    launched
}

/// The client of id `id`: launches it (sometimes twice at once), waits, relaunches it after
/// a panic, a timeout or a cancel while it has tries left, and sometimes revokes the success.
async fn client(jobs: AsyncTasksRecorder<u64>, tally: Arc<Tally>, seed: u64, id: u64) {
    let mut rng = fastrand::Rng::with_seed(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let plans: Vec<Plan> = (1..=MAX_TRIES).map(|n| Plan::draw(&mut rng, n)).collect();
    // The tries the id has had so far: its `task_info(..).attempts`.
    let mut tried = 0;
    let succeeded = loop {
        let first = tried == 0;
        let Some(rest) = plans.get(tried..).filter(|rest| !rest.is_empty()) else {
            tally.surprise("a client ran out of plans", id);
            break false;
        };
        // A hanging try runs alone: a timeout stops it, or (one in four) its client does.
        let hangs = rest[0].outcome == Outcome::Hang;
        let timed = hangs && rng.u32(0..4) != 0;
        let launched = if timed {
            let hang = job(Arc::clone(&tally), id, rest[0]);
            let launch = jobs.launch_with_timeout(id, HANG_TIMEOUT, hang).await;
            let launched = accepted(&tally, id, launch);
            if launched {
                tally.timeouts.fetch_add(1, SeqCst);
            }
            launched
        } else if hangs {
            launch(&jobs, &tally, id, rest[0]).await
        } else {
            launch_retrying(&jobs, &tally, id, rest.to_vec()).await
        };
        if !launched {
            tally.surprise("a client's own launch was refused", id);
            break false;
        }
        // A duplicate request: refused while the attempt runs (or once it succeeded); it
        // launches only if the attempt already failed (a panic on its first try), and is
        // then one more try.
        if first && rng.u32(0..100) < 5 {
            launch(&jobs, &tally, id, Plan::succeeding(&mut rng)).await;
        }
        if hangs && !timed {
            if jobs.cancel(&id) {
                tally.cancelled.fetch_add(1, SeqCst);
            } else {
                tally.surprise("a hanging job could not be cancelled", id);
            }
        }
        match jobs.wait(&id).await {
            TaskState::Success => break true,
            TaskState::Failed => {}
            state => {
                tally.surprise(&format!("wait ended in {state}"), id);
                break false;
            }
        }
        let Some(info) = jobs.task_info(&id).await else {
            tally.surprise("a failed id has no record", id);
            break false;
        };
        tried = usize::try_from(info.attempts).unwrap_or(usize::MAX);
        let kind = info.failure.map(|failure| failure.kind);
        let expected_kind = match (hangs, timed) {
            (true, true) => Some(FailureKind::TimedOut),
            (true, false) => Some(FailureKind::Cancelled),
            (false, _) => None,
        };
        match kind {
            // The policy gave up: every try failed, or one failed for good.
            Some(FailureKind::Error) if !hangs => break false,
            // Not retried by the policy: a new attempt with the tries left.
            Some(FailureKind::Panicked) if !hangs => {}
            Some(kind) if Some(kind) == expected_kind => {}
            kind => {
                tally.surprise(&format!("an attempt failed as {kind:?}"), id);
                break false;
            }
        }
        if tried >= plans.len() {
            break false;
        }
    };
    // A late duplicate, after the success: refused, never run.
    if succeeded
        && rng.u32(0..100) < 3
        && launch(&jobs, &tally, id, Plan::succeeding(&mut rng)).await
    {
        tally.surprise("a launch after a success was accepted", id);
    }
    let slot = Tally::slot(id);
    let mut expected = if succeeded {
        EXPECT_SUCCESS
    } else {
        EXPECT_FAILED
    };
    if succeeded && rng.u32(0..100) < 6 {
        let revokes = Arc::clone(&tally);
        let undo = async move {
            revokes.revokes[slot].fetch_add(1, SeqCst);
            Ok::<(), Infallible>(())
        };
        if jobs.revoke_task_block(id, undo).await.is_ok() {
            expected = EXPECT_NOT_FOUND;
            if rng.bool() {
                if launch(&jobs, &tally, id, Plan::succeeding(&mut rng)).await
                    && jobs.wait(&id).await == TaskState::Success
                {
                    expected = EXPECT_SUCCESS;
                } else {
                    tally.surprise("a relaunch after a revoke did not succeed", id);
                }
            }
        } else {
            tally.surprise("a revoke of a success was refused", id);
        }
    }
    tally.expected[slot].store(expected, SeqCst);
    tally.done.fetch_add(1, SeqCst);
}

/// Keeps the tour's deliberate panics off stderr; other panics print as usual.
fn quiet_deliberate_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        if !message.is_some_and(|m| m.starts_with(DELIBERATE)) {
            default(info);
        }
    }));
}

/// `n` with thousands separators.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The invariants, each with whether it held.
struct Checks(Vec<(String, bool)>);

impl Checks {
    fn check(&mut self, what: impl Into<String>, held: bool) {
        self.0.push((what.into(), held));
    }

    fn equal(&mut self, what: &str, recorder: u64, expected: u64) {
        let held = recorder == expected;
        let detail = if held {
            format!("{what} = {}", grouped(recorder))
        } else {
            format!("{what}: recorder {recorder} != expected {expected}")
        };
        self.check(detail, held);
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("tour: {e}");
            }
            eprintln!("usage: tour [--quick] [--jobs N] [--seed N]");
            return ExitCode::from(2);
        }
    };
    quiet_deliberate_panics();
    let ids = args.jobs + args.tail;
    println!(
        "tour: {} jobs from {CLIENTS} clients, concurrency limit {MAX_CONCURRENCY}, seed {}",
        grouped(args.jobs),
        args.seed
    );

    let jobs: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .name("tour")
        .max_concurrency(MAX_CONCURRENCY)
        .build();
    let tally = Arc::new(Tally::new(ids));

    // The live view: hidden by indicatif when stderr is not a terminal.
    let bar = ProgressBar::new(args.jobs);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ids {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    let ticker = {
        let (jobs, tally, bar) = (jobs.clone(), Arc::clone(&tally), bar.clone());
        tokio::spawn(async move {
            let since = Instant::now();
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                every.tick().await;
                let c = jobs.counters();
                let done = tally.done.load(SeqCst);
                let rate = done as f64 / since.elapsed().as_secs_f64().max(1e-3);
                bar.set_position(done);
                bar.set_message(format!(
                    "({}/s) working {} | success {} | failed {} | launched {} | retried {}",
                    grouped(rate as u64),
                    grouped(c.working_now),
                    grouped(c.success_now),
                    grouped(c.failed_now),
                    grouped(c.launched_total),
                    grouped(c.retried_total)
                ));
            }
        })
    };

    // The workload: CLIENTS tasks take the ids in turn.
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (jobs, tally, next) = (jobs.clone(), Arc::clone(&tally), Arc::clone(&next));
        let (seed, total) = (args.seed, args.jobs);
        clients.spawn(async move {
            loop {
                let id = next.fetch_add(1, SeqCst);
                if id >= total {
                    break;
                }
                client(jobs.clone(), Arc::clone(&tally), seed, id).await;
            }
        });
    }
    let mut client_panics = 0;
    while let Some(joined) = clients.join_next().await {
        if joined.is_err() {
            client_panics += 1;
        }
    }
    let workload = started.elapsed();
    ticker.abort();
    bar.set_position(tally.done.load(SeqCst));
    bar.finish_and_clear();

    // The drain: jobs that hang are left for the shutdown to cancel.
    for id in args.jobs..ids {
        let plan = Plan {
            latency: Latency::Yield,
            outcome: Outcome::Hang,
        };
        if launch(&jobs, &tally, id, plan).await {
            tally.expected[Tally::slot(id)].store(EXPECT_FAILED, SeqCst);
        }
    }
    let drain = Instant::now();
    let shut_down = jobs.shutdown_with_grace(Duration::from_millis(20)).await;
    let drain = drain.elapsed();
    let after = jobs
        .try_launch(
            ids,
            job(
                Arc::clone(&tally),
                ids,
                Plan::succeeding(&mut fastrand::Rng::with_seed(0)),
            ),
        )
        .await;
    let refused_closed = matches!(after, Err(LaunchError::Closed(_)));

    // What the records say.
    let c: Counters = jobs.counters();
    let mut by_state = [0u64; 4];
    let mut mismatched = 0u64;
    let mut success_ids = 0u64;
    let mut shut_down_ids = 0u64;
    for id in 0..ids {
        let slot = Tally::slot(id);
        let info = jobs.task_info(&id).await;
        let state = info.as_ref().map_or(TaskState::NotFound, |i| i.state);
        if let Some(index) = TaskState::ALL.iter().position(|s| *s == state) {
            by_state[index] += 1;
        }
        let expected = match tally.expected[slot].load(SeqCst) {
            EXPECT_SUCCESS => Some(TaskState::Success),
            EXPECT_FAILED => Some(TaskState::Failed),
            EXPECT_NOT_FOUND => Some(TaskState::NotFound),
            _ => None,
        };
        let net = tally.successes[slot]
            .load(SeqCst)
            .checked_sub(tally.revokes[slot].load(SeqCst));
        let net_ok = match state {
            TaskState::Success => net == Some(1),
            _ => net == Some(0),
        };
        // A client gives up on its id only once it used all its tries, or after a permanent
        // error; the shutdown stops a hanging first try.
        let attempts = info.as_ref().map_or(0, |i| i.attempts);
        let failure = info.and_then(|i| i.failure);
        let why = failure.as_ref().map(|f| (f.kind, f.message.as_deref()));
        let tries_ok = match (state, why) {
            (TaskState::Failed, Some((FailureKind::ShutDown, _))) => id >= args.jobs,
            (TaskState::Failed, Some((FailureKind::Error, Some(PERMANENT)))) => true,
            (TaskState::Failed, Some((FailureKind::Error | FailureKind::Panicked, _))) => {
                attempts == MAX_TRIES
            }
            (TaskState::Failed, _) => false,
            _ => true,
        };
        if expected != Some(state) || !net_ok || !tries_ok {
            mismatched += 1;
        }
        success_ids += u64::from(state == TaskState::Success);
        let shut = failure.is_some_and(|f| f.kind == FailureKind::ShutDown);
        shut_down_ids += u64::from(shut);
    }
    let sum = |counts: &[AtomicU64]| counts.iter().map(|n| n.load(SeqCst)).sum::<u64>();
    let (successes, revokes) = (sum(&tally.successes), sum(&tally.revokes));

    let [working, success, failed, not_found] = by_state;
    println!();
    println!("== final state of the {} ids", grouped(ids));
    for (name, n) in [
        ("success", success),
        ("failed", failed),
        ("not_found", not_found),
        ("working", working),
    ] {
        println!("  {name:<28}{:>12}", grouped(n));
    }
    println!("== recorder counters");
    for (name, n) in [
        ("launched (attempts)", c.launched_total),
        ("retried (tries after 1st)", c.retried_total),
        ("succeeded", c.succeeded_total),
        ("failed (Err)", c.failed_total),
        ("panicked", c.panicked_total),
        ("timed out", c.timed_out_total),
        ("cancelled", c.cancelled_total),
        ("dropped", c.dropped_total),
        ("revoked", c.revoked_total),
        ("refused: already running", c.refused_running_total),
        ("refused: already succeeded", c.refused_succeeded_total),
        ("refused: closed", c.refused_closed_total),
        ("cancelled by the shutdown", shut_down as u64),
    ] {
        println!("  {name:<28}{:>12}", grouped(n));
    }
    let secs = workload.as_secs_f64().max(1e-9);
    println!("== throughput");
    println!(
        "  {} ids in {:.2} s: {} ids/s, {} tries/s; drain {} ms",
        grouped(args.jobs),
        secs,
        grouped((args.jobs as f64 / secs) as u64),
        grouped(((c.launched_total + c.retried_total) as f64 / secs) as u64),
        drain.as_millis()
    );

    let mut checks = Checks(Vec::new());
    checks.check(
        format!(
            "no id succeeded twice without a revoke ({} double successes)",
            tally.double_successes.load(SeqCst)
        ),
        tally.double_successes.load(SeqCst) == 0,
    );
    checks.check(
        format!(
            "nothing Working after shutdown (records {working}, gauge {}, tasks {})",
            c.working_now,
            jobs.running()
        ),
        working == 0 && c.working_now == 0 && jobs.running() == 0,
    );
    checks.check(
        format!(
            "every id in the state its client expects, failed ones with all their tries used \
             ({mismatched} mismatched)"
        ),
        mismatched == 0,
    );
    checks.check(
        format!(
            "clients saw nothing unexpected ({} surprises, {client_panics} client panics)",
            tally.surprises.load(SeqCst)
        ),
        tally.surprises.load(SeqCst) == 0 && client_panics == 0,
    );
    checks.check(
        format!("the shutdown cancelled the {} hanging jobs", args.tail),
        shut_down as u64 == args.tail && shut_down_ids == args.tail,
    );
    checks.check(
        "a launch after the shutdown is refused as closed",
        refused_closed,
    );
    checks.equal("launched", c.launched_total, tally.launched.load(SeqCst));
    checks.equal(
        "launched = ended attempts",
        c.launched_total,
        c.succeeded_total
            + c.failed_total
            + c.panicked_total
            + c.timed_out_total
            + c.cancelled_total
            + c.dropped_total,
    );
    checks.equal(
        "retried = tries made - retrying launches",
        c.retried_total,
        tally.tries.load(SeqCst) - tally.retrying_launches.load(SeqCst),
    );
    checks.equal("succeeded", c.succeeded_total, successes);
    checks.equal(
        "failed (Err) + retried = the jobs' errors",
        c.failed_total + c.retried_total,
        tally.errors.load(SeqCst),
    );
    checks.equal("panicked", c.panicked_total, tally.panics.load(SeqCst));
    checks.equal(
        "timed out = hanging tries with a timeout",
        c.timed_out_total,
        tally.timeouts.load(SeqCst),
    );
    checks.equal(
        "cancelled",
        c.cancelled_total,
        tally.cancelled.load(SeqCst) + shut_down as u64,
    );
    checks.equal("dropped", c.dropped_total, 0);
    checks.equal("revoked", c.revoked_total, revokes);
    checks.equal(
        "refused: running",
        c.refused_running_total,
        tally.refused_running.load(SeqCst),
    );
    checks.equal(
        "refused: succeeded",
        c.refused_succeeded_total,
        tally.refused_succeeded.load(SeqCst),
    );
    checks.equal("refused: closed", c.refused_closed_total, 1);
    checks.equal(
        "success gauge = Success records",
        c.success_now,
        success_ids,
    );
    checks.equal(
        "success gauge = successes - revokes",
        c.success_now,
        successes - revokes,
    );
    checks.equal("failed gauge = Failed records", c.failed_now, failed);
    checks.equal(
        "Success records (scan)",
        jobs.count_in_state(TaskState::Success).await as u64,
        success,
    );

    println!("== invariants");
    let mut broken = 0;
    for (what, held) in &checks.0 {
        println!("  {}  {what}", if *held { "ok    " } else { "BROKEN" });
        broken += usize::from(!held);
    }
    if broken == 0 {
        println!("all {} invariants held", checks.0.len());
        ExitCode::SUCCESS
    } else {
        println!("{broken} invariant(s) BROKEN");
        ExitCode::FAILURE
    }
}
