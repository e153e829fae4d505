//! [`Lock`]: a mutual-exclusion lock for tasks and threads (Python `threading.Lock`).

mod fair;
mod guard;
mod mapped;
pub(crate) mod raw;
mod state;

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

pub use guard::{LockGuard, OwnedLockGuard};
pub use mapped::{MappedLockGuard, OwnedMappedLockGuard};
use raw::{RawLock, lock_op};

use crate::error::ReleaseError;
use crate::wait::runtime::debug_assert_may_block;
use crate::wait::{Map, Waiting, block_on, block_on_untimed, deadline_after};
#[cfg(feature = "tokio")]
use crate::wait::{MapOutput, Timed};

/// A mutual-exclusion lock that async tasks and OS threads share.
///
/// Python's `threading.Lock` and Rust's `Mutex` in one: [`lock`](Lock::lock)
/// and its forms return a guard that unlocks when dropped; on `Lock<()>`
/// [`acquire`](Lock::acquire) and [`release`](Lock::release) work as in Python,
/// where any task or thread may release.
///
/// The lock is eventually fair: a running task may take a lock that was just
/// released ahead of a waiter that has been woken but has not run yet, which
/// keeps it fast under contention, but a waiter that has waited more than
/// half a millisecond reserves the next turn for itself. A released lock
/// always wakes a waiter, and a woken waiter whose future is dropped passes
/// its wake-up on. Every `lock()` spends tokio's cooperative budget, so a
/// task that relocks in a loop still lets its worker's other tasks run.
///
/// There is no poisoning: a panic while holding the guard unlocks the lock.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ambisync::Lock;
///
/// # futures::executor::block_on(async {
/// let counter = Arc::new(Lock::new(0));
/// let in_thread = Arc::clone(&counter);
/// std::thread::spawn(move || *in_thread.lock_blocking() += 1).join().unwrap();
/// *counter.lock().await += 1;
/// assert_eq!(*counter.lock().await, 2);
/// # });
/// ```
pub struct Lock<T = ()> {
    pub(crate) raw: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one guard at a time, so it
// may be shared between threads when the value itself may move between them
// (the same bounds as `std::sync::Mutex`). Tested by `tests/lock.rs`, which
// mutates through guards from tasks and threads at once.
unsafe impl<T: Send> Send for Lock<T> {}
// SAFETY: see above.
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> crate::wait::Part<RawLock> for Lock<T> {
    fn part(&self) -> &RawLock {
        &self.raw
    }
}

impl<T> Lock<T> {
    crate::wait::const_unless_loom! {
        /// Creates an unlocked lock holding `value`.
        ///
        /// # Examples
        ///
        /// ```
        /// let lock = ambisync::Lock::new(vec![1, 2]);
        /// assert!(!lock.is_locked());
        /// ```
        pub fn new(value: T) -> Lock<T> {
            Lock {
                raw: RawLock::new(),
                value: UnsafeCell::new(value),
            }
        }
    }

    /// Takes the lock, waiting as long as it takes.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. A future dropped before it took the lock holds nothing,
    /// and a wake-up it had received goes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lock = ambisync::Lock::new(1);
    /// *lock.lock().await += 1;
    /// assert_eq!(*lock.lock().await, 2);
    /// # });
    /// ```
    pub fn lock(&self) -> impl Future<Output = LockGuard<'_, T>> {
        Waiting::new(self.lock_op())
    }

