//! Linearizability check: clients on the multi-thread runtime race launches (spawned and
//! inline), queries and revokes on a handful of ids; every operation's invocation and
//! response is stamped from one shared logical clock (an `AtomicU64`, `SeqCst`), and a small
//! Wing–Gong backtracking search (with memoisation) looks, per id, for a sequential order that
//! respects real time (an operation that responded before another was invoked comes first) and
//! explains every result with the documented state machine. Linearizability is local, so
//! checking each id's sub-history on its own is enough.
//!
//! # How internal events are modelled
//!
//! A task's completion and a revoke's end are not calls of the API but they change the state,
//! so each is an operation of its own, with an interval that brackets the moment the record
//! changes:
//!
//! - an accepted `launch_block` is two operations: `claim` (from the call to the first poll of
//!   the task's future: the record is `Working` before the future runs) and `complete(ok)`
//!   (from just before the future returns to the return of `launch_block`, which settles the
//!   record before returning);
//! - an accepted spawned `launch` is `claim` (call to return of `launch`) and `complete(ok)`
//!   from just before the task's future returns to the end of the run (after `shutdown`
//!   returned, which waits until every attempt's record is settled): a sound, if loose, upper
//!   bound, since we cannot observe when the spawned task settles;
//! - an accepted `revoke_task_block` is `begin_revoke` (call to first poll of the undo future)
//!   and `end_revoke(ok)` (undo future about to return, to the return of the revoke).
//!
//! Each claim / begin carries a token that only its own complete / end matches, so a
//! completion can never be attributed to another attempt. Refused launches and revokes, and
//! queries, are single operations whose result must hold in the state at their point.
#![forbid(unsafe_code)]

mod support;
mod wing_gong;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use support::{within, Rng};
use tasks_recorder::{AsyncTasksRecorder, RevokeFailReason, TaskState};
use wing_gong::{linearize, Event, Kind};

/// A response time not known yet (filled in at the end of the run).
const OPEN: u64 = u64::MAX;

/// The shared logical clock and the history being recorded.
struct Recording {
    clock: AtomicU64,
    tokens: AtomicU32,
    history: Mutex<Vec<(u64, Event)>>,
}

impl Recording {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn token(&self) -> u32 {
        self.tokens.fetch_add(1, Ordering::Relaxed)
    }

    fn push(&self, id: u64, inv: u64, resp: u64, kind: Kind) {
        self.history
            .lock()
            .expect("history")
            .push((id, Event { inv, resp, kind }));
    }
}

const IDS: u64 = 3;
const CLIENTS: u64 = 4;
const OPS_PER_CLIENT: usize = 6;

/// A task (or undo) future that yields a few times, notes when it is about to return (and,
/// through `started`, when it first ran), and returns `Ok` or `Err`.
async fn work(
    rec: Arc<Recording>,
    yields: u64,
    ok: bool,
    started: Arc<AtomicU64>,
) -> Result<(), ()> {
    started.store(rec.tick(), Ordering::SeqCst);
    for _ in 0..yields {
        tokio::task::yield_now().await;
    }
    if ok {
        Ok(())
    } else {
        Err(())
    }
}

