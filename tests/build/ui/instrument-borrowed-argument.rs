use tasks_recorder::recorded_task;

// `#[instrument]` goes onto the task, so the `&str` it records in its span would outlive the
// call: reported at the argument, saying to `skip` it.
#[recorded_task(id = key.to_string())]
#[tracing::instrument]
async fn sync_key(key: &str) -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = sync_key("k");
}
