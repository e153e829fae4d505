//! Python's `threading` and `queue` toolkit for async Rust, where **one object
//! serves async tasks and OS threads at once**: a thread blocked in
//! `wait_blocking()` and a task awaiting `wait()` are woken by the same `set()`.
//!
//! Every primitive waits through one small core of its own (a first-come,
//! first-served line of tasks and threads; `docs/ARCHITECTURE.md` in the
//! repository tells how) and works on any executor; the `tokio` feature (on
//! by default) adds the async `*_timeout` methods, [`Timer`], task-level
//! [`RLock`] ownership, tokio's cooperative budget, and a panic when a
//! `_blocking` call would stall a tokio runtime thread.
//!
//! # Python → ambisync
//!
//! | Python | ambisync |
//! | --- | --- |
//! | `threading.Lock()` | [`Lock::new(())`](Lock) (or `Lock<T>` guarding a value) |
//! | `lock.acquire()` / `with lock:` | [`acquire().await`](Lock::acquire) / [`lock().await`](Lock::lock) (guard) |
//! | `lock.acquire(blocking=False)` | [`try_acquire()`](Lock::try_acquire) / [`try_lock()`](Lock::try_lock) |
//! | `lock.acquire(timeout=t)` | [`acquire_timeout(t)`](Lock::acquire_timeout) / [`lock_timeout(t)`](Lock::lock_timeout) |
//! | `lock.release()` | [`release()`](Lock::release) / drop the guard |
//! | `lock.locked()` | [`is_locked()`](Lock::is_locked) |
//! | `threading.RLock()` | [`RLock`] (owner: the tokio task, else the thread) |
//! | `threading.Condition(lock)` | [`Condition`] + a [`Lock`] or [`RLock`] guard |
//! | `cond.wait(timeout)` / `cond.wait_for(pred, timeout)` | [`wait_timeout`](Condition::wait_timeout) / [`wait_for_timeout`](Condition::wait_for_timeout) |
//! | `cond.notify(n)` / `cond.notify_all()` | [`notify(n)`](Condition::notify) / [`notify_all()`](Condition::notify_all) |
//! | `threading.Event()` | [`Event`]: `set`, `clear`, `is_set`, `wait` |
//! | `threading.Semaphore(n)` | [`Semaphore::new(n)`](Semaphore): RAII permits, [`forget`](SemaphorePermit::forget), [`release`](Semaphore::release) |
//! | `threading.BoundedSemaphore(n)` | [`BoundedSemaphore`]: over-release is a [`BoundedReleaseError`] |
//! | `threading.Barrier(n, action, timeout)` | [`Barrier::with_action`]: `wait`, `reset`, `abort`, `broken` → [`is_broken`](Barrier::is_broken) |
//! | `queue.Queue` / `LifoQueue` / `PriorityQueue` | [`Queue`] / [`LifoQueue`] / [`PriorityQueue`] |
//! | `q.put` / `q.get` / `q.put_nowait` / `q.get_nowait` | [`put`](Queue::put) / [`get`](Queue::get) / [`try_put`](Queue::try_put) / [`try_get`](Queue::try_get) |
//! | `q.task_done()` / `q.join()` | [`task_done()`](Queue::task_done) / [`join()`](Queue::join) |
//! | `q.shutdown(immediate)` | [`shutdown()`](Queue::shutdown) / [`shutdown_immediate()`](Queue::shutdown_immediate) |
//! | `queue.Full` / `queue.Empty` / `queue.ShutDown` | [`PutError`] / [`GetError`] variants (carrying the item back) |
//! | `threading.Timer(t, f)` | [`Timer::after`] (a future on tokio) / [`Timer::after_blocking`] (a closure on a thread) |
//! | `threading.BrokenBarrierError` | [`BrokenBarrierError`] |
//!
//! # One naming rule
//!
//! | form | meaning |
//! | --- | --- |
//! | `foo().await` | wait as long as it takes |
//! | `foo_timeout(d).await` | give up after `d` (feature `tokio`) |
//! | `try_foo()` | never waits |
//! | `foo_blocking()` | `foo().await`, blocking the calling thread |
//! | `foo_timeout_blocking(d)` | `foo_timeout(d)`, blocking the thread; needs no runtime |
//!
//! # Guarantees
//!
//! - **Cancel safety.** Dropping any future at any `.await` (as `select!` and
//!   timeouts do) loses nothing: no item, permit, lock, notification or barrier
//!   arrival. A wake-up handed to a waiter that is then dropped passes on.
//! - **No lost wake-ups.** Releases wake exactly as many waiters as they free
//!   units.
//! - **No poisoning.** A panic while holding a lock unlocks it.
//!
//! ```
//! use std::sync::Arc;
//! use ambisync::{Event, Lock};
//!
//! # futures::executor::block_on(async {
//! let total = Arc::new(Lock::new(0));
//! let done = Arc::new(Event::new());
//! let thread = {
//!     let (total, done) = (Arc::clone(&total), Arc::clone(&done));
//!     std::thread::spawn(move || {
//!         *total.lock_blocking() += 1;
//!         done.set();
//!     })
//! };
//! done.wait().await; // a task woken by a thread
//! assert_eq!(*total.lock().await, 1);
//! thread.join().unwrap();
//! # });
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

mod barrier;
mod condition;
pub mod error;
mod event;
mod lock;
// Hooks for tests/loom.rs, compiled only with `--cfg ambisync_loom`.
#[cfg(ambisync_loom)]
#[doc(hidden)]
pub mod model;
mod queue;
mod rlock;
mod semaphore;
#[cfg(feature = "tokio")]
mod timer;
mod wait;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use error::{
    BoundedReleaseError, BrokenBarrierError, GetError, PutError, ReleaseError, TaskDoneError,
    TooManyPermitsError,
};
pub use event::Event;
pub use lock::{Lock, LockGuard, OwnedLockGuard};
pub use queue::{
    Fifo, Lifo, LifoQueue, OrderedQueue, OwnedQueueStream, Priority, PriorityQueue, Queue,
    QueueOrder, QueueStream,
};
pub use rlock::{OwnedRLockGuard, RLock, RLockGuard};
pub use semaphore::{
    Bound, Bounded, BoundedSemaphore, GenericSemaphore, MAX_PERMITS, OwnedSemaphorePermit,
    Semaphore, SemaphorePermit, Unbounded,
};
#[cfg(feature = "tokio")]
pub use timer::{Timer, TimerOutcome};
