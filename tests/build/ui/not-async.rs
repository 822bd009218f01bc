use tasks_recorder::recorded_task;

#[recorded_task(id = n)]
fn double(n: u32) -> Result<u32, String> {
    Ok(n * 2)
}

fn main() {
    // The function is still emitted: no "cannot find function" error here.
    let _ = double(1);
}