    fn lock_op(&self) -> impl crate::wait::WaitOp<Output = LockGuard<'_, T>> {
        Map::new(lock_op(self), |lock| lock.guard())
    }

    fn owned_lock_op(
        self: &Arc<Self>,
    ) -> impl crate::wait::WaitOp<Output = OwnedLockGuard<T>> + use<T> {
        Map::new(lock_op(Arc::clone(self)), OwnedLockGuard::adopt)
    }

    /// A guard for the lock the caller has just taken.
    pub(crate) fn guard(&self) -> LockGuard<'_, T> {
        LockGuard {
            lock: self,
            _not_sync_unless_t_is: PhantomData,
        }
    }

    /// Takes the lock, or gives up after `timeout` and returns `None`.
    ///
    /// The time starts when this method is called.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](Lock::lock); so is the timeout itself.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let lock = ambisync::Lock::new(());
    /// let held = lock.lock().await;
    /// assert!(lock.lock_timeout(Duration::from_millis(10)).await.is_none());
    /// drop(held);
    /// assert!(lock.lock_timeout(Duration::from_millis(10)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Option<LockGuard<'_, T>>> {
        Timed::new(self.lock_op(), timeout)
    }

    /// Takes the lock if it is free, without waiting (even when others wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::Lock::new(());
    /// let guard = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(guard);
    /// assert!(lock.try_lock().is_some());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.raw.try_lock().then(|| self.guard())
    }

    /// Takes the lock, blocking the thread as long as it takes.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`lock`](Lock::lock) there): always in debug builds, when
    /// it would have to wait in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::Lock::new(5);
    /// assert_eq!(*lock.lock_blocking(), 5);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock_blocking(&self) -> LockGuard<'_, T> {
        // The fast path is inlined into the caller's crate: one compare and
        // swap, as the waiting operation's own first try would do, without
        // building the operation or calling into this crate (see
        // BENCHMARKS.md, "Performance round 2").
        debug_assert_may_block("lock_blocking");
        if self.raw.try_lock_fair() {
            return self.guard();
        }
        self.lock_blocking_slow()
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_blocking_slow(&self) -> LockGuard<'_, T> {
        block_on_untimed(self.lock_op(), "lock_blocking")
    }

    /// Takes the lock, blocking the thread for at most `timeout`; needs no
    /// runtime. A `timeout` too large to represent waits as long as it takes.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](Lock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::Lock::new(());
    /// let held = lock.lock_blocking();
    /// assert!(lock.lock_timeout_blocking(Duration::from_millis(10)).is_none());
    /// drop(held);
    /// assert!(lock.lock_timeout_blocking(Duration::from_millis(10)).is_some());
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock_timeout_blocking(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        // As `lock_blocking`; a free lock also skips reading the clock.
        debug_assert_may_block("lock_timeout_blocking");
        if self.raw.try_lock_fair() {
            return Some(self.guard());
        }
        self.lock_timeout_blocking_slow(timeout)
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_timeout_blocking_slow(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        block_on(
            self.lock_op(),
            deadline_after(timeout),
            "lock_timeout_blocking",
        )
    }

    /// Takes the lock and returns a guard that owns an `Arc` of it, so that it
    /// can be moved into a spawned task.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](Lock::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let lock = Arc::new(ambisync::Lock::new(0));
    /// let mut guard = lock.lock_owned().await;
    /// std::thread::spawn(move || *guard += 1).join().unwrap();
    /// assert_eq!(*lock.lock().await, 1);
    /// # });
    /// ```
    pub fn lock_owned(self: &Arc<Self>) -> impl Future<Output = OwnedLockGuard<T>> + use<T> {
        Waiting::new(self.owned_lock_op())
    }

    /// [`lock_owned`](Lock::lock_owned) that gives up after `timeout`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](Lock::lock).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// # #[tokio::main] async fn main() {
    /// let lock = Arc::new(ambisync::Lock::new(()));
    /// assert!(lock.lock_owned_timeout(Duration::from_millis(10)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn lock_owned_timeout(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> impl Future<Output = Option<OwnedLockGuard<T>>> + use<T> {
        Timed::new(self.owned_lock_op(), timeout)
    }

    /// [`try_lock`](Lock::try_lock) with an owned guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::Lock::new(()));
    /// let guard = lock.try_lock_owned().unwrap();
    /// assert!(lock.try_lock_owned().is_none());
    /// # drop(guard);
    /// ```
    pub fn try_lock_owned(self: &Arc<Self>) -> Option<OwnedLockGuard<T>> {
        self.raw
            .try_lock()
            .then(|| OwnedLockGuard::adopt(Arc::clone(self)))
    }

    /// [`lock_blocking`](Lock::lock_blocking) with an owned guard.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](Lock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::Lock::new(1));
    /// let guard = lock.lock_owned_blocking();
    /// assert_eq!(*guard, 1);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock_owned_blocking(self: &Arc<Self>) -> OwnedLockGuard<T> {
        // As `lock_blocking`.
        debug_assert_may_block("lock_owned_blocking");
        if self.raw.try_lock_fair() {
            return OwnedLockGuard::adopt(Arc::clone(self));
        }
        self.lock_owned_blocking_slow()
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_owned_blocking_slow(self: &Arc<Self>) -> OwnedLockGuard<T> {
        block_on_untimed(self.owned_lock_op(), "lock_owned_blocking")
    }

    /// [`lock_timeout_blocking`](Lock::lock_timeout_blocking) with an owned guard.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](Lock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let lock = Arc::new(ambisync::Lock::new(()));
    /// let _held = lock.lock_owned_blocking();
    /// assert!(lock.lock_owned_timeout_blocking(Duration::from_millis(5)).is_none());
    /// ```
    #[track_caller]
    pub fn lock_owned_timeout_blocking(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<OwnedLockGuard<T>> {
        block_on(
            self.owned_lock_op(),
            deadline_after(timeout),
            "lock_owned_timeout_blocking",
        )
    }

    /// Whether somebody holds the lock right now.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::Lock::new(());
    /// let guard = lock.try_lock();
    /// assert!(lock.is_locked());
    /// # drop(guard);
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// How many tasks and threads are waiting to take the lock (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::Lock::new(()).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.raw.waiters_now()
    }

    /// The value, through exclusive access to the lock (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = ambisync::Lock::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Consumes the lock and returns its value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::Lock::new("x").into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// The value behind the lock, for the guards.
    pub(crate) fn value(&self) -> *mut T {
        self.value.get()
    }
}

