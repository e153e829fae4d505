//! The guards of a [`Lock`]: borrowed and owned.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::Lock;

/// Access to a [`Lock`]'s value; unlocks when dropped.
///
/// # Examples
///
/// ```
/// let lock = ambisync::Lock::new(String::new());
/// let mut guard = lock.lock_blocking();
/// guard.push_str("hi");
/// assert_eq!(*guard, "hi");
/// ```
#[must_use = "the lock unlocks as soon as the guard is dropped"]
pub struct LockGuard<'a, T> {
    pub(crate) lock: &'a Lock<T>,
    // `&mut T` is `Sync` only when `T` is: sharing the guard shares `&T`.
    pub(super) _not_sync_unless_t_is: PhantomData<&'a mut T>,
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
        unsafe { &*self.lock.value() }
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { &mut *self.lock.value() }
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
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(ambisync::Lock::new(1));
/// let guard: ambisync::OwnedLockGuard<i32> = lock.lock_owned_blocking();
/// assert_eq!(*guard, 1);
/// ```
#[must_use = "the lock unlocks as soon as the guard is dropped"]
pub struct OwnedLockGuard<T> {
    pub(crate) lock: Arc<Lock<T>>,
    // `Box<T>` is `Sync` only when `T` is: sharing the guard shares `&T`.
    _not_sync_unless_t_is: PhantomData<Box<T>>,
}

impl<T> OwnedLockGuard<T> {
    /// Wraps a lock whose locked bit the caller has set.
    pub(crate) fn adopt(lock: Arc<Lock<T>>) -> Self {
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
        unsafe { &*self.lock.value() }
    }
}

impl<T> DerefMut for OwnedLockGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `LockGuard`.
        unsafe { &mut *self.lock.value() }
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
