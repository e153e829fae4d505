//! Spinning before parking, for the blocking forms of `put` and `get`.
//!
//! A thread that parks on an empty (or full) queue costs a futex wait, a
//! futex wake by the other side and two context switches, where the item
//! that would have ended the wait is often a few hundred nanoseconds away (a
//! producer and a consumer on two threads take turns emptying and filling
//! the queue). So a blocking `get` / `put` first retries for a short while,
//! spinning with exponential backoff and then yielding once, and joins the
//! line and parks only if that did not do it. It retries only when the
//! queue's length and shutdown flag (read without a lock) say the attempt
//! may succeed, so spinners do not write to what the other side needs.
//!
//! Only threads spin: a task that finds the queue empty must return
//! `Pending` to its executor at once.

use std::time::Instant;

use crate::wait::sync::thread;

/// Spin rounds `1, 2, 4, ... 2^SPIN_STEPS` pause hints long (127 in all),
/// then yields: crossbeam-channel's backoff schedule.
#[cfg(not(ambisync_loom))]
const SPIN_STEPS: u32 = 6;
/// Backoff steps in all (the ones past `SPIN_STEPS` yield the thread): three
/// yields. Measured (BENCHMARKS.md, issue 15): on the first benchmark
/// machine 31 pauses and one yield did best; on a quiet AMD EPYC machine
/// this schedule took 1 → 1 threads from 165–229 to 103–107 ns an item (with
/// the queue's mutex), and with the lock-free ring thirteen yields gained
/// nothing over three. Each yield can cost a time slice on an oversubscribed
/// machine (see BENCHMARKS.md): an adaptive rule is the open follow-up.
#[cfg(not(ambisync_loom))]
const STEPS: u32 = 10;
/// The loom models retry once: every retry is a path to explore.
#[cfg(ambisync_loom)]
const SPIN_STEPS: u32 = 0;
#[cfg(ambisync_loom)]
const STEPS: u32 = 1;

/// Retries `attempt` (which just failed) with backoff until it succeeds
/// (`Some`), the backoff is spent, or `deadline` passes; `None`: go and wait
/// in line.
pub(super) fn retry_with_backoff<R>(
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> Option<R>,
) -> Option<R> {
    for step in 0..STEPS {
        if step <= SPIN_STEPS {
            for _ in 0..1u32 << step {
                std::hint::spin_loop();
            }
        } else {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return None;
            }
            thread::yield_now();
        }
        if let Some(done) = attempt() {
            return Some(done);
        }
    }
    None
}
