//! Model-based property tests of queued attempts and the bounded queue: random sequences of
//! launches (`try_launch`, and `launch_when_room` polled once, then dropped if it waits),
//! releases and cancels on a recorder that runs one attempt at a time and lets two wait,
//! checked after every step against a sequential model: which id runs, which wait (in launch
//! order), which are refused as `QueueFull`, and the `queued`/`started` counters.
//!
//! Deterministic: on the current-thread runtime a spawned task only runs when the test
//! yields, and the test yields until every task has reached its steady state (running, or
//! waiting for its turn) before it checks anything.
#![forbid(unsafe_code)]

mod support;

use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::task::Poll;

use proptest::prelude::*;
use support::poll_once;
use tasks_recorder::{AsyncTasksRecorder, LaunchError, TaskState};
use tokio::sync::oneshot;

/// The id space: small, so that operations collide on ids.
const IDS: u64 = 5;
/// How many attempts may wait for their turn.
const QUEUE: usize = 2;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// `try_launch` of a task that runs until released.
    TryLaunch(u64),
    /// `launch_when_room`, polled once; dropped if it waits for room.
    WhenRoom(u64),
    /// The running attempt returns `Ok`.
    Release,
    /// `cancel` of the id.
    Cancel(u64),
}

/// What the model expects of a launch.
#[derive(Debug, PartialEq, Eq)]
enum Launch {
    Accepted,
    Running,
    Succeeded,
    QueueFull,
    /// `launch_when_room` with no room: it waits, and is dropped.
    Waits,
}

#[derive(Debug, Default)]
struct Model {
    running: Option<u64>,
    queue: VecDeque<u64>,
    states: HashMap<u64, TaskState>,
    started: u64,
}

impl Model {
    fn state(&self, id: u64) -> TaskState {
        self.states.get(&id).copied().unwrap_or(TaskState::NotFound)
    }

    /// The next queued attempt starts if none runs.
    fn settle(&mut self) {
        if self.running.is_none() {
            if let Some(next) = self.queue.pop_front() {
                self.running = Some(next);
                self.started += 1;
            }
        }
    }

    fn launch(&mut self, id: u64, waits: bool) -> Launch {
        match self.state(id) {
            TaskState::Working => return Launch::Running,
            TaskState::Success => return Launch::Succeeded,
            _ => {}
        }
        if self.queue.len() >= QUEUE {
            return if waits {
                Launch::Waits
            } else {
                Launch::QueueFull
            };
        }
        self.states.insert(id, TaskState::Working);
        self.queue.push_back(id);
        self.settle();
        Launch::Accepted
    }

    fn release(&mut self) -> Option<u64> {
        let id = self.running.take()?;
        self.states.insert(id, TaskState::Success);
        self.settle();
        Some(id)
    }

    fn cancel(&mut self, id: u64) -> bool {
        if self.running == Some(id) {
            self.running = None;
        } else if let Some(at) = self.queue.iter().position(|&q| q == id) {
            self.queue.remove(at);
        } else {
            return false;
        }
        self.states.insert(id, TaskState::Failed);
        self.settle();
        true
    }
}

/// Lets every spawned task reach its steady state.
async fn settle() {
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..IDS).prop_map(Op::TryLaunch),
        2 => (0..IDS).prop_map(Op::WhenRoom),
        3 => Just(Op::Release),
        1 => (0..IDS).prop_map(Op::Cancel),
    ]
}

async fn run(ops: Vec<Op>) {
    let recorder: AsyncTasksRecorder<u64> = AsyncTasksRecorder::builder()
        .max_concurrency(1)
        .max_queued(QUEUE)
        .build();
    let mut model = Model::default();
    let mut gates: HashMap<u64, oneshot::Sender<()>> = HashMap::new();
    // A task that runs until released; its sender is kept only if the launch is accepted.
    let task = || {
        let (release, released) = oneshot::channel::<()>();
        (release, async move { released.await.map_err(drop) })
    };
    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        match *op {
            Op::TryLaunch(id) => {
                let expected = model.launch(id, false);
                let (release, task) = task();
                let got = match recorder.try_launch(id, task).await {
                    Ok(()) => {
                        gates.insert(id, release);
                        Launch::Accepted
                    }
                    Err(LaunchError::AlreadyRunning(_)) => Launch::Running,
                    Err(LaunchError::AlreadySucceeded(_)) => Launch::Succeeded,
                    Err(LaunchError::QueueFull(_)) => Launch::QueueFull,
                    Err(other) => panic!("{what}: {other}"),
                };
                assert_eq!(got, expected, "{what}");
            }
            Op::WhenRoom(id) => {
                let expected = model.launch(id, true);
                let (release, task) = task();
                let launch = recorder.launch_when_room(id, task);
                let got = match poll_once(pin!(launch)) {
                    Poll::Pending => Launch::Waits,
                    Poll::Ready(Ok(())) => {
                        gates.insert(id, release);
                        Launch::Accepted
                    }
                    Poll::Ready(Err(LaunchError::AlreadyRunning(_))) => Launch::Running,
                    Poll::Ready(Err(LaunchError::AlreadySucceeded(_))) => Launch::Succeeded,
                    Poll::Ready(Err(other)) => panic!("{what}: {other}"),
                };
                assert_eq!(got, expected, "{what}");
            }
            Op::Release => {
                if let Some(id) = model.release() {
                    gates
                        .remove(&id)
                        .expect("a gate")
                        .send(())
                        .expect("the running task waits");
                }
            }
            Op::Cancel(id) => {
                let expected = model.cancel(id);
                assert_eq!(recorder.cancel(&id), expected, "{what}");
            }
        }
        settle().await;
        for id in 0..IDS {
            let info = recorder.task_info(&id).await;
            let state = info.as_ref().map_or(TaskState::NotFound, |i| i.state);
            assert_eq!(state, model.state(id), "{what}: id {id}");
            let queued = info.is_some_and(|i| i.queued);
            assert_eq!(queued, model.queue.contains(&id), "{what}: id {id} queued");
        }
        let c = recorder.counters();
        assert_eq!(c.queued_now, model.queue.len() as u64, "{what}: queued_now");
        assert_eq!(c.started_total, model.started, "{what}: started_total");
    }
    for (_, release) in gates.drain() {
        let _ = release.send(());
    }
    recorder.shutdown().await;
    let c = recorder.counters();
    assert_eq!((c.queued_now, c.working_now), (0, 0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Catches a bounded queue or a queued/started split that drifts from its rules under
    /// any interleaving of launches, waits for room, releases and cancels: a place lost or
    /// taken twice, a refusal when there was room, an attempt started out of launch order,
    /// a queued flag or counter that lies.
    #[test]
    fn queued_attempts_follow_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(run(ops));
    }
}
