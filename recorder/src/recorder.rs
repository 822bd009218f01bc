//! [`AsyncTasksRecorder`]: the records of every id, and the two steps every attempt goes
//! through, applying the [state machine](crate::transition): `claim` on launch and `settle`
//! when it ends. The operations are in modules of their own: [`launch`](crate::launch),
//! [`query`](crate::query), [`listing`](crate::listing), [`revoke`](crate::revoke),
//! [`lifecycle`](crate::lifecycle), [`retention`](crate::retention), [`seeding`](crate::seeding).

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use scc::hash_map::Entry;
use tokio::sync::broadcast;

use crate::attempt::{Attempt, Claimed};
use crate::builder::Options;
use crate::children::Family;
use crate::info::Failure;
use crate::info::Transition;
use crate::policy::PolicyState;
use crate::running::{Running, Stop};
use crate::store::{Admit, Machinery, Store};
use crate::tally::Event;
use crate::transition::{self, LaunchRefusal, Outcome, Record};
use crate::{Builder, TaskState};

/// Records the state of async tasks launched under unique ids.
///
/// Every id has at most one record, held in one concurrent hash map ([`scc::HashMap`]) and
/// changed only under the lock of its entry, so every operation on an id is atomic and every
/// query is linearizable. See the [crate docs](crate) for the state machine and the
/// guarantees.
///
/// Clones share one record: clone the recorder (an [`Arc`] clone) to hand it to other tasks.
/// Every method is safe to call concurrently from any number of tasks and threads.
///
/// Besides the API of `async_tasks_recorder` 2.0.2 (`launch`, `launch_block`,
/// `query_task_state`, `query_task_state_quick`, `revoke_task_block`), a recorder can
/// [wait](Self::wait) for an id, [cancel](Self::cancel) it, [cancel every
/// task](Self::cancel_all), [close](Self::close) to new launches and [shut
/// down](Self::shutdown) gracefully; its [`Builder`] sets a concurrency limit and a
/// cancellation token.
pub struct AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    pub(crate) inner: Arc<Inner<T>>,
}

/// How ids are hashed: foldhash, seeded at random per recorder. It is several times cheaper
/// than std's SipHash, and every operation hashes its id once; its resistance to crafted
/// collisions is weaker than SipHash's, though the random seed keeps an attacker from
/// precomputing them.
type IdHasher = foldhash::fast::RandomState;

/// The records and the lifecycle state, shared by every clone of a recorder and every running
/// attempt.
///
/// Only the synchronous methods of the map are used, and no entry is held across an `.await`
/// nor while running foreign code that could drop an attempt: a lock is held for a few
/// instructions by a thread that is running, so waiting for it synchronously is short and
/// cannot deadlock. (scc hands a released lock to the next waiter in line; were that an async
/// waiter, its task could sit unpolled on the very worker thread that a synchronous waiter
/// blocks, and neither would ever run: so the two are never mixed.)
pub(crate) struct Inner<T> {
    pub(crate) records: scc::HashMap<T, Record, IdHasher>,
    /// The ids whose record is `Failed`, so that listing and counting them costs the number
    /// of failed ids, not of all records. Only failures, relaunches of failed ids and
    /// removals touch it, never the launch-to-success path. It is changed inside the critical
    /// section of the id's record, in the order that keeps "in the index" implying "`Failed`":
    /// a record becomes `Failed` before its id enters, and its id leaves before it stops
    /// being `Failed`. Lock order: a record's bucket, then the index's; never the reverse.
    pub(crate) failed: scc::HashSet<T, IdHasher>,
    /// The limit, token, tracker and counters every attempt runs with.
    pub(crate) machinery: Machinery,
    /// The transitions stream, created by its first subscriber: until then, transitions cost
    /// one atomic load.
    pub(crate) transitions: OnceLock<broadcast::Sender<Transition<T>>>,
    /// The capacity of the transitions stream.
    pub(crate) transitions_capacity: usize,
    /// At most this many failed records are kept (the oldest are removed first).
    pub(crate) max_failed: Option<usize>,
    /// How tracing shows an id, if it may.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) describe_id: Option<fn(&T) -> String>,
    /// What failures do to the recorder (see [`crate::FailurePolicy`]).
    pub(crate) policy: PolicyState,
    /// The recorder's children (see [`crate::AsyncTasksRecorder::child_builder`]).
    pub(crate) family: Arc<Family>,
    /// The family of its parent, if it is a child: its totals stay there when it is gone.
    pub(crate) parent: Option<Arc<Family>>,
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        if let Some(parent) = &self.parent {
            parent.retire(self.family.aggregate(self.machinery.counters()));
        }
    }
}

