//! Revoking a success: the id is marked as revoking (it still reads `Success`) while the undo
//! future runs, and becomes `NotFound` only if it returns `Ok`.

use std::future::Future;
use std::hash::Hash;

use scc::hash_map::Entry;

use crate::attempt::Revocation;
use crate::recorder::Inner;
use crate::tally::Event;
use crate::transition::{self, RevokeEnd, RevokeRefusal};
use crate::{AsyncTasksRecorder, RevokeFailReason, TaskState};

impl<T> Inner<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Applies `end_revoke` to `id`.
    pub(crate) fn apply_end_revoke(&self, id: &T, revoked: bool) {
        if let Some(mut entry) = self.records.get_sync(id) {
            match transition::end_revoke(entry.get(), revoked) {
                RevokeEnd::Put(next) => *entry.get_mut() = next,
                RevokeEnd::Remove => {
                    self.machinery.tally.count(Event::Revoked);
                    self.publish(entry.key(), TaskState::Success, TaskState::NotFound);
                    drop(entry.remove_entry());
                }
                RevokeEnd::Keep => {}
            }
        }
    }
}

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Revokes the success of `target_task_id` by running `revoke_task` inside the returned
    /// future: on `Ok(r)` the id becomes [`TaskState::NotFound`] (and can be launched again)
    /// and `Ok(r)` is returned.
    ///
    /// Refused, with `revoke_task` handed back unpolled, with
    /// [`RevokeFailReason::NotSuccess`] unless the id is `Success`, and with
    /// [`RevokeFailReason::Revoking`] while another revoke of the id runs: at most one revoke
    /// of an id runs at a time. A refusal changes nothing.
    ///
    /// While the revoke runs the id still reads `Success` and cannot be launched. If
    /// `revoke_task` returns `Err(e)` ([`RevokeFailReason::RevokeTaskError`]), panics, or the
    /// returned future is dropped before it finishes, the id stays `Success` and can be
    /// revoked again.
    pub async fn revoke_task_block<Fut, R, E>(
        &self,
        target_task_id: T,
        revoke_task: Fut,
    ) -> Result<R, RevokeFailReason<Fut, E>>
    where
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let begun = match self.inner.records.entry_sync(target_task_id) {
            Entry::Occupied(mut entry) => transition::begin_revoke(entry.get()).map(|next| {
                *entry.get_mut() = next;
                entry.key().clone()
            }),
            // No record: the id is `NotFound`.
            Entry::Vacant(_) => Err(RevokeRefusal::NotSuccess),
        };
        let id = match begun {
            Ok(id) => id,
            Err(RevokeRefusal::Revoking) => return Err(RevokeFailReason::Revoking(revoke_task)),
            Err(RevokeRefusal::NotSuccess) => {
                return Err(RevokeFailReason::NotSuccess(revoke_task))
            }
        };
        // The in-memory store has one revoke of an id at a time: it needs no fencing token.
        let revocation = Revocation::new(&*self.inner, id, 0);
        match revoke_task.await {
            Ok(r) => {
                revocation.end(true);
                Ok(r)
            }
            Err(e) => {
                revocation.end(false);
                Err(RevokeFailReason::RevokeTaskError(e))
            }
        }
    }
}
