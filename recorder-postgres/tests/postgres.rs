//! The PostgreSQL recorder against a real server (a throwaway cluster the tests start, or
//! `DATABASE_URL`), in one process: the recorder's rules, durability across a new
//! connection, replicas racing, waiting and cancelling across recorders, and agreement with
//! the in-memory recorder. Each test says which bug it would catch.
#![forbid(unsafe_code)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{cluster, connect, stuck, unique_name, within, OwnSchema};
use tasks_recorder::{AsyncTasksRecorder, FailureKind, LaunchError, RevokeFailReason, TaskState};
use tasks_recorder_postgres::{ErrorKind, PgRecorder};

/// Catches a recorder that breaks the in-memory rules: a second success, a refused launch
/// that polls its future, a failed id that cannot run again, a revoke that does not free
/// the id, a refused revoke that changes something, wrong info or listings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_hold_in_the_database() {
    let db = cluster();
    let jobs: PgRecorder<String> = connect(db.url(), &unique_name("rules")).await;
    let id = || "upload-7".to_string();
    assert_eq!(
        jobs.query_task_state("upload-7").await.unwrap(),
        TaskState::NotFound
    );
    jobs.launch(id(), async { Ok::<_, ()>(()) })
        .await
        .unwrap()
        .map_err(drop)
        .expect("launched");
    assert_eq!(
        within("wait", jobs.wait("upload-7")).await.unwrap(),
        TaskState::Success
    );
    let polled = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&polled);
    let again = async move {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(())
    };
    match jobs.try_launch(id(), again).await.unwrap() {
        Err(LaunchError::AlreadySucceeded(_)) => {}
        other => panic!("a succeeded id was not refused: {other:?}"),
    }
    assert_eq!(
        polled.load(Ordering::SeqCst),
        0,
        "a refused future was polled"
    );

    let failing = async { Err::<(), _>("disk full") };
    jobs.launch_with_error_text("f".to_string(), failing)
        .await
        .unwrap()
        .map_err(drop)
        .expect("launched");
    assert_eq!(
        within("wait", jobs.wait("f")).await.unwrap(),
        TaskState::Failed
    );
    let info = jobs.task_info("f").await.unwrap().expect("a record");
    assert_eq!(info.attempts, 1);
    let failure = info.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Error);
    assert_eq!(failure.message.as_deref(), Some("disk full"));
    jobs.launch_block("f".to_string(), async { Ok::<_, ()>(()) })
        .await
        .unwrap()
        .map_err(drop)
        .expect("relaunched");
    assert_eq!(
        within("wait", jobs.wait("f")).await.unwrap(),
        TaskState::Success
    );
    assert_eq!(
        jobs.task_info("f").await.unwrap().map(|i| i.attempts),
        Some(2)
    );

    let refused = jobs
        .revoke_task_block("nope".to_string(), async { Ok::<(), ()>(()) })
        .await
        .unwrap();
    assert!(matches!(refused, Err(RevokeFailReason::NotSuccess(_))));
    let undo_failed = jobs
        .revoke_task_block(id(), async { Err::<(), _>("busy") })
        .await
        .unwrap();
    assert!(matches!(
        undo_failed,
        Err(RevokeFailReason::RevokeTaskError("busy"))
    ));
    assert_eq!(
        jobs.query_task_state("upload-7").await.unwrap(),
        TaskState::Success
    );
    jobs.revoke_task_block(id(), async { Ok::<(), ()>(()) })
        .await
        .unwrap()
        .map_err(drop)
        .expect("revoked");
    assert_eq!(
        jobs.query_task_state("upload-7").await.unwrap(),
        TaskState::NotFound
    );

    jobs.launch_block("g".to_string(), async { Err::<(), _>(()) })
        .await
        .unwrap()
        .map_err(drop)
        .expect("launched");
    within("wait", jobs.wait("g")).await.unwrap();
    let mut success = jobs.ids_in_state(TaskState::Success).await.unwrap();
    success.sort();
    assert_eq!(success, vec!["f".to_string()]);
    assert_eq!(jobs.count_in_state(TaskState::Failed).await.unwrap(), 1);
    assert!(jobs.remove_failed("g").await.unwrap());
    assert!(
        !jobs.remove_failed("f").await.unwrap(),
        "a success was removed"
    );
    let c = jobs.counters().await.unwrap();
    assert_eq!((c.working_now, c.success_now, c.failed_now), (0, 1, 0));
    assert_eq!(
        (c.succeeded_total, c.failed_total, c.revoked_total),
        (2, 2, 1)
    );
    within("shutdown", jobs.shutdown()).await;
}

