//! Model-based property tests: random sequences of operations on a few ids, run against the
//! recorder on the current-thread runtime and checked step by step against a plain sequential
//! model of the state machine (the one drawn in the crate docs).
//!
//! Every step is deterministic: on the current-thread runtime a spawned task only runs when
//! the test yields, so a launched task that finishes at once is awaited with `wait` inside the
//! launch step, and a task that hangs stays `Working` (in the model too) until the test
//! releases it through its oneshot sender, cancels it or shuts the recorder down. In-flight
//! revokes are modelled as `Revoking` (they read `Success`). After every step the state of
//! every id, the listings and counters, the closed flag and the number of running tasks are
//! compared with the model; at the end everything is released and the recorder must shut down
//! with nothing left `Working` or revoking.
//!
//! proptest shrinks a failure to a minimal sequence of operations, printed with the failure.
#![forbid(unsafe_code)]

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use proptest::prelude::*;
use support::{poll_once, poll_times, within, Polled, TASK_PANIC};
use tasks_recorder::{
    AsyncTasksRecorder, LaunchError, MarkError, Retry, RevokeFailReason, TaskState,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The id space: small, so that operations collide on ids all the time.
const IDS: u64 = 4;

/// What a launched task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behavior {
    /// Returns `Ok` on its first poll.
    Succeed,
    /// Returns `Err` on its first poll.
    Fail,
    /// Panics on its first poll.
    Panic,
    /// Waits until the test releases it with `Ok` or `Err` (or it is cancelled).
    Hang,
}

/// One step of a test sequence.
#[derive(Debug, Clone, Copy)]
enum Op {
    Launch(u64, Behavior),
    TryLaunch(u64, Behavior),
    /// `launch_retrying`: a first try that fails, then a second that behaves as given (a
    /// hanging behavior is taken as `Succeed`).
    LaunchRetrying(u64, Behavior),
    /// `launch_block` (or `try_launch_block`), run in a spawned task so a hanging one can be
    /// left running.
    LaunchBlock {
        id: u64,
        behavior: Behavior,
        try_: bool,
    },
    /// A `launch_block` of a hanging task, polled once and dropped.
    DropLaunchBlock(u64),
    /// Releases the hanging task of the id, if any, with `Ok` or `Err`.
    Release {
        id: u64,
        ok: bool,
    },
    Query(u64),
    QuickQuery(u64),
    /// A revoke whose future returns `Ok` or `Err` at once.
    Revoke {
        id: u64,
        ok: bool,
    },
    /// A revoke whose future waits for the test (spawned, left in flight).
    RevokeHang(u64),
    /// Ends the in-flight revoke of the id, if any, with `Ok` or `Err`.
    ReleaseRevoke {
        id: u64,
        ok: bool,
    },
    /// A revoke of a hanging future, polled once and dropped.
    DropRevoke(u64),
    Cancel(u64),
    Wait(u64),
    Close,
    /// `shutdown`: must wait for the hanging tasks, which are then released with `ok`.
    Shutdown {
        ok: bool,
    },
    /// `shutdown_with_grace(0)`: cancels every hanging task.
    ShutdownWithGrace,
    /// `mark_succeeded`, or `mark_all_succeeded` of the one id with `bulk`.
    Mark {
        id: u64,
        bulk: bool,
    },
}

/// The reference model's state of one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    Working,
    Success,
    Revoking,
    Failed,
    NotFound,
}

impl M {
    /// What a query answers.
    fn view(self) -> TaskState {
        match self {
            M::Working => TaskState::Working,
            M::Success | M::Revoking => TaskState::Success,
            M::Failed => TaskState::Failed,
            M::NotFound => TaskState::NotFound,
        }
    }
}

/// Why the model refuses a launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Running,
    Succeeded,
    Closed(TaskState),
}

impl Refusal {
    /// The state `launch` reports for this refusal.
    fn state(self) -> TaskState {
        match self {
            Refusal::Running => TaskState::Working,
            Refusal::Succeeded => TaskState::Success,
            Refusal::Closed(current) => current,
        }
    }

