//! What a [`Condition`](super::Condition) needs of each lock guard it can
//! wait with: to release the lock and to make the guard again once the wait
//! has taken the lock back. The locks know nothing of conditions; they only
//! open the `pub(crate)` pieces used here.

use std::sync::Arc;

use crate::lock::{Lock, LockGuard, OwnedLockGuard};
use crate::rlock::owner::Owner;
use crate::rlock::{RLock, RLockGuard};

pub(crate) mod sealed {
    use std::ops::Deref;

    use crate::lock::raw::RawLock;
    use crate::wait::Part;

    /// Implemented by the guards a condition can wait with.
    pub trait Sealed: Sized + Unpin {
        /// What a wait keeps of the guard while the lock is released: the
        /// lock, by reference or `Arc`.
        type Handle: Deref<Target: Part<RawLock>> + Unpin;
        /// How many levels the guard's owner holds (1 but for an `RLock`).
        fn levels(&self) -> usize {
            1
        }
        /// Releases the lock (for an `RLock`, every level the owner holds);
        /// returns the lock and the levels to restore.
        fn unlock(self) -> (Self::Handle, u64);
        /// The guard again, once the caller has taken the lock back;
        /// restores the levels `unlock` released.
        fn relocked(handle: Self::Handle, levels: u64) -> Self;
    }
}

/// A guard that a [`Condition`](super::Condition) can wait with:
/// [`LockGuard`], [`OwnedLockGuard`] and [`RLockGuard`].
///
/// # Examples
///
/// ```
/// fn takes_any_guard<G: ambisync::ConditionGuard>(_: G) {}
/// let lock = ambisync::Lock::new(());
/// takes_any_guard(lock.lock_blocking());
/// ```
pub trait ConditionGuard: sealed::Sealed {}

impl<'a, T> sealed::Sealed for LockGuard<'a, T> {
    type Handle = &'a Lock<T>;
    fn unlock(self) -> (&'a Lock<T>, u64) {
        let lock = self.lock;
        drop(self);
        (lock, 0)
    }
    fn relocked(lock: &'a Lock<T>, _: u64) -> Self {
        lock.guard()
    }
}

impl<T> ConditionGuard for LockGuard<'_, T> {}

impl<T> sealed::Sealed for OwnedLockGuard<T> {
    type Handle = Arc<Lock<T>>;
    fn unlock(self) -> (Arc<Lock<T>>, u64) {
        let lock = Arc::clone(&self.lock);
        drop(self);
        (lock, 0)
    }
    fn relocked(lock: Arc<Lock<T>>, _: u64) -> Self {
        OwnedLockGuard::adopt(lock)
    }
}

impl<T> ConditionGuard for OwnedLockGuard<T> {}

impl<'a, T> sealed::Sealed for RLockGuard<'a, T> {
    type Handle = &'a RLock<T>;
    fn levels(&self) -> usize {
        self.rlock().count()
    }
    fn unlock(self) -> (&'a RLock<T>, u64) {
        let lock = self.into_rlock();
        let levels = lock.unlock_all();
        (lock, levels)
    }
    fn relocked(lock: &'a RLock<T>, levels: u64) -> Self {
        // One guard comes back; it stands for all the levels restored, the
        // others belonging to guards the owner still holds. They go to the
        // caller that relocks (as in `lock`), which is the one that waited
        // unless a task resumed on another thread without task identity.
        lock.adopt(Owner::current(), levels);
        RLockGuard::adopt(lock)
    }
}

impl<T> ConditionGuard for RLockGuard<'_, T> {}