/// Catches records that live in process memory: a success must survive the recorder (a
/// restart), and a new process must refuse to run the id again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_survives_a_restart() {
    let db = cluster();
    let name = unique_name("restart");
    let first: PgRecorder<u64> = connect(db.url(), &name).await;
    first
        .launch(7, async { Ok::<_, ()>(()) })
        .await
        .unwrap()
        .map_err(drop)
        .expect("launched");
    within("shutdown", first.shutdown()).await;
    drop(first);
    let second: PgRecorder<u64> = connect(db.url(), &name).await;
    assert_eq!(
        second.query_task_state(&7).await.unwrap(),
        TaskState::Success
    );
    let again = second.launch(7, async { Ok::<_, ()>(()) }).await.unwrap();
    assert!(matches!(again, Err((TaskState::Success, _))));
}

/// Catches replicas that each succeed once: two recorders (as two replicas) race launches
/// of the same ids, and each id succeeds at most once in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_racing_succeed_at_most_once() {
    const IDS: u64 = 200;
    let db = cluster();
    let name = unique_name("replicas");
    let replicas: Vec<PgRecorder<u64>> = vec![
        connect(db.url(), &name).await,
        connect(db.url(), &name).await,
    ];
    let successes: Arc<Vec<AtomicUsize>> =
        Arc::new((0..IDS).map(|_| AtomicUsize::new(0)).collect());
    let mut racers = Vec::new();
    for round in 0..3 {
        for (r, replica) in replicas.iter().enumerate() {
            let (replica, successes) = (replica.clone(), Arc::clone(&successes));
            racers.push(tokio::spawn(async move {
                for id in 0..IDS {
                    let successes = Arc::clone(&successes);
                    // Every third attempt fails, so failed ids are retried by the others.
                    let fails = (id + round + r as u64) % 3 == 0;
                    let task = async move {
                        if fails {
                            return Err(());
                        }
                        successes[id as usize].fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    };
                    replica
                        .launch(id, task)
                        .await
                        .expect("the database answers")
                        .ok();
                }
            }));
        }
    }
    for racer in racers {
        within("racer", racer).await.expect("no panic");
    }
    for replica in &replicas {
        within("shutdown", replica.shutdown()).await;
    }
    for id in 0..IDS {
        let ok = successes[id as usize].load(Ordering::SeqCst);
        let state = replicas[0].query_task_state(&id).await.unwrap();
        assert!(ok <= 1, "id {id} succeeded {ok} times");
        assert_eq!(
            ok == 1,
            state == TaskState::Success,
            "id {id}: {ok} successes, {state}"
        );
    }
}

/// Catches waits that poll or miss a change made by another process, and cancels that only
/// reach the local process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_and_cancel_work_across_recorders() {
    let db = cluster();
    let name = unique_name("across");
    let owner: PgRecorder<String> = connect(db.url(), &name).await;
    let other: PgRecorder<String> = connect(db.url(), &name).await;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let task = async move {
        released.await.map_err(|_| ())?;
        Ok::<_, ()>(())
    };
    owner
        .launch("a".to_string(), task)
        .await
        .unwrap()
        .map_err(drop)
        .expect("launched");
    let waiting = tokio::spawn({
        let other = other.clone();
        async move { other.wait("a").await }
    });
    release.send(()).expect("the task waits");
    assert_eq!(
        within("wait in the other recorder", waiting)
            .await
            .unwrap()
            .unwrap(),
        TaskState::Success
    );

    owner
        .launch("b".to_string(), std::future::pending::<Result<(), ()>>())
        .await
        .unwrap()
        .map_err(drop)
        .expect("launched");
    assert!(other.cancel("b").await.unwrap(), "b is Working");
    assert_eq!(
        within("wait for the cancel", other.wait("b"))
            .await
            .unwrap(),
        TaskState::Failed
    );
    let failure = other.task_info("b").await.unwrap().and_then(|i| i.failure);
    assert_eq!(failure.map(|f| f.kind), Some(FailureKind::Cancelled));
    assert!(!other.cancel("a").await.unwrap(), "a is not Working");
    within("shutdown", owner.shutdown()).await;
}

