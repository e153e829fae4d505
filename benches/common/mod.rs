//! Helpers shared by the benchmark files (not a bench target itself: cargo
//! only discovers `benches/*.rs` and `benches/*/main.rs`).

#![allow(dead_code)] // each bench file uses a different subset

use std::time::Duration;

use criterion::Criterion;

/// Waiters, tasks and producers per contended case, fixed by the issue.
pub const CONTENDED_TASKS: usize = 8;
pub const CONTENDED_THREADS: usize = 4;
pub const WORKERS: usize = 2;

/// A current-thread runtime, for uncontended cases.
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread runtime")
}

/// A multi-thread runtime with two workers, for contended cases.
pub fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("build a two-worker runtime")
}

/// Splits `total` operations over `parts` workers as evenly as possible: the
/// shares add up to exactly `total`.
pub fn shares(total: u64, parts: usize) -> Vec<u64> {
    let parts_u64 = parts as u64;
    (0..parts_u64)
        .map(|i| total / parts_u64 + u64::from(i < total % parts_u64))
        .collect()
}

/// Criterion's settings for every group: 1 s warm-up, 2 s measurement. The
/// command line (`--warm-up-time`, `--measurement-time`, `--sample-size`)
/// overrides them, since `criterion_group!` applies it on top.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}
