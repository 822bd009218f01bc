use tasks_recorder::recorded_task;

// Every problem of one invocation is reported at once.
#[recorded_task(recorder = JOBS, colour = "red")]
fn import(source: &str) -> Result<(), String> {
    println!("{}", source);
    Ok(())
}

fn main() {}
