//! A tour of tasks-recorder under a realistic mixed workload, checked as it runs.
//!
//! What it shows: 50,000 jobs (by default) launched by 512 concurrent clients into one
//! recorder with a concurrency limit of 256 (from the builder). Each job does a tiny bit of
//! work (a `yield` or a `tokio::time::sleep` of 0 to 2 ms) and then succeeds, returns an
//! error, panics, or hangs until its client cancels it. Clients also send duplicate
//! launches (refused while the job runs, or once it succeeded), `wait` for the outcome,
//! retry failures up to 4 attempts, and revoke some successes (relaunching half of those). At the end, 64 hanging
//! jobs are left for `shutdown_with_grace` to cancel, and one launch after the shutdown is
//! refused as closed. A live progress bar (on a terminal only) shows the states; the tour
//! ends with a table of states, counters and throughput.
//!
//! It then checks the invariants and exits with status 1 if any is broken:
//! - no id ever succeeded twice without a revoke in between (counted with atomics inside the
//!   jobs);
//! - after the shutdown, no id is `Working` and no task runs;
//! - every id is in the state its client expects, and the recorder's counters agree with
//!   the records and with what the clients and jobs counted themselves.
//!
//! The jobs' deliberate panics are kept off stderr by a panic hook; any other panic is
//! printed as usual. Randomness comes from `fastrand` with a fixed seed: each id's plan is
//! the same on every run (only the interleaving differs).
//!
//! ```text
//! cargo run --release --example tour                  # 50,000 jobs
//! cargo run --release --example tour -- --quick       # 2,000 jobs, a second or two
//! cargo run --release --example tour -- --jobs 200000 --seed 7
//! ```
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tasks_recorder::{AsyncTasksRecorder, Counters, FailureKind, LaunchError, TaskState};

/// The start of the message of every panic the tour causes on purpose.
const DELIBERATE: &str = "tour: deliberate panic";
/// How many clients launch jobs at once.
const CLIENTS: usize = 512;
/// How many jobs run at once (the recorder's concurrency limit).
const MAX_CONCURRENCY: usize = 256;
/// A client gives up on an id after this many failed attempts.
const MAX_ATTEMPTS: u32 = 4;

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

/// How a job attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeed,
    Fail,
    Panic,
    /// Sleeps for an hour: its client cancels it (or the shutdown does).
    Hang,
}

/// The work of a job attempt before it ends.
#[derive(Debug, Clone, Copy)]
enum Latency {
    Yield,
    SleepMs(u64),
}

/// One attempt's plan.
#[derive(Debug, Clone, Copy)]
struct Plan {
    latency: Latency,
    outcome: Outcome,
}

impl Plan {
    /// A plan for attempt `attempt` (1 for the first).
    fn draw(rng: &mut fastrand::Rng, attempt: u32) -> Plan {
        let latency = if rng.bool() {
            Latency::Yield
        } else {
            Latency::SleepMs(rng.u64(0..=2))
        };
        let roll = rng.u32(0..100);
        let outcome = match (attempt, roll) {
            (1, 0..=74) => Outcome::Succeed,
            (1, 75..=86) => Outcome::Fail,
            (1, 87..=94) => Outcome::Panic,
            (1, _) => Outcome::Hang,
            (_, 0..=59) => Outcome::Succeed,
            (_, 60..=84) => Outcome::Fail,
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
    launched: AtomicU64,
    refused_running: AtomicU64,
    refused_succeeded: AtomicU64,
    errors: AtomicU64,
    panics: AtomicU64,
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
struct Simulated;

/// One attempt of job `id`.
async fn job(tally: Arc<Tally>, id: u64, plan: Plan) -> Result<(), Simulated> {
    match plan.latency {
        Latency::Yield => tokio::task::yield_now().await,
        Latency::SleepMs(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
    }
    match plan.outcome {
        Outcome::Fail => {
            tally.errors.fetch_add(1, SeqCst);
            return Err(Simulated);
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

/// Launches one attempt; counts it, or counts its refusal. Returns whether it launched.
async fn launch(jobs: &AsyncTasksRecorder<u64>, tally: &Arc<Tally>, id: u64, plan: Plan) -> bool {
    match jobs.launch(id, job(Arc::clone(tally), id, plan)).await {
        Ok(()) => {
            tally.launched.fetch_add(1, SeqCst);
            true
        }
        Err((TaskState::Working, _)) => {
            tally.refused_running.fetch_add(1, SeqCst);
            false
        }
        Err((TaskState::Success, _)) => {
            tally.refused_succeeded.fetch_add(1, SeqCst);
            false
        }
        Err((state, _)) => {
            tally.surprise(&format!("launch refused while {state}"), id);
            false
        }
    }
}

/// The client of id `id`: launches it (sometimes twice at once), waits, retries failures,
/// and sometimes revokes the success.
async fn client(jobs: AsyncTasksRecorder<u64>, tally: Arc<Tally>, seed: u64, id: u64) {
    let mut rng = fastrand::Rng::with_seed(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut attempt = 0;
    let succeeded = loop {
        attempt += 1;
        let plan = Plan::draw(&mut rng, attempt);
        if !launch(&jobs, &tally, id, plan).await {
            tally.surprise("a client's own launch was refused", id);
            break false;
        }
        // A duplicate request: refused while the attempt runs (or once it succeeded); it
        // launches only if the attempt already failed, and is then a retry.
        if attempt == 1 && rng.u32(0..100) < 5 {
            launch(&jobs, &tally, id, Plan::succeeding(&mut rng)).await;
        }
        if plan.outcome == Outcome::Hang {
            if jobs.cancel(&id) {
                tally.cancelled.fetch_add(1, SeqCst);
            } else {
                tally.surprise("a hanging job could not be cancelled", id);
            }
        }
        match jobs.wait(&id).await {
            TaskState::Success => break true,
            TaskState::Failed if attempt < MAX_ATTEMPTS => continue,
            TaskState::Failed => break false,
            state => {
                tally.surprise(&format!("wait ended in {state}"), id);
                break false;
            }
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
                    "({}/s) working {} | success {} | failed {} | launched {}",
                    grouped(rate as u64),
                    grouped(c.working_now),
                    grouped(c.success_now),
                    grouped(c.failed_now),
                    grouped(c.launched_total)
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
        if expected != Some(state) || !net_ok {
            mismatched += 1;
        }
        success_ids += u64::from(state == TaskState::Success);
        let shut = info
            .and_then(|i| i.failure)
            .is_some_and(|f| f.kind == FailureKind::ShutDown);
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
        ("launched", c.launched_total),
        ("succeeded", c.succeeded_total),
        ("failed (Err)", c.failed_total),
        ("panicked", c.panicked_total),
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
        "  {} ids in {:.2} s: {} ids/s, {} attempts/s; drain {} ms",
        grouped(args.jobs),
        secs,
        grouped((args.jobs as f64 / secs) as u64),
        grouped((c.launched_total as f64 / secs) as u64),
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
        format!("every id in the state its client expects ({mismatched} mismatched)"),
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
        c.succeeded_total + c.failed_total + c.panicked_total + c.cancelled_total + c.dropped_total,
    );
    checks.equal("succeeded", c.succeeded_total, successes);
    checks.equal("failed (Err)", c.failed_total, tally.errors.load(SeqCst));
    checks.equal("panicked", c.panicked_total, tally.panics.load(SeqCst));
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
