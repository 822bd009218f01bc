//! `?` and `return` in the body behave as in the original function: `?` converts errors into
//! the declared error type, `return` ends the task.
use tasks_recorder::{recorded_task, TaskState};

#[derive(Debug)]
struct ParseError;

impl From<std::num::ParseIntError> for ParseError {
    fn from(_: std::num::ParseIntError) -> Self {
        ParseError
    }
}

#[recorded_task(id = text.clone(), block)]
async fn parse(text: String) -> Result<u64, ParseError> {
    if text.is_empty() {
        return Ok(0);
    }
    let n: u64 = text.parse()?;
    Ok(n)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(parse("12".into()).await, Ok(()));
        assert_eq!(parse("x".into()).await, Ok(()));
        let recorder = tasks_recorder::default_recorder::<String>();
        assert_eq!(recorder.query_task_state("12").await, TaskState::Success);
        assert_eq!(recorder.query_task_state("x").await, TaskState::Failed);
    });
}