/// Catches an end that does not notify the processes waiting for it: its owner's lease is
/// longer than the failure detector, so a waiter that missed the notification (and would
/// wake only when the lease runs out) is reported stuck. Every waiter, in two other
/// processes, waits for the row to be watched before the attempt ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_wakes_every_waiter_of_other_processes() {
    let db = cluster();
    let name = unique_name("watched");
    let owner = PgRecorder::<String>::builder()
        .lease(stuck() * 10)
        .connect(db.url(), &name)
        .await
        .expect("connect");
    let others: Vec<PgRecorder<String>> = vec![
        connect(db.url(), &name).await,
        connect(db.url(), &name).await,
    ];
    let (admin, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    let watched = || async {
        admin
            .query_one(
                "SELECT watched FROM tasks_recorder_records WHERE id = $2 AND recorder = \
                 (SELECT number FROM tasks_recorder_recorders WHERE name = $1)",
                &[&name, &"a".as_bytes()],
            )
            .await
            .expect("read the row")
            .get::<_, bool>(0)
    };
    for attempt in 1..=2 {
        let (release, released) = tokio::sync::oneshot::channel::<bool>();
        owner
            .launch("a".to_string(), async move {
                match released.await {
                    Ok(true) => Ok(()),
                    _ => Err(()),
                }
            })
            .await
            .unwrap()
            .map_err(drop)
            .expect("launched");
        // A new attempt is not watched, even if the last one was.
        assert!(!watched().await, "attempt {attempt} starts watched");
        let waiters: Vec<_> = [0, 0, 1]
            .into_iter()
            .map(|i| {
                let other = others[i].clone();
                tokio::spawn(async move { other.wait("a").await })
            })
            .collect();
        within("the row becomes watched", async {
            while !watched().await {
                tokio::task::yield_now().await;
            }
        })
        .await;
        // The first attempt fails, the second succeeds.
        release.send(attempt == 2).expect("the task waits");
        let expected = if attempt == 2 {
            TaskState::Success
        } else {
            TaskState::Failed
        };
        for waiter in waiters {
            assert_eq!(
                within("a waiter of another process", waiter)
                    .await
                    .unwrap()
                    .unwrap(),
                expected
            );
        }
    }
    within("shutdown", owner.shutdown()).await;
}

/// Catches a store that ignores the recorder's id type or lets a second type share a name,
/// and errors that do not say what failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_keeps_its_id_type_and_errors_say_what_failed() {
    let db = cluster();
    let name = unique_name("types");
    let _strings: PgRecorder<String> = connect(db.url(), &name).await;
    let numbers = PgRecorder::<u64>::connect(db.url(), &name).await;
    let error = numbers.expect_err("a second id type under one name");
    assert!(
        matches!(error.kind(), ErrorKind::IdTypeMismatch { .. }),
        "{error}"
    );
    let unreachable = PgRecorder::<u64>::builder()
        .operation_timeout(Duration::from_secs(5))
        .connect("postgres://postgres@127.0.0.1:1/postgres", "x")
        .await
        .expect_err("nothing listens on port 1");
    assert!(unreachable.is_transient(), "{unreachable}");
    assert!(
        unreachable.to_string().starts_with("connect failed"),
        "{unreachable}"
    );
    let bad = PgRecorder::<u64>::connect("not a url", "x")
        .await
        .expect_err("a bad URL");
    assert_eq!(bad.kind(), &ErrorKind::InvalidUrl);
}

