//! [`RLock`]: a reentrant lock owned by a task or a thread (Python `threading.RLock`).

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::core::deadline_after;
use crate::core::owner::{NOBODY, Owner};
use crate::error::ReleaseError;
use crate::lock::raw::RawLock;

/// One level held by a guard, in [`RLock::levels`].
const GUARD_LEVEL: u64 = 1;
/// One level taken by a raw `acquire()`, in [`RLock::levels`].
const RAW_LEVEL: u64 = 1 << 32;
/// The guard levels' bits.
const GUARD_LEVELS: u64 = RAW_LEVEL - 1;

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
    /// Held while anybody owns the lock: waiting, fairness and wake-ups are
    /// those of [`Lock`](crate::Lock).
    raw: RawLock,
    /// Who holds `raw`; written by the holder only.
    owner: AtomicU64,
    /// The levels of the current hold: those held by guards in the low 32
    /// bits, those taken by raw `acquire()` in the high 32. Counted apart so
    /// that a raw `release()` can never give back a guard's level (which would
    /// leave a guard that unlocks somebody else's hold when it drops).
    levels: AtomicU64,
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
            raw: RawLock::new(),
            owner: AtomicU64::new(NOBODY),
            levels: AtomicU64::new(0),
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
        crate::core::coop::proceed().await;
        self.take_level(GUARD_LEVEL).await;
        RLockGuard { lock: self }
    }

    /// Takes one level (`GUARD_LEVEL` or `RAW_LEVEL`), waiting for the lock
    /// if another caller owns it.
    async fn take_level(&self, level: u64) {
        if self.try_take_level(Owner::current(), level, true) {
            return;
        }
        self.raw.lock().await;
        // The owner is the caller when the lock is taken, not when the wait
        // began: without task identity, a task of a multi-threaded executor
        // may resume on another thread, which then holds the lock and must be
        // able to re-enter it.
        self.adopt(Owner::current(), level);
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
        crate::core::coop::proceed().await;
        if self.try_take_level(Owner::current(), GUARD_LEVEL, true) {
            return Some(RLockGuard { lock: self });
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
        self.try_take_level(Owner::current(), GUARD_LEVEL, false)
            .then(|| RLockGuard { lock: self })
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
        self.take_level_deadline(GUARD_LEVEL, deadline, method)
            .then(|| RLockGuard { lock: self })
    }

    #[track_caller]
    fn take_level_deadline(
        &self,
        level: u64,
        deadline: Option<Instant>,
        method: &'static str,
    ) -> bool {
        let me = Owner::current();
        if self.try_take_level(me, level, true) {
            return true;
        }
        if !self.raw.lock_deadline(deadline, method) {
            return false;
        }
        self.adopt(me, level);
        true
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
        self.raw.is_locked()
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
        self.owner.load(Ordering::Acquire) == Owner::current().0 && self.count() > 0
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
        if self.owner.load(Ordering::Acquire) == Owner::current().0 {
            self.count()
        } else {
            0
        }
    }

    /// Every level of the current hold, guards' and raw ones.
    fn count(&self) -> usize {
        let levels = self.levels.load(Ordering::Acquire);
        (levels & GUARD_LEVELS) as usize + (levels / RAW_LEVEL) as usize
    }

    /// How many tasks and threads are waiting to take the lock (a snapshot).
    ///
    /// ```
    /// assert_eq!(ambisync::RLock::new(()).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.raw.waiters_now()
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

    /// Takes one `level` for `me` without waiting: re-entry if `me` owns it,
    /// else only if the lock is free (and, when `fair`, nobody starves).
    fn try_take_level(&self, me: Owner, level: u64, fair: bool) -> bool {
        if self.owner.load(Ordering::Acquire) == me.0 && self.reenter(me, level) {
            return true;
        }
        let taken = if fair {
            self.raw.try_lock_fair()
        } else {
            self.raw.try_lock()
        };
        if taken {
            self.adopt(me, level);
        }
        taken
    }

    /// One more `level` of the hold `me` owns; `false` if that hold ended
    /// meanwhile (its last guard was dropped elsewhere).
    fn reenter(&self, me: Owner, level: u64) -> bool {
        // A hold with no levels left is ending: its lock is about to be free.
        let entered = self
            .levels
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |levels| {
                (levels != 0).then(|| add_level(levels, level))
            });
        if entered.is_err() {
            return false;
        }
        if self.owner.load(Ordering::Acquire) != me.0 {
            // The hold ended and another caller's began between our two
            // looks: the level went to that hold. Give it back (ending that
            // hold if its owner already gave back all of its own).
            self.drop_level(level);
            return false;
        }
        true
    }
    /// Makes `me` the owner of the lock it has just taken, with `levels`.
    fn adopt(&self, me: Owner, levels: u64) {
        self.owner.store(me.0, Ordering::Relaxed);
        self.levels.store(levels, Ordering::Release);
    }

    /// Gives up one `level`; the last level of the hold frees the lock and
    /// wakes a waiter.
    fn drop_level(&self, level: u64) {
        let before = self.levels.fetch_sub(level, Ordering::Release);
        if before == level {
            self.free();
        }
    }

    /// The hold has no levels left: nobody owns the lock any more.
    fn free(&self) {
        self.owner.store(NOBODY, Ordering::Relaxed);
        self.raw.unlock();
    }

    /// Gives up every level at once (a condition wait); returns them. The
    /// caller holds a guard, so the hold cannot end under it.
    fn unlock_all(&self) -> u64 {
        let levels = self.levels.swap(0, Ordering::AcqRel);
        self.free();
        levels
    }
}

