//! The chaos suite: seeded, replayable storms in which async tasks (a tokio
//! runtime with two workers) and OS threads share one object each, cancel
//! their waits at random (tiny timeouts, `select!`, `JoinHandle::abort`,
//! futures polled once and dropped, futures kept unpolled for a while), and
//! the primitive's invariants are checked after every round.
//!
//! - `CHAOS_SEED=0x...` replays a run: every random choice (which operation,
//!   which form, how it is cancelled, how long timeouts are) follows from it.
//!   The thread interleaving is the OS's, so a replay repeats the schedule of
//!   operations, not the exact timing. A failure prints the seed and round.
//! - `CHAOS_ROUND=N` (with `CHAOS_SEED`) runs only round `N` of each test.
//! - `CHAOS_SECS=S` runs each test for about `S` seconds (default: a short
//!   CI run); `CHAOS_SECS=600` is a soak.
//!
//! Every wait is bounded: a deadlock or a lost wake-up fails the test with a
//! message naming the seed instead of hanging.
#![cfg(all(feature = "tokio", not(miri)))]

#[path = "../common/mod.rs"]
mod common;

mod harness;

mod barrier;
mod condition;
mod event;
mod guards;
mod lock;
mod queue;
mod queue_stream;
mod rlock;
mod rwlock;
mod scenarios;
mod semaphore;
mod semaphore_many;
mod timer;
mod timer_fn;
