//! Every competitor behind the same small traits, each calling its own public API and nothing
//! more, so a scenario runs the same driver code for all of them.

use std::future::Future;
use std::sync::Arc;

use crate::ids::BenchId;
use crate::scc_map::{MapState, SccMapRecorder};

/// The state of an id, as every recorder answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A task runs under the id.
    Working,
    /// The id's task succeeded.
    Success,
    /// The id's last task failed.
    Failed,
    /// The id is unknown.
    NotFound,
}

/// Something that launches tasks under ids: a recorder, or a bare spawner for reference.
pub trait Launcher<I: BenchId>: Send + Sync + Sized + 'static {
    /// How the report names this competitor.
    const NAME: &'static str;

    /// A new, empty instance.
    fn create() -> Self;

    /// Launches `task` under `id` (spawning it); returns whether it was launched.
    fn launch<F>(&self, id: I, task: F) -> impl Future<Output = bool> + Send
    where
        F: Future<Output = Result<(), ()>> + Send + 'static;

    /// Called once after the last launch of a run, before waiting for the tasks.
    fn finish(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A task recorder: launches, queries, lists and revokes.
pub trait Recorder<I: BenchId>: Launcher<I> {
    /// Runs `task` under `id` inline; returns whether it ran.
    fn launch_block<F>(&self, id: I, task: F) -> impl Future<Output = bool> + Send
    where
        F: Future<Output = Result<(), ()>> + Send + 'static;

    /// The (linearizable) state of `id`.
    fn query(&self, id: &I) -> impl Future<Output = State> + Send;

    /// Revokes the success of `id` with a revoke future that succeeds at once; returns whether
    /// the id was revoked.
    fn revoke(&self, id: I) -> impl Future<Output = bool> + Send;

    /// Every id in `state`, cloned into a `Vec`.
    fn list(&self, state: State) -> impl Future<Output = Vec<I>> + Send;
}

/// Something answering "is this id there, and in which state": a recorder or a raw map.
pub trait Lookup<I: BenchId>: Send + Sync + Sized + 'static {
    /// How the report names this competitor.
    const NAME: &'static str;

    /// An instance holding `ids`, each as succeeded.
    fn with_successes(ids: Vec<I>) -> impl Future<Output = Self> + Send;

    /// One query of `id`.
    fn lookup(&self, id: &I) -> impl Future<Output = State> + Send;
}

/// Fills a recorder with `ids`, each succeeded (through `launch_block`).
pub async fn fill_successes<I: BenchId, R: Recorder<I>>(recorder: &R, ids: Vec<I>) {
    for id in ids {
        assert!(recorder.launch_block(id, async { Ok(()) }).await);
    }
}

/// This crate: `tasks_recorder::AsyncTasksRecorder`.
#[derive(Debug)]
pub struct ThisCrate<I: BenchId>(pub tasks_recorder::AsyncTasksRecorder<I>);

fn from_ours(state: tasks_recorder::TaskState) -> State {
    match state {
        tasks_recorder::TaskState::Working => State::Working,
        tasks_recorder::TaskState::Success => State::Success,
        tasks_recorder::TaskState::Failed => State::Failed,
        tasks_recorder::TaskState::NotFound => State::NotFound,
    }
}

fn to_ours(state: State) -> tasks_recorder::TaskState {
    match state {
        State::Working => tasks_recorder::TaskState::Working,
        State::Success => tasks_recorder::TaskState::Success,
        State::Failed => tasks_recorder::TaskState::Failed,
        State::NotFound => tasks_recorder::TaskState::NotFound,
    }
}

impl<I: BenchId> Launcher<I> for ThisCrate<I> {
    const NAME: &'static str = "this crate";

    fn create() -> Self {
        ThisCrate(tasks_recorder::AsyncTasksRecorder::new())
    }

    async fn launch<F>(&self, id: I, task: F) -> bool
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        self.0.launch(id, task).await.is_ok()
    }
}

/// This crate, each launch with a timeout of its own (an hour: it never fires), for the cost
/// of `launch_with_timeout`.
#[derive(Debug)]
pub struct WithTimeout<I: BenchId>(pub tasks_recorder::AsyncTasksRecorder<I>);

impl<I: BenchId> Launcher<I> for WithTimeout<I> {
    const NAME: &'static str = "this crate, launch_with_timeout";

    fn create() -> Self {
        WithTimeout(tasks_recorder::AsyncTasksRecorder::new())
    }

    async fn launch<F>(&self, id: I, task: F) -> bool
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        let timeout = std::time::Duration::from_secs(3600);
        self.0.launch_with_timeout(id, timeout, task).await.is_ok()
    }
}

/// This crate under a rate limit it never reaches (a billion starts a second, a million at
/// once), for the cost of the rate limit's check: each attempt takes its turn (a token of
/// the bucket) before it starts.
#[derive(Debug)]
pub struct RateLimited<I: BenchId>(pub tasks_recorder::AsyncTasksRecorder<I>);

impl<I: BenchId> Launcher<I> for RateLimited<I> {
    const NAME: &'static str = "this crate, under a rate limit";

