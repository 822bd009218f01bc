//! The "simpler implementation" that `async_tasks_recorder` 2.0.2's docs recommend: one
//! `scc::HashMap<Id, State>`, the entry API to claim an id, an update when the task completes.
//!
//! Written to be as fast as such a recorder can simply be (one entry lookup to claim, one
//! clone of the id for the task, one update to settle), without the guarantees this crate adds
//! on top (attempt numbers against stale settles, recording a panicked or dropped task).

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use scc::hash_map::Entry;

/// The state of one id in [`SccMapRecorder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapState {
    /// A task runs under the id.
    Working,
    /// The id's task returned `Ok`.
    Success,
    /// The id's task returned `Err`: it can be launched again.
    Failed,
    /// A revoke of the succeeded id runs (it still reads as succeeded).
    Revoking,
}

/// A task recorder built directly on `scc::HashMap<Id, MapState>` and `tokio::spawn`.
#[derive(Debug)]
pub struct SccMapRecorder<T: Eq + Hash> {
    map: Arc<scc::HashMap<T, MapState>>,
}

impl<T: Eq + Hash> Clone for SccMapRecorder<T> {
    fn clone(&self) -> Self {
        SccMapRecorder {
            map: Arc::clone(&self.map),
        }
    }
}

impl<T: Eq + Hash> Default for SccMapRecorder<T> {
    fn default() -> Self {
        SccMapRecorder {
            map: Arc::new(scc::HashMap::new()),
        }
    }
}

impl<T> SccMapRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `id` `Working` unless it is working, succeeded or being revoked; returns the
    /// state that refused it.
    async fn claim(&self, id: T) -> Result<T, MapState> {
        match self.map.entry_async(id).await {
            Entry::Occupied(mut entry) => match *entry.get() {
                MapState::Failed => {
                    *entry.get_mut() = MapState::Working;
                    Ok(entry.key().clone())
                }
                state => Err(state),
            },
            Entry::Vacant(entry) => {
                let id = entry.key().clone();
                entry.insert_entry(MapState::Working);
                Ok(id)
            }
        }
    }

    /// Records the outcome of `id`'s task.
    async fn settle(map: &scc::HashMap<T, MapState>, id: &T, ok: bool) {
        let next = if ok {
            MapState::Success
        } else {
            MapState::Failed
        };
        map.update_async(id, |_, state| *state = next).await;
    }

    /// Spawns `task` under `id` unless the id is working or succeeded; returns whether it did.
    pub async fn launch<F, R, E>(&self, id: T, task: F) -> bool
    where
        F: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let Ok(id) = self.claim(id).await else {
            return false;
        };
        let map = Arc::clone(&self.map);
        tokio::spawn(async move {
            let ok = task.await.is_ok();
            Self::settle(&map, &id, ok).await;
        });
        true
    }

    /// Runs `task` under `id` inline unless the id is working or succeeded; returns whether
    /// it ran.
    pub async fn launch_block<F, R, E>(&self, id: T, task: F) -> bool
    where
        F: Future<Output = Result<R, E>>,
    {
        let Ok(id) = self.claim(id).await else {
            return false;
        };
        let ok = task.await.is_ok();
        Self::settle(&self.map, &id, ok).await;
        true
    }

    /// The state of `id`: `None` if it was never launched (or was revoked).
    pub async fn query(&self, id: &T) -> Option<MapState> {
        self.map.read_async(id, |_, state| *state).await
    }

    /// Revokes a succeeded `id` by running `undo`: on `Ok` the id is forgotten. Returns
    /// whether it was revoked.
    pub async fn revoke<F, R, E>(&self, id: T, undo: F) -> bool
    where
        F: Future<Output = Result<R, E>>,
    {
        let id = match self.map.entry_async(id).await {
            Entry::Occupied(mut entry) if *entry.get() == MapState::Success => {
                *entry.get_mut() = MapState::Revoking;
                entry.key().clone()
            }
            _ => return false,
        };
        if undo.await.is_ok() {
            self.map.remove_async(&id).await;
            true
        } else {
            self.map
                .update_async(&id, |_, state| *state = MapState::Success)
                .await;
            false
        }
    }

    /// The ids whose state satisfies `wanted`, cloned.
    pub async fn ids_where(&self, wanted: impl Fn(MapState) -> bool) -> Vec<T> {
        let mut ids = Vec::new();
        self.map
            .iter_async(|id, state| {
                if wanted(*state) {
                    ids.push(id.clone());
                }
                true
            })
            .await;
        ids
    }
}
