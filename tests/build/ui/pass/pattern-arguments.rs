//! Pattern arguments (`(a, b): (u32, u32)`, `mut v`, a struct pattern) keep their bindings in
//! the id expression and in the body.
use tasks_recorder::{recorded_task, TaskState};

struct Pair {
    left: u32,
    right: u32,
}

#[recorded_task(id = (a, b), block)]
async fn add((a, b): (u32, u32), mut log: Vec<u32>) -> Result<u32, String> {
    log.push(a + b);
    Ok(log[0])
}

#[recorded_task(id = format!("{left}-{right}"), block)]
async fn join(Pair { left, right }: Pair, _unused: u8) -> Result<(), String> {
    if left > right {
        return Err("left > right".to_string());
    }
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(add((1, 2), Vec::new()).await, Ok(()));
        assert_eq!(add((1, 2), Vec::new()).await, Err(TaskState::Success));
        let recorder = tasks_recorder::default_recorder::<(u32, u32)>();
        assert_eq!(recorder.query_task_state(&(1, 2)).await, TaskState::Success);
        assert_eq!(join(Pair { left: 2, right: 1 }, 0).await, Ok(()));
        let recorder = tasks_recorder::default_recorder::<String>();
        assert_eq!(recorder.query_task_state("2-1").await, TaskState::Failed);
    });
}
