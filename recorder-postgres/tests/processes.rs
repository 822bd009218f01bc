//! Several OS processes share one recorder through a real PostgreSQL server: copies of this
//! test binary run as workers (the `worker` test, which does nothing unless started as one),
//! race the same ids, are killed with SIGKILL, or are paused past their leases. The server
//! itself is killed and restarted. Success side effects are counted in the database, where
//! they cannot lie. Each test says which bug it would catch.
#![forbid(unsafe_code)]

mod support;

use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use support::{cluster, read_line_starting, spawn_worker, unique_name, within};
use tasks_recorder::{FailureKind, TaskState};
use tasks_recorder_pg_cluster::{continue_process, kill_process, stop_process, PgCluster};
use tasks_recorder_postgres::PgRecorder;

/// The lease of the crash and pause tests: short, so the tests are quick.
const SHORT_LEASE: Duration = Duration::from_millis(1500);

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} is set for a worker"))
}

/// The worker's side. Does nothing unless this process was started as a worker.
#[test]
fn worker() {
    let Ok(mode) = std::env::var("TR_WORKER") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let (url, name) = (env("TR_URL"), env("TR_NAME"));
        let lease = Duration::from_millis(env("TR_LEASE_MS").parse().expect("a lease"));
        let recorder: PgRecorder<u64> = PgRecorder::builder()
            .lease(lease)
            .connect(&url, &name)
            .await
            .expect("connect");
        match mode.as_str() {
            "hold" | "pause" => {
                // Launch ids that run until the process is killed, or (paused) until a
                // lease after they start: their ends then come too late.
                let ids: u64 = env("TR_IDS").parse().expect("ids");
                for id in 0..ids {
                    let hold = mode == "hold";
                    let task = async move {
                        if hold {
                            std::future::pending::<()>().await;
                        }
                        tokio::time::sleep(lease * 2).await;
                        Ok::<_, ()>(())
                    };
                    recorder
                        .launch(id, task)
                        .await
                        .expect("launch")
                        .map_err(drop)
                        .expect("launched");
                }
                println!("TR-READY");
                if mode == "hold" {
                    std::future::pending::<()>().await;
                }
                recorder.shutdown().await;
                let c = recorder.counters().await.expect("counters");
                println!("TR-REPORT fenced={} lost={}", c.fenced_total, c.lost_total);
            }
            "race" => race(&recorder, &url, &name).await,
            other => panic!("unknown worker mode {other}"),
        }
    });
}

