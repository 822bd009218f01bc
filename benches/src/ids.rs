//! The id types every scenario runs with: `u64` and `String`.

use std::fmt::Debug;
use std::hash::Hash;

/// A task id type the benchmarks can generate: the `n`-th id of a run.
pub trait BenchId: Eq + Hash + Clone + Send + Sync + Debug + 'static {
    /// How the report names this id type.
    const NAME: &'static str;

    /// The `n`-th id. Distinct `n` give distinct ids.
    fn make(n: u64) -> Self;
}

impl BenchId for u64 {
    const NAME: &'static str = "u64";

    fn make(n: u64) -> Self {
        n
    }
}

impl BenchId for String {
    const NAME: &'static str = "String";

    /// A 17-byte id such as `task-000000001234` (one heap allocation, like a real id string).
    fn make(n: u64) -> Self {
        format!("task-{n:012}")
    }
}

/// The ids `from..to`, in order.
pub fn make_ids<I: BenchId>(from: u64, to: u64) -> Vec<I> {
    (from..to).map(I::make).collect()
}