/// Python-style use of a `Lock<()>` without a guard. As in Python, any task or
/// thread may release it, not only the one that acquired it.
impl Lock<()> {
    /// Acquires the lock without a guard; pair it with [`release`](Lock::release).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](Lock::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lock = ambisync::Lock::default();
    /// lock.acquire().await;
    /// assert!(lock.is_locked());
    /// lock.release().unwrap();
    /// # });
    /// ```
    pub fn acquire(&self) -> impl Future<Output = ()> {
        Waiting::new(self.acquire_op())
    }

    fn acquire_op(&self) -> impl crate::wait::WaitOp<Output = ()> {
        Map::new(lock_op(self), |_| ())
    }

    /// Acquires the lock if it is free; `true` when it did.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::Lock::default();
    /// assert!(lock.try_acquire());
    /// assert!(!lock.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.raw.try_lock()
    }

    /// Acquires the lock within `timeout`; `true` when it did.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](Lock::lock).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let lock = ambisync::Lock::default();
    /// assert!(lock.acquire_timeout(Duration::from_millis(5)).await);
    /// assert!(!lock.acquire_timeout(Duration::from_millis(5)).await);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> impl Future<Output = bool> {
        let acquiring = Timed::new(self.acquire_op(), timeout);
        MapOutput::new(acquiring, |out: Option<()>| out.is_some())
    }

    /// Acquires the lock, blocking the thread as long as it takes.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](Lock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::Lock::default();
    /// lock.acquire_blocking();
    /// assert!(lock.is_locked());
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire_blocking(&self) {
        // As `lock_blocking`.
        debug_assert_may_block("acquire_blocking");
        if !self.raw.try_lock_fair() {
            self.acquire_blocking_slow();
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn acquire_blocking_slow(&self) {
        block_on_untimed(self.acquire_op(), "acquire_blocking");
    }

    /// Acquires the lock, blocking the thread for at most `timeout`; `true`
    /// when it did.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](Lock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::Lock::default();
    /// assert!(lock.acquire_timeout_blocking(Duration::from_millis(5)));
    /// assert!(!lock.acquire_timeout_blocking(Duration::from_millis(5)));
    /// ```
    #[track_caller]
    pub fn acquire_timeout_blocking(&self, timeout: Duration) -> bool {
        block_on(
            self.acquire_op(),
            deadline_after(timeout),
            "acquire_timeout_blocking",
        )
        .is_some()
    }

    /// Releases the lock, whoever acquired it.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotLocked`] when it is not locked; nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::Lock::default();
    /// lock.acquire_blocking();
    /// assert_eq!(lock.release(), Ok(()));
    /// assert!(lock.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.raw.release()
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> From<T> for Lock<T> {
    fn from(value: T) -> Self {
        Lock::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Lock");
        out.field("locked", &self.is_locked())
            .field("waiters", &self.waiters());
        // A zero-sized value (`Lock<()>`, the one with a raw `release()`) has
        // nothing to show, so do not take the lock for it: a concurrent
        // `release()` of the unlocked lock would release that momentary hold
        // and return `Ok` instead of `Err(NotLocked)`.
        if size_of::<T>() == 0 {
            return out.finish_non_exhaustive();
        }
        match self.try_lock() {
            Some(guard) => out.field("value", &&*guard),
            None => out.field("value", &format_args!("<locked>")),
        };
        out.finish()
    }
}