/// `levels` with one more `level`.
///
/// # Panics
///
/// If the count of that kind of level would overflow (about four billion
/// levels); nothing changes then.
fn add_level(levels: u64, level: u64) -> u64 {
    let full = if level == GUARD_LEVEL {
        levels & GUARD_LEVELS == GUARD_LEVELS
    } else {
        levels / RAW_LEVEL == u64::MAX / RAW_LEVEL
    };
    assert!(!full, "RLock recursion count overflow");
    levels + level
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
        crate::core::coop::proceed().await;
        self.take_level(RAW_LEVEL).await;
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
        self.try_take_level(Owner::current(), RAW_LEVEL, false)
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
        crate::core::coop::proceed().await;
        if self.try_take_level(Owner::current(), RAW_LEVEL, true) {
            return true;
        }
        crate::core::with_timeout(timeout, self.take_level(RAW_LEVEL))
            .await
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
        self.take_level_deadline(RAW_LEVEL, None, "acquire_blocking");
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
        self.take_level_deadline(
            RAW_LEVEL,
            deadline_after(timeout),
            "acquire_timeout_blocking",
        )
    }

    /// Releases one level that the caller took with `acquire` (in any form).
    ///
    /// A level held by a guard is given back by dropping the guard, never
    /// here: a raw release of it would leave a guard that, when it drops,
    /// gives back a level of whoever holds the lock by then.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotOwner`] unless the caller owns the lock and holds a
    /// level taken with `acquire`; nothing changes then.
    ///
    /// ```
    /// use ambisync::{RLock, ReleaseError};
    /// let lock = RLock::default();
    /// assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
    /// lock.acquire_blocking();
    /// assert_eq!(lock.release(), Ok(()));
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.owner.load(Ordering::Acquire) != Owner::current().0 {
            return Err(ReleaseError::NotOwner);
        }
        let before = self
            .levels
            .fetch_update(Ordering::Release, Ordering::Relaxed, |levels| {
                (levels >= RAW_LEVEL).then(|| levels - RAW_LEVEL)
            })
            .map_err(|_| ReleaseError::NotOwner)?;
        if before == RAW_LEVEL {
            self.free();
        }
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
            .field("count", &self.count())
            .field("waiters", &self.waiters())
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
        self.lock.drop_level(GUARD_LEVEL);
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
    fn levels(&self) -> usize {
        self.lock.count()
    }
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
    levels: u64,
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
    fn raw(&self) -> &RawLock {
        &self.lock.raw
    }
    fn relocked(self) -> Self::Guard {
        // One guard comes back; it stands for all the levels restored, the
        // others belonging to guards the owner still holds. They go to the
        // caller that relocks (as in `lock`), which is the one that waited
        // unless a task resumed on another thread without task identity.
        self.lock.adopt(Owner::current(), self.levels);
        RLockGuard { lock: self.lock }
    }
}
