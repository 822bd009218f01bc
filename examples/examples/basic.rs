//! A simulated upload service: launches uploads under their ids, queries them, retries one
//! that failed, refuses a duplicate, and revokes one that succeeded.
//!
//! Run it with `cargo run --example basic`.
#![forbid(unsafe_code)]

use std::io;
use std::time::Duration;

use tasks_recorder::{AsyncTasksRecorder, RevokeFailReason, TaskState};

/// Stores one file; `flaky` uploads fail the first time, like a storage node that was down.
async fn upload(name: &'static str, flaky: bool, attempt: u32) -> io::Result<usize> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    if flaky && attempt == 1 {
        return Err(io::Error::other(format!(
            "{name}: storage node unreachable"
        )));
    }
    Ok(name.len())
}

/// Waits until `id` is no longer `Working` (the lifecycle API will offer a wait without
/// polling; here a short poll keeps the example small).
async fn finished(uploads: &AsyncTasksRecorder<String>, id: &str) -> TaskState {
    loop {
        match uploads.query_task_state(id).await {
            TaskState::Working => tokio::time::sleep(Duration::from_millis(5)).await,
            state => return state,
        }
    }
}

#[tokio::main]
async fn main() {
    let uploads: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
    let files = [
        ("cat.png", false),
        ("report.pdf", true),
        ("song.ogg", false),
    ];

    println!("== launching {} uploads", files.len());
    for (name, flaky) in files {
        let launched = uploads
            .launch(name.to_string(), upload(name, flaky, 1))
            .await;
        println!(
            "launch {name:<11} -> {:?}",
            launched.map_err(|(state, _)| state)
        );
    }
    for (name, _) in files {
        println!(
            "query  {name:<11} -> {}",
            uploads.query_task_state(name).await
        );
    }

    println!("== a duplicate request while cat.png is still uploading is refused");
    match uploads
        .launch("cat.png".to_string(), upload("cat.png", false, 1))
        .await
    {
        Ok(()) => println!("launch cat.png     -> launched (it had already finished)"),
        Err((state, _unused_future)) => println!("launch cat.png     -> refused: {state}"),
    }

    println!("== waiting for the uploads to finish");
    for (name, _) in files {
        println!("final  {name:<11} -> {}", finished(&uploads, name).await);
    }
    println!(
        "failed ids: {:?}",
        uploads.ids_in_state(TaskState::Failed).await
    );

    println!("== retrying the failed upload (a failed id can be launched again)");
    let retried = uploads
        .launch_block("report.pdf".to_string(), upload("report.pdf", true, 2))
        .await;
    println!(
        "retry  report.pdf  -> {:?}",
        retried.map_err(|(state, _)| state)
    );
    println!(
        "query  report.pdf  -> {}",
        uploads.query_task_state("report.pdf").await
    );

    println!("== an id never succeeds twice");
    let again = uploads
        .launch_block("song.ogg".to_string(), upload("song.ogg", false, 1))
        .await;
    println!(
        "launch song.ogg    -> {:?}",
        again.map_err(|(state, _)| state)
    );

    println!("== revoking song.ogg (delete the stored file); then it can be uploaded again");
    let delete = async { Ok::<_, io::Error>("deleted") };
    match uploads
        .revoke_task_block("song.ogg".to_string(), delete)
        .await
    {
        Ok(what) => println!("revoke song.ogg    -> {what}"),
        Err(RevokeFailReason::RevokeTaskError(e)) => println!("revoke song.ogg    -> failed: {e}"),
        Err(_) => println!("revoke song.ogg    -> refused"),
    }
    println!(
        "query  song.ogg    -> {}",
        uploads.query_task_state("song.ogg").await
    );
    let delete = async { Ok::<_, io::Error>("deleted") };
    let refused = uploads
        .revoke_task_block("missing.txt".to_string(), delete)
        .await;
    println!(
        "revoke missing.txt -> {}",
        match refused {
            Err(RevokeFailReason::NotSuccess(_)) => "refused: it never succeeded",
            _ => "unexpected",
        }
    );

    println!("== summary");
    for state in [TaskState::Working, TaskState::Success, TaskState::Failed] {
        println!("{state:>8}: {}", uploads.count_in_state(state).await);
    }
}
