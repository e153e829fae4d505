//! [`Condition`]: wait for a change made under a lock (Python `threading.Condition`).
//!
//! The condition depends on the locks, never the reverse: `guards.rs` says
//! what it needs of each guard type, with what the locks open at `pub(crate)`
//! level; `op.rs` holds the two waiting operations.

mod guards;
mod op;

use std::fmt;
use std::time::Duration;

pub use guards::ConditionGuard;
use guards::sealed;
use op::{CondWait, CondWaitFor};

#[cfg(feature = "tokio")]
use crate::wait::Timed;
use crate::wait::{
    LazyList, MapOutput, WaitList, Waiting, block_on, block_on_untimed, deadline_after,
};

/// A condition variable for tasks and threads: wait until another task or
/// thread changes some state under a lock and notifies.
///
/// A wait takes the guard, releases the lock, waits for a notification and
/// locks again before it returns the guard. It works with a [`Lock`](crate::Lock)
/// guard, an owned one, and an [`RLock`](crate::RLock) guard.
///
/// Semantics (those of Python, made cancel safe):
/// - [`notify(n)`](Condition::notify) wakes up to `n` of the waiters that are
///   waiting when it is called, oldest first, never one that starts waiting
///   later, and says how many it woke.
/// - A waiter whose future was dropped is no longer counted; a waiter that was
///   notified and then dropped (or whose timeout expired at that very moment)
///   passes its wake-up on to the next waiter, as asyncio does.
/// - Once a `wait` future has returned `Pending`, it has released the lock.
/// - Wake-ups are exact, but as everywhere, re-check the condition after a
///   wait (or use [`wait_for`](Condition::wait_for)): another task may have
///   changed the state between the notification and the relock.
///
/// **With an `RLock`.** A blocking wait releases every level the owner holds
/// and restores them all (Python). An async wait must be able to give the
/// levels back if its future is dropped half-way, which it cannot do for
/// levels held by other guards: it refuses (panics) when the owner holds more
/// than the one level of the guard it is given. Release the outer levels
/// first, or wait with a blocking form (in `spawn_blocking`).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ambisync::{Condition, Lock};
///
/// # futures::executor::block_on(async {
/// let pair = Arc::new((Lock::new(false), Condition::new()));
/// let remote = Arc::clone(&pair);
/// std::thread::spawn(move || {
///     let (lock, cond) = &*remote;
///     *lock.lock_blocking() = true;
///     cond.notify_all();
/// });
/// let (lock, cond) = &*pair;
/// let ready = cond.wait_for(lock.lock().await, |ready| **ready).await;
/// assert!(*ready);
/// # });
/// ```
#[derive(Default)]
pub struct Condition {
    waiters: LazyList,
}

impl Condition {
    crate::wait::const_unless_loom! {
        /// Creates a condition with no waiters.
        ///
        /// # Examples
        ///
        /// ```
        /// let cond = ambisync::Condition::new();
        /// assert_eq!(cond.notify_all(), 0);
        /// ```
        pub fn new() -> Condition {
            Condition {
                waiters: LazyList::new(),
            }
        }
    }

    fn list(&self) -> &WaitList {
        self.waiters.get_or_init()
    }

    /// Releases the guard's lock, waits for a notification, locks again and
    /// returns the guard.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropped before it was notified, the future just stops
    /// waiting (the lock stays released: the guard went into the wait).
    /// Dropped after it was notified but before it had the lock back, it
    /// passes the notification to the next waiter.
    ///
    /// # Panics
    ///
    /// When given an [`RLock`](crate::RLock) guard whose owner holds more
    /// levels than that one (see the type's docs); panics at once, before
    /// anything changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{Condition, Lock};
    /// # futures::executor::block_on(async {
    /// let pair = Arc::new((Lock::new(0), Condition::new()));
    /// let remote = Arc::clone(&pair);
    /// std::thread::spawn(move || {
    ///     let (lock, cond) = &*remote;
    ///     // Wait until the main task waits (its wait released the lock).
    ///     while cond.waiters() == 0 { std::thread::yield_now(); }
    ///     *lock.lock_blocking() = 1;
    ///     cond.notify_one();
    /// });
    /// let (lock, cond) = &*pair;
    /// let mut guard = lock.lock().await;
    /// while *guard == 0 {
    ///     guard = cond.wait(guard).await;
    /// }
    /// assert_eq!(*guard, 1);
    /// # });
    /// ```
    #[track_caller]
    pub fn wait<G: ConditionGuard>(&self, guard: G) -> impl Future<Output = G> {
        refuse_nested_levels(&guard, "wait");
        let waiting = Waiting::new(CondWait::new(self, guard, Some("wait")));
        MapOutput::new(waiting, |out: (G, _)| out.0)
    }

