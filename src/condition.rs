//! [`Condition`]: wait for a change made under a lock (Python `threading.Condition`).

use std::fmt;
use std::time::{Duration, Instant};

use event_listener::{Listener, listener};

use crate::core::{Registration, Signal, deadline_after};

pub(crate) mod sealed {
    use crate::lock::raw::RawLock;

    /// Implemented by the guards a condition can wait with.
    pub trait Sealed: Sized {
        /// The lock, unlocked, able to lock again.
        type Unlocked: Unlocked<Guard = Self>;
        /// How many levels the guard's owner holds (1 but for an `RLock`).
        fn levels(&self) -> usize {
            1
        }
        /// Releases the lock (for an `RLock`, every level the owner holds).
        fn unlock(self) -> Self::Unlocked;
    }

    /// A lock released by a condition wait, to be locked again.
    pub trait Unlocked {
        type Guard;
        /// The lock to take again.
        fn raw(&self) -> &RawLock;
        /// The guard back, once the caller has taken [`raw`](Self::raw)
        /// again; restores what `unlock` released.
        fn relocked(self) -> Self::Guard;
    }
}

use sealed::{Sealed, Unlocked};

/// A guard that a [`Condition`] can wait with: [`LockGuard`](crate::LockGuard),
/// [`OwnedLockGuard`](crate::OwnedLockGuard) and [`RLockGuard`](crate::RLockGuard).
///
/// ```
/// fn takes_any_guard<G: ambisync::ConditionGuard>(_: G) {}
/// let lock = ambisync::Lock::new(());
/// takes_any_guard(lock.lock_blocking());
/// ```
pub trait ConditionGuard: Sealed {}

/// Passes a consumed notification on to another waiter unless disarmed: a
/// notified waiter dropped while it locks again must not swallow the wake-up.
struct PassOn<'a>(Option<&'a Signal>);

impl PassOn<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        if let Some(signal) = self.0 {
            signal.notify_additional(1);
        }
    }
}

/// A condition variable for tasks and threads: wait until another task or
/// thread changes some state under a lock and notifies.
///
/// A wait takes the guard, releases the lock, waits for a notification and
/// locks again before it returns the guard. It works with a [`Lock`](crate::Lock)
/// guard, an owned one, and an [`RLock`](crate::RLock) guard, for which every
/// level the owner holds is released while waiting and restored afterwards.
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
    signal: Signal,
}

impl Condition {
    /// Creates a condition with no waiters.
    ///
    /// ```
    /// let cond = ambisync::Condition::new();
    /// assert_eq!(cond.notify_all(), 0);
    /// ```
    pub const fn new() -> Condition {
        Condition {
            signal: Signal::new(),
        }
    }