async fn client(recorder: AsyncTasksRecorder<u64>, rec: Arc<Recording>, seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..OPS_PER_CLIENT {
        let id = rng.below(IDS);
        let token = rec.token();
        let ok = rng.chance(65);
        let yields = rng.below(3);
        let started = Arc::new(AtomicU64::new(0));
        match rng.below(100) {
            // Spawned launch.
            0..=34 => {
                let task = {
                    let rec = Arc::clone(&rec);
                    let started = Arc::clone(&started);
                    async move {
                        let result = work(Arc::clone(&rec), yields, ok, started).await;
                        let about_to_return = rec.tick();
                        rec.push(id, about_to_return, OPEN, Kind::Complete(token, ok));
                        result
                    }
                };
                let inv = rec.tick();
                let result = recorder.launch(id, task).await;
                let resp = rec.tick();
                match result {
                    Ok(()) => rec.push(id, inv, resp, Kind::Claim(token)),
                    Err((state, _)) => rec.push(id, inv, resp, Kind::LaunchRefused(state)),
                }
            }
            // Inline launch.
            35..=49 => {
                let finishing = Arc::new(AtomicU64::new(0));
                let task = {
                    let rec = Arc::clone(&rec);
                    let started = Arc::clone(&started);
                    let finishing = Arc::clone(&finishing);
                    async move {
                        let result = work(Arc::clone(&rec), yields, ok, started).await;
                        finishing.store(rec.tick(), Ordering::SeqCst);
                        result
                    }
                };
                let inv = rec.tick();
                let result = recorder.launch_block(id, task).await;
                let resp = rec.tick();
                match result {
                    Ok(()) => {
                        let started = started.load(Ordering::SeqCst);
                        let finishing = finishing.load(Ordering::SeqCst);
                        rec.push(id, inv, started, Kind::Claim(token));
                        rec.push(id, finishing, resp, Kind::Complete(token, ok));
                    }
                    Err((state, _)) => rec.push(id, inv, resp, Kind::LaunchRefused(state)),
                }
            }
            // Query.
            50..=74 => {
                let inv = rec.tick();
                let state = recorder.query_task_state(&id).await;
                let resp = rec.tick();
                rec.push(id, inv, resp, Kind::Query(state));
            }
            // Revoke.
            _ => {
                let finishing = Arc::new(AtomicU64::new(0));
                let undo = {
                    let rec = Arc::clone(&rec);
                    let started = Arc::clone(&started);
                    let finishing = Arc::clone(&finishing);
                    async move {
                        let result = work(Arc::clone(&rec), yields, ok, started).await;
                        finishing.store(rec.tick(), Ordering::SeqCst);
                        result
                    }
                };
                let inv = rec.tick();
                let result = recorder.revoke_task_block(id, undo).await;
                let resp = rec.tick();
                let ran = |ok| {
                    rec.push(
                        id,
                        inv,
                        started.load(Ordering::SeqCst),
                        Kind::RevokeBegin(token),
                    );
                    let finishing = finishing.load(Ordering::SeqCst);
                    rec.push(id, finishing, resp, Kind::RevokeEnd(token, ok));
                };
                match result {
                    Ok(()) => ran(true),
                    Err(RevokeFailReason::RevokeTaskError(())) => ran(false),
                    Err(RevokeFailReason::NotSuccess(_)) => {
                        rec.push(id, inv, resp, Kind::RevokeNotSuccess)
                    }
                    Err(RevokeFailReason::Revoking(_)) => {
                        rec.push(id, inv, resp, Kind::RevokeRevoking)
                    }
                }
            }
        }
        if rng.chance(30) {
            tokio::task::yield_now().await;
        }
    }
}

