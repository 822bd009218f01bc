use tasks_recorder::recorded_task;

// The body uses `name` only through an inline format argument: still a use, so the borrow is
// reported at the argument, not as a lifetime error in the generated code.
#[recorded_task(id = name.to_string())]
async fn greet(name: &str) -> Result<(), String> {
    println!("hello {name}");
    Ok(())
}

fn main() {
    let _ = greet("you");
}
