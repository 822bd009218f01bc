//! Linearizability across processes: worker processes (copies of this test binary) race
//! `launch_block`, queries and revokes of a few ids through one PostgreSQL recorder. Every
//! invocation and response is stamped from one clock all processes share, a database
//! sequence (`nextval` is atomic and increases in real time), and the same Wing–Gong checker
//! as the in-memory recorder's test looks, per id, for a sequential order that respects real
//! time and explains every result with the documented state machine.
//!
//! Internal events are modelled as in that test: an accepted launch is `claim` (call to the
//! first poll of the task) and `complete` (the task about to return, to the moment `wait`
//! sees the id settled, an upper bound of when the end is recorded); an accepted revoke is
//! `begin` (call to the first poll of the undo) and `end` (undo about to return, to the
//! return of the revoke, which records its end before returning). Tokens are unique across
//! processes.
#![forbid(unsafe_code)]

mod support;
#[path = "../../tests/tests/wing_gong/mod.rs"]
mod wing_gong;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use support::{cluster, read_line_starting, spawn_worker, unique_name};
use tasks_recorder::{RevokeFailReason, TaskState};
use tasks_recorder_postgres::PgRecorder;
use wing_gong::{linearize, Event, Kind};

const IDS: u64 = 4;
const PROCESSES: u32 = 2;
const CLIENTS: u32 = 2;
const OPS: u32 = 20;

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} is set for a worker"))
}

/// A state as a number, and back, for the lines a worker prints.
fn code(state: TaskState) -> u8 {
    match state {
        TaskState::Working => 0,
        TaskState::Success => 1,
        TaskState::Failed => 2,
        TaskState::NotFound => 3,
    }
}

fn state(code: u64) -> TaskState {
    match code {
        0 => TaskState::Working,
        1 => TaskState::Success,
        2 => TaskState::Failed,
        _ => TaskState::NotFound,
    }
}

/// `kind` as `tag token flag`.
fn encode(kind: Kind) -> String {
    let (tag, token, flag) = match kind {
        Kind::Claim(t) => (0, t, 0),
        Kind::Complete(t, ok) => (1, t, u8::from(ok)),
        Kind::LaunchRefused(s) => (2, 0, code(s)),
        Kind::Query(s) => (3, 0, code(s)),
        Kind::RevokeBegin(t) => (4, t, 0),
        Kind::RevokeEnd(t, ok) => (5, t, u8::from(ok)),
        Kind::RevokeNotSuccess => (6, 0, 0),
        Kind::RevokeRevoking => (7, 0, 0),
    };
    format!("{tag} {token} {flag}")
}

fn decode(tag: u64, token: u64, flag: u64) -> Kind {
    let token = token as u32;
    match tag {
        0 => Kind::Claim(token),
        1 => Kind::Complete(token, flag == 1),
        2 => Kind::LaunchRefused(state(flag)),
        3 => Kind::Query(state(flag)),
        4 => Kind::RevokeBegin(token),
        5 => Kind::RevokeEnd(token, flag == 1),
        6 => Kind::RevokeNotSuccess,
        _ => Kind::RevokeRevoking,
    }
}

/// The clock every process shares: a database sequence.
#[derive(Clone)]
struct Clock(Arc<tokio_postgres::Client>);

impl Clock {
    async fn tick(&self) -> u64 {
        let row = self
            .0
            .query_one("SELECT nextval('tasks_recorder_test_clock')", &[])
            .await
            .expect("the clock");
        row.get::<_, i64>(0) as u64
    }
}

/// Prints one operation of `id`.
fn record(id: u64, inv: u64, resp: u64, kind: Kind) {
    println!("TR-EV {id} {inv} {resp} {}", encode(kind));
}

