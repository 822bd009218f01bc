use tasks_recorder::recorded_task;

#[recorded_task(id = n, recorder_error)]
async fn double(n: u32) -> Result<u32, String> {
    Ok(n * 2)
}

fn main() {
    let _ = double(1);
}
