use tasks_recorder::recorded_task;

#[recorded_task(id = n, retry = tasks_recorder::Retry::new(3), block)]
async fn double(n: u32) -> Result<u32, String> {
    Ok(n * 2)
}

fn main() {
    let _ = double(1);
}
