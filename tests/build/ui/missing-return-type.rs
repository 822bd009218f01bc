use tasks_recorder::recorded_task;

#[recorded_task(id = n)]
async fn log(n: u32) {
    println!("{n}");
}

fn main() {
    let _ = log(1);
}
