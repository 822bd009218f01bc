use tasks_recorder::recorded_task;

#[recorded_task(id = n, retry = tasks_recorder::Retry::new(3))]
async fn add(n: u32, (a, b): (u32, u32)) -> Result<u32, String> {
    Ok(n + a + b)
}

fn main() {
    let _ = add(1, (2, 3));
}
