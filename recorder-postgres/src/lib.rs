//! Records that survive restarts and are shared by every replica: a PostgreSQL-backed
//! [`tasks_recorder`].
//!
//! A [`PgRecorder`] has the operations of
//! [`AsyncTasksRecorder`](tasks_recorder::AsyncTasksRecorder) (`launch`, `try_launch`,
//! `launch_block`, `query_task_state`, `task_info`, `revoke_task_block`, `wait`, `cancel`,
//! `ids_in_state`, `count_in_state`, `remove_failed`, `mark_succeeded`,
//! `mark_all_succeeded`, `close`, `shutdown`, `shutdown_with_grace`, `counters`), with the same meaning, on records kept in a database
//! that every process connecting under the same recorder name shares. Database errors are
//! returned as [`Error`]s that say what failed and for which id; nothing here panics on a
//! database error.
//!
//! ```no_run
//! use tasks_recorder::TaskState;
//! use tasks_recorder_postgres::PgRecorder;
//!
//! # async fn demo() -> Result<(), tasks_recorder_postgres::Error> {
//! let uploads: PgRecorder<String> =
//!     PgRecorder::connect("postgres://app@db/app", "uploads").await?;
//! match uploads.launch("md5-of-file".to_string(), async { Ok::<_, std::io::Error>(()) }).await? {
//!     Ok(()) => println!("launched, here or nowhere else"),
//!     Err((TaskState::Working, _task)) => println!("running in some replica"),
//!     Err((state, _task)) => println!("refused: {state}"),
//! }
//! let done = uploads.wait("md5-of-file").await?;
//! # Ok(()) }
//! ```
//!
//! # With `#[recorded_task]`
//!
//! `tasks_recorder`'s attribute launches through a `PgRecorder` as through an in-memory
//! recorder. Since such a launch can fail, the function says which type returns the
//! [`Error`] (this one, or any type that implements `From<Error>`) with `recorder_error`, and
//! returns `Result<Result<(), TaskState>, E>`:
//!
//! ```no_run
//! use tasks_recorder::{recorded_task, TaskState};
//! use tasks_recorder_postgres::PgRecorder;
//!
//! #[recorded_task(id = md5.clone(), recorder = uploads, recorder_error = tasks_recorder_postgres::Error)]
//! async fn store_upload(uploads: &PgRecorder<String>, md5: String) -> std::io::Result<()> {
//!     Ok(()) // the real work
//! }
//!
//! # async fn demo(uploads: PgRecorder<String>) -> Result<(), tasks_recorder_postgres::Error> {
//! match store_upload(&uploads, "md5-of-file".to_string()).await? {
//!     Ok(()) => println!("launched, here or nowhere else"),
//!     Err(state) => println!("refused: {state}"),
//! }
//! # Ok(()) }
//! ```
//!
//! See the attribute's documentation (`tasks_recorder::recorded_task`) for the details.
//!
//! # What "at most once" means across processes
//!
//! At most one **recorded** success per id: the database's row of an id can become
//! `Success` once, until it is revoked, whatever the number of processes. Each launch first
//! commits a claim (`Working`, this process's, attempt number *n*), and only then polls the
//! task's future; a launch whose claim did not commit reports an error and never polls its
//! future.
//!
//! # Leases and fencing
//!
//! A `Working` or revoking row names its owner (a process's recorder) and a lease deadline,
//! read off the database's clock. The owner renews all its leases together, one statement
//! per third of a lease. If the owner crashes, hangs or loses the database, its leases run
//! out: its `Working` ids then read `Failed` ([`FailureKind::Lost`]) and can be launched
//! again, and its revoking ids read `Success`. An owner that cannot renew before its
//! deadline stops its own attempts, since it has lost them.
//!
//! The attempt number is the fencing token. The end of an attempt changes its row only if
//! the row is still that attempt's, this owner's, under an unexpired lease: a process that
//! was paused past its lease (a "zombie") and wakes up cannot overwrite a newer attempt nor
//! turn a lost attempt into a success; its late ends are counted
//! ([`Counters::fenced_total`](tasks_recorder::Counters::fenced_total)). A task whose side
//! effects must be fenced too reads its attempt number with
//! [`PgRecorder::local_attempt`] and stores it with its writes.
//!
//! A task can still run twice: if its process loses its lease (crash, pause, partition)
//! after the task's side effect and before its end is recorded, the id is relaunched. Make
//! side effects idempotent, or fence them, when that matters.
//!
//! # Speed
//!
//! Claims of concurrent launches go to the database in one statement (one commit for the
//! batch); ends of attempts are coalesced the same way; leases are renewed together. A launch
//! that finds no other claim pending claims its id itself, in its own task, with a plain
//! insert when the id has no record; a lone end is a plain update. A lone query is one
//! primary-key read; queries asked while others are under way share one statement (one
//! primary-key lookup per id), which keeps them linearizable: each is taken from the queue
//! before its statement starts and answered after it returns. Every operation is bounded by
//! [`PgBuilder::operation_timeout`] through one clock of the recorder's, not a timer each.
//! The driver is `tokio-postgres` with a `deadpool-postgres` pool (see the README's
//! "Sharing records across processes" for why).
//!
//! # The store boundary
//!
//! The attempt machinery (guards that settle a record whatever happens to the future,
//! cancellation, limits, shutdown, counters) is `tasks_recorder`'s own, generic over its
//! `Store` trait; this crate implements the store (claims, batched ends, leases) and the
//! operations that read and revoke in the database. The in-memory recorder is compiled
//! against its own store, so it pays nothing for this one.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attribute;
mod background;
mod batch;
mod connect;
mod error;
mod id;
mod reads;
mod recorder;
mod seeding;
mod shared;
mod sql;
mod timeouts;

pub use connect::PgBuilder;
pub use error::{Error, ErrorKind};
pub use id::{PgId, PgKey};
pub use recorder::PgRecorder;
pub use tasks_recorder::FailureKind;