    /// Releases the guard's lock, waits for a notification, locks again and
    /// returns the guard.
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
        async move {
            crate::core::coop::proceed().await;
            // Listen before registering: a waiter that `notify` can count
            // must already be able to receive the notification.
            let listener = self.signal.event.listen();
            let registration = Registration::new(&self.signal);
            let unlocked = guard.unlock();
            listener.await;
            drop(registration);
            let pass_on = PassOn(Some(&self.signal));
            let guard = relock(unlocked).await;
            pass_on.disarm();
            guard
        }
    }

    /// [`wait`](Condition::wait) for at most `timeout`; the lock is taken
    /// again either way. The `bool` is `false` when the wait timed out.
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
        async move {
            crate::core::coop::proceed().await;
            let mut listener = self.signal.event.listen();
            let registration = Registration::new(&self.signal);
            let unlocked = guard.unlock();
            // On expiry the listener is dropped: a notification that arrived
            // at that very moment, unconsumed, passes on to another waiter.
            let notified = tokio::time::timeout(timeout, &mut listener).await.is_ok();
            drop(listener);
            drop(registration);
            let pass_on = PassOn(notified.then_some(&self.signal));
            let guard = relock(unlocked).await;
            pass_on.disarm();
            (guard, notified)
        }
    }

    /// Waits until `predicate` holds, re-checking it (under the lock) after
    /// every wake-up; returns at once if it already holds.
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
        mut guard: G,
        mut predicate: impl FnMut(&mut G) -> bool,
    ) -> impl Future<Output = G> {
        refuse_nested_levels(&guard, "wait_for");
        async move {
            while !predicate(&mut guard) {
                guard = self.wait(guard).await;
            }
            guard
        }
    }

    /// [`wait_for`](Condition::wait_for) with one `timeout` for the whole call,
    /// however often the predicate is re-checked. The `bool` is the
    /// predicate's last value.
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
        mut guard: G,
        timeout: Duration,
        mut predicate: impl FnMut(&mut G) -> bool,
    ) -> impl Future<Output = (G, bool)> {
        refuse_nested_levels(&guard, "wait_for_timeout");
        async move {
            let deadline = tokio::time::Instant::now().checked_add(timeout);
            loop {
                if predicate(&mut guard) {
                    return (guard, true);
                }
                let remaining = match deadline {
                    Some(deadline) => {
                        deadline.saturating_duration_since(tokio::time::Instant::now())
                    }
                    None => timeout,
                };
                if remaining.is_zero() {
                    return (guard, false);
                }
                guard = self.wait_timeout(guard, remaining).await.0;
            }
        }
    }

    /// [`wait`](Condition::wait), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called inside a tokio runtime (use
    /// [`wait`](Condition::wait) there).
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
        self.wait_deadline(guard, None, "wait_blocking").0
    }

    /// [`wait_timeout`](Condition::wait_timeout), blocking the thread; needs
    /// no runtime.
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
        self.wait_deadline(guard, deadline_after(timeout), "wait_timeout_blocking")
    }

    /// [`wait_for`](Condition::wait_for), blocking the thread.
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
        mut guard: G,
        mut predicate: impl FnMut(&mut G) -> bool,
    ) -> G {
        while !predicate(&mut guard) {
            guard = self.wait_deadline(guard, None, "wait_for_blocking").0;
        }
        guard
    }

    /// [`wait_for_timeout`](Condition::wait_for_timeout), blocking the thread;
    /// needs no runtime.
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
        mut guard: G,
        timeout: Duration,
        mut predicate: impl FnMut(&mut G) -> bool,
    ) -> (G, bool) {
        let deadline = deadline_after(timeout);
        loop {
            if predicate(&mut guard) {
                return (guard, true);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return (guard, false);
            }
            guard = self
                .wait_deadline(guard, deadline, "wait_for_timeout_blocking")
                .0;
        }
    }

    #[track_caller]
    fn wait_deadline<G: ConditionGuard>(
        &self,
        guard: G,
        deadline: Option<Instant>,
        method: &'static str,
    ) -> (G, bool) {
        crate::core::runtime::assert_may_block(method);
        listener!(self.signal.event => listener);
        let registration = Registration::new(&self.signal);
        let unlocked = guard.unlock();
        let notified = match deadline {
            None => {
                listener.wait();
                true
            }
            // On expiry the listener removes itself; `Some` means it was
            // notified in that race, and the wake-up is ours.
            Some(deadline) => listener.wait_deadline(deadline).is_some(),
        };
        drop(registration);
        unlocked.raw().lock_deadline(None, method);
        (unlocked.relocked(), notified)
    }

    /// Wakes up to `n` current waiters; returns how many it woke.
    ///
    /// Python requires the lock to be held while notifying; here it is not
    /// required, but holding it is what makes "current waiters" meaningful.
    ///
    /// ```
    /// let cond = ambisync::Condition::new();
    /// assert_eq!(cond.notify(3), 0); // nobody waits
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        self.signal.notify_additional(n)
    }

    /// Wakes one current waiter; `true` if there was one.
    ///
    /// ```
    /// assert!(!ambisync::Condition::new().notify_one());
    /// ```
    pub fn notify_one(&self) -> bool {
        self.notify(1) == 1
    }

    /// Wakes every current waiter; returns how many it woke.
    ///
    /// ```
    /// assert_eq!(ambisync::Condition::new().notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        self.signal.notify_all()
    }

    /// How many tasks and threads are waiting for a notification (a snapshot).
    ///
    /// ```
    /// assert_eq!(ambisync::Condition::new().waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.signal.waiting()
    }
}

/// Locks again what a wait released.
async fn relock<U: Unlocked>(unlocked: U) -> U::Guard {
    unlocked.raw().lock().await;
    unlocked.relocked()
}

/// Refuses an async wait with a guard whose owner holds more levels of an
/// `RLock` than that guard: a wait releases them all, and if its future were
/// dropped (cancelled, timed out) before they were taken back, the outer
/// guards would be left without the lock. The blocking forms cannot be
/// cancelled half-way and accept such guards.
#[track_caller]
fn refuse_nested_levels<G: ConditionGuard>(guard: &G, method: &str) {
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
