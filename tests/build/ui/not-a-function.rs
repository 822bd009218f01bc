use tasks_recorder::recorded_task;

#[recorded_task(id = 1)]
struct Upload {
    md5: String,
}

fn main() {
    // The struct is still emitted.
    let upload = Upload { md5: String::new() };
    let _ = upload.md5;
}
