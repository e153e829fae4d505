//! [`RLock`]: a reentrant lock owned by a task or a thread (Python `threading.RLock`).

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::core::owner::{NOBODY, Owner};
use crate::core::{Signal, block_until, deadline_after, wait_until};
use crate::error::ReleaseError;

/// A reentrant lock: its owner may lock it again without waiting, and must
/// unlock it as many times.
///
/// **Who owns it.** With the `tokio` feature, the owner is the current tokio
/// task when there is one (`tokio::task::try_id()`), else the current OS
/// thread. Consequences worth knowing:
/// - All branches of one task (`join!`, `select!`) share its identity, so a
///   branch may enter a lock that a sibling branch holds.
/// - A `spawn_blocking` closure runs as a task of its own.
/// - tokio reuses the id of a finished task: a task must not end while it
///   holds a raw [`acquire`](RLock::acquire) (guards release themselves).
///   `Debug` shows the owner, to find such a leak.
/// - Outside tokio tasks (other executors, or without the `tokio` feature)
///   the owner is the OS thread, so two tasks that run on one thread count as
///   one owner and do not exclude each other. Use [`Lock`](crate::Lock) for
///   exclusion between such tasks; `RLock` there is for threads and for
///   re-entry within one task.
///
/// Guards give shared access (`&T`), since the owner may hold several at once;
/// put a `Cell`/`RefCell` or atomics inside for mutation.
///
/// ```
/// use ambisync::RLock;
///
/// # futures::executor::block_on(async {
/// let lock = RLock::new(vec![1, 2, 3]);
/// let outer = lock.lock().await;
/// let inner = lock.lock().await; // same owner: no deadlock
/// assert_eq!(lock.recursion_count(), 2);
/// assert_eq!(inner.len(), 3);
/// drop(inner);
/// drop(outer);
/// assert!(!lock.is_locked());
/// # });
/// ```
pub struct RLock<T = ()> {
    owner: AtomicU64,
    /// Levels the owner holds; written only by the owner.
    count: AtomicUsize,
    signal: Signal,
    value: T,
}

impl<T> RLock<T> {
    /// Creates an unlocked reentrant lock holding `value`.
    ///
    /// ```
    /// let lock = ambisync::RLock::new(5);
    /// assert!(!lock.is_locked());
    /// ```
    pub const fn new(value: T) -> RLock<T> {
        RLock {
            owner: AtomicU64::new(NOBODY),
            count: AtomicUsize::new(0),
            signal: Signal::new(),
            value,
        }
    }

