//! [`Lock`]: a mutual-exclusion lock for tasks and threads (Python `threading.Lock`).

mod fair;
pub(crate) mod raw;

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use crate::core::deadline_after;
use crate::error::ReleaseError;
use raw::RawLock;

/// A mutual-exclusion lock that async tasks and OS threads share.
///
/// Python's `threading.Lock` and Rust's `Mutex` in one: [`lock`](Lock::lock)
/// and its forms return a guard that unlocks when dropped; on `Lock<()>`
/// [`acquire`](Lock::acquire) and [`release`](Lock::release) work as in Python,
/// where any task or thread may release.
///
/// The lock is not fair: a running task may take a lock that was just released
/// ahead of a waiter that has been woken but has not run yet, which keeps it
/// fast under contention. A released lock always wakes a waiter, and a woken
/// waiter whose future is dropped passes its wake-up on.
///
/// There is no poisoning: a panic while holding the guard unlocks the lock.
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
    raw: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one guard at a time, so it
// may be shared between threads when the value itself may move between them
// (the same bounds as `std::sync::Mutex`). Tested by `tests/lock.rs`, which
// mutates through guards from tasks and threads at once.
unsafe impl<T: Send> Send for Lock<T> {}
// SAFETY: see above.
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    /// Creates an unlocked lock holding `value`.
    ///
    /// ```
    /// let lock = ambisync::Lock::new(vec![1, 2]);
    /// assert!(!lock.is_locked());
    /// ```
    pub const fn new(value: T) -> Lock<T> {
        Lock {
            raw: RawLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, waiting as long as it takes.
    ///
    /// Cancel safe: a dropped future holds nothing and passes on a wake-up it
    /// received.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lock = ambisync::Lock::new(1);
    /// *lock.lock().await += 1;
    /// assert_eq!(*lock.lock().await, 2);
    /// # });
    /// ```
    pub async fn lock(&self) -> LockGuard<'_, T> {
        self.raw.lock().await;
        self.guard()
    }

    fn guard(&self) -> LockGuard<'_, T> {
        LockGuard {
            lock: self,
            _not_sync_unless_t_is: PhantomData,
        }
    }

    /// Takes the lock, or gives up after `timeout` and returns `None`.
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
    pub async fn lock_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        crate::core::coop::proceed().await;
        if self.raw.try_lock_fair() {
            return Some(self.guard());
        }
        crate::core::with_timeout(timeout, self.lock()).await
    }

    /// Takes the lock if it is free, without waiting.
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
    /// With the `tokio` feature, if it has to wait inside a tokio runtime
    /// (use [`lock`](Lock::lock) there).
    ///
    /// ```
    /// let lock = ambisync::Lock::new(5);
    /// assert_eq!(*lock.lock_blocking(), 5);
    /// ```
    #[track_caller]
    pub fn lock_blocking(&self) -> LockGuard<'_, T> {
        self.lock_deadline(None, "lock_blocking")
            .expect("waiting without a deadline cannot time out")
    }

    /// Takes the lock, blocking the thread for at most `timeout`.
    ///
    /// Needs no runtime. Panics like [`lock_blocking`](Lock::lock_blocking).
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::Lock::new(());
    /// let held = lock.lock_blocking();
    /// assert!(lock.lock_timeout_blocking(Duration::from_millis(10)).is_none());
    /// drop(held);
    /// assert!(lock.lock_timeout_blocking(Duration::from_millis(10)).is_some());
    /// ```
    #[track_caller]
    pub fn lock_timeout_blocking(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        self.lock_deadline(deadline_after(timeout), "lock_timeout_blocking")
    }

    #[track_caller]
    fn lock_deadline(
        &self,
        deadline: Option<std::time::Instant>,
        method: &'static str,
    ) -> Option<LockGuard<'_, T>> {
        self.raw
            .lock_deadline(deadline, method)
            .then(|| self.guard())
    }

    /// Takes the lock and returns a guard that owns an `Arc` of it, so that it
    /// can be moved into a spawned task.
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
        let this = Arc::clone(self);
        async move {
            let guard = this.lock().await;
            std::mem::forget(guard);
            OwnedLockGuard::adopt(this)
        }
    }

    /// [`lock_owned`](Lock::lock_owned) that gives up after `timeout`.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// # #[tokio::main] async fn main() {
    /// let lock = Arc::new(ambisync::Lock::new(()));
    /// assert!(lock.lock_owned_timeout(Duration::from_millis(10)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn lock_owned_timeout(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> impl Future<Output = Option<OwnedLockGuard<T>>> + use<T> {
        let this = Arc::clone(self);
        async move {
            let guard = this.lock_timeout(timeout).await?;
            std::mem::forget(guard);
            Some(OwnedLockGuard::adopt(this))
        }
    }

    /// [`try_lock`](Lock::try_lock) with an owned guard.
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
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::Lock::new(1));
    /// let guard = lock.lock_owned_blocking();
    /// assert_eq!(*guard, 1);
    /// ```
    #[track_caller]
    pub fn lock_owned_blocking(self: &Arc<Self>) -> OwnedLockGuard<T> {
        std::mem::forget(self.lock_deadline(None, "lock_owned_blocking"));
        OwnedLockGuard::adopt(Arc::clone(self))
    }

    /// [`lock_timeout_blocking`](Lock::lock_timeout_blocking) with an owned guard.
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
        let guard = self.lock_deadline(deadline_after(timeout), "lock_owned_timeout_blocking")?;
        std::mem::forget(guard);
        Some(OwnedLockGuard::adopt(Arc::clone(self)))
    }

    /// Whether somebody holds the lock right now.
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
    /// ```
    /// assert_eq!(ambisync::Lock::new(()).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.raw.waiters_now()
    }

    /// The value, through exclusive access to the lock (no locking needed).
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
    /// ```
    /// assert_eq!(ambisync::Lock::new("x").into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