    fn create() -> Self {
        RateLimited(
            tasks_recorder::AsyncTasksRecorder::builder()
                .rate_limit(1_000_000_000, std::time::Duration::from_secs(1), 1_000_000)
                .build(),
        )
    }

    async fn launch<F>(&self, id: I, task: F) -> bool
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        self.0.launch(id, task).await.is_ok()
    }
}

/// This crate, launching in a child recorder (`child_builder`) of a recorder without limits,
/// for the cost of being a child: none on the launch path, which is the plain one.
#[derive(Debug)]
pub struct Child<I: BenchId> {
    /// Kept alive with the child, as a service would.
    _parent: tasks_recorder::AsyncTasksRecorder<u64>,
    child: tasks_recorder::AsyncTasksRecorder<I>,
}

impl<I: BenchId> Launcher<I> for Child<I> {
    const NAME: &'static str = "this crate, in a child recorder";

    fn create() -> Self {
        let parent = tasks_recorder::AsyncTasksRecorder::<u64>::new();
        let child = parent.child_builder::<I>().build();
        Child {
            _parent: parent,
            child,
        }
    }

    async fn launch<F>(&self, id: I, task: F) -> bool
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        self.child.launch(id, task).await.is_ok()
    }
}

/// This crate, each launch retrying (at most 3 tries) and succeeding on its first try, for
/// the cost of `launch_retrying`.
#[derive(Debug)]
pub struct Retrying<I: BenchId>(pub tasks_recorder::AsyncTasksRecorder<I>);

impl<I: BenchId> Launcher<I> for Retrying<I> {
    const NAME: &'static str = "this crate, launch_retrying";

    fn create() -> Self {
        Retrying(tasks_recorder::AsyncTasksRecorder::new())
    }

    async fn launch<F>(&self, id: I, task: F) -> bool
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        let mut task = Some(task);
        let make = move || {
            let this_try = task.take();
            async move {
                match this_try {
                    Some(task) => task.await,
                    None => Err(()),
                }
            }
        };
        let policy = tasks_recorder::Retry::new(3);
        self.0.launch_retrying(id, policy, make).await.is_ok()
    }
}

impl<I: BenchId> Recorder<I> for ThisCrate<I> {
    async fn launch_block<F>(&self, id: I, task: F) -> bool
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        self.0.launch_block(id, task).await.is_ok()
    }

    async fn query(&self, id: &I) -> State {
        from_ours(self.0.query_task_state(id).await)
    }

    async fn revoke(&self, id: I) -> bool {
        self.0
            .revoke_task_block(id, async { Ok::<(), ()>(()) })
            .await
            .is_ok()
    }

    fn list(&self, state: State) -> impl Future<Output = Vec<I>> + Send {
        self.0.ids_in_state(to_ours(state))
    }
}

impl<I: BenchId> Lookup<I> for ThisCrate<I> {
    const NAME: &'static str = "this crate";

    async fn with_successes(ids: Vec<I>) -> Self {
        let recorder = <Self as Launcher<I>>::create();
        fill_successes(&recorder, ids).await;
        recorder
    }

    fn lookup(&self, id: &I) -> impl Future<Output = State> + Send {
        self.query(id)
    }
}

/// `async_tasks_recorder` 2.0.2 from crates.io, queried with `query_task_state` (its
/// linearizable query).
#[derive(Debug)]
pub struct V202<I: BenchId>(pub async_tasks_recorder::AsyncTasksRecorder<I>);

fn from_202(state: async_tasks_recorder::TaskState) -> State {
    match state {
        async_tasks_recorder::TaskState::Working => State::Working,
        async_tasks_recorder::TaskState::Success => State::Success,
        async_tasks_recorder::TaskState::Failed => State::Failed,
        async_tasks_recorder::TaskState::NotFound => State::NotFound,
    }
}

impl<I: BenchId> Launcher<I> for V202<I> {
    const NAME: &'static str = "2.0.2";

    fn create() -> Self {
        V202(async_tasks_recorder::AsyncTasksRecorder::new())
    }

    async fn launch<F>(&self, id: I, task: F) -> bool
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        self.0.launch(id, task).await.is_ok()
    }
}

impl<I: BenchId> Recorder<I> for V202<I> {
    async fn launch_block<F>(&self, id: I, task: F) -> bool
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        self.0.launch_block(id, task).await.is_ok()
    }

    async fn query(&self, id: &I) -> State {
        from_202(self.0.query_task_state(id).await)
    }

    async fn revoke(&self, id: I) -> bool {
        self.0
            .revoke_task_block(id, async { Ok::<(), ()>(()) })
            .await
            .is_ok()
    }

    /// 2.0.2 keeps one set per state: listing scans that set (`get_*_tasks_ref().scan_async`).
    async fn list(&self, state: State) -> Vec<I> {
        let set = match state {
            State::Working => self.0.get_working_tasks_ref(),
            State::Success => self.0.get_success_tasks_ref(),
            State::Failed => self.0.get_failed_tasks_ref(),
            State::NotFound => return Vec::new(),
        };
        let mut ids = Vec::new();
        set.scan_async(|id| ids.push(id.clone())).await;
        ids
    }
}

