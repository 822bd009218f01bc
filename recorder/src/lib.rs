//! Record the state of async tasks launched under unique ids, on tokio.
//!
//! A service launches many jobs (uploads, pins, payments, imports), each under a unique id. An
//! [`AsyncTasksRecorder`] launches a future under an id, records whether it is
//! [`Working`](TaskState::Working), has [`Success`](TaskState::Success)-ed or
//! [`Failed`](TaskState::Failed), never lets an id succeed twice, answers "what state is id X
//! in?" linearizably, lists every id in a state, and revokes a success by running an undo
//! future.
//!
//! It keeps the public API of `async_tasks_recorder` 2.0.2, so a user of that crate switches
//! by renaming the dependency, and fixes its bugs (see [Guarantees](#guarantees)).
//!
//! ```
//! use tasks_recorder::{AsyncTasksRecorder, RevokeFailReason, TaskState};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let uploads: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
//!
//! // Run an upload under its id; `launch` would spawn it instead.
//! let upload = async { Ok::<_, std::io::Error>("stored") };
//! assert!(uploads.launch_block("file-1".to_string(), upload).await.is_ok());
//! assert_eq!(uploads.query_task_state("file-1").await, TaskState::Success);
//!
//! // The same id never succeeds twice: the second future is handed back unpolled.
//! let again = async { Ok::<_, std::io::Error>("stored again") };
//! let (state, _unused) = uploads.launch("file-1".to_string(), again).await.unwrap_err();
//! assert_eq!(state, TaskState::Success);
//!
//! // Revoke the success (e.g. delete the stored file); the id can then be launched again.
//! let undo = async { Ok::<_, std::io::Error>(()) };
//! assert!(uploads.revoke_task_block("file-1".to_string(), undo).await.is_ok());
//! assert_eq!(uploads.query_task_state("file-1").await, TaskState::NotFound);
//!
//! // A revoke of an id that has not succeeded is refused and changes nothing.
//! let undo = async { Ok::<(), std::io::Error>(()) };
//! let refused = uploads.revoke_task_block("file-2".to_string(), undo).await;
//! assert!(matches!(refused, Err(RevokeFailReason::NotSuccess(_))));
//! # }
//! ```
//!
//! # The state machine
//!
//! Each id has one record, held in one concurrent hash map ([`scc::HashMap`]) and changed
//! atomically under the lock of its entry; an id without a record is `NotFound`.
//!
//! ```text
//!            launch                 Ok                    revoke Ok
//! NotFound ─────────▶ Working ─────────────▶ Success ──▶ (revoking) ─────────▶ NotFound
//!    ▲                 │   ▲                    ▲           │
//!    │ remove_failed   │   │ launch             └───────────┘ revoke Err, panic or dropped
//!    │                 ▼   │
//!    └──────────────── Failed  ◀── Err, panic, cancel, or the task dropped before it ended
//! ```
//!
//! - `launch` of a `NotFound` or `Failed` id makes it `Working`; of a `Working` or `Success`
//!   id it is refused with that state and the future is handed back unpolled.
//! - A task that returns `Ok` makes its id `Success`; `Err`, a panic, or the task's future
//!   being dropped before it finished makes it `Failed`.
//! - `revoke_task_block` of a `Success` id marks it as revoking (it still reads `Success` and
//!   cannot be launched) and runs the revoke future: on `Ok` the id is `NotFound` again, on
//!   `Err`, a panic or a drop it is `Success` again. A revoke of any other id is refused.
//! - [`mark_succeeded`](AsyncTasksRecorder::mark_succeeded) makes a `NotFound` or `Failed` id
//!   `Success` without running anything (work known to be done: found at startup, or
//!   restored with [`mark_all_succeeded`](AsyncTasksRecorder::mark_all_succeeded) from what
//!   [`successes`](AsyncTasksRecorder::successes) saved); it is refused while the id is
//!   `Working` or being revoked.
//!
//! # Guarantees
//!
//! 1. **At most one success per id**: however many launches race for an id, at most one
//!    future under it returns `Ok` until the id is revoked. A launch refused for an id never
//!    polls its future.
//! 2. **Launch is visible**: once `launch(..).await` returns `Ok`, no query answers
//!    `NotFound` or a `Failed` from before the launch.
//! 3. **Linearizable queries**: a query reads the id's one record atomically, so its answer
//!    is a state the id held at some moment during the call. A succeeded id reads `Success`
//!    until a revoke of it returns `Ok`.
//! 4. **Failure is harmless**: a `Failed` id can be launched again.
//! 5. **Nothing is left stuck** (each of these is a bug of `async_tasks_recorder` 2.0.2):
//!    - launching an id that already succeeded leaves it `Success`;
//!    - a task that panics is recorded `Failed` (the runtime keeps running);
//!    - a refused revoke (the id is `Working`, `Failed` or `NotFound`) leaves nothing behind,
//!      so a later revoke is not refused as `Revoking`;
//!    - dropping a `launch_block` or `revoke_task_block` future half way records the task
//!      `Failed`, or the revoked id `Success` again: never `Working` or revoking forever.
//! 6. **Cancellation keeps the rules**: a cancelled attempt ends `Failed` once its future is
//!    dropped; if it finished first, its own outcome is recorded, so a success is never
//!    hidden and never repeated.
//! 7. **Shutdown leaves nothing running**: once [`shutdown`](AsyncTasksRecorder::shutdown)
//!    returns, no task of the recorder runs and no id is `Working`.
//!
//! # Limits
//!
//! - **The id type's own code.** `Clone`, `Hash` and `Eq` of the id run under the lock of the
//!   id's bucket: they must not call the recorder. A `Clone` that panics during a launch
//!   leaves the id as it was. A `Hash` or `Eq` that panics when an attempt ends keeps the
//!   record from being found: it stays `Working`, but the attempt's waiters are woken (with
//!   `Working`) and [`shutdown`](AsyncTasksRecorder::shutdown) does not wait for it.
//! - **Nothing else of yours runs under a lock.** Visitors, predicates and tasks run with no
//!   lock of the recorder held, so they may call the recorder.
//! - **A task cannot wait for itself.** [`wait`](AsyncTasksRecorder::wait) for its own id, or
//!   [`shutdown`](AsyncTasksRecorder::shutdown) of its own recorder, from inside a task panics
//!   with a message saying so, rather than hang. Longer cycles (a task of id 1 waiting for id
//!   2, whose task waits for id 1) cannot be seen, and hang.
//! - **Cancellation needs an `.await`.** A cancelled future is dropped at its next `.await`;
//!   one that never yields runs to its end, and a shutdown waits for it.
//!
//! # Waiting, cancelling, shutting down
//!
//! Beyond the API of 2.0.2, a recorder controls the lifecycle of its tasks:
//!
//! - [`wait`](AsyncTasksRecorder::wait) for an id to stop being `Working`, without polling;
//! - [`cancel`](AsyncTasksRecorder::cancel) one id, or [`cancel_all`](AsyncTasksRecorder::cancel_all)
//!   (the future is dropped at its next `.await`; the id becomes `Failed`);
//! - [`close`](AsyncTasksRecorder::close) to new launches, [`shutdown`](AsyncTasksRecorder::shutdown)
//!   gracefully, or [`shutdown_with_grace`](AsyncTasksRecorder::shutdown_with_grace) and cancel
//!   the stragglers; [`try_launch`](AsyncTasksRecorder::try_launch) tells a closed recorder
//!   apart with [`LaunchError::Closed`];
//! - a [`Builder`] sets a concurrency limit, a [rate limit](Builder::rate_limit) and a
//!   [bound on the queued attempts](Builder::max_queued) (an attempt waiting for its turn
//!   reads `Working` and [`TaskInfo::queued`]; [`launch_when_room`](AsyncTasksRecorder::launch_when_room)
//!   waits for room: back-pressure), a [failure policy](FailurePolicy) that stops everything
//!   when tasks fail, and ties the recorder to a
//!   [`CancellationToken`](tokio_util::sync::CancellationToken) (child tokens make
//!   hierarchies);
//! - [`child_builder`](AsyncTasksRecorder::child_builder) makes a child recorder for a
//!   subsystem: shared limits, a child token, counters that add into
//!   [`aggregate_counters`](AsyncTasksRecorder::aggregate_counters), drained first by the
//!   parent's shutdown.
//!
//! `tasks-recorder-postgres` shares the concurrency and rate limits and the queued/started
//! split; it has no queue bound, failure policy or children.
//!
//! ```
//! use std::time::Duration;
//! use tasks_recorder::{AsyncTasksRecorder, TaskState};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let jobs: AsyncTasksRecorder<u32> = AsyncTasksRecorder::builder().max_concurrency(4).build();
//! for id in 0..10 {
//!     let job = async move { if id == 3 { Err("bad input") } else { Ok(id * 2) } };
//!     assert!(jobs.launch(id, job).await.is_ok());
//! }
//! assert_eq!(jobs.wait(&3).await, TaskState::Failed);
//! let hang = std::future::pending::<Result<(), ()>>();
//! assert!(jobs.launch(99, hang).await.is_ok());
//! // Close, give the running jobs 10 ms, then cancel the rest.
//! let cancelled = jobs.shutdown_with_grace(Duration::from_millis(10)).await;
//! assert_eq!(cancelled, 1);
//! assert_eq!(jobs.count_in_state(TaskState::Working).await, 0);
//! assert_eq!(jobs.count_in_state(TaskState::Success).await, 9);
//! # }
//! ```
//!
//! # Observing
//!
//! [`task_info`](AsyncTasksRecorder::task_info) says how many attempts an id took and why its
//! last one failed ([`FailureKind`]: an error, with its text when launched with
//! [`launch_with_error_text`](AsyncTasksRecorder::launch_with_error_text), a panic with its
//! message, a cancel, a shutdown, a drop). [`counters`](AsyncTasksRecorder::counters) are exact
//! event counts and gauges; the `metrics` feature publishes them through the `metrics` facade
//! (`AsyncTasksRecorder::publish_metrics`, with the `metrics` feature).
//! [`subscribe_transitions`](AsyncTasksRecorder::subscribe_transitions) streams every state
//! change. The `tracing` feature runs each task in a span carrying its id. Failed records can be
//! removed by hand, by age, or bounded by [`Builder::max_failed`]; `Success` records leave only
//! by revoke, since they are the at-most-once guarantee.
//!
//! # Costs
//!
//! A query is one hash map read. A launch is one entry lookup with the lock held, one clone of
//! the id (the task keeps it to record its outcome), one small allocation (the running
//! attempt's cancel handle) and a `tokio::spawn`; the task's completion is one more update of
//! the entry and a few uncontended atomic increments for the counters. Waiting, cancelling and
//! the transitions stream cost nothing until used. Listing ids by state scans every record.
//!
//! # Features
//!
//! - `macros` (default): the [`recorded_task`] attribute.
//! - `metrics`: `AsyncTasksRecorder::publish_metrics`, which publishes the counters through
//!   the `metrics` facade.
//! - `tracing`: spans and events for tasks and transitions.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// `#[recorded_task]` names this crate `::tasks_recorder` wherever its own package expands it
// (its doctests and examples are crates of their own, and `proc-macro-crate` cannot tell them
// from this lib): this makes that path right inside the lib too.
extern crate self as tasks_recorder;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod attempt;
mod builder;
mod children;
mod context;
mod default_recorder;
mod info;
mod launch;
mod lifecycle;
mod listing;
#[cfg(feature = "metrics")]
mod metrics;
mod output;
mod policy;
mod query;
mod recorder;
mod retention;
mod retry;
mod revoke;
mod running;
mod schedule;
mod seeding;
mod state;
#[doc(hidden)]
pub mod store;
mod tally;
mod trace;
mod transition;

pub use builder::Builder;
pub use context::{current_attempt, CurrentAttempt};
pub use default_recorder::default_recorder;
pub use info::{Counters, Failure, FailureKind, TaskInfo, Transition};
pub use output::{NoOutput, TaskHandle};
pub use policy::FailurePolicy;
pub use recorder::AsyncTasksRecorder;
pub use retry::Retry;
pub use seeding::{MarkError, SeedReport};
pub use state::{LaunchError, RevokeFailReason, TaskState};

#[cfg(feature = "macros")]
pub use tasks_recorder_macros::recorded_task;

/// Compiles the code blocks of the README, so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