/// Catches a shared store whose rules drift from the in-memory recorder's: the same random
/// operations (launches, revokes, removals, marks) applied to both end in the same states and
/// attempt counts, and get the same answers.
#[test]
fn agrees_with_the_in_memory_recorder() {
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Launch(u8, bool),
        Revoke(u8, bool),
        RemoveFailed(u8),
        Mark(u8, bool),
    }
    let op = prop_oneof![
        (0u8..4, any::<bool>()).prop_map(|(id, ok)| Op::Launch(id, ok)),
        (0u8..4, any::<bool>()).prop_map(|(id, ok)| Op::Revoke(id, ok)),
        (0u8..4).prop_map(Op::RemoveFailed),
        (0u8..4, any::<bool>()).prop_map(|(id, bulk)| Op::Mark(id, bulk)),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let db = cluster();
    let config = ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in proptest::collection::vec(op, 1..24))| {
        runtime.block_on(async {
            let memory: AsyncTasksRecorder<u64> = AsyncTasksRecorder::new();
            let pg: PgRecorder<u64> = connect(db.url(), &unique_name("agree")).await;
            for op in &ops {
                match *op {
                    Op::Launch(id, ok) => {
                        let task = move || async move { if ok { Ok(()) } else { Err(()) } };
                        let a = memory.launch_block(id.into(), task()).await.map_err(|(s, _)| s);
                        let b = pg.launch_block(id.into(), task()).await.unwrap().map_err(|(s, _)| s);
                        assert_eq!(a, b, "{op:?}");
                        pg.wait(&u64::from(id)).await.unwrap();
                    }
                    Op::Revoke(id, ok) => {
                        let undo = move || async move { if ok { Ok(()) } else { Err(()) } };
                        let a = memory.revoke_task_block(id.into(), undo()).await;
                        let b = pg.revoke_task_block(id.into(), undo()).await.unwrap();
                        let kind = |r: &Result<(), RevokeFailReason<_, ()>>| match r {
                            Ok(()) => 0,
                            Err(RevokeFailReason::NotSuccess(_)) => 1,
                            Err(RevokeFailReason::Revoking(_)) => 2,
                            Err(RevokeFailReason::RevokeTaskError(())) => 3,
                        };
                        assert_eq!(kind(&a), kind(&b), "{op:?}");
                    }
                    Op::RemoveFailed(id) => {
                        let id = u64::from(id);
                        assert_eq!(memory.remove_failed(&id), pg.remove_failed(&id).await.unwrap(), "{op:?}");
                    }
                    Op::Mark(id, false) => {
                        let a = memory.mark_succeeded(id.into());
                        let b = pg.mark_succeeded(id.into()).await.unwrap();
                        assert_eq!(a, b, "{op:?}");
                    }
                    Op::Mark(id, true) => {
                        let ids = [u64::from(id), u64::from(id)];
                        let a = memory.mark_all_succeeded(ids);
                        let b = pg.mark_all_succeeded(ids).await.unwrap();
                        assert_eq!(a, b, "{op:?}");
                    }
                }
                for id in 0..4u64 {
                    let a = memory.task_info(&id).await.map(|i| (i.state, i.attempts));
                    let b = pg.task_info(&id).await.unwrap().map(|i| (i.state, i.attempts));
                    assert_eq!(a, b, "id {id} after {op:?}");
                }
            }
            pg.shutdown().await;
        });
    });
}

/// Catches a renewal that loses the leases of a healthy process with many attempts, and
/// ends recorded too late: 3,000 attempts stay `Working` over several leases of 1.5 s, then
/// all end at once and must all be recorded `Success`. On a new table (no statistics yet)
/// a join of the ids' array with the table was planned as a nested loop that rescanned the
/// array for every row: a renewal of 3,000 leases took 2 s, and an end of 2,000 attempts
/// took seconds, past their leases. (The sleep below is the length of the property, not a
/// synchronisation.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_running_attempts_keep_their_leases() {
    const TASKS: u64 = 3000;
    let db = cluster();
    let jobs: PgRecorder<u64> = PgRecorder::builder()
        .lease(Duration::from_millis(1500))
        .connect(db.url(), &unique_name("leases"))
        .await
        .expect("connect");
    let release = tokio_util::sync::CancellationToken::new();
    let mut launches = tokio::task::JoinSet::new();
    for id in 0..TASKS {
        let (jobs, released) = (jobs.clone(), release.clone());
        launches.spawn(async move {
            let task = async move {
                released.cancelled().await;
                Ok::<_, ()>(())
            };
            jobs.launch(id, task)
                .await
                .expect("launch")
                .map_err(drop)
                .expect("launched");
        });
    }
    while let Some(launched) = launches.join_next().await {
        launched.expect("no panic");
    }
    // Three leases: every one of them must have been renewed several times.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let working = jobs.count_in_state(TaskState::Working).await.unwrap();
    let lost = jobs.counters().await.unwrap().lost_total;
    release.cancel();
    within("shutdown", jobs.shutdown()).await;
    assert_eq!((working as u64, lost), (TASKS, 0), "leases were lost");
    assert_eq!(
        jobs.count_in_state(TaskState::Success).await.unwrap() as u64,
        TASKS
    );
}