/// Runs one seed: concurrent clients, then a shutdown and a final query of every id; returns
/// the history per id.
async fn run_seed(seed: u64) -> BTreeMap<u64, Vec<Event>> {
    let recorder = AsyncTasksRecorder::<u64>::new();
    let rec = Arc::new(Recording {
        clock: AtomicU64::new(0),
        tokens: AtomicU32::new(0),
        history: Mutex::new(Vec::new()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(client(
                recorder.clone(),
                Arc::clone(&rec),
                seed * CLIENTS + c,
            ))
        })
        .collect();
    for client in clients {
        within("client", client).await.expect("client panicked");
    }
    within("shutdown", recorder.shutdown()).await;
    let end = rec.tick();
    for id in 0..IDS {
        let inv = rec.tick();
        let state = recorder.query_task_state(&id).await;
        let resp = rec.tick();
        rec.push(id, inv, resp, Kind::Query(state));
    }
    let mut per_id: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    for (id, mut event) in rec.history.lock().expect("history").drain(..) {
        if event.resp == OPEN {
            event.resp = end;
        }
        assert!(
            event.inv < event.resp,
            "seed {seed}: bad interval {event:?}"
        );
        per_id.entry(id).or_default().push(event);
    }
    per_id
}

fn check_seed(seed: u64, per_id: &BTreeMap<u64, Vec<Event>>) {
    for (id, events) in per_id {
        if linearize(events).is_none() {
            let mut sorted = events.clone();
            sorted.sort_by_key(|e| e.inv);
            let lines: Vec<String> = sorted
                .iter()
                .map(|e| format!("  [{:>4}, {:>4}] {:?}", e.inv, e.resp, e.kind))
                .collect();
            panic!(
                "seed {seed}, id {id}: no linearization explains this history:\n{}",
                lines.join("\n")
            );
        }
    }
}

/// Catches any non-linearizable behaviour of launch, launch_block, query and revoke under
/// real concurrency: a query that answers a state the id never held during the call (2.0.2's
/// multi-set reads), a launch accepted while another attempt runs or after a success, a
/// revoke that runs twice or lets a launch in, a refusal reporting a state the id was not in,
/// or a completion recorded against the wrong attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_histories_are_linearizable() {
    let seeds: u64 = std::env::var("LINEARIZABILITY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut checked = 0;
    for seed in 0..seeds {
        let per_id = run_seed(seed).await;
        check_seed(seed, &per_id);
        checked += per_id.values().map(Vec::len).sum::<usize>();
    }
    assert!(checked > 0);
}

fn ev(inv: u64, resp: u64, kind: Kind) -> Event {
    Event { inv, resp, kind }
}

/// Catches a checker that accepts everything (which would make the test above vacuous):
/// hand-written histories that no order explains must be rejected.
#[test]
fn checker_rejects_impossible_histories() {
    // A query answers Success before any launch was invoked.
    assert!(linearize(&[
        ev(1, 2, Kind::Query(TaskState::Success)),
        ev(3, 4, Kind::Claim(0)),
        ev(5, 6, Kind::Complete(0, true)),
    ])
    .is_none());
    // Two sequential successes without a revoke in between.
    assert!(linearize(&[
        ev(1, 2, Kind::Claim(0)),
        ev(3, 4, Kind::Complete(0, true)),
        ev(5, 6, Kind::Claim(1)),
    ])
    .is_none());
    // A completion attributed to another attempt.
    assert!(linearize(&[ev(1, 2, Kind::Claim(0)), ev(3, 4, Kind::Complete(1, true))]).is_none());
    // A refused revoke left the id revoking: a later revoke refused as Revoking.
    assert!(linearize(&[
        ev(1, 2, Kind::RevokeNotSuccess),
        ev(3, 4, Kind::RevokeRevoking),
    ])
    .is_none());
    // A success relaunched: the refusal must say Success, not Working.
    assert!(linearize(&[
        ev(1, 2, Kind::Claim(0)),
        ev(3, 4, Kind::Complete(0, true)),
        ev(5, 6, Kind::LaunchRefused(TaskState::Working)),
    ])
    .is_none());
}

/// Catches a checker that forgets real time may be overlapped: concurrent operations may be
/// reordered, and these histories are linearizable.
#[test]
fn checker_accepts_overlapping_reorderings() {
    // The query overlaps the completion, so it may see Success.
    assert!(linearize(&[
        ev(1, 2, Kind::Claim(0)),
        ev(4, 8, Kind::Complete(0, true)),
        ev(3, 5, Kind::Query(TaskState::Success)),
        ev(6, 7, Kind::Query(TaskState::Success)),
    ])
    .is_some());
    // A revoke and a relaunch overlapping it.
    assert!(linearize(&[
        ev(1, 2, Kind::Claim(0)),
        ev(3, 4, Kind::Complete(0, true)),
        ev(5, 6, Kind::RevokeBegin(1)),
        ev(7, 12, Kind::RevokeEnd(1, true)),
        ev(8, 9, Kind::LaunchRefused(TaskState::Success)),
        ev(10, 13, Kind::Claim(2)),
        ev(11, 14, Kind::Query(TaskState::Working)),
    ])
    .is_some());
}