    /// Whether `try_launch` reported this refusal.
    fn matches<F>(self, error: &LaunchError<F>) -> bool {
        matches!(
            (self, error),
            (Refusal::Running, LaunchError::AlreadyRunning(_))
                | (Refusal::Succeeded, LaunchError::AlreadySucceeded(_))
                | (Refusal::Closed(_), LaunchError::Closed(_))
        )
    }
}

/// How a revoke ended, in a form a spawned task can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revoked {
    Ok,
    NotSuccess,
    Revoking,
    TaskError,
}

fn revoked<F>(result: Result<(), RevokeFailReason<F, ()>>) -> Revoked {
    match result {
        Ok(()) => Revoked::Ok,
        Err(RevokeFailReason::NotSuccess(_)) => Revoked::NotSuccess,
        Err(RevokeFailReason::Revoking(_)) => Revoked::Revoking,
        Err(RevokeFailReason::RevokeTaskError(())) => Revoked::TaskError,
    }
}

/// The plain sequential reference model.
#[derive(Debug, Default)]
struct Model {
    ids: HashMap<u64, M>,
    closed: bool,
}

impl Model {
    fn get(&self, id: u64) -> M {
        self.ids.get(&id).copied().unwrap_or(M::NotFound)
    }

    fn set(&mut self, id: u64, state: M) {
        if state == M::NotFound {
            self.ids.remove(&id);
        } else {
            self.ids.insert(id, state);
        }
    }

    fn launch(&self, id: u64) -> Result<(), Refusal> {
        match self.get(id) {
            M::Working => Err(Refusal::Running),
            M::Success | M::Revoking => Err(Refusal::Succeeded),
            current if self.closed => Err(Refusal::Closed(current.view())),
            _ => Ok(()),
        }
    }

    fn begin_revoke(&self, id: u64) -> Result<(), Revoked> {
        match self.get(id) {
            M::Success => Ok(()),
            M::Revoking => Err(Revoked::Revoking),
            _ => Err(Revoked::NotSuccess),
        }
    }

    /// A mark: `NotFound` and `Failed` become `Success`, whether closed or not.
    fn mark(&self, id: u64) -> Result<(), MarkError> {
        match self.get(id) {
            M::Working => Err(MarkError::AlreadyRunning),
            M::Revoking => Err(MarkError::Revoking),
            M::Success => Err(MarkError::AlreadySucceeded),
            M::Failed | M::NotFound => Ok(()),
        }
    }

    fn count(&self, state: TaskState) -> usize {
        self.ids.values().filter(|m| m.view() == state).count()
    }

    fn working(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = (0..IDS).filter(|&id| self.get(id) == M::Working).collect();
        ids.sort_unstable();
        ids
    }
}

type Task = Pin<Box<dyn Future<Output = Result<(), ()>> + Send>>;

/// How the test releases a hanging task, and how it learns that the task started.
type Gate = (oneshot::Sender<bool>, oneshot::Receiver<()>);

fn boom() -> Result<(), ()> {
    std::panic::panic_any(TASK_PANIC)
}

/// A task with `behavior`; for `Hang`, also the sender that releases it and a receiver told
/// when it first runs.
fn make_task(behavior: Behavior) -> (Task, Option<Gate>) {
    match behavior {
        Behavior::Succeed => (Box::pin(async { Ok(()) }), None),
        Behavior::Fail => (Box::pin(async { Err(()) }), None),
        Behavior::Panic => (Box::pin(async { boom() }), None),
        Behavior::Hang => {
            let (release, released) = oneshot::channel::<bool>();
            let (started_tx, started) = oneshot::channel();
            let task = Box::pin(async move {
                let _ = started_tx.send(());
                match released.await {
                    Ok(true) => Ok(()),
                    _ => Err(()),
                }
            });
            (task, Some((release, started)))
        }
    }
}

/// The state an immediately finishing task ends in.
fn ends_in(behavior: Behavior) -> M {
    match behavior {
        Behavior::Succeed => M::Success,
        Behavior::Fail | Behavior::Panic => M::Failed,
        Behavior::Hang => M::Working,
    }
}

/// How a `launch_block` run in a spawned task was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockRefused {
    Plain(TaskState),
    Try(&'static str),
}

type BlockResult = Result<(), BlockRefused>;

/// A hanging task of an id: how to release it, and the spawned `launch_block` running it.
struct Hanging {
    release: oneshot::Sender<bool>,
    launcher: Option<JoinHandle<BlockResult>>,
}

