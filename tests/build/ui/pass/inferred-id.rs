//! An id whose type only the recorder decides (`n.into()`, `name.into()`,
//! `Default::default()`) is inferred to be the recorder's id type.
// Catches an id check that needs the id's type known on its own (a regression of the
// check that the id is owned).
use tasks_recorder::{recorded_task, AsyncTasksRecorder, TaskState};

#[recorded_task(id = n.into(), recorder = jobs, block)]
async fn widen(jobs: &AsyncTasksRecorder<u64>, n: u32) -> Result<(), String> {
    Ok(())
}

#[recorded_task(id = name.into(), recorder = jobs, block)]
async fn named(jobs: &AsyncTasksRecorder<String>, name: &str) -> Result<(), String> {
    Ok(())
}

#[recorded_task(id = Default::default(), recorder = jobs, block)]
async fn zero(jobs: &AsyncTasksRecorder<u64>) -> Result<(), String> {
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let numbers = AsyncTasksRecorder::new();
        assert_eq!(widen(&numbers, 7).await, Ok(()));
        assert_eq!(zero(&numbers).await, Ok(()));
        assert_eq!(numbers.query_task_state(&7).await, TaskState::Success);
        assert_eq!(numbers.query_task_state(&0).await, TaskState::Success);
        let names = AsyncTasksRecorder::new();
        assert_eq!(named(&names, "a").await, Ok(()));
        assert_eq!(names.query_task_state("a").await, TaskState::Success);
    });
}