    /// [`wait`](Condition::wait) for at most `timeout`; the lock is taken
    /// again either way. The `bool` is `false` when the wait timed out.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`wait`](Condition::wait). A notification that
    /// arrives as the timeout expires is used (the result says `true`).
    ///
    /// # Panics
    ///
    /// As [`wait`](Condition::wait), and outside a tokio runtime with its
    /// timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{Condition, Lock};
    /// # #[tokio::main] async fn main() {
    /// let (lock, cond) = (Lock::new(()), Condition::new());
    /// let (_guard, notified) = cond.wait_timeout(lock.lock().await, Duration::from_millis(10)).await;
    /// assert!(!notified);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn wait_timeout<G: ConditionGuard>(
        &self,
        guard: G,
        timeout: Duration,
    ) -> impl Future<Output = (G, bool)> {
        refuse_nested_levels(&guard, "wait_timeout");
        let waiting = Timed::new(CondWait::new(self, guard, Some("wait_timeout")), timeout);
        MapOutput::new(waiting, |out: Option<_>| out.expect(RELOCKS))
    }

    /// Waits until `predicate` holds, re-checking it (under the lock) after
    /// every wake-up; returns at once if it already holds.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`wait`](Condition::wait).
    ///
    /// # Panics
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{Condition, Lock};
    /// # futures::executor::block_on(async {
    /// let (lock, cond) = (Lock::new(3), Condition::new());
    /// let guard = cond.wait_for(lock.lock().await, |n| **n == 3).await;
    /// assert_eq!(*guard, 3);
    /// # });
    /// ```
    #[track_caller]
    pub fn wait_for<G: ConditionGuard>(
        &self,
        guard: G,
        predicate: impl FnMut(&mut G) -> bool,
    ) -> impl Future<Output = G> {
        refuse_nested_levels(&guard, "wait_for");
        let waiting = Waiting::new(CondWaitFor::new(self, guard, predicate, Some("wait_for")));
        MapOutput::new(waiting, |out: (G, _)| out.0)
    }

    /// [`wait_for`](Condition::wait_for) with one `timeout` for the whole call,
    /// however often the predicate is re-checked. The `bool` is the
    /// predicate's last value.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`wait`](Condition::wait).
    ///
    /// # Panics
    ///
    /// As [`wait`](Condition::wait), and outside a tokio runtime with its
    /// timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{Condition, Lock};
    /// # #[tokio::main] async fn main() {
    /// let (lock, cond) = (Lock::new(0), Condition::new());
    /// let (guard, holds) = cond
    ///     .wait_for_timeout(lock.lock().await, Duration::from_millis(10), |n| **n > 0)
    ///     .await;
    /// assert!(!holds);
    /// assert_eq!(*guard, 0);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn wait_for_timeout<G: ConditionGuard>(
        &self,
        guard: G,
        timeout: Duration,
        predicate: impl FnMut(&mut G) -> bool,
    ) -> impl Future<Output = (G, bool)> {
        refuse_nested_levels(&guard, "wait_for_timeout");
        let waiting = Timed::new(
            CondWaitFor::new(self, guard, predicate, Some("wait_for_timeout")),
            timeout,
        );
        MapOutput::new(waiting, |out: Option<_>| out.expect(RELOCKS))
    }

    /// [`wait`](Condition::wait), blocking the thread. With an
    /// [`RLock`](crate::RLock) guard, every level the owner holds is released
    /// while waiting and restored after (Python).
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`wait`](Condition::wait) there).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{Condition, Lock};
    /// let pair = Arc::new((Lock::new(false), Condition::new()));
    /// let remote = Arc::clone(&pair);
    /// let waiter = std::thread::spawn(move || {
    ///     let (lock, cond) = &*remote;
    ///     let mut ready = lock.lock_blocking();
    ///     while !*ready {
    ///         ready = cond.wait_blocking(ready);
    ///     }
    /// });
    /// let (lock, cond) = &*pair;
    /// *lock.lock_blocking() = true;
    /// cond.notify_all();
    /// waiter.join().unwrap();
    /// ```
    #[track_caller]
    pub fn wait_blocking<G: ConditionGuard>(&self, guard: G) -> G {
        block_on_untimed(CondWait::new(self, guard, None), "wait_blocking").0
    }

    /// [`wait_timeout`](Condition::wait_timeout), blocking the thread; needs
    /// no runtime.
    ///
    /// # Panics
    ///
    /// As [`wait_blocking`](Condition::wait_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{Condition, Lock};
    /// let (lock, cond) = (Lock::new(()), Condition::new());
    /// let (_guard, notified) = cond.wait_timeout_blocking(lock.lock_blocking(), Duration::from_millis(5));
    /// assert!(!notified);
    /// ```
    #[track_caller]
    pub fn wait_timeout_blocking<G: ConditionGuard>(
        &self,
        guard: G,
        timeout: Duration,
    ) -> (G, bool) {
        block_on(
            CondWait::new(self, guard, None),
            deadline_after(timeout),
            "wait_timeout_blocking",
        )
        .expect(RELOCKS)
    }

    /// [`wait_for`](Condition::wait_for), blocking the thread.
    ///
    /// # Panics
    ///
    /// As [`wait_blocking`](Condition::wait_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{Condition, Lock};
    /// let (lock, cond) = (Lock::new(1), Condition::new());
    /// let guard = cond.wait_for_blocking(lock.lock_blocking(), |n| **n == 1);
    /// assert_eq!(*guard, 1);
    /// ```
    #[track_caller]
    pub fn wait_for_blocking<G: ConditionGuard>(
        &self,
        guard: G,
        predicate: impl FnMut(&mut G) -> bool,
    ) -> G {
        block_on_untimed(
            CondWaitFor::new(self, guard, predicate, None),
            "wait_for_blocking",
        )
        .0
    }

    /// [`wait_for_timeout`](Condition::wait_for_timeout), blocking the thread;
    /// needs no runtime.
    ///
    /// # Panics
    ///
    /// As [`wait_blocking`](Condition::wait_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{Condition, Lock};
    /// let (lock, cond) = (Lock::new(0), Condition::new());
    /// let (_guard, holds) =
    ///     cond.wait_for_timeout_blocking(lock.lock_blocking(), Duration::from_millis(5), |n| **n > 0);
    /// assert!(!holds);
    /// ```
    #[track_caller]
    pub fn wait_for_timeout_blocking<G: ConditionGuard>(
        &self,
        guard: G,
        timeout: Duration,
        predicate: impl FnMut(&mut G) -> bool,
    ) -> (G, bool) {
        block_on(
            CondWaitFor::new(self, guard, predicate, None),
            deadline_after(timeout),
            "wait_for_timeout_blocking",
        )
        .expect(RELOCKS)
    }

    /// Wakes up to `n` current waiters, oldest first; returns how many it
    /// woke.
    ///
    /// Python requires the lock to be held while notifying; here it is not
    /// required, but holding it is what makes "current waiters" meaningful.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = ambisync::Condition::new();
    /// assert_eq!(cond.notify(3), 0); // nobody waits
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        match self.waiters.get() {
            Some(list) if n > 0 && list.anybody_waiting() => list.notify(n),
            _ => 0,
        }
    }

    /// Wakes one current waiter; `true` if there was one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!ambisync::Condition::new().notify_one());
    /// ```
    pub fn notify_one(&self) -> bool {
        self.notify(1) == 1
    }

    /// Wakes every current waiter; returns how many it woke.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::Condition::new().notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        match self.waiters.get() {
            Some(list) if list.anybody_waiting() => list.wake_all(),
            _ => 0,
        }
    }

    /// How many tasks and threads are waiting for a notification (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::Condition::new().waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.waiters.len()
    }
}

/// Why a timed condition wait always has a result: at the deadline it stops
/// waiting for a notification and takes the lock back, without a deadline.
const RELOCKS: &str = "a condition wait takes the lock back before it returns";

/// Refuses an async wait with a guard whose owner holds more levels of an
/// `RLock` than that guard (when the form is called, and again when the
/// wait releases the lock at its first poll): a wait releases them all, and if its future were
/// dropped (cancelled, timed out) before they were taken back, the outer
/// guards would be left without the lock. The blocking forms cannot be
/// cancelled half-way and accept such guards.
#[track_caller]
fn refuse_nested_levels<G: sealed::Sealed>(guard: &G, method: &str) {
    let levels = guard.levels();
    if levels > 1 {
        panic!(
            "`Condition::{method}` on an RLock held at {levels} levels: an async wait could not give the outer levels back if it were cancelled; release them before waiting, or use `{method}_blocking`"
        );
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiters", &self.waiters())
            .finish()
    }
}