/// Catches a migration that loses or changes the records of an older schema (version 3 keyed
/// them by the recorder's name and named owners by text; version 4 keys them by the
/// recorder's number), leaves it unusable, or keeps a lease of an owner that can no longer
/// renew it; and a process that runs against a schema newer than it knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_schema_is_migrated_and_a_newer_one_refused() {
    let db = cluster();
    let schema = OwnSchema::new(&db, "schema_test").await;
    let (url, own) = (schema.url.clone(), &schema.client);

    // Version 3, as that crate left it: records of "old" in every state, the functions
    // with their version 3 signatures, and no recorder numbers.
    own.batch_execute(
        "CREATE TABLE tasks_recorder_schema (version integer NOT NULL);
         INSERT INTO tasks_recorder_schema VALUES (3);
         CREATE TABLE tasks_recorder_recorders (name text PRIMARY KEY, id_type text NOT NULL);
         INSERT INTO tasks_recorder_recorders VALUES ('old', 'u64');
         CREATE TABLE tasks_recorder_records (
             recorder text NOT NULL, id bytea NOT NULL, state smallint NOT NULL,
             attempts integer NOT NULL, owner text, lease_until timestamptz, claim bigint,
             revokes bigint NOT NULL DEFAULT 0,
             cancel_requested boolean NOT NULL DEFAULT false, failure_kind smallint,
             failure_message text, failed_at timestamptz,
             watched boolean NOT NULL DEFAULT false, PRIMARY KEY (recorder, id));
         INSERT INTO tasks_recorder_records (recorder, id, state, attempts, owner, lease_until,
             failure_kind, failure_message, failed_at) VALUES
             ('old', int8send(1), 1, 1, NULL, NULL, NULL, NULL, NULL),
             ('old', int8send(2), 3, 2, NULL, NULL, 0, 'disk full', clock_timestamp()),
             ('old', int8send(3), 0, 1, 'a-uuid-of-an-old-process',
                 clock_timestamp() + interval '1 hour', NULL, NULL, NULL),
             ('old', int8send(4), 2, 1, 'a-uuid-of-an-old-process',
                 clock_timestamp() + interval '1 hour', NULL, NULL, NULL);
         CREATE FUNCTION tasks_recorder_finish(text, bytea[], int4[], int2[], int2[], text[],
             text, text) RETURNS void LANGUAGE sql AS '';
         CREATE FUNCTION tasks_recorder_renew(text, float8, bytea[], int8[], int2[], text)
             RETURNS void LANGUAGE sql AS '';",
    )
    .await
    .expect("make a version 3 schema");
    let jobs = connect::<u64>(&url, "old").await;
    let states = || async {
        let mut states = Vec::new();
        for id in 1..=4u64 {
            states.push(jobs.query_task_state(&id).await.expect("query"));
        }
        states
    };
    // The records kept their states; the old owner's leases still run.
    assert_eq!(
        states().await,
        [
            TaskState::Success,
            TaskState::Failed,
            TaskState::Working,
            TaskState::Success
        ]
    );
    let info = jobs.task_info(&2).await.expect("info").expect("a record");
    let failure = info.failure.expect("a failure");
    assert_eq!(
        (info.attempts, failure.kind, failure.message.as_deref()),
        (2, FailureKind::Error, Some("disk full"))
    );
    // Nobody can renew the old owner's leases any more: once they run out, the attempt is
    // lost and the revoke leaves its id `Success`.
    own.batch_execute(
        "UPDATE tasks_recorder_records SET lease_until = clock_timestamp() - interval '1 second' \
         WHERE lease_until IS NOT NULL",
    )
    .await
    .expect("the old leases run out");
    assert_eq!(
        states().await,
        [
            TaskState::Success,
            TaskState::Failed,
            TaskState::Failed,
            TaskState::Success
        ]
    );
    // The migrated records obey the rules: a success is never run again, a failure is.
    assert!(matches!(
        jobs.launch(1, async { Ok::<_, ()>(()) })
            .await
            .expect("launch"),
        Err((TaskState::Success, _))
    ));
    for id in [2, 3, 5] {
        jobs.launch(id, async { Ok::<_, ()>(()) })
            .await
            .expect("launch")
            .map_err(drop)
            .expect("launched");
        assert_eq!(
            within("wait", jobs.wait(&id)).await.expect("wait"),
            TaskState::Success
        );
    }
    assert_eq!(
        jobs.task_info(&3)
            .await
            .expect("info")
            .expect("a record")
            .attempts,
        2
    );
    let functions: i64 = own
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace \
             AND proname IN ('tasks_recorder_finish', 'tasks_recorder_renew')",
            &[],
        )
        .await
        .expect("count the functions")
        .get(0);
    assert_eq!(
        functions, 2,
        "a function of version 3 was left beside its new version"
    );
    jobs.shutdown().await;

    // A newer schema than this crate writes.
    own.batch_execute("UPDATE tasks_recorder_schema SET version = version + 1")
        .await
        .expect("make a newer schema");
    match PgRecorder::<u64>::connect(&url, "old").await {
        Err(error) => assert!(
            matches!(error.kind(), ErrorKind::SchemaTooNew { .. }),
            "{error}"
        ),
        Ok(_) => panic!("a schema newer than this crate was used"),
    }
    schema.drop().await;
}

