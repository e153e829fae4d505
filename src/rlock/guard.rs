//! The guards of an [`RLock`]: borrowed and owned.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use super::{GUARD_LEVEL, RLock};

/// One level of an [`RLock`], giving shared access to its value; dropping it
/// gives the level back.
///
/// The guard is `Send` (when `T: Send`) so that a task can hold it across
/// `.await`. It belongs to the hold it was taken in, not to a place: dropped
/// anywhere, it gives back one level of that hold. But only the owner may
/// read the value through it.
///
/// # Panics
///
/// Dereferencing the guard panics unless the caller (this task, else this
/// thread) owns the lock: a guard moved to another task or thread can be
/// dropped there, not used.
///
/// # Examples
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
    /// A guard for a level the caller has just taken.
    pub(crate) fn adopt(lock: &'a RLock<T>) -> Self {
        RLockGuard { lock }
    }

    /// The lock this guard holds a level of.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RLock::new(());
    /// let guard = lock.lock_blocking();
    /// assert!(std::ptr::eq(guard.rlock(), &lock));
    /// ```
    pub fn rlock(&self) -> &'a RLock<T> {
        self.lock
    }

    /// Gives the guard up without giving its level back (a condition wait
    /// releases every level itself).
    pub(crate) fn into_rlock(self) -> &'a RLock<T> {
        let lock = self.lock;
        std::mem::forget(self);
        lock
    }
}

impl<T> Deref for RLockGuard<'_, T> {
    type Target = T;
    #[track_caller]
    fn deref(&self) -> &T {
        owned_value(self.lock)
    }
}

impl<T> Drop for RLockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.drop_level(GUARD_LEVEL);
    }
}

impl<T: fmt::Debug> fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_value(self.lock, f)
    }
}

/// An [`RLockGuard`] that owns an `Arc` of its lock, so it is `'static` and
/// can be held in a spawned task.
///
/// # Panics
///
/// As for [`RLockGuard`], dereferencing panics unless the caller owns the
/// lock.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(ambisync::RLock::new(1));
/// let guard: ambisync::OwnedRLockGuard<i32> = lock.lock_owned_blocking();
/// assert_eq!(*guard, 1);
/// ```
#[must_use = "the level is given back as soon as the guard is dropped"]
pub struct OwnedRLockGuard<T> {
    lock: Arc<RLock<T>>,
}

impl<T> OwnedRLockGuard<T> {
    /// A guard for a level the caller has just taken.
    pub(crate) fn adopt(lock: Arc<RLock<T>>) -> Self {
        OwnedRLockGuard { lock }
    }

    /// The lock this guard holds a level of.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RLock::new(()));
    /// let guard = lock.lock_owned_blocking();
    /// assert!(Arc::ptr_eq(guard.rlock(), &lock));
    /// ```
    pub fn rlock(&self) -> &Arc<RLock<T>> {
        &self.lock
    }
}

impl<T> Deref for OwnedRLockGuard<T> {
    type Target = T;
    #[track_caller]
    fn deref(&self) -> &T {
        owned_value(&self.lock)
    }
}

impl<T> Drop for OwnedRLockGuard<T> {
    fn drop(&mut self) {
        self.lock.drop_level(GUARD_LEVEL);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedRLockGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_value(&self.lock, f)
    }
}

#[track_caller]
fn owned_value<T>(lock: &RLock<T>) -> &T {
    match lock.owned_value() {
        Some(value) => value,
        None => panic!(
            "an RLock guard was used by a task or thread that does not own the lock (guards cannot be used after moving to another task or thread)"
        ),
    }
}

fn debug_value<T: fmt::Debug>(lock: &RLock<T>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match lock.owned_value() {
        Some(value) => fmt::Debug::fmt(value, f),
        None => f.write_str("<owned by another task or thread>"),
    }
}
