//! Seeding known successes in the database: `mark_succeeded` and `mark_all_succeeded` across
//! two recorders sharing a name (two processes, as the database sees them), against a real
//! server. Each test says which bug it would catch.
#![forbid(unsafe_code)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use support::{cluster, connect, unique_name, within};
use tasks_recorder::{MarkError, TaskState};
use tasks_recorder_pg_cluster::PgCluster;
use tasks_recorder_postgres::PgRecorder;
use tokio::sync::oneshot;

/// Two recorders sharing one name (two processes, as the database sees them), and the
/// cluster they live in (kept running while it is held).
async fn two_recorders(what: &str) -> (Arc<PgCluster>, String, [PgRecorder<String>; 2]) {
    let db = cluster();
    let name = unique_name(what);
    let a = connect(db.url(), &name).await;
    let b = connect(db.url(), &name).await;
    (db, name, [a, b])
}

/// Catches a mark that only one process sees, that overwrites an attempt running in another
/// process or a revoke in flight, that leaves a failed id listed `Failed`, or that is not
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_are_shared_and_refused_while_working_or_revoking() {
    let (_db, _, [a, b]) = two_recorders("mark").await;

    assert_eq!(a.mark_succeeded("new".to_string()).await.unwrap(), Ok(()));
    assert_eq!(b.query_task_state("new").await.unwrap(), TaskState::Success);
    let info = b.task_info("new").await.unwrap().expect("a record");
    assert_eq!((info.state, info.attempts), (TaskState::Success, 0));
    let refused = b.launch("new".to_string(), async { Ok::<_, ()>(()) });
    let (state, _unpolled) = refused.await.unwrap().expect_err("a marked id is done");
    assert_eq!(state, TaskState::Success);
    assert_eq!(
        b.mark_succeeded("new".to_string()).await.unwrap(),
        Err(MarkError::AlreadySucceeded)
    );

    b.launch_block("failed".to_string(), async { Err::<(), _>(()) })
        .await
        .unwrap()
        .map_err(drop)
        .expect("launched");
    assert_eq!(
        within("wait", b.wait("failed")).await.unwrap(),
        TaskState::Failed
    );
    assert_eq!(
        a.mark_succeeded("failed".to_string()).await.unwrap(),
        Ok(())
    );
    let info = b.task_info("failed").await.unwrap().expect("a record");
    assert_eq!(
        (info.state, info.attempts, info.failure),
        (TaskState::Success, 1, None)
    );
    assert_eq!(a.count_in_state(TaskState::Failed).await.unwrap(), 0);

    let (release, released) = oneshot::channel::<()>();
    let task = async move {
        released.await.map_err(drop)?;
        Ok::<_, ()>(())
    };
    b.launch("running".to_string(), task)
        .await
        .unwrap()
        .map_err(drop)
        .expect("launched");
    assert_eq!(
        a.mark_succeeded("running".to_string()).await.unwrap(),
        Err(MarkError::AlreadyRunning)
    );
    assert_eq!(
        b.query_task_state("running").await.unwrap(),
        TaskState::Working
    );
    release.send(()).expect("the task waits");
    assert_eq!(
        within("wait", a.wait("running")).await.unwrap(),
        TaskState::Success
    );

    let (started, is_started) = oneshot::channel::<()>();
    let (undo, undone) = oneshot::channel::<()>();
    let revoking = tokio::spawn({
        let b = b.clone();
        async move {
            let undo = async move {
                started.send(()).ok();
                undone.await.map_err(drop)
            };
            b.revoke_task_block("new".to_string(), undo).await
        }
    });
    within("the revoke starts", is_started).await.ok();
    assert_eq!(
        a.mark_succeeded("new".to_string()).await.unwrap(),
        Err(MarkError::Revoking)
    );
    undo.send(()).expect("the undo waits");
    assert!(within("revoke", revoking)
        .await
        .expect("no panic")
        .expect("no database error")
        .is_ok());
    assert_eq!(
        a.query_task_state("new").await.unwrap(),
        TaskState::NotFound
    );

    let c = a.counters().await.unwrap();
    assert_eq!(c.marked_succeeded_total, 2);
    assert_eq!((c.working_now, c.success_now, c.failed_now), (0, 2, 0));
    within("shutdown", b.shutdown()).await;
    within("shutdown", a.shutdown()).await;
}

