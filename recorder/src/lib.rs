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
//!                      │   ▲                    ▲           │
//!                      │   │ launch             └───────────┘ revoke Err, panic or dropped
//!                      ▼   │
//!                     Failed  ◀── Err, panic, or the task dropped before it finished
//! ```
//!
//! - `launch` of a `NotFound` or `Failed` id makes it `Working`; of a `Working` or `Success`
//!   id it is refused with that state and the future is handed back unpolled.
//! - A task that returns `Ok` makes its id `Success`; `Err`, a panic, or the task's future
//!   being dropped before it finished makes it `Failed`.
//! - `revoke_task_block` of a `Success` id marks it as revoking (it still reads `Success` and
//!   cannot be launched) and runs the revoke future: on `Ok` the id is `NotFound` again, on
//!   `Err`, a panic or a drop it is `Success` again. A revoke of any other id is refused.
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
//!
//! # Costs
//!
//! A query is one hash map read. A launch is one entry lookup with the lock held, one clone of
//! the id (the task keeps it to record its outcome) and a `tokio::spawn`; the task's completion
//! is one more update of the entry. Listing ids by state scans every record.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod attempt;
mod builder;
mod default_recorder;
mod info;
#[cfg(feature = "metrics")]
mod metrics;
mod recorder;
mod running;
mod state;
mod tally;
#[cfg(feature = "tracing")]
mod trace;
mod transition;

pub use builder::Builder;
pub use default_recorder::*;
pub use info::{Counters, Failure, FailureKind, TaskInfo, Transition};
pub use recorder::AsyncTasksRecorder;
pub use state::{LaunchError, RevokeFailReason, TaskState};

#[cfg(feature = "macros")]
pub use tasks_recorder_macros::recorded_task;
