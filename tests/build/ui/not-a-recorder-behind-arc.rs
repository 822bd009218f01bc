use std::collections::HashMap;
use std::sync::Arc;

use tasks_recorder::recorded_task;

// A `recorder = ...` that derefs to something that is not a recorder: reported at the
// expression.
#[recorded_task(id = name.clone(), recorder = registry.jobs)]
async fn rebuild(registry: Registry, name: String) -> Result<(), String> {
    Ok(())
}

struct Registry {
    jobs: Arc<HashMap<String, u32>>,
}

fn main() {}
