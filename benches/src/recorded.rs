//! Scenario 7: a function under `#[recorded_task]` against the same launch written by hand.
//!
//! Both launch the same body (count down the completion signal, return `Ok`) under the same
//! ids on the same recorder type, and both return `Result<(), TaskState>`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tasks_recorder::{recorded_task, AsyncTasksRecorder, TaskState};

use crate::ids::{make_ids, BenchId};
use crate::scenarios::Countdown;

/// The task, launched by the code `#[recorded_task]` generates.
#[recorded_task(id = id, recorder = recorder)]
pub async fn with_macro<I: BenchId>(
    recorder: &AsyncTasksRecorder<I>,
    id: I,
    done: Arc<Countdown>,
) -> Result<(), ()> {
    done.count_down();
    Ok(())
}

/// The same task, launched by hand with [`AsyncTasksRecorder::launch`].
pub async fn by_hand<I: BenchId>(
    recorder: &AsyncTasksRecorder<I>,
    id: I,
    done: Arc<Countdown>,
) -> Result<(), TaskState> {
    let task = async move {
        done.count_down();
        Ok::<(), ()>(())
    };
    match recorder.launch(id, task).await {
        Ok(()) => Ok(()),
        Err((state, _unpolled)) => Err(state),
    }
}

/// Launches `n` tasks under distinct ids, through the macro (`macro_path`) or by hand, waits
/// until every body ran, and checks (untimed) that every id reads `Success`.
pub async fn launch_completion<I: BenchId>(n: u64, macro_path: bool) -> Duration {
    let recorder = AsyncTasksRecorder::<I>::new();
    let ids: Vec<I> = make_ids(0, n);
    let done = Countdown::new(ids.len());
    let start = Instant::now();
    for id in ids {
        let done = Arc::clone(&done);
        let launched = if macro_path {
            with_macro(&recorder, id, done).await
        } else {
            by_hand(&recorder, id, done).await
        };
        assert_eq!(launched, Ok(()), "a fresh id was refused");
    }
    done.wait().await;
    let elapsed = start.elapsed();
    for i in 0..n {
        let id = I::make(i);
        let mut tries = 0;
        while recorder.query_task_state(&id).await != TaskState::Success {
            tries += 1;
            assert!(tries < 100_000, "{id:?} never read Success");
            tokio::task::yield_now().await;
        }
    }
    elapsed
}