impl<T> Inner<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Counts a failure of attempt `attempt` of `id` for the failure policy; if it fires,
    /// closes the recorder and cancels every running attempt. No lock is held.
    #[cold]
    fn apply_policy(&self, id: &T, attempt: u32, failure: &Failure) {
        let what = || {
            let id = self
                .describe_id
                .map_or_else(String::new, |describe| format!(" of {}", describe(id)));
            match &failure.message {
                Some(message) => format!("attempt {attempt}{id}: {}: {message}", failure.kind),
                None => format!("attempt {attempt}{id}: {}", failure.kind),
            }
        };
        if self.policy.count(failure, what) {
            self.machinery.tally.count(Event::PolicyFired);
            self.machinery.close();
            self.cancel_all(Stop::Policy);
        }
    }

    /// Publishes a transition of `id` to the subscribers, if anyone ever subscribed. Called
    /// under the id's entry lock, so each id's transitions are published in order.
    pub(crate) fn publish(&self, id: &T, from: TaskState, to: TaskState) {
        #[cfg(feature = "tracing")]
        crate::trace::transition(self, id, from, to);
        if let Some(transitions) = self.transitions.get() {
            // No receiver left is not an error: the transition is simply not watched.
            let _ = transitions.send(Transition {
                id: id.clone(),
                from,
                to,
            });
        }
    }
}

