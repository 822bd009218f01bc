use std::rc::Rc;

use tasks_recorder::recorded_task;

#[recorded_task(id = n)]
async fn count(n: u32) -> Result<u32, String> {
    let shared = Rc::new(n);
    tokio::task::yield_now().await;
    Ok(*shared)
}

fn main() {}
