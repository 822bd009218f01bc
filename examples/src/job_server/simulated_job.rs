//! The jobs the service runs: a [`JobSpec`] says how long one works and how it ends; in
//! memory, [`#[recorded_task]`](tasks_recorder::recorded_task) launches it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tasks_recorder::{recorded_task, AsyncTasksRecorder};

/// The start of the message of a simulated job's panic.
pub const SIMULATED_PANIC: &str = "simulated panic";

/// Installs a panic hook that prints one line for the panics of simulated jobs (the
/// recorder records them as `Failed`, with the message), instead of the default message and
/// backtrace; other panics are printed by the hook that was installed before.
pub fn quiet_simulated_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        match message {
            Some(message) if message.starts_with(SIMULATED_PANIC) => {
                eprintln!("job_server: {message} (recorded as failed)");
            }
            _ => previous(info),
        }
    }));
}

/// What a `PUT /jobs/{id}` asks for: a simulated job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSpec {
    /// How long the job works, in milliseconds (a `tokio::time::sleep`).
    pub duration_ms: u64,
    /// Whether the job then returns an error.
    pub fail: bool,
    /// Whether the job then panics (checked before `fail`).
    pub panic: bool,
}

/// The error a simulated job returns when its spec says `fail`.
#[derive(Debug)]
pub struct JobFailed {
    /// How long the job worked before failing, in milliseconds.
    pub after_ms: u64,
}

impl std::fmt::Display for JobFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "simulated failure after {} ms", self.after_ms)
    }
}

impl std::error::Error for JobFailed {}

/// One job, recorded under `id` in `jobs` (in memory): the call returns once the launch is
/// decided (`Ok(())` launched, `Err(state)` refused because the id is `Working` or `Success`,
/// or `NotFound`/`Failed` when the recorder is closed).
#[recorded_task(id = id.clone(), recorder = jobs, error_text)]
pub(super) async fn run_job(
    jobs: AsyncTasksRecorder<String>,
    id: String,
    spec: JobSpec,
) -> Result<(), JobFailed> {
    simulate(&id, spec).await
}

/// The simulated work of the job `id`.
pub(super) async fn simulate(id: &str, spec: JobSpec) -> Result<(), JobFailed> {
    // A real service would call out to storage, a payment API...
    tokio::time::sleep(Duration::from_millis(spec.duration_ms)).await;
    if spec.panic {
        panic!("{SIMULATED_PANIC} in job {id}");
    }
    if spec.fail {
        return Err(JobFailed {
            after_ms: spec.duration_ms,
        });
    }
    Ok(())
}