/// The in-memory store: a claim is decided under the entry's lock ([`AsyncTasksRecorder::claim`]),
/// and an attempt's end is applied at once, under the same lock.
impl<T> Store<T> for Inner<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn machinery(&self) -> &Machinery {
        &self.machinery
    }

    /// What happens when an attempt ends: applies `finish` for `attempt` of `id`, wakes the
    /// attempt's waiters with the state it ended in, counts the outcome and publishes the
    /// transition. Synchronous: it also runs from `Drop`.
    ///
    /// The record is replaced first, so that a panicking `Clone` of the id (which the failed
    /// index and the transitions stream take) cannot leave it `Working`. A panicking `Hash`
    /// or `Eq` panics before the record is found: it is left `Working`, and the attempt's
    /// guard still wakes its waiters (see [`Running::release`]).
    fn settle(&self, id: &T, attempt: u32, outcome: Outcome, run: &Arc<Running>) {
        // An attempt the failure policy stopped names the failure that fired it (unless the
        // task gave its own error's text).
        let outcome = match outcome {
            Outcome::Abandoned | Outcome::Failed(None) if run.stopped_by_policy() => {
                Outcome::Failed(self.policy.fired().map(str::to_owned))
            }
            outcome => outcome,
        };
        let policy = self.policy.is_active();
        // The failure, for the failure policy (cloned only where one is set).
        let mut seen: Option<Box<Failure>> = None;
        let failed = self.records.update_sync(id, |id, record| {
            let next = transition::finish(record, attempt, outcome, Instant::now)?;
            let state = next.state();
            let event = match &next {
                Record::Failed { failure, .. } => {
                    #[cfg(feature = "tracing")]
                    crate::trace::failure(self, id, attempt, failure);
                    Event::Failed(failure.kind)
                }
                _ => Event::Succeeded,
            };
            // Counted before the waiters wake: a waiter that reads the counters next sees
            // this end in them.
            self.machinery.tally.count(event);
            if let Record::Working { run, .. } = std::mem::replace(record, next) {
                run.ended(state);
            }
            if state == TaskState::Failed {
                // The record is `Failed` already; an id is in the index at most once.
                let _ = self.failed.insert_sync(id.clone());
            }
            self.publish(id, TaskState::Working, state);
            if policy {
                if let Record::Failed { failure, .. } = record {
                    seen = Some(failure.clone());
                }
            }
            Some(state == TaskState::Failed)
        });
        if failed.flatten() == Some(true) {
            self.enforce_max_failed();
            if let Some(failure) = seen {
                self.apply_policy(id, attempt, &failure);
            }
        }
    }

    fn end_revoke(&self, id: &T, _token: u64, revoked: bool) {
        self.apply_end_revoke(id, revoked);
    }

    fn next_try(&self, id: &T, attempt: u32) -> Option<u32> {
        self.records
            .update_sync(id, |_, record| transition::next_try(record, attempt))
            .flatten()
    }

    fn describe_id(&self, id: &T) -> Option<String> {
        self.describe_id.map(|describe| describe(id))
    }
}

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Creates an empty recorder (every id is [`TaskState::NotFound`]) with no concurrency
    /// limit and no cancellation token. Use [`builder`](Self::builder) for those.
    pub fn new() -> Self {
        Builder::new().build()
    }

    /// A [`Builder`] to set a concurrency limit or a cancellation token.
    pub fn builder() -> Builder<T> {
        Builder::new()
    }

    pub(crate) fn from_options(options: Options, describe_id: Option<fn(&T) -> String>) -> Self {
        let Options {
            limits,
            token,
            transitions_capacity,
            max_failed,
            name,
            timeout,
            cancel_grace,
            policy,
            parent,
            inherited,
        } = options;
        let mut machinery =
            Machinery::new(name, limits, token).with_timeouts(timeout, cancel_grace);
        if let Some(schedule) = inherited {
            machinery.schedule = schedule;
        }
        let inner = Arc::new(Inner {
            records: scc::HashMap::with_hasher(IdHasher::default()),
            failed: scc::HashSet::with_hasher(IdHasher::default()),
            machinery,
            transitions: OnceLock::new(),
            transitions_capacity,
            max_failed,
            describe_id,
            policy: PolicyState::new(policy),
            family: Arc::default(),
            parent: parent.clone(),
        });
        if let Some(parent) = parent {
            parent.adopt(&inner);
        }
        AsyncTasksRecorder { inner }
    }

    /// A handle to the recorder of `inner`.
    pub(crate) fn from_inner(inner: Arc<Inner<T>>) -> Self {
        AsyncTasksRecorder { inner }
    }

    /// What happens on launch, for `launch`, `launch_block` and the `try_` forms: under the
    /// id's entry lock, asks the state machine whether a new attempt starts; if so, stores the
    /// `Working` record, built from `running`, and returns the attempt's guard (with the id
    /// cloned once, for the guard to find the record again). Otherwise hands `task` back with
    /// the reason. An attempt that may start also needs a place among the queued attempts
    /// (when their number is bounded), taken now or held already as `admit` says; without one
    /// the launch is refused as `QueueFull`.
    ///
    /// The id is cloned before anything is stored or counted, so a `Clone` that panics leaves
    /// the id as it was. Nothing that could drop an attempt (a spawn) runs while the entry is
    /// locked.
    pub(crate) fn claim<F>(
        &self,
        task_id: T,
        task: F,
        running: impl FnOnce() -> Running,
        admit: Admit,
    ) -> Result<Claimed<T, Inner<T>, F>, (LaunchRefusal, F)> {
        let entry = self.inner.records.entry_sync(task_id);
        let current = match &entry {
            Entry::Occupied(occupied) => Some(occupied.get()),
            Entry::Vacant(_) => None,
        };
        let from = current.map_or(TaskState::NotFound, Record::state);
        // Counted as running before the closed check: the tracker keeps the count and the
        // closed flag in one atomic, so a shutdown that closes the recorder after this check
        // waits for this attempt. Launches refused because the id runs or succeeded never
        // look at either.
        let mut running_token = None;
        let closed = || {
            running_token = Some(self.inner.machinery.tracker.token());
            self.inner.machinery.is_closed()
        };
        let refused = |refusal: LaunchRefusal, task: F| {
            self.inner.machinery.tally.count(match refusal {
                LaunchRefusal::Running => Event::RefusedRunning,
                LaunchRefusal::Succeeded => Event::RefusedSucceeded,
                LaunchRefusal::Closed { .. } => Event::RefusedClosed,
                LaunchRefusal::QueueFull { .. } => Event::RefusedQueueFull,
            });
            Err((refusal, task))
        };
        let attempt = match transition::launch(current, closed) {
            Ok(attempt) => attempt,
            Err(refusal) => {
                if admit == Admit::Taken {
                    self.inner.machinery.refused_after_admit();
                }
                return refused(refusal, task);
            }
        };
        // Its place among the queued attempts, if their number is bounded: a sure start
        // needs one, or the launch is refused before anything is stored.
        if self.inner.machinery.admit(admit).is_err() {
            let refusal = LaunchRefusal::QueueFull { current: from };
            if admit == Admit::Check {
                // The caller waits for room and comes back: not a refusal yet.
                return Err((refusal, task));
            }
            return refused(refusal, task);
        }
        // Cloned before the record is stored: a panic here changes nothing.
        let id = match &entry {
            Entry::Occupied(occupied) => occupied.key().clone(),
            Entry::Vacant(vacant) => vacant.key().clone(),
        };
        let run = Arc::new(running());
        self.inner.machinery.enqueue(&run);
        let record = Record::Working {
            attempts: attempt,
            run: Arc::clone(&run),
        };
        match entry {
            Entry::Occupied(mut occupied) => {
                if from == TaskState::Failed {
                    self.inner.failed.remove_sync(occupied.key());
                }
                *occupied.get_mut() = record;
            }
            Entry::Vacant(vacant) => {
                vacant.insert_entry(record);
            }
        }
        self.inner.machinery.tally.count(Event::Launched {
            relaunch: from == TaskState::Failed,
        });
        self.inner.publish(&id, from, TaskState::Working);
        let running = running_token.unwrap_or_else(|| self.inner.machinery.tracker.token());
        let guard = Attempt::new(
            Arc::clone(&self.inner),
            id,
            attempt,
            Arc::clone(&run),
            running,
        );
        Ok(Claimed {
            attempt: guard,
            run,
            task,
            timeout: None,
        })
    }
}

impl<T> Clone for AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Another handle to the same records.
    fn clone(&self) -> Self {
        AsyncTasksRecorder {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Default for AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Same as [`AsyncTasksRecorder::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncTasksRecorder")
            .field("name", &self.inner.machinery.name)
            .field("records", &self.inner.records.len())
            .field("running", &self.inner.machinery.tracker.len())
            .field("closed", &self.inner.machinery.is_closed())
            .finish_non_exhaustive()
    }
}
