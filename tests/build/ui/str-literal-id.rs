use tasks_recorder::recorded_task;

// A `&str` id keys the default recorder of `&'static str`, apart from every `String` id.
#[recorded_task(id = "nightly-report")]
async fn nightly_report() -> Result<(), String> {
    Ok(())
}

const WEEKLY: &str = "weekly-report";

#[recorded_task(id = WEEKLY)]
async fn weekly_report() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = nightly_report();
    let _ = weekly_report();
}