    /// Takes the lock, or one more level of it if the caller owns it.
    ///
    /// Cancel safe, like [`Lock::lock`](crate::Lock::lock).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lock = ambisync::RLock::new(());
    /// let _a = lock.lock().await;
    /// let _b = lock.lock().await;
    /// assert_eq!(lock.recursion_count(), 2);
    /// # });
    /// ```
    pub async fn lock(&self) -> RLockGuard<'_, T> {
        if let Some(guard) = self.try_lock() {
            return guard;
        }
        // The owner is the caller when the lock is taken, not when the wait
        // began: without task identity, a task of a multi-threaded executor
        // may resume on another thread, which then holds the lock and must be
        // able to re-enter it.
        wait_until(&self.signal.event, &self.signal, || self.try_lock()).await
    }

    /// [`lock`](RLock::lock) for at most `timeout`; `None` if it timed out.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let lock = ambisync::RLock::new(());
    /// assert!(lock.lock_timeout(Duration::from_millis(5)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn lock_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        if let Some(guard) = self.try_lock() {
            return Some(guard);
        }
        crate::core::with_timeout(timeout, self.lock()).await
    }

    /// Takes the lock (or one more level) if that needs no waiting.
    ///
    /// ```
    /// let lock = ambisync::RLock::new(());
    /// let held = lock.try_lock().unwrap();
    /// // Another thread cannot take it:
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(lock.try_lock().is_none()));
    /// });
    /// # drop(held);
    /// ```
    pub fn try_lock(&self) -> Option<RLockGuard<'_, T>> {
        self.try_lock_as(Owner::current(), 1)
    }

    /// [`lock`](RLock::lock), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, if it has to wait inside a tokio runtime.
    ///
    /// ```
    /// let lock = ambisync::RLock::new(());
    /// let _a = lock.lock_blocking();
    /// let _b = lock.lock_blocking();
    /// assert_eq!(lock.recursion_count(), 2);
    /// ```
    #[track_caller]
    pub fn lock_blocking(&self) -> RLockGuard<'_, T> {
        self.lock_deadline(None, "lock_blocking")
            .expect("waiting without a deadline cannot time out")
    }

    /// [`lock_timeout`](RLock::lock_timeout), blocking the thread; needs no runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::RLock::new(());
    /// assert!(lock.lock_timeout_blocking(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn lock_timeout_blocking(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        self.lock_deadline(deadline_after(timeout), "lock_timeout_blocking")
    }

    #[track_caller]
    fn lock_deadline(
        &self,
        deadline: Option<Instant>,
        method: &'static str,
    ) -> Option<RLockGuard<'_, T>> {
        let me = Owner::current();
        block_until(&self.signal.event, &self.signal, deadline, method, || {
            self.try_lock_as(me, 1)
        })
    }

    /// Whether anybody holds the lock.
    ///
    /// ```
    /// let lock = ambisync::RLock::new(());
    /// let guard = lock.lock_blocking();
    /// assert!(lock.is_locked());
    /// # drop(guard);
    /// ```
    pub fn is_locked(&self) -> bool {
        self.owner.load(Ordering::Acquire) != NOBODY
    }

    /// Whether the caller (this task, else this thread) owns the lock.
    ///
    /// ```
    /// let lock = ambisync::RLock::new(());
    /// let guard = lock.lock_blocking();
    /// assert!(lock.is_owned());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(!lock.is_owned()));
    /// });
    /// # drop(guard);
    /// ```
    pub fn is_owned(&self) -> bool {
        self.owner.load(Ordering::Acquire) == Owner::current().0
    }

    /// How many levels the caller holds; 0 when it is not the owner.
    ///
    /// ```
    /// let lock = ambisync::RLock::new(());
    /// assert_eq!(lock.recursion_count(), 0);
    /// let _guard = lock.lock_blocking();
    /// assert_eq!(lock.recursion_count(), 1);
    /// ```
    pub fn recursion_count(&self) -> usize {
        if self.is_owned() {
            self.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// How many tasks and threads are waiting to take the lock (a snapshot).
    ///
    /// ```
    /// assert_eq!(ambisync::RLock::new(()).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.signal.waiting()
    }

    /// The value, through exclusive access (no locking needed).
    ///
    /// ```
    /// let mut lock = ambisync::RLock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.value
    }

    /// Consumes the lock and returns its value.
    ///
    /// ```
    /// assert_eq!(ambisync::RLock::new(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Takes `levels` levels for `me`: re-entry if `me` owns it, else only if
    /// it is free.
    fn try_lock_as(&self, me: Owner, levels: usize) -> Option<RLockGuard<'_, T>> {
        let owner = self.owner.load(Ordering::Acquire);
        if owner == me.0 {
            let count = self.count.load(Ordering::Relaxed);
            let count = count
                .checked_add(levels)
                .expect("RLock recursion count overflow");
            self.count.store(count, Ordering::Relaxed);
        } else if owner == NOBODY
            && self
                .owner
                .compare_exchange(NOBODY, me.0, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            self.count.store(levels, Ordering::Relaxed);
        } else {
            return None;
        }
        Some(RLockGuard { lock: self })
    }

    /// Gives up one level; the last one frees the lock and wakes a waiter.
    fn unlock_one(&self) {
        let count = self.count.load(Ordering::Relaxed) - 1;
        self.count.store(count, Ordering::Relaxed);
        if count == 0 {
            self.owner.store(NOBODY, Ordering::Release);
            self.signal.notify_one();
        }
    }

    /// Gives up every level at once (a condition wait); returns how many.
    fn unlock_all(&self) -> usize {
        let count = self.count.swap(0, Ordering::Relaxed);
        self.owner.store(NOBODY, Ordering::Release);
        self.signal.notify_one();
        count
    }
}

/// Python-style use of an `RLock<()>` without guards.
impl RLock<()> {
    /// Acquires one level without a guard; pair it with [`release`](RLock::release).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lock = ambisync::RLock::default();
    /// lock.acquire().await;
    /// lock.acquire().await;
    /// lock.release().unwrap();
    /// lock.release().unwrap();
    /// assert!(!lock.is_locked());
    /// # });
    /// ```
    pub async fn acquire(&self) {
        std::mem::forget(self.lock().await);
    }

