use std::fmt::Debug;

use tasks_recorder::recorded_task;

#[recorded_task(id = n)]
async fn describe(n: u32) -> Result<impl Debug + Send, String> {
    Ok(n * 2)
}

fn main() {
    let _ = describe(1);
}