/// Python-style use of a `Lock<()>` without a guard. As in Python, any task or
/// thread may release it, not only the one that acquired it.
impl Lock<()> {
    /// Acquires the lock without a guard; pair it with [`release`](Lock::release).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lock = ambisync::Lock::default();
    /// lock.acquire().await;
    /// assert!(lock.is_locked());
    /// lock.release().unwrap();
    /// # });
    /// ```
    pub async fn acquire(&self) {
        std::mem::forget(self.lock().await);
    }

    /// Acquires the lock if it is free; `true` when it did.
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
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let lock = ambisync::Lock::default();
    /// assert!(lock.acquire_timeout(Duration::from_millis(5)).await);
    /// assert!(!lock.acquire_timeout(Duration::from_millis(5)).await);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.lock_timeout(timeout)
            .await
            .map(std::mem::forget)
            .is_some()
    }

    /// Acquires the lock, blocking the thread as long as it takes.
    ///
    /// ```
    /// let lock = ambisync::Lock::default();
    /// lock.acquire_blocking();
    /// assert!(lock.is_locked());
    /// ```
    #[track_caller]
    pub fn acquire_blocking(&self) {
        std::mem::forget(self.lock_deadline(None, "acquire_blocking"));
    }

    /// Acquires the lock, blocking the thread for at most `timeout`; `true`
    /// when it did.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::Lock::default();
    /// assert!(lock.acquire_timeout_blocking(Duration::from_millis(5)));
    /// assert!(!lock.acquire_timeout_blocking(Duration::from_millis(5)));
    /// ```
    #[track_caller]
    pub fn acquire_timeout_blocking(&self, timeout: Duration) -> bool {
        self.lock_deadline(deadline_after(timeout), "acquire_timeout_blocking")
            .map(std::mem::forget)
            .is_some()
    }

    /// Releases the lock, whoever acquired it.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotLocked`] when it is not locked; nothing changes.
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

/// Access to a [`Lock`]'s value; unlocks when dropped.
///
/// ```
/// let lock = ambisync::Lock::new(String::new());
/// let mut guard = lock.lock_blocking();
/// guard.push_str("hi");
/// assert_eq!(*guard, "hi");
/// ```
#[must_use = "the lock unlocks as soon as the guard is dropped"]
pub struct LockGuard<'a, T> {
    lock: &'a Lock<T>,
    // `&mut T` is `Sync` only when `T` is: sharing the guard shares `&T`.
    _not_sync_unless_t_is: PhantomData<&'a mut T>,
}

