use tasks_recorder::recorded_task;

// The expansion's locals (`__recorded_task_id`, `__recorded_task_recorder`, ...) cannot be
// named from the body.
#[recorded_task(id = n)]
async fn peek(n: u32) -> Result<u32, String> {
    let _ = n;
    Ok(__recorded_task_id)
}

fn main() {}
