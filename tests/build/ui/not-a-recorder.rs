use std::collections::HashMap;

use tasks_recorder::recorded_task;

// A `recorder = ...` that is not a recorder, nor derefs to one: reported at the expression.
#[recorded_task(id = name.clone(), recorder = registry.jobs)]
async fn rebuild(registry: Registry, name: String) -> Result<(), String> {
    Ok(())
}

struct Registry {
    jobs: HashMap<String, u32>,
}

fn main() {}
