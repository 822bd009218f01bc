//! An associated function (no `self`) in an `impl` block, generic over the service, with the
//! recorder taken from an argument's field and `Self` in the signature.
use std::sync::Arc;

use tasks_recorder::{recorded_task, AsyncTasksRecorder, TaskState};

#[derive(Clone, Default)]
struct Service {
    jobs: Arc<AsyncTasksRecorder<u64>>,
}

#[derive(Debug)]
struct Report(u64);

impl Service {
    /// Runs job `n` of `service`.
    #[recorded_task(id = n, recorder = service.jobs, block)]
    pub async fn run(service: Service, n: u64) -> Result<Report, std::convert::Infallible> {
        let _ = Self::default();
        drop(service);
        Ok(Report(n))
    }

    /// Runs job `n` of `T`, through a borrowed recorder that the task does not keep.
    #[recorded_task(id = n, recorder = recorder, block)]
    async fn run_with<T: Send + 'static>(
        recorder: &AsyncTasksRecorder<u64>,
        n: u64,
        value: T,
    ) -> Result<T, ()> {
        Ok(value)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let service = Service::default();
        assert_eq!(Service::run(service.clone(), 3).await, Ok(()));
        assert_eq!(service.jobs.query_task_state(&3).await, TaskState::Success);
        assert_eq!(
            Service::run_with(&service.jobs, 3, "x").await,
            Err(TaskState::Success)
        );
        assert_eq!(Service::run_with(&service.jobs, 4, "x").await, Ok(()));
    });
}