struct Harness {
    rec: AsyncTasksRecorder<u64>,
    model: Model,
    hangs: HashMap<u64, Hanging>,
    revokes: HashMap<u64, (oneshot::Sender<bool>, JoinHandle<Revoked>)>,
    step: String,
}

impl Harness {
    fn new() -> Self {
        Harness {
            rec: AsyncTasksRecorder::new(),
            model: Model::default(),
            hangs: HashMap::new(),
            revokes: HashMap::new(),
            step: String::new(),
        }
    }

    fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!("{}: {what} (model: {:?})", self.step, self.model)
    }

    fn check<T: PartialEq + std::fmt::Debug>(&self, what: &str, got: T, expected: T) {
        if got != expected {
            self.fail(format!("{what}: got {got:?}, expected {expected:?}"));
        }
    }

    async fn run(mut self, ops: &[Op]) {
        for (i, op) in ops.iter().enumerate() {
            self.step = format!("step {i} {op:?}");
            self.apply(*op).await;
            self.check_everything().await;
        }
        self.step = "final release and shutdown".to_string();
        for (_, (release, handle)) in std::mem::take(&mut self.revokes) {
            let _ = release.send(false);
            within("revoke", handle).await.expect("revoke task");
        }
        for (_, hanging) in std::mem::take(&mut self.hangs) {
            let _ = hanging.release.send(true);
            if let Some(launcher) = hanging.launcher {
                let _ = within("launcher", launcher).await.expect("launcher");
            }
        }
        support::assert_settled_and_revocable(&self.rec, 0..IDS).await;
    }

    /// Compares every observable of the recorder with the model.
    async fn check_everything(&self) {
        for id in 0..IDS {
            let expected = self.model.get(id).view();
            self.check(
                &format!("query {id}"),
                self.rec.query_task_state(&id).await,
                expected,
            );
            self.check(
                &format!("quick query {id}"),
                self.rec.query_task_state_quick(&id).await,
                expected,
            );
        }
        self.check("len", self.rec.len(), self.model.ids.len());
        self.check("is_empty", self.rec.is_empty(), self.model.ids.is_empty());
        for state in TaskState::ALL {
            self.check(
                &format!("count_in_state({state})"),
                self.rec.count_in_state(state).await,
                self.model.count(state),
            );
        }
        let mut working = self.rec.ids_in_state(TaskState::Working).await;
        working.sort_unstable();
        self.check("ids_in_state(Working)", working, self.model.working());
        self.check("is_closed", self.rec.is_closed(), self.model.closed);
        self.check(
            "running",
            self.rec.running(),
            self.model.count(TaskState::Working),
        );
    }

    /// After an accepted launch of `behavior`: the id reads `Working` at once; a task that
    /// finishes at once is awaited, a hanging one is kept.
    async fn launched(&mut self, id: u64, behavior: Behavior, hang: Option<Hanging>) {
        self.check(
            "state after launch",
            self.rec.query_task_state(&id).await,
            TaskState::Working,
        );
        self.model.set(id, M::Working);
        match hang {
            Some(hanging) => {
                self.hangs.insert(id, hanging);
            }
            None => {
                let end = within("wait", self.rec.wait(&id)).await;
                self.check("wait after launch", end, ends_in(behavior).view());
                self.model.set(id, ends_in(behavior));
            }
        }
    }

    async fn apply(&mut self, op: Op) {
        let rec = self.rec.clone();
        match op {
            Op::Launch(id, behavior) => {
                let expected = self.model.launch(id);
                let (task, hang) = make_task(behavior);
                match (expected, rec.launch(id, task).await) {
                    (Ok(()), Ok(())) => {
                        let hang = hang.map(|(release, _)| Hanging {
                            release,
                            launcher: None,
                        });
                        self.launched(id, behavior, hang).await;
                    }
                    (Err(refusal), Err((state, _))) => {
                        self.check("launch refused as", state, refusal.state())
                    }
                    (Ok(()), Err((state, _))) => self.fail(format!("refused as {state}")),
                    (Err(refusal), Ok(())) => self.fail(format!("accepted, not {refusal:?}")),
                }
            }
            Op::TryLaunch(id, behavior) => {
                let expected = self.model.launch(id);
                let (task, hang) = make_task(behavior);
                match (expected, rec.try_launch(id, task).await) {
                    (Ok(()), Ok(())) => {
                        let hang = hang.map(|(release, _)| Hanging {
                            release,
                            launcher: None,
                        });
                        self.launched(id, behavior, hang).await;
                    }
                    (Err(refusal), Err(error)) => {
                        if !refusal.matches(&error) {
                            self.fail(format!("refused with {error:?}, not {refusal:?}"));
                        }
                    }
                    (Ok(()), Err(error)) => self.fail(format!("refused with {error:?}")),
                    (Err(refusal), Ok(())) => self.fail(format!("accepted, not {refusal:?}")),
                }
            }
            Op::LaunchRetrying(id, behavior) => {
                let behavior = match behavior {
                    Behavior::Hang => Behavior::Succeed,
                    other => other,
                };
                let expected = self.model.launch(id);
                let mut tries = 0;
                let make = move || {
                    tries += 1;
                    let behavior = if tries == 1 { Behavior::Fail } else { behavior };
                    make_task(behavior).0
                };
                let policy = Retry::new(2).backoff(Duration::ZERO);
                match (expected, rec.launch_retrying(id, policy, make).await) {
                    (Ok(()), Ok(())) => self.launched(id, behavior, None).await,
                    (Err(refusal), Err(error)) => {
                        if !refusal.matches(&error) {
                            self.fail(format!("refused with {error:?}, not {refusal:?}"));
                        }
                    }
                    (Ok(()), Err(error)) => self.fail(format!("refused with {error:?}")),
                    (Err(refusal), Ok(())) => self.fail(format!("accepted, not {refusal:?}")),
                }
            }
            Op::LaunchBlock { id, behavior, try_ } => self.launch_block(id, behavior, try_).await,
            Op::DropLaunchBlock(id) => {
                let expected = self.model.launch(id);
                let (task, _hang) = make_task(Behavior::Hang);
                // Boxed, so that `drop` really drops the future.
                let mut block = Box::pin(rec.launch_block(id, task));
                match (expected, poll_once(block.as_mut())) {
                    (Ok(()), Poll::Pending) => {
                        self.check(
                            "state while launch_block runs",
                            rec.query_task_state(&id).await,
                            TaskState::Working,
                        );
                        drop(block);
                        self.model.set(id, M::Failed);
                    }
                    (Err(refusal), Poll::Ready(Err((state, _)))) => {
                        self.check("launch_block refused as", state, refusal.state())
                    }
                    (_, Poll::Ready(Ok(()))) => self.fail("a hanging launch_block finished"),
                    (Ok(()), Poll::Ready(Err((state, _)))) => {
                        self.fail(format!("refused as {state}"))
                    }
                    (Err(refusal), Poll::Pending) => {
                        self.fail(format!("accepted, not {refusal:?}"))
                    }
                }
            }
            Op::Release { id, ok } => {
                if let Some(hanging) = self.hangs.remove(&id) {
                    if hanging.release.send(ok).is_err() {
                        self.fail("the hanging task was dropped while Working");
                    }
                    let end = within("wait", rec.wait(&id)).await;
                    let expected = if ok { M::Success } else { M::Failed };
                    self.check("wait after release", end, expected.view());
                    self.model.set(id, expected);
                    if let Some(launcher) = hanging.launcher {
                        let result = within("launch_block", launcher).await;
                        self.check("launch_block result", result.ok(), Some(Ok(())));
                    }
                }
            }
            Op::Query(id) => {
                let state = rec.query_task_state(&id).await;
                self.check("query", state, self.model.get(id).view());
            }
            Op::QuickQuery(id) => {
                let state = rec.query_task_state_quick(&id).await;
                self.check("quick query", state, self.model.get(id).view());
            }
            Op::Revoke { id, ok } => {
                let expected = self.model.begin_revoke(id);
                let got = revoked(
                    rec.revoke_task_block(id, async move {
                        if ok {
                            Ok(())
                        } else {
                            Err(())
                        }
                    })
                    .await,
                );
                match expected {
                    Ok(()) if ok => {
                        self.check("revoke", got, Revoked::Ok);
                        self.model.set(id, M::NotFound);
                    }
                    Ok(()) => self.check("revoke", got, Revoked::TaskError),
                    Err(refusal) => self.check("revoke", got, refusal),
                }
            }
            Op::RevokeHang(id) => {
                let expected = self.model.begin_revoke(id);
                let (release, released) = oneshot::channel::<bool>();
                let (started_tx, started) = oneshot::channel();
                let undo = async move {
                    let _ = started_tx.send(());
                    match released.await {
                        Ok(true) => Ok(()),
                        _ => Err(()),
                    }
                };
                let mut handle =
                    tokio::spawn(async move { revoked(rec.revoke_task_block(id, undo).await) });
                let running = within("revoke start", started).await.is_ok();
                match (expected, running) {
                    (Ok(()), true) => {
                        self.model.set(id, M::Revoking);
                        self.revokes.insert(id, (release, handle));
                    }
                    (Err(refusal), false) => {
                        let got = within("revoke", &mut handle).await.expect("revoke task");
                        self.check("revoke", got, refusal);
                    }
                    (Ok(()), false) => self.fail("revoke refused"),
                    (Err(refusal), true) => self.fail(format!("revoke ran, not {refusal:?}")),
                }
            }
            Op::ReleaseRevoke { id, ok } => {
                if let Some((release, handle)) = self.revokes.remove(&id) {
                    if release.send(ok).is_err() {
                        self.fail("the revoke future was dropped while revoking");
                    }
                    let got = within("revoke", handle).await.expect("revoke task");
                    if ok {
                        self.check("revoke", got, Revoked::Ok);
                        self.model.set(id, M::NotFound);
                    } else {
                        self.check("revoke", got, Revoked::TaskError);
                        self.model.set(id, M::Success);
                    }
                }
            }
            Op::DropRevoke(id) => {
                let expected = self.model.begin_revoke(id);
                let undo = std::future::pending::<Result<(), ()>>();
                let mut revoke = Box::pin(rec.revoke_task_block(id, undo));
                match (expected, poll_once(revoke.as_mut())) {
                    (Ok(()), Poll::Pending) => {
                        let second = rec.revoke_task_block(id, async { Ok::<_, ()>(()) }).await;
                        self.check("second revoke", revoked(second), Revoked::Revoking);
                        self.check(
                            "state while revoking",
                            rec.query_task_state(&id).await,
                            TaskState::Success,
                        );
                        drop(revoke);
                    }
                    (Err(refusal), Poll::Ready(result)) => {
                        self.check("revoke", revoked(result), refusal)
                    }
                    (Ok(()), Poll::Ready(result)) => {
                        self.fail(format!("revoke ended with {:?}", revoked(result)))
                    }
                    (Err(refusal), Poll::Pending) => {
                        self.fail(format!("revoke ran, not {refusal:?}"))
                    }
                }
            }
            Op::Cancel(id) => {
                let expected = self.model.get(id) == M::Working;
                self.check("cancel", rec.cancel(&id), expected);
                if expected {
                    let end = within("wait after cancel", rec.wait(&id)).await;
                    self.check("wait after cancel", end, TaskState::Failed);
                    self.model.set(id, M::Failed);
                    self.drop_hang(id).await;
                }
            }
            Op::Wait(id) => {
                if self.model.get(id) == M::Working {
                    let wait = pin!(rec.wait(&id));
                    let (polled, _) = poll_times(wait, 2).await;
                    self.check("wait of a hanging task", polled, Polled::Pending);
                } else {
                    let end = within("wait", rec.wait(&id)).await;
                    self.check("wait", end, self.model.get(id).view());
                }
            }
            Op::Mark { id, bulk } => {
                let expected = self.model.mark(id);
                let got = if bulk {
                    let report = rec.mark_all_succeeded([id]);
                    match (report.marked, report.already_succeeded, &report.refused[..]) {
                        (1, 0, []) => Ok(()),
                        (0, 1, []) => Err(MarkError::AlreadySucceeded),
                        (0, 0, [(refused, why)]) if *refused == id => Err(*why),
                        _ => self.fail(format!("a report of one id: {report:?}")),
                    }
                } else {
                    rec.mark_succeeded(id)
                };
                self.check("mark", got, expected);
                if expected.is_ok() {
                    self.model.set(id, M::Success);
                }
            }
            Op::Close => {
                self.check("close", rec.close(), !self.model.closed);
                self.model.closed = true;
            }
            Op::Shutdown { ok } => {
                self.model.closed = true;
                let mut shutdown = pin!(rec.shutdown());
                if self.model.working().is_empty() {
                    within("shutdown", shutdown).await;
                } else {
                    let (polled, _) = poll_times(shutdown.as_mut(), 2).await;
                    self.check("shutdown with hanging tasks", polled, Polled::Pending);
                    for id in self.model.working() {
                        let hanging = self.hangs.remove(&id).expect("a Working id hangs");
                        let _ = hanging.release.send(ok);
                        self.model.set(id, if ok { M::Success } else { M::Failed });
                        if let Some(launcher) = hanging.launcher {
                            let result = within("launch_block", launcher).await;
                            self.check("launch_block result", result.ok(), Some(Ok(())));
                        }
                    }
                    within("shutdown", shutdown).await;
                }
            }
            Op::ShutdownWithGrace => {
                self.model.closed = true;
                let expected = self.model.working();
                let cancelled = within("shutdown", rec.shutdown_with_grace(Duration::ZERO)).await;
                self.check(
                    "cancelled by shutdown_with_grace",
                    cancelled,
                    expected.len(),
                );
                for id in expected {
                    self.model.set(id, M::Failed);
                    self.drop_hang(id).await;
                }
            }
        }
    }

    /// Forgets the hanging task of a cancelled id; its `launch_block` returns `Ok(())`.
    async fn drop_hang(&mut self, id: u64) {
        if let Some(hanging) = self.hangs.remove(&id) {
            if let Some(launcher) = hanging.launcher {
                let result = within("launch_block", launcher).await;
                self.check("cancelled launch_block result", result.ok(), Some(Ok(())));
            }
        }
    }

    async fn launch_block(&mut self, id: u64, behavior: Behavior, try_: bool) {
        let expected = self.model.launch(id);
        let (task, hang) = make_task(behavior);
        let rec = self.rec.clone();
        let mut handle = tokio::spawn(async move {
            if try_ {
                rec.try_launch_block(id, task).await.map_err(|e| {
                    BlockRefused::Try(match e {
                        LaunchError::AlreadyRunning(_) => "AlreadyRunning",
                        LaunchError::AlreadySucceeded(_) => "AlreadySucceeded",
                        LaunchError::Closed(_) => "Closed",
                        _ => "QueueFull",
                    })
                })
            } else {
                rec.launch_block(id, task)
                    .await
                    .map_err(|(state, _)| BlockRefused::Plain(state))
            }
        });
        let refused = |refusal: Refusal| {
            if try_ {
                BlockRefused::Try(match refusal {
                    Refusal::Running => "AlreadyRunning",
                    Refusal::Succeeded => "AlreadySucceeded",
                    Refusal::Closed(_) => "Closed",
                })
            } else {
                BlockRefused::Plain(refusal.state())
            }
        };
        if let Some((release, started)) = hang {
            let running = within("launch_block start", started).await.is_ok();
            match (expected, running) {
                (Ok(()), true) => {
                    let hanging = Hanging {
                        release,
                        launcher: Some(handle),
                    };
                    self.launched(id, behavior, Some(hanging)).await;
                }
                (Err(refusal), false) => {
                    let got = within("launch_block", &mut handle).await;
                    self.check("launch_block", got.ok(), Some(Err(refused(refusal))));
                }
                (Ok(()), false) => self.fail("launch_block refused"),
                (Err(refusal), true) => self.fail(format!("launch_block ran, not {refusal:?}")),
            }
            return;
        }
        let got = within("launch_block", handle).await;
        match expected {
            Ok(()) => {
                if behavior == Behavior::Panic {
                    let panicked = got.as_ref().err().is_some_and(|e| e.is_panic());
                    self.check("launch_block of a panicking task panics", panicked, true);
                } else {
                    self.check("launch_block", got.ok(), Some(Ok(())));
                }
                let end = ends_in(behavior);
                self.check(
                    "state after launch_block",
                    rec_state(&self.rec, id).await,
                    end.view(),
                );
                self.model.set(id, end);
            }
            Err(refusal) => self.check("launch_block", got.ok(), Some(Err(refused(refusal)))),
        }
    }
}

