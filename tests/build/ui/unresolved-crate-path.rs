use tasks_recorder::recorded_task;

#[recorded_task(id = n, crate = "no_such_reexport::tasks_recorder")]
async fn double(n: u32) -> Result<u32, String> {
    Ok(n * 2)
}

fn main() {}