/// Catches a launch dropped while its claim is in flight that leaves its id `Working` until
/// the lease runs out (300 s here, far past the test's failure detector), that runs its
/// future anyway, or a shutdown that returns before such a claim is settled. The first launch
/// claims its id in its own task (no other claim is pending); the second, sent while the
/// first is pending, joins the claimer's batch: both paths are dropped after one poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_dropped_while_it_claims_is_recorded_dropped() {
    let db = cluster();
    let jobs: PgRecorder<u64> = PgRecorder::builder()
        .lease(Duration::from_secs(300))
        .connect(db.url(), &unique_name("dropped-claim"))
        .await
        .expect("connect");
    let polled = Arc::new(AtomicUsize::new(0));
    let task = || {
        let polled = Arc::clone(&polled);
        async move {
            polled.fetch_add(1, Ordering::SeqCst);
            Ok::<(), ()>(())
        }
    };
    let mut lone = Box::pin(jobs.launch(1, task()));
    let mut batched = Box::pin(jobs.launch(2, task()));
    for launch in [&mut lone, &mut batched] {
        tokio::select! {
            biased;
            _ = launch => panic!("a claim was answered without a round trip"),
            () = std::future::ready(()) => {}
        }
    }
    drop((lone, batched));
    within("shutdown", jobs.shutdown()).await;
    for id in [1, 2] {
        let info = jobs.task_info(&id).await.expect("info").expect("a record");
        let failure = info.failure.expect("a failure");
        assert_eq!(
            (info.state, failure.kind),
            (TaskState::Failed, FailureKind::Dropped),
            "id {id}"
        );
    }
    assert_eq!(
        polled.load(Ordering::SeqCst),
        0,
        "a dropped launch ran its task"
    );
}

/// Catches a batched query that answers one id with another's state, reads `NotFound` for
/// an id that has a row, loses or mixes up a query of an id asked twice, or is stuck by a
/// query dropped while it waited for its batch. Queries asked together share statements:
/// the first reads alone, those asked while it is under way join the reader's batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_queries_each_read_their_own_id() {
    let db = cluster();
    let jobs: PgRecorder<String> = connect(db.url(), &unique_name("batched-queries")).await;
    let (release, released) = tokio::sync::watch::channel(false);
    for i in 0..60 {
        let id = format!("job-{i}");
        let mut released = released.clone();
        let task = async move {
            match i % 3 {
                0 => Ok::<(), ()>(()),
                1 => Err(()),
                _ => {
                    let _ = released.wait_for(|go| *go).await;
                    Ok(())
                }
            }
        };
        let launched = jobs.launch(id, task).await.expect("launch");
        assert!(launched.is_ok(), "job-{i} was refused");
    }
    for i in (0..60).filter(|i| i % 3 != 2) {
        within("an end", jobs.wait(&format!("job-{i}")))
            .await
            .expect("wait");
    }
    let expected = |i: usize| match (i < 60, i % 3) {
        (false, _) => TaskState::NotFound,
        (true, 0) => TaskState::Success,
        (true, 1) => TaskState::Failed,
        (true, _) => TaskState::Working,
    };
    // Queries dropped after one poll, most of them while queued for a batch.
    let names: Vec<String> = (0..50).map(|i| format!("job-{i}")).collect();
    let mut dropped: Vec<_> = names
        .iter()
        .map(|id| Box::pin(jobs.query_task_state(id.as_str())))
        .collect();
    for query in &mut dropped {
        tokio::select! {
            biased;
            _ = query => {}
            () = std::future::ready(()) => {}
        }
    }
    drop(dropped);
    // Every id twice, and ids without a row, all at once.
    let asked: Vec<usize> = (0..80).chain(0..80).rev().collect();
    let ids: Vec<String> = asked.iter().map(|i| format!("job-{i}")).collect();
    let answers = within(
        "concurrent queries",
        futures_util::future::join_all(ids.iter().map(|id| jobs.query_task_state(id.as_str()))),
    )
    .await;
    for (i, answer) in asked.iter().zip(answers) {
        assert_eq!(answer.expect("query"), expected(*i), "job-{i}");
    }
    // Still answered once the bursts are over: nothing is left counted as under way.
    assert_eq!(
        within("a lone query", jobs.query_task_state("job-0"))
            .await
            .expect("query"),
        TaskState::Success
    );
    release.send_replace(true);
    within("shutdown", jobs.shutdown()).await;
}

