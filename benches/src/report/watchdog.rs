//! The watchdog of a report run: a run that never ends is a deadlock, and ends the process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Ends the process if one run takes longer than [`Watchdog::LIMIT`]: a run that never ends
/// is a deadlock (in a competitor), and a report that hangs tells nobody anything.
pub(crate) struct Watchdog {
    /// Milliseconds since `EPOCH` at the start of the current run; `u64::MAX` when idle.
    since: AtomicU64,
    /// What runs.
    what: Mutex<String>,
}

pub(crate) static WATCHDOG: Watchdog = Watchdog {
    since: AtomicU64::new(u64::MAX),
    what: Mutex::new(String::new()),
};
static EPOCH: OnceLock<Instant> = OnceLock::new();

impl Watchdog {
    const LIMIT: Duration = Duration::from_secs(60);

    fn now_ms() -> u64 {
        EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    /// A run of `competitor` starts.
    pub(crate) fn beat(&self, competitor: &str) {
        if let Ok(mut what) = self.what.lock() {
            let case_end = what.find(" / ").unwrap_or(what.len());
            what.truncate(case_end);
            what.push_str(" / ");
            what.push_str(competitor);
        }
        self.since.store(Self::now_ms(), Ordering::Release);
    }

    /// A case starts.
    pub(crate) fn case(&self, case: String) {
        if let Ok(mut what) = self.what.lock() {
            *what = case;
        }
    }

    pub(crate) fn idle(&self) {
        self.since.store(u64::MAX, Ordering::Release);
    }

    /// Starts the watching thread (once per process).
    pub(crate) fn start(&'static self) {
        static STARTED: OnceLock<()> = OnceLock::new();
        STARTED.get_or_init(|| {
            Self::now_ms();
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_millis(500));
                let since = self.since.load(Ordering::Acquire);
                let limit = Self::LIMIT.as_millis() as u64;
                if since != u64::MAX && Self::now_ms().saturating_sub(since) > limit {
                    let what = self.what.lock().map(|w| w.clone()).unwrap_or_default();
                    eprintln!(
                        "report: one run of {what} has not finished after {} s: it hangs \
                         (a deadlock in that competitor?); giving up",
                        Self::LIMIT.as_secs()
                    );
                    std::process::exit(3);
                }
            });
        });
    }
}
