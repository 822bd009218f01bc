//! A Wing–Gong linearizability checker for the histories of one id against the recorder's
//! documented state machine. Shared by the in-memory linearizability test and the
//! PostgreSQL recorder's multi-process one (which includes this file by path), so both are
//! judged by the same sequential specification.
#![allow(dead_code)]

use std::collections::HashSet;

use tasks_recorder::TaskState;

/// The state of one id in the sequential specification. `Working` and `Revoking` carry the
/// token of the attempt or revoke that holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum S {
    NotFound,
    Working(u32),
    Success,
    Revoking(u32),
    Failed,
}

impl S {
    fn view(self) -> TaskState {
        match self {
            S::NotFound => TaskState::NotFound,
            S::Working(_) => TaskState::Working,
            S::Success | S::Revoking(_) => TaskState::Success,
            S::Failed => TaskState::Failed,
        }
    }
}

/// One operation of a history, with its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An accepted launch: attempt `token` starts.
    Claim(u32),
    /// Attempt `token` returned `Ok` (`true`) or `Err`.
    Complete(u32, bool),
    /// A launch refused with this state.
    LaunchRefused(TaskState),
    /// A query answered this state.
    Query(TaskState),
    /// An accepted revoke: revoke `token` starts.
    RevokeBegin(u32),
    /// The undo future of revoke `token` returned `Ok` (`true`) or `Err`.
    RevokeEnd(u32, bool),
    /// A revoke refused with `NotSuccess`.
    RevokeNotSuccess,
    /// A revoke refused with `Revoking`.
    RevokeRevoking,
}

/// The sequential specification: the state after `kind` in state `s`, or `None` if `kind`'s
/// result is impossible in `s`.
pub fn step(s: S, kind: Kind) -> Option<S> {
    use S::*;
    match (kind, s) {
        (Kind::Claim(t), NotFound | Failed) => Some(Working(t)),
        (Kind::Complete(t, ok), Working(w)) if w == t => Some(if ok { Success } else { Failed }),
        (Kind::LaunchRefused(TaskState::Working), Working(_)) => Some(s),
        (Kind::LaunchRefused(TaskState::Success), Success | Revoking(_)) => Some(s),
        (Kind::Query(state), _) if s.view() == state => Some(s),
        (Kind::RevokeBegin(t), Success) => Some(Revoking(t)),
        (Kind::RevokeEnd(t, ok), Revoking(r)) if r == t => {
            Some(if ok { NotFound } else { Success })
        }
        (Kind::RevokeNotSuccess, Working(_) | Failed | NotFound) => Some(s),
        (Kind::RevokeRevoking, Revoking(_)) => Some(s),
        _ => None,
    }
}

/// An operation with its invocation and response times (`inv < resp`).
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub inv: u64,
    pub resp: u64,
    pub kind: Kind,
}

/// Wing–Gong: is there a linearization of `events` (one id's history, at most 64 operations)
/// from `NotFound`? Returns one order (indices into `events`) if so.
pub fn linearize(events: &[Event]) -> Option<Vec<usize>> {
    assert!(events.len() <= 64, "history too long for the checker");
    let full = if events.len() == 64 {
        u64::MAX
    } else {
        (1u64 << events.len()) - 1
    };
    let mut order = Vec::with_capacity(events.len());
    let mut seen = HashSet::new();
    search(events, full, 0, S::NotFound, &mut order, &mut seen).then_some(order)
}

fn search(
    events: &[Event],
    full: u64,
    done: u64,
    state: S,
    order: &mut Vec<usize>,
    seen: &mut HashSet<(u64, S)>,
) -> bool {
    if done == full {
        return true;
    }
    if !seen.insert((done, state)) {
        return false; // already explored: no linearization from here
    }
    let pending = || (0..events.len()).filter(move |i| done & (1 << i) == 0);
    // An operation can go next only if no other pending one responded before it was invoked.
    let first_response = pending().map(|i| events[i].resp).min().unwrap_or(u64::MAX);
    for i in pending() {
        if events[i].inv > first_response {
            continue;
        }
        if let Some(next) = step(state, events[i].kind) {
            order.push(i);
            if search(events, full, done | (1 << i), next, order, seen) {
                return true;
            }
            order.pop();
        }
    }
    false
}
