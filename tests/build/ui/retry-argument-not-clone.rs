use tasks_recorder::{recorded_task, Retry};

struct Upload;

#[recorded_task(id = n, retry = Retry::new(3))]
async fn send(n: u32, upload: Upload) -> Result<(), String> {
    let _ = upload;
    Ok(())
}

fn main() {
    let _ = send(1, Upload);
}
