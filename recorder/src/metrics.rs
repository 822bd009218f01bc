//! The `metrics` feature: publishes the counters through the [`metrics`] facade, so any of
//! its exporters (Prometheus included) shows them.

use std::hash::Hash;

use metrics::{counter, gauge};

use crate::AsyncTasksRecorder;

impl<T> AsyncTasksRecorder<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// Publishes a [snapshot of the counters](Self::counters) to the `metrics` facade's
    /// global recorder (or the local one, in [`metrics::with_local_recorder`]), each labelled
    /// `recorder = <name>` (see [`Builder::name`](crate::Builder::name)):
    ///
    /// | metric | kind | labels |
    /// |---|---|---|
    /// | `tasks_recorder_launched_total` | counter | |
    /// | `tasks_recorder_started_total` | counter | |
    /// | `tasks_recorder_refused_total` | counter | `reason`: `running`, `succeeded`, `closed` |
    /// | `tasks_recorder_finished_total` | counter | `outcome`: `succeeded`, `failed`, `panicked`, `cancelled`, `dropped`, `lost`, `timed_out` |
    /// | `tasks_recorder_revoked_total` | counter | |
    /// | `tasks_recorder_fenced_total` | counter | |
    /// | `tasks_recorder_removed_total` | counter | |
    /// | `tasks_recorder_marked_total` | counter | |
    /// | `tasks_recorder_tasks` | gauge | `state`: `working`, `success`, `failed` |
    /// | `tasks_recorder_queued` | gauge | |
    ///
    /// `launched` counts the attempts issued, `started` those that got their turn under the
    /// concurrency and rate limits, and `tasks_recorder_queued` those waiting for it now
    /// (they are among the `working` ones).
    ///
    /// Counters are set to their absolute values, so calling this often (say from a
    /// [`tokio::time::interval`] loop, or right before a scrape) costs a few atomic loads and
    /// map lookups in the exporter, and nothing on the tasks' hot path.
    pub fn publish_metrics(&self) {
        let c = self.counters();
        let name = self.name().to_owned();
        counter!("tasks_recorder_launched_total", "recorder" => name.clone())
            .absolute(c.launched_total);
        counter!("tasks_recorder_started_total", "recorder" => name.clone())
            .absolute(c.started_total);
        for (reason, value) in [
            ("running", c.refused_running_total),
            ("succeeded", c.refused_succeeded_total),
            ("closed", c.refused_closed_total),
        ] {
            counter!("tasks_recorder_refused_total", "recorder" => name.clone(), "reason" => reason)
                .absolute(value);
        }
        for (outcome, value) in [
            ("succeeded", c.succeeded_total),
            ("failed", c.failed_total),
            ("panicked", c.panicked_total),
            ("cancelled", c.cancelled_total),
            ("dropped", c.dropped_total),
            ("lost", c.lost_total),
            ("timed_out", c.timed_out_total),
        ] {
            counter!("tasks_recorder_finished_total", "recorder" => name.clone(), "outcome" => outcome)
                .absolute(value);
        }
        counter!("tasks_recorder_revoked_total", "recorder" => name.clone())
            .absolute(c.revoked_total);
        counter!("tasks_recorder_fenced_total", "recorder" => name.clone())
            .absolute(c.fenced_total);
        counter!("tasks_recorder_removed_total", "recorder" => name.clone())
            .absolute(c.removed_total);
        counter!("tasks_recorder_marked_total", "recorder" => name.clone())
            .absolute(c.marked_succeeded_total);
        for (state, value) in [
            ("working", c.working_now),
            ("success", c.success_now),
            ("failed", c.failed_now),
        ] {
            gauge!("tasks_recorder_tasks", "recorder" => name.clone(), "state" => state)
                .set(value as f64);
        }
        gauge!("tasks_recorder_queued", "recorder" => name.clone()).set(c.queued_now as f64);
    }
}
