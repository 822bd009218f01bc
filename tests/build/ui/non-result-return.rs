use tasks_recorder::recorded_task;

#[recorded_task(id = n)]
async fn double(n: u32) -> Option<u32> {
    Some(n * 2)
}

fn main() {}