/// One client of a worker: random operations on the ids.
async fn client(recorder: PgRecorder<u64>, clock: Clock, tokens: Arc<AtomicU32>, mut seed: u64) {
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..OPS {
        let id = next() % IDS;
        let ok = next() % 3 != 0;
        let token = tokens.fetch_add(1, Ordering::Relaxed);
        match next() % 3 {
            0 | 1 => {
                let inv = clock.tick().await;
                let (claimed, about_to_end) =
                    (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
                let task = {
                    let (clock, claimed, about_to_end) = (
                        clock.clone(),
                        Arc::clone(&claimed),
                        Arc::clone(&about_to_end),
                    );
                    async move {
                        claimed.store(clock.tick().await, Ordering::SeqCst);
                        about_to_end.store(clock.tick().await, Ordering::SeqCst);
                        if ok {
                            Ok(())
                        } else {
                            Err(())
                        }
                    }
                };
                match recorder.launch_block(id, task).await.expect("launch_block") {
                    Ok(()) => {
                        recorder.wait(&id).await.expect("wait");
                        let resp = clock.tick().await;
                        let claimed = claimed.load(Ordering::SeqCst);
                        let about_to_end = about_to_end.load(Ordering::SeqCst);
                        record(id, inv, claimed, Kind::Claim(token));
                        record(id, about_to_end, resp, Kind::Complete(token, ok));
                    }
                    Err((refused, _)) => {
                        let resp = clock.tick().await;
                        record(id, inv, resp, Kind::LaunchRefused(refused));
                    }
                }
            }
            _ if next() % 2 == 0 => {
                let inv = clock.tick().await;
                let answer = recorder.query_task_state(&id).await.expect("query");
                let resp = clock.tick().await;
                record(id, inv, resp, Kind::Query(answer));
            }
            _ => {
                let inv = clock.tick().await;
                let (begun, about_to_end) =
                    (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
                let undo = {
                    let (clock, begun, about_to_end) =
                        (clock.clone(), Arc::clone(&begun), Arc::clone(&about_to_end));
                    async move {
                        begun.store(clock.tick().await, Ordering::SeqCst);
                        about_to_end.store(clock.tick().await, Ordering::SeqCst);
                        if ok {
                            Ok(())
                        } else {
                            Err(())
                        }
                    }
                };
                let revoked = recorder.revoke_task_block(id, undo).await.expect("revoke");
                let resp = clock.tick().await;
                let begun = begun.load(Ordering::SeqCst);
                let about_to_end = about_to_end.load(Ordering::SeqCst);
                match revoked {
                    Ok(()) | Err(RevokeFailReason::RevokeTaskError(())) => {
                        record(id, inv, begun, Kind::RevokeBegin(token));
                        record(
                            id,
                            about_to_end,
                            resp,
                            Kind::RevokeEnd(token, revoked.is_ok()),
                        );
                    }
                    Err(RevokeFailReason::NotSuccess(_)) => {
                        record(id, inv, resp, Kind::RevokeNotSuccess)
                    }
                    Err(RevokeFailReason::Revoking(_)) => {
                        record(id, inv, resp, Kind::RevokeRevoking)
                    }
                }
            }
        }
    }
}

/// The worker's side. Does nothing unless this process was started as a worker.
#[test]
fn worker() {
    let Ok(mode) = std::env::var("TR_WORKER") else {
        return;
    };
    assert_eq!(mode, "lin");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (url, name) = (env("TR_URL"), env("TR_NAME"));
        let process: u32 = env("TR_PROCESS").parse().expect("a process index");
        let recorder: PgRecorder<u64> = PgRecorder::connect(&url, &name).await.expect("connect");
        let (client_db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the clock's connection");
        tokio::spawn(connection);
        let clock = Clock(Arc::new(client_db));
        // Tokens are unique across processes: each process has its own range.
        let tokens = Arc::new(AtomicU32::new(process * 1_000_000));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let seed = 0x9E37_79B9 ^ (u64::from(process) << 32) ^ u64::from(c + 1);
                tokio::spawn(client(
                    recorder.clone(),
                    clock.clone(),
                    Arc::clone(&tokens),
                    seed,
                ))
            })
            .collect();
        for c in clients {
            c.await.expect("a client");
        }
        recorder.shutdown().await;
        println!("TR-REPORT done");
    });
}

/// Catches a store whose answers no sequential order explains: a stale read, a second
/// success, a refused launch or revoke with the wrong state, across processes.
#[test]
fn histories_of_several_processes_are_linearizable() {
    let db = cluster();
    let name = unique_name("lin");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (client_db, connection) = runtime
        .block_on(tokio_postgres::connect(db.url(), tokio_postgres::NoTls))
        .expect("connect");
    runtime.spawn(connection);
    runtime
        .block_on(
            client_db.batch_execute("CREATE SEQUENCE IF NOT EXISTS tasks_recorder_test_clock"),
        )
        .expect("the clock");
    // Creates the schema before the workers race to.
    drop(
        runtime
            .block_on(PgRecorder::<u64>::connect(db.url(), &name))
            .expect("connect"),
    );
    let mut workers: Vec<_> = (0..PROCESSES)
        .map(|p| spawn_worker("lin", db.url(), &name, &[("TR_PROCESS", p.to_string())]))
        .collect();
    let mut per_id: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    for worker in &mut workers {
        loop {
            let line = read_line_starting(worker, "TR-");
            if line.starts_with("TR-REPORT") {
                break;
            }
            let numbers: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .map(|n| n.parse().expect("a number"))
                .collect();
            let [id, inv, resp, tag, token, flag] = numbers[..] else {
                panic!("a malformed event line: {line}");
            };
            assert!(inv < resp, "{line}");
            per_id.entry(id).or_default().push(Event {
                inv,
                resp,
                kind: decode(tag, token, flag),
            });
        }
        assert!(worker.wait().expect("the worker").success());
    }
    let mut checked = 0;
    for (id, events) in &per_id {
        assert!(
            linearize(events).is_some(),
            "the history of id {id} is not linearizable: {events:#?}"
        );
        checked += events.len();
    }
    assert!(checked > 0);
}
