//! Seeding known successes: a pinning service that saves its successes to a file when it
//! shuts down and restores them when it starts, so that a restart never pins again what was
//! pinned before.
//!
//! It lives twice in one run (two "process lifetimes" against the same file), and checks
//! what it promises: an id restored from the file is never run again; every other id runs
//! once per life until it succeeds.
//!
//! Run it with `cargo run -p tasks-recorder-examples --example seeding [-- <file>]`. Given a
//! file, it keeps it, so a second run starts from what the first one saved.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tasks_recorder::{AsyncTasksRecorder, TaskState};
use tasks_recorder_examples::seed_file;

/// The pins the service is asked for at every start.
const PINS: [&str; 6] = ["cid-a", "cid-b", "cid-c", "cid-d", "cid-e", "cid-f"];

/// Pins one id; `cid-c`'s storage node is down during the first life.
async fn pin(id: String, life: u32, ran: Arc<Mutex<Vec<String>>>) -> Result<(), String> {
    ran.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(id.clone());
    if id == "cid-c" && life == 1 {
        return Err(format!("{id}: storage node unreachable"));
    }
    Ok(())
}

/// One life of the service: restore, pin what is not done, shut down, save.
async fn life(number: u32, file: &Path) {
    println!("== life {number}: starting");
    let pins: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
    let report = seed_file::restore(&pins, file).expect("the seed file reads");
    println!(
        "restored {} successes from {} ({} already there, {} refused)",
        report.marked,
        file.display(),
        report.already_succeeded,
        report.refused.len()
    );
    let restored: HashSet<String> = pins.successes().into_iter().collect();

    let ran = Arc::new(Mutex::new(Vec::new()));
    for id in PINS {
        let task = pin(id.to_string(), number, Arc::clone(&ran));
        match pins.launch(id.to_string(), task).await {
            Ok(()) => println!("pin {id}: launched"),
            Err((state, _never_polled)) => println!("pin {id}: skipped, {state}"),
        }
    }
    pins.shutdown().await;
    for id in PINS {
        println!("pin {id}: {}", pins.query_task_state(id).await);
    }
    let saved = seed_file::save(&pins, file).expect("the seed file writes");
    println!("== life {number}: saved {saved} successes on shutdown");

    // What the example promises.
    let ran: Vec<String> = ran
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for id in &ran {
        assert!(!restored.contains(id), "{id} was restored, yet ran again");
    }
    let expected_runs = PINS.iter().filter(|id| !restored.contains(**id)).count();
    assert_eq!(ran.len(), expected_runs, "each pin not restored runs once");
    let succeeded = pins.count_in_state(TaskState::Success).await;
    assert_eq!(saved, succeeded, "the file holds every success");
}

#[tokio::main]
async fn main() {
    let given = std::env::args_os().nth(1).map(PathBuf::from);
    let file = given.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "tasks-recorder-seeding-{}.jsonl",
            std::process::id()
        ))
    });
    life(1, &file).await;
    life(2, &file).await;
    let saved = std::fs::read_to_string(&file).expect("the seed file reads");
    assert_eq!(
        saved.lines().count(),
        PINS.len(),
        "after two lives every pin is done"
    );
    if given.is_none() {
        std::fs::remove_file(&file).ok();
    }
    println!("ok: no pin ran twice across the restart");
}
