use tasks_recorder::recorded_task;

#[recorded_task(block)]
async fn double(n: u32) -> Result<u32, String> {
    Ok(n * 2)
}

fn main() {
    let _ = double(1);
}