/// Catches an operation that waits on the database past the operation timeout (a hung
/// server, a lock) instead of failing, or that gives up before the timeout: with the
/// records' table locked by another connection, a query fails with `Timeout`, no sooner than
/// the timeout; once the lock is gone the recorder answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_waiting_past_the_timeout_fails_with_timeout() {
    let db = cluster();
    let schema = OwnSchema::new(&db, "timeout_test").await;
    let timeout = Duration::from_millis(400);
    let jobs: PgRecorder<u64> = PgRecorder::builder()
        .operation_timeout(timeout)
        .connect(&schema.url, "timeouts")
        .await
        .expect("connect");
    schema
        .client
        .batch_execute("BEGIN; LOCK TABLE tasks_recorder_records IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    let began = std::time::Instant::now();
    let error = within("a query of a locked table", jobs.query_task_state(&1))
        .await
        .expect_err("the table is locked");
    let waited = began.elapsed();
    assert!(
        matches!(error.kind(), ErrorKind::Timeout(t) if *t == timeout),
        "{error}"
    );
    assert!(waited >= timeout, "gave up after {waited:?}");
    // Queries asked together share a statement: each still fails, naming its own id.
    let ids = [10u64, 11, 12];
    let errors = within(
        "concurrent queries of a locked table",
        futures_util::future::join_all(ids.iter().map(|id| jobs.query_task_state(id))),
    )
    .await;
    for (id, error) in ids.iter().zip(errors) {
        let error = error.expect_err("the table is locked");
        assert!(matches!(error.kind(), ErrorKind::Timeout(_)), "{error}");
        assert_eq!(error.id(), Some(&*hex_key(*id)), "{error}");
    }
    schema
        .client
        .batch_execute("ROLLBACK")
        .await
        .expect("unlock");
    assert_eq!(
        within("a query", jobs.query_task_state(&1))
            .await
            .expect("query"),
        TaskState::NotFound
    );
    within("shutdown", jobs.shutdown()).await;
    schema.drop().await;
}

/// How an error names a `u64` id: its key, the 8 big-endian bytes, in hex.
fn hex_key(id: u64) -> String {
    id.to_be_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Catches a timeout that the PostgreSQL recorder ignores, or records as another failure:
/// the shared attempt machinery stops the attempt and the database records `TimedOut`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_attempt_is_recorded_timed_out() {
    let db = cluster();
    let jobs: PgRecorder<u64> = connect(db.url(), &unique_name("timeout")).await;
    jobs.launch_with_timeout(
        1,
        Duration::from_millis(50),
        std::future::pending::<Result<(), ()>>(),
    )
    .await
    .expect("launch")
    .map_err(drop)
    .expect("launched");
    assert_eq!(
        within("wait", jobs.wait(&1)).await.expect("wait"),
        TaskState::Failed
    );
    let info = jobs
        .task_info(&1)
        .await
        .expect("task_info")
        .expect("a record");
    assert_eq!(info.failure.map(|f| f.kind), Some(FailureKind::TimedOut));
    jobs.shutdown().await;
}