/// One racer: launches, fails, retries and revokes ids `0..TR_IDS` in an order of its own;
/// every success inserts a row into `effects`, every revoke deletes it.
async fn race(recorder: &PgRecorder<u64>, url: &str, name: &str) {
    let ids: u64 = env("TR_IDS").parse().expect("ids");
    let seed: u64 = env("TR_SEED").parse().expect("seed");
    let (effects, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("a connection for the side effects");
    tokio::spawn(connection);
    let effects = Arc::new(effects);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..3u64 {
        for n in 0..ids {
            let id = (n * 7 + seed * 13 + round * 31) % ids;
            let roll = next() % 10;
            if roll < 2 {
                let effects = Arc::clone(&effects);
                let name = name.to_owned();
                let undo = async move {
                    effects
                        .execute(
                            "DELETE FROM effects WHERE recorder = $1 AND id = $2",
                            &[&name, &(id as i64)],
                        )
                        .await
                        .map(|_| ())
                };
                let _ = recorder.revoke_task_block(id, undo).await.expect("revoke");
                continue;
            }
            let fails = roll < 5;
            let effects = Arc::clone(&effects);
            let name = name.to_owned();
            let task = async move {
                if fails {
                    return Err("a failure");
                }
                effects
                    .execute(
                        "INSERT INTO effects (recorder, id) VALUES ($1, $2)",
                        &[&name, &(id as i64)],
                    )
                    .await
                    .map_err(|_| "the side effect failed")?;
                Ok(())
            };
            let _ = recorder.launch(id, task).await.expect("launch");
        }
    }
    recorder.shutdown().await;
    println!("TR-REPORT done");
}

/// Catches duplicate runs across processes: 4 worker processes race launches, failures,
/// retries and revokes of the same ids. Every success's side effect is a row in the
/// database; at the end each id has at most one, and has one exactly when it is `Success`.
#[test]
fn four_processes_race_and_each_id_succeeds_at_most_once() {
    const IDS: u64 = 1000;
    let db = cluster();
    let name = unique_name("race");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (client, connection) = runtime
        .block_on(tokio_postgres::connect(db.url(), tokio_postgres::NoTls))
        .expect("connect");
    runtime.spawn(connection);
    runtime
        .block_on(client.batch_execute(
            "CREATE TABLE IF NOT EXISTS effects (recorder text NOT NULL, id bigint NOT NULL)",
        ))
        .expect("the effects table");
    // The recorder's schema exists before the workers start (they would also create it).
    let recorder: PgRecorder<u64> = runtime
        .block_on(PgRecorder::connect(db.url(), &name))
        .expect("connect");
    let mut workers: Vec<Child> = (0..4)
        .map(|seed| {
            spawn_worker(
                "race",
                db.url(),
                &name,
                &[
                    ("TR_IDS", IDS.to_string()),
                    ("TR_SEED", seed.to_string()),
                    ("TR_LEASE_MS", "10000".to_string()),
                ],
            )
        })
        .collect();
    for worker in &mut workers {
        read_line_starting(worker, "TR-REPORT done");
        assert!(
            worker.wait().expect("the worker").success(),
            "a worker failed"
        );
    }
    runtime.block_on(async {
        let rows = client
            .query(
                "SELECT id, count(*) FROM effects WHERE recorder = $1 GROUP BY id",
                &[&name],
            )
            .await
            .expect("effects");
        let mut effects = std::collections::HashMap::new();
        for row in rows {
            let (id, count): (i64, i64) = (row.get(0), row.get(1));
            assert!(count <= 1, "id {id} has {count} successes");
            effects.insert(id as u64, count);
        }
        assert_eq!(
            recorder.count_in_state(TaskState::Working).await.unwrap(),
            0
        );
        for id in 0..IDS {
            let state = recorder.query_task_state(&id).await.unwrap();
            let effect = effects.get(&id).copied().unwrap_or(0);
            assert_eq!(
                effect == 1,
                state == TaskState::Success,
                "id {id}: {state}, {effect} effects"
            );
        }
    });
}

/// Catches ids stuck `Working` after a crash: a worker holding running attempts is killed
/// with SIGKILL; once its leases run out its ids read `Failed` (`Lost`), another process
/// relaunches them, they succeed, and nothing stays `Working`.
#[test]
fn a_killed_process_loses_its_ids_and_another_runs_them() {
    const IDS: u64 = 20;
    let db = cluster();
    let name = unique_name("sigkill");
    let lease = SHORT_LEASE.as_millis().to_string();
    let mut worker = spawn_worker(
        "hold",
        db.url(),
        &name,
        &[("TR_IDS", IDS.to_string()), ("TR_LEASE_MS", lease)],
    );
    read_line_starting(&mut worker, "TR-READY");
    kill_process(worker.id()).expect("SIGKILL of the worker");
    let _ = worker.wait();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let recorder: PgRecorder<u64> =
            PgRecorder::connect(db.url(), &name).await.expect("connect");
        for id in 0..IDS {
            assert_eq!(
                within("the lease runs out", recorder.wait(&id))
                    .await
                    .unwrap(),
                TaskState::Failed
            );
            let info = recorder.task_info(&id).await.unwrap().expect("a record");
            assert_eq!(
                info.failure.map(|f| f.kind),
                Some(FailureKind::Lost),
                "id {id}"
            );
            recorder
                .launch(id, async { Ok::<_, ()>(()) })
                .await
                .unwrap()
                .map_err(drop)
                .expect("relaunched");
        }
        for id in 0..IDS {
            assert_eq!(
                within("wait", recorder.wait(&id)).await.unwrap(),
                TaskState::Success
            );
            assert_eq!(
                recorder.task_info(&id).await.unwrap().map(|i| i.attempts),
                Some(2)
            );
        }
        assert_eq!(
            recorder.count_in_state(TaskState::Working).await.unwrap(),
            0
        );
    });
}