    /// Acquires one level if that needs no waiting; `true` when it did.
    ///
    /// ```
    /// let lock = ambisync::RLock::default();
    /// assert!(lock.try_acquire());
    /// assert!(lock.try_acquire()); // re-entry
    /// assert_eq!(lock.recursion_count(), 2);
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.try_lock().map(std::mem::forget).is_some()
    }

    /// Acquires one level within `timeout`; `true` when it did.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let lock = ambisync::RLock::default();
    /// assert!(lock.acquire_timeout(Duration::from_millis(5)).await);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.lock_timeout(timeout)
            .await
            .map(std::mem::forget)
            .is_some()
    }

    /// Acquires one level, blocking the thread.
    ///
    /// ```
    /// let lock = ambisync::RLock::default();
    /// lock.acquire_blocking();
    /// assert!(lock.is_owned());
    /// ```
    #[track_caller]
    pub fn acquire_blocking(&self) {
        // Not `lock_blocking()`: the "blocking inside a runtime" panic must
        // name this method (and `acquire(..)`), as `Lock::acquire_blocking` does.
        std::mem::forget(
            self.lock_deadline(None, "acquire_blocking")
                .expect("waiting without a deadline cannot time out"),
        );
    }

    /// Acquires one level, blocking the thread for at most `timeout`; `true`
    /// when it did.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::RLock::default();
    /// assert!(lock.acquire_timeout_blocking(Duration::from_millis(5)));
    /// ```
    #[track_caller]
    pub fn acquire_timeout_blocking(&self, timeout: Duration) -> bool {
        self.lock_deadline(deadline_after(timeout), "acquire_timeout_blocking")
            .map(std::mem::forget)
            .is_some()
    }

    /// Releases one level held by the caller.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotOwner`] unless the caller owns the lock; nothing changes.
    ///
    /// ```
    /// use ambisync::{RLock, ReleaseError};
    /// let lock = RLock::default();
    /// assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
    /// lock.acquire_blocking();
    /// assert_eq!(lock.release(), Ok(()));
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        if !self.is_owned() {
            return Err(ReleaseError::NotOwner);
        }
        self.unlock_one();
        Ok(())
    }
}

impl<T: Default> Default for RLock<T> {
    fn default() -> Self {
        RLock::new(T::default())
    }
}

impl<T> From<T> for RLock<T> {
    fn from(value: T) -> Self {
        RLock::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field(
                "owner",
                &Owner::describe(self.owner.load(Ordering::Relaxed)),
            )
            .field("count", &self.count.load(Ordering::Relaxed))
            .field("waiters", &self.signal.waiting())
            .field("value", &self.value)
            .finish()
    }
}

/// One level of an [`RLock`], giving shared access to its value; dropping it
/// gives the level back.
///
/// The guard is `Send` (when `T: Sync`) so that a task can hold it across
/// `.await`; it should be dropped by the task or thread that took it.
///
/// ```
/// let lock = ambisync::RLock::new(String::from("hi"));
/// let guard = lock.lock_blocking();
/// assert_eq!(guard.len(), 2);
/// ```
#[must_use = "the level is given back as soon as the guard is dropped"]
pub struct RLockGuard<'a, T> {
    lock: &'a RLock<T>,
}

impl<'a, T> RLockGuard<'a, T> {
    /// The lock this guard holds a level of.
    ///
    /// ```
    /// let lock = ambisync::RLock::new(());
    /// let guard = lock.lock_blocking();
    /// assert!(std::ptr::eq(guard.rlock(), &lock));
    /// ```
    pub fn rlock(&self) -> &'a RLock<T> {
        self.lock
    }
}

impl<T> Deref for RLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.lock.value
    }
}

impl<T> Drop for RLockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock_one();
    }
}

impl<T: fmt::Debug> fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

// What a `Condition` needs: release every level, restore them afterwards.

impl<'a, T> crate::condition::sealed::Sealed for RLockGuard<'a, T> {
    type Unlocked = UnlockedRLock<'a, T>;
    fn unlock(self) -> Self::Unlocked {
        let lock = self.lock;
        std::mem::forget(self);
        let levels = lock.unlock_all();
        UnlockedRLock { lock, levels }
    }
}

impl<T> crate::condition::ConditionGuard for RLockGuard<'_, T> {}

/// An [`RLock`] fully released by a condition wait, with the levels to restore.
#[doc(hidden)]
pub struct UnlockedRLock<'a, T> {
    lock: &'a RLock<T>,
    levels: usize,
}

impl<T> fmt::Debug for UnlockedRLock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnlockedRLock")
            .field("levels", &self.levels)
            .finish()
    }
}

impl<'a, T> crate::condition::sealed::Unlocked for UnlockedRLock<'a, T> {
    type Guard = RLockGuard<'a, T>;
    fn try_relock(&self) -> Option<Self::Guard> {
        // One guard comes back; it stands for all the levels restored, the
        // others belonging to guards the owner still holds. They go to the
        // caller that relocks (as in `lock`), which is the one that waited
        // unless a task resumed on another thread without task identity.
        self.lock.try_lock_as(Owner::current(), self.levels)
    }
    fn event(&self) -> &event_listener::Event {
        &self.lock.signal.event
    }
    fn register(&self) {
        crate::core::WaiterCount::register(&self.lock.signal);
    }
    fn unregister(&self) {
        crate::core::WaiterCount::unregister(&self.lock.signal);
    }
}
