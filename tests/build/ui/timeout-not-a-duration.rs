use tasks_recorder::recorded_task;

#[recorded_task(id = n, timeout = 30)]
async fn double(n: u32) -> Result<u32, String> {
    Ok(n * 2)
}

fn main() {
    let _ = double(1);
}