/// Catches a zombie that overwrites newer attempts: a worker is paused (SIGSTOP) past its
/// leases, its ids are relaunched elsewhere and fail, then it resumes (SIGCONT) and its
/// attempts end: those late ends change nothing, and are counted (fenced or lost).
#[test]
fn a_paused_process_cannot_overwrite_newer_attempts() {
    const IDS: u64 = 10;
    let db = cluster();
    let name = unique_name("zombie");
    let lease = SHORT_LEASE.as_millis().to_string();
    let mut worker = spawn_worker(
        "pause",
        db.url(),
        &name,
        &[("TR_IDS", IDS.to_string()), ("TR_LEASE_MS", lease)],
    );
    read_line_starting(&mut worker, "TR-READY");
    stop_process(worker.id()).expect("SIGSTOP of the worker");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let recorder: PgRecorder<u64> = runtime
        .block_on(PgRecorder::connect(db.url(), &name))
        .expect("connect");
    let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            for id in 0..IDS {
                assert_eq!(
                    within("the lease runs out", recorder.wait(&id))
                        .await
                        .unwrap(),
                    TaskState::Failed
                );
                let task = async { Err::<(), _>("the newer attempt fails") };
                recorder
                    .launch_block(id, task)
                    .await
                    .unwrap()
                    .map_err(drop)
                    .expect("relaunched");
                assert_eq!(
                    within("wait", recorder.wait(&id)).await.unwrap(),
                    TaskState::Failed
                );
            }
        })
    }));
    continue_process(worker.id()).expect("SIGCONT of the worker");
    if let Err(panic) = resumed {
        let _ = kill_process(worker.id());
        std::panic::resume_unwind(panic);
    }
    let report = read_line_starting(&mut worker, "TR-REPORT");
    assert!(worker.wait().expect("the worker").success());
    // Each late end was refused by the database (fenced), or given up by the worker itself
    // once it saw its lease must have run out (lost); an attempt the worker stopped as lost
    // and whose end the database then refused counts in both. None changed a record.
    let count = |key: &str| -> u64 {
        report
            .split_whitespace()
            .find_map(|part| part.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {report:?}"))
    };
    assert!(count("fenced=") + count("lost=") >= IDS, "{report}");
    runtime.block_on(async {
        for id in 0..IDS {
            let info = recorder.task_info(&id).await.unwrap().expect("a record");
            assert_eq!(
                (info.state, info.attempts),
                (TaskState::Failed, 2),
                "id {id}"
            );
            assert_eq!(
                info.failure.map(|f| f.kind),
                Some(FailureKind::Error),
                "id {id}"
            );
        }
    });
}

/// Catches acknowledged successes lost in a server crash, double successes after it,
/// panics on database errors, and ids stuck `Working`: the server is killed with SIGKILL
/// while tasks run, clients see errors, the server restarts, and the recorder recovers.
#[test]
fn a_server_crash_loses_no_acknowledged_success() {
    if std::env::var("DATABASE_URL").is_ok() {
        eprintln!("skipped: DATABASE_URL points at a server this test must not kill");
        return;
    }
    let mut db = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = db.url().to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let recorder: PgRecorder<u64> = runtime
        .block_on(
            PgRecorder::builder()
                .lease(SHORT_LEASE)
                .operation_timeout(Duration::from_secs(3))
                .connect(&url, "crash"),
        )
        .expect("connect");
    let acknowledged: Vec<u64> = runtime.block_on(async {
        let mut done = Vec::new();
        for id in 0..50u64 {
            recorder
                .launch(id, async { Ok::<_, ()>(()) })
                .await
                .unwrap()
                .map_err(drop)
                .expect("launched");
        }
        for id in 0..50u64 {
            if recorder.wait(&id).await.unwrap() == TaskState::Success {
                done.push(id);
            }
        }
        // Attempts running while the server dies.
        for id in 50..60u64 {
            let task = async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<_, ()>(())
            };
            recorder
                .launch(id, task)
                .await
                .unwrap()
                .map_err(drop)
                .expect("launched");
        }
        done
    });
    assert_eq!(acknowledged.len(), 50);
    db.kill_server().expect("SIGKILL of the server");
    runtime.block_on(async {
        let error = recorder
            .query_task_state(&1)
            .await
            .expect_err("the server is down");
        assert!(error.is_transient(), "{error}");
        match recorder.launch(100, async { Ok::<_, ()>(()) }).await {
            Err(error) => assert!(error.is_transient(), "{error}"),
            Ok(_) => panic!("a launch reported while the server is down"),
        }
    });
    db.restart().expect("the server restarts");
    runtime.block_on(async {
        let mut recovered = false;
        for _ in 0..100 {
            if recorder.query_task_state(&1).await.is_ok() {
                recovered = true;
                break;
            }
            // Reconnecting after a restart: retrying is what a client does.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(recovered, "the recorder did not recover");
        for &id in &acknowledged {
            assert_eq!(
                recorder.query_task_state(&id).await.unwrap(),
                TaskState::Success,
                "id {id}"
            );
            let again = recorder
                .launch(id, async { Ok::<_, ()>(()) })
                .await
                .unwrap();
            assert!(again.is_err(), "id {id} succeeded twice");
        }
        for id in 50..60u64 {
            let state = within("the lease runs out", recorder.wait(&id))
                .await
                .unwrap();
            assert_ne!(state, TaskState::Working, "id {id}");
        }
        assert_eq!(
            recorder.count_in_state(TaskState::Working).await.unwrap(),
            0
        );
        recorder
            .launch(100, async { Ok::<_, ()>(()) })
            .await
            .unwrap()
            .map_err(drop)
            .expect("launched");
        assert_eq!(
            within("wait", recorder.wait(&100)).await.unwrap(),
            TaskState::Success
        );
        recorder.shutdown().await;
    });
}
