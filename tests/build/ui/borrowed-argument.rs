use std::borrow::Cow;

use tasks_recorder::recorded_task;

#[recorded_task(id = name.to_string())]
async fn greet(name: &str) -> Result<(), String> {
    println!("hello {}", name);
    Ok(())
}

#[recorded_task(id = name.to_string())]
async fn greet_cow<'a>(name: Cow<'a, str>) -> Result<(), String> {
    println!("hello {}", name);
    Ok(())
}

fn main() {
    let _ = greet("you");
    let _ = greet_cow(Cow::Borrowed("you"));
}