impl<'a, T> LockGuard<'a, T> {
    /// The lock this guard holds.
    ///
    /// ```
    /// let lock = ambisync::Lock::new(());
    /// let guard = lock.lock_blocking();
    /// assert!(std::ptr::eq(guard.lock(), &lock));
    /// ```
    pub fn lock(&self) -> &'a Lock<T> {
        self.lock
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the locked bit is set by it, so
        // no other guard can access the value.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.raw.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A [`LockGuard`] that owns an `Arc` of its lock, so it is `'static` and can
/// move into spawned tasks and threads.
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(ambisync::Lock::new(1));
/// let guard: ambisync::OwnedLockGuard<i32> = lock.lock_owned_blocking();
/// assert_eq!(*guard, 1);
/// ```
#[must_use = "the lock unlocks as soon as the guard is dropped"]
pub struct OwnedLockGuard<T> {
    lock: Arc<Lock<T>>,
    // `Box<T>` is `Sync` only when `T` is: sharing the guard shares `&T`.
    _not_sync_unless_t_is: PhantomData<Box<T>>,
}

impl<T> OwnedLockGuard<T> {
    /// Wraps a lock whose locked bit the caller has set.
    fn adopt(lock: Arc<Lock<T>>) -> Self {
        OwnedLockGuard {
            lock,
            _not_sync_unless_t_is: PhantomData,
        }
    }

    /// The lock this guard holds.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::Lock::new(()));
    /// let guard = lock.lock_owned_blocking();
    /// assert!(Arc::ptr_eq(guard.lock(), &lock));
    /// ```
    pub fn lock(&self) -> &Arc<Lock<T>> {
        &self.lock
    }
}

impl<T> Deref for OwnedLockGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: as for `LockGuard`: this guard set the locked bit.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for OwnedLockGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `LockGuard`.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for OwnedLockGuard<T> {
    fn drop(&mut self) {
        self.lock.raw.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedLockGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

// What a `Condition` needs of a lock guard: to unlock, and to lock again later.

impl<'a, T> crate::condition::sealed::Sealed for LockGuard<'a, T> {
    type Unlocked = UnlockedLock<'a, T>;
    fn unlock(self) -> Self::Unlocked {
        let lock = self.lock;
        drop(self);
        UnlockedLock(lock)
    }
}

impl<T> crate::condition::ConditionGuard for LockGuard<'_, T> {}

/// A [`LockGuard`] given up by a condition wait.
#[doc(hidden)]
pub struct UnlockedLock<'a, T>(&'a Lock<T>);

impl<T> fmt::Debug for UnlockedLock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockedLock")
    }
}

impl<'a, T> crate::condition::sealed::Unlocked for UnlockedLock<'a, T> {
    type Guard = LockGuard<'a, T>;
    fn raw(&self) -> &RawLock {
        &self.0.raw
    }
    fn relocked(self) -> Self::Guard {
        self.0.guard()
    }
}

impl<T> crate::condition::sealed::Sealed for OwnedLockGuard<T> {
    type Unlocked = UnlockedOwnedLock<T>;
    fn unlock(self) -> Self::Unlocked {
        let lock = Arc::clone(&self.lock);
        drop(self);
        UnlockedOwnedLock(lock)
    }
}

impl<T> crate::condition::ConditionGuard for OwnedLockGuard<T> {}

/// An [`OwnedLockGuard`] given up by a condition wait.
#[doc(hidden)]
pub struct UnlockedOwnedLock<T>(Arc<Lock<T>>);

impl<T> fmt::Debug for UnlockedOwnedLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockedOwnedLock")
    }
}

impl<T> crate::condition::sealed::Unlocked for UnlockedOwnedLock<T> {
    type Guard = OwnedLockGuard<T>;
    fn raw(&self) -> &RawLock {
        &self.0.raw
    }
    fn relocked(self) -> Self::Guard {
        OwnedLockGuard::adopt(self.0)
    }
}