async fn rec_state(rec: &AsyncTasksRecorder<u64>, id: u64) -> TaskState {
    rec.query_task_state(&id).await
}

fn behavior() -> impl Strategy<Value = Behavior> {
    prop_oneof![
        Just(Behavior::Succeed),
        Just(Behavior::Fail),
        Just(Behavior::Panic),
        Just(Behavior::Hang),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let id = || 0..IDS;
    prop_oneof![
        4 => (id(), behavior()).prop_map(|(id, b)| Op::Launch(id, b)),
        2 => (id(), behavior()).prop_map(|(id, b)| Op::TryLaunch(id, b)),
        2 => (id(), behavior()).prop_map(|(id, b)| Op::LaunchRetrying(id, b)),
        3 => (id(), behavior(), any::<bool>()).prop_map(|(id, behavior, try_)| {
            Op::LaunchBlock { id, behavior, try_ }
        }),
        1 => id().prop_map(Op::DropLaunchBlock),
        3 => (id(), any::<bool>()).prop_map(|(id, ok)| Op::Release { id, ok }),
        1 => id().prop_map(Op::Query),
        1 => id().prop_map(Op::QuickQuery),
        3 => (id(), any::<bool>()).prop_map(|(id, ok)| Op::Revoke { id, ok }),
        2 => id().prop_map(Op::RevokeHang),
        2 => (id(), any::<bool>()).prop_map(|(id, ok)| Op::ReleaseRevoke { id, ok }),
        1 => id().prop_map(Op::DropRevoke),
        2 => id().prop_map(Op::Cancel),
        2 => id().prop_map(Op::Wait),
        1 => Just(Op::Close),
        1 => any::<bool>().prop_map(|ok| Op::Shutdown { ok }),
        1 => Just(Op::ShutdownWithGrace),
        2 => (id(), any::<bool>()).prop_map(|(id, bulk)| Op::Mark { id, bulk }),
    ]
}

fn run_sequence(ops: &[Op]) {
    support::quiet_task_panics();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(Harness::new().run(ops));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Catches any divergence from the documented state machine, in any sequence of
    /// operations: a launch of a `Working` or `Success` id accepted (or a `Failed` one
    /// refused), a refusal reporting the wrong state, a panic or a dropped `launch_block` left
    /// `Working`, a refused or dropped revoke leaving the id revoking, a revoke allowed to run
    /// twice, a cancel or `shutdown_with_grace` that does not end the task as `Failed`, a
    /// `shutdown` returning while a task runs, a closed recorder starting work, and listings,
    /// counts or `running()` that disagree with the states, and a mark that overwrites a
    /// running or revoking id (or refuses a `NotFound` or `Failed` one).
    #[test]
    fn recorder_follows_the_model(ops in prop::collection::vec(op(), 1..40)) {
        run_sequence(&ops);
    }
}

/// Catches a regression of the documented 2.0.2 fixes in one fixed, readable sequence (also a
/// smoke test of the harness itself): relaunch of a success, a panic, a refused revoke, a
/// dropped `launch_block` and a dropped revoke.
#[test]
fn fixed_sequence_of_2_0_2_bugs() {
    use Behavior::*;
    run_sequence(&[
        Op::Launch(0, Succeed),
        Op::Launch(0, Fail),
        Op::Launch(1, Panic),
        Op::Revoke { id: 1, ok: true },
        Op::Launch(1, Succeed),
        Op::Revoke { id: 1, ok: true },
        Op::DropLaunchBlock(2),
        Op::Launch(2, Succeed),
        Op::DropRevoke(2),
        Op::Revoke { id: 2, ok: false },
        Op::RevokeHang(2),
        Op::Launch(2, Succeed),
        Op::ReleaseRevoke { id: 2, ok: true },
        Op::Launch(3, Hang),
        Op::Cancel(3),
        Op::LaunchBlock {
            id: 3,
            behavior: Hang,
            try_: true,
        },
        Op::Wait(3),
        Op::Shutdown { ok: true },
        Op::Launch(2, Succeed),
    ]);
}
