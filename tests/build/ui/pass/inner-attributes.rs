//! An inner attribute at the top of the body (`#![allow(..)]`) stays at the top of the body.
// Catches inner attributes printed before the wrapper, where they are not permitted.
#![deny(unused_variables)]

use tasks_recorder::{recorded_task, TaskState};

#[recorded_task(id = n, block)]
async fn job(n: u16) -> Result<(), String> {
    #![allow(unused_variables)]
    let unused = n;
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(job(1).await, Ok(()));
        assert_eq!(job(1).await, Err(TaskState::Success));
    });
}