impl<I: BenchId> Lookup<I> for V202<I> {
    const NAME: &'static str = "2.0.2";

    async fn with_successes(ids: Vec<I>) -> Self {
        let recorder = <Self as Launcher<I>>::create();
        fill_successes(&recorder, ids).await;
        recorder
    }

    fn lookup(&self, id: &I) -> impl Future<Output = State> + Send {
        self.query(id)
    }
}

/// `async_tasks_recorder` 2.0.2 queried with `query_task_state_quick` (not linearizable: it
/// answers `Working` for an unknown id). Only a query competitor.
#[derive(Debug)]
pub struct V202Quick<I: BenchId>(pub V202<I>);

impl<I: BenchId> Lookup<I> for V202Quick<I> {
    const NAME: &'static str = "2.0.2 quick";

    async fn with_successes(ids: Vec<I>) -> Self {
        V202Quick(V202::with_successes(ids).await)
    }

    async fn lookup(&self, id: &I) -> State {
        from_202(self.0 .0.query_task_state_quick(id).await)
    }
}

/// The hand-written [`SccMapRecorder`].
#[derive(Debug)]
pub struct SccMap<I: BenchId>(pub SccMapRecorder<I>);

fn from_map(state: Option<MapState>) -> State {
    match state {
        Some(MapState::Working) => State::Working,
        Some(MapState::Success | MapState::Revoking) => State::Success,
        Some(MapState::Failed) => State::Failed,
        None => State::NotFound,
    }
}

impl<I: BenchId> Launcher<I> for SccMap<I> {
    const NAME: &'static str = "scc map";

    fn create() -> Self {
        SccMap(SccMapRecorder::new())
    }

    fn launch<F>(&self, id: I, task: F) -> impl Future<Output = bool> + Send
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        self.0.launch(id, task)
    }
}

impl<I: BenchId> Recorder<I> for SccMap<I> {
    fn launch_block<F>(&self, id: I, task: F) -> impl Future<Output = bool> + Send
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        self.0.launch_block(id, task)
    }

    async fn query(&self, id: &I) -> State {
        from_map(self.0.query(id).await)
    }

    fn revoke(&self, id: I) -> impl Future<Output = bool> + Send {
        self.0.revoke(id, async { Ok::<(), ()>(()) })
    }

    fn list(&self, state: State) -> impl Future<Output = Vec<I>> + Send {
        self.0.ids_where(move |s| from_map(Some(s)) == state)
    }
}

impl<I: BenchId> Lookup<I> for SccMap<I> {
    const NAME: &'static str = "scc map";

    async fn with_successes(ids: Vec<I>) -> Self {
        let recorder = <Self as Launcher<I>>::create();
        fill_successes(&recorder, ids).await;
        recorder
    }

    fn lookup(&self, id: &I) -> impl Future<Output = State> + Send {
        self.query(id)
    }
}

/// One raw `scc::HashMap<Id, State>::read_async`: the floor of any query.
#[derive(Debug)]
pub struct RawRead<I: BenchId>(pub scc::HashMap<I, State>);

impl<I: BenchId> Lookup<I> for RawRead<I> {
    const NAME: &'static str = "scc read";

    async fn with_successes(ids: Vec<I>) -> Self {
        let map = scc::HashMap::new();
        for id in ids {
            assert!(map.insert_async(id, State::Success).await.is_ok());
        }
        RawRead(map)
    }

    async fn lookup(&self, id: &I) -> State {
        self.0
            .read_async(id, |_, state| *state)
            .await
            .unwrap_or(State::NotFound)
    }
}

/// Bare `tokio::spawn`, the task carrying its id: the floor any recorder pays.
#[derive(Debug, Default)]
pub struct BareSpawn;

impl<I: BenchId> Launcher<I> for BareSpawn {
    const NAME: &'static str = "tokio::spawn";

    fn create() -> Self {
        BareSpawn
    }

    fn launch<F>(&self, id: I, task: F) -> impl Future<Output = bool> + Send
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        tokio::spawn(async move {
            let out = task.await;
            drop(id);
            out
        });
        async { true }
    }
}

/// tokio-util's `TaskTracker::spawn`, closed and awaited (`wait`) after the last launch.
#[derive(Debug, Default)]
pub struct Tracker(pub Arc<tokio_util::task::TaskTracker>);

impl<I: BenchId> Launcher<I> for Tracker {
    const NAME: &'static str = "TaskTracker";

    fn create() -> Self {
        Tracker(Arc::new(tokio_util::task::TaskTracker::new()))
    }

    fn launch<F>(&self, id: I, task: F) -> impl Future<Output = bool> + Send
    where
        F: Future<Output = Result<(), ()>> + Send + 'static,
    {
        self.0.spawn(async move {
            let out = task.await;
            drop(id);
            out
        });
        async { true }
    }

    fn finish(&self) -> impl Future<Output = ()> + Send {
        self.0.close();
        self.0.wait()
    }
}