/// Catches a lost attempt (its process stopped renewing: the row is `Working` under an
/// expired lease, and reads `Failed`) that cannot be marked, a mark that does not notify the
/// recorder's channel (other processes' waiters would not read again), and a late end of
/// that attempt that overwrites the mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_attempt_can_be_marked_and_its_late_end_changes_nothing() {
    let (db, name, [owner, other]) = two_recorders("mark-lost").await;
    let (release, released) = oneshot::channel::<()>();
    let task = async move {
        released.await.map_err(drop)?;
        Err::<(), _>(())
    };
    owner
        .launch("pin".to_string(), task)
        .await
        .unwrap()
        .map_err(drop)
        .expect("launched");
    // A direct connection listening on the recorder's channel, as other processes do.
    let (client, mut connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .expect("a direct connection");
    let (heard, mut notified) = tokio::sync::mpsc::unbounded_channel::<String>();
    let connection = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(note) = message {
                let _ = heard.send(note.channel().to_owned());
            }
        }
    });
    let channel: String = client
        .query_one(
            "SELECT 'tasks_recorder_' || substr(md5($1), 1, 20)",
            &[&name],
        )
        .await
        .expect("the channel's name")
        .get(0);
    client
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await
        .expect("listening");
    // The owner's lease runs out, as if it had hung: set on the database's clock.
    client
        .execute(
            "UPDATE tasks_recorder_records SET lease_until = clock_timestamp() - interval '1 second' \
             WHERE recorder = (SELECT number FROM tasks_recorder_recorders WHERE name = $1)",
            &[&name],
        )
        .await
        .expect("the lease expires");
    assert_eq!(
        other.query_task_state("pin").await.unwrap(),
        TaskState::Failed
    );
    assert_eq!(
        other.mark_succeeded("pin".to_string()).await.unwrap(),
        Ok(())
    );
    let note = within("the mark's notification", notified.recv()).await;
    assert_eq!(note.as_deref(), Some(channel.as_str()));
    assert_eq!(
        other.query_task_state("pin").await.unwrap(),
        TaskState::Success
    );
    // The zombie attempt ends with `Err`: fenced, the mark stands.
    release.send(()).ok();
    within("shutdown", owner.shutdown()).await;
    assert_eq!(
        other.query_task_state("pin").await.unwrap(),
        TaskState::Success
    );
    let info = other.task_info("pin").await.unwrap().expect("a record");
    assert_eq!((info.attempts, info.failure), (1, None));
    drop(client);
    let _ = connection.await;
    within("shutdown", other.shutdown()).await;
}

/// Catches a bulk mark that splits into statements wrongly (ids lost between batches), counts
/// a repeated id twice, overwrites a running id, or reports refusals out of order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_mark_reports_every_id_once() {
    let (_db, _, [a, b]) = two_recorders("mark-bulk").await;
    b.launch(
        "pin-7".to_string(),
        std::future::pending::<Result<(), ()>>(),
    )
    .await
    .unwrap()
    .map_err(drop)
    .expect("launched");
    a.mark_succeeded("pin-9".to_string())
        .await
        .unwrap()
        .expect("marked");
    let mut ids: Vec<String> = (0..2_500).map(|n| format!("pin-{n}")).collect();
    ids.push("pin-1".to_string());
    let report = a.mark_all_succeeded(ids).await.unwrap();
    assert_eq!((report.marked, report.already_succeeded), (2_498, 2));
    assert_eq!(
        report.refused,
        vec![("pin-7".to_string(), MarkError::AlreadyRunning)]
    );
    assert_eq!(b.count_in_state(TaskState::Success).await.unwrap(), 2_499);
    assert_eq!(
        b.query_task_state("pin-7").await.unwrap(),
        TaskState::Working
    );
    let empty = a.mark_all_succeeded(Vec::new()).await.unwrap();
    assert_eq!((empty.marked, empty.already_succeeded), (0, 0));
    assert_eq!(a.counters().await.unwrap().marked_succeeded_total, 2_499);
    b.shutdown_with_grace(Duration::ZERO).await;
    within("shutdown", a.shutdown()).await;
}
