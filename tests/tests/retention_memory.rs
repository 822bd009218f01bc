//! Memory stays bounded: a million tasks that fail, are retried, succeed, are revoked, and
//! whose failed records are removed leave the allocator where it started. A test binary of its
//! own, because it installs a counting global allocator.
#![forbid(unsafe_code)]

use std::alloc::System;

use cap::Cap;
use tasks_recorder::{AsyncTasksRecorder, TaskState};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const BATCH: u64 = 100_000;
const BATCHES: u64 = 10;

/// One batch: every id fails once (its failure text kept), half are retried and succeed and
/// are revoked, and the failed records left are removed, by `clear_failed` or by age.
async fn batch(recorder: &AsyncTasksRecorder<String>, round: u64) {
    for n in 0..BATCH {
        let id = format!("upload-{round}-{n}");
        let failing = async { Err::<(), _>("storage node unreachable") };
        assert!(recorder
            .launch_block_with_error_text(id.clone(), failing)
            .await
            .is_ok());
        if n % 2 == 0 {
            assert!(recorder
                .launch_block(id.clone(), async { Ok::<_, ()>(()) })
                .await
                .is_ok());
            assert!(recorder
                .revoke_task_block(id, async { Ok::<_, ()>(()) })
                .await
                .is_ok());
        }
    }
    let removed = if round % 2 == 0 {
        recorder.clear_failed()
    } else {
        recorder.remove_failed_older_than(std::time::Duration::ZERO)
    };
    assert_eq!(removed as u64, BATCH / 2);
    assert!(recorder.is_empty());
}

/// Catches a recorder that keeps anything per task after its record is gone: a failure
/// reason, a waiter channel, a cancel handle, an entry of the failed index: any of them
/// leaked per task would leave megabytes here.
#[tokio::test(flavor = "current_thread")]
async fn a_million_tasks_leave_nothing_behind() {
    let recorder: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
    // The first batch grows the map to its working size; scc keeps some bucket memory for
    // reuse, so the baseline is taken after it.
    batch(&recorder, 0).await;
    let baseline = ALLOCATOR.allocated();
    let mut after_each = Vec::new();
    for round in 1..BATCHES {
        batch(&recorder, round).await;
        after_each.push(ALLOCATOR.allocated());
    }
    // scc resizes and retires bucket arrays lazily, so a single reading can sit a megabyte
    // above the floor; a leak raises the floor itself, so the lowest of the last three
    // readings is compared.
    let after = after_each
        .iter()
        .rev()
        .take(3)
        .copied()
        .min()
        .unwrap_or(baseline);
    let grown = after.saturating_sub(baseline);
    let c = recorder.counters();
    assert_eq!(c.launched_total, BATCH * BATCHES * 3 / 2);
    assert_eq!((c.working_now, c.success_now, c.failed_now), (0, 0, 0));
    assert_eq!(recorder.count_in_state(TaskState::Failed).await, 0);
    // The slack is for bucket arrays that scc keeps or retires lazily (readings here swing by
    // up to about 1.4 MB from round to round, and the floor can sit a few hundred KB up). A
    // leak is at least one allocation (8 bytes or more) per task that leaves a record, 7 MB
    // or more over these 900,000 tasks: far above 2 MiB.
    assert!(
        grown < 2 * 1024 * 1024,
        "memory grew by {grown} bytes over {} tasks (baseline {baseline}, after {after})",
        BATCH * (BATCHES - 1)
    );
}
