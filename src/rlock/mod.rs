//! [`RLock`]: a reentrant lock owned by a task or a thread (Python `threading.RLock`).

mod guard;
mod op;
pub(crate) mod owner;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use guard::{OwnedRLockGuard, RLockGuard};
use op::rlock_op;
use owner::{NOBODY, Owner};

use crate::error::ReleaseError;
use crate::lock::raw::RawLock;
use crate::wait::Part;
use crate::wait::runtime::debug_assert_may_block;
use crate::wait::sync::AtomicU64;
use crate::wait::{Map, Waiting, block_on, block_on_untimed, deadline_after};
#[cfg(feature = "tokio")]
use crate::wait::{MapOutput, Timed};

/// One level held by a guard, in [`RLock::levels`].
pub(crate) const GUARD_LEVEL: u64 = 1;
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
/// **Mutable data.** Guards give shared access (`&T`), since the owner may
/// hold several at once. For the data a Python program keeps under an
/// `RLock`, put a [`RefCell`](std::cell::RefCell) (or `Cell`, or atomics)
/// inside: `RLock<T>` is `Sync` whenever `T` is `Send`, because only the
/// owner can reach the value: a guard checks, each time it is dereferenced,
/// that the caller owns the lock, and panics otherwise (a guard moved to
/// another task or thread cannot be used there). A `RefCell` then reports a
/// nested `borrow_mut` at run time, where a `Mutex` inside would deadlock.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::sync::Arc;
/// use ambisync::RLock;
///
/// # #[tokio::main] async fn main() {
/// // Python: `self.lock = threading.RLock(); self.items = []`
/// let shared = Arc::new(RLock::new(RefCell::new(Vec::new())));
///
/// fn add(shared: &RLock<RefCell<Vec<u32>>>, item: u32) {
///     let guard = shared.lock_blocking(); // re-entered by the caller below
///     guard.borrow_mut().push(item);
/// }
///
/// let task = {
///     let shared = Arc::clone(&shared);
///     tokio::task::spawn_blocking(move || {
///         let outer = shared.lock_blocking();
///         add(&shared, 1);
///         add(&shared, 2);
///         outer.borrow().len()
///     })
/// };
/// assert_eq!(task.await.unwrap(), 2);
/// let guard = shared.lock().await; // a task, holding the guard across .await
/// tokio::task::yield_now().await;
/// assert_eq!(*guard.borrow(), [1, 2]);
/// # }
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

// SAFETY: the value is reached only through `RLock::owned_value` (guards'
// `Deref`, `Debug`), which checks that the caller owns the lock. One caller
// owns it at a time: one thread, or one tokio task, whose polls never overlap
// (the executor orders them). So `&T` is used by one thread at a time, with
// happens-before between owners (the lock's acquire and release), which is
// what `T: Send` allows. `get_mut` and `into_inner` need exclusive access.
unsafe impl<T: Send> Sync for RLock<T> {}

impl<T> Part<RawLock> for RLock<T> {
    fn part(&self) -> &RawLock {
        &self.raw
    }
}

impl<T> Part<RLock<T>> for RLock<T> {
    fn part(&self) -> &RLock<T> {
        self
    }
}

impl<T> RLock<T> {
    crate::wait::const_unless_loom! {
        /// Creates an unlocked reentrant lock holding `value`.
        ///
        /// # Examples
        ///
        /// ```
        /// let lock = ambisync::RLock::new(5);
        /// assert!(!lock.is_locked());
        /// ```
        pub fn new(value: T) -> RLock<T> {
            RLock {
                raw: RawLock::new(),
                owner: AtomicU64::new(NOBODY),
                levels: AtomicU64::new(0),
                value,
            }
        }
    }

    /// Takes the lock, or one more level of it if the caller owns it.
    ///
    /// The owner is the caller when the lock is taken, not when the wait
    /// began: without task identity, a task of a multi-threaded executor may
    /// resume on another thread, which then holds the lock.
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
    /// let lock = ambisync::RLock::new(());
    /// let _a = lock.lock().await;
    /// let _b = lock.lock().await;
    /// assert_eq!(lock.recursion_count(), 2);
    /// # });
    /// ```
    pub fn lock(&self) -> impl Future<Output = RLockGuard<'_, T>> {
        Waiting::new(self.lock_op())
    }

    fn lock_op(&self) -> impl crate::wait::WaitOp<Output = RLockGuard<'_, T>> {
        Map::new(rlock_op(self, GUARD_LEVEL), RLockGuard::adopt)
    }

    fn owned_lock_op(
        self: &Arc<Self>,
    ) -> impl crate::wait::WaitOp<Output = OwnedRLockGuard<T>> + use<T> {
        Map::new(
            rlock_op(Arc::clone(self), GUARD_LEVEL),
            OwnedRLockGuard::adopt,
        )
    }

    /// [`lock`](RLock::lock) for at most `timeout`; `None` if it timed out.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](RLock::lock).
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
    /// let lock = ambisync::RLock::new(());
    /// assert!(lock.lock_timeout(Duration::from_millis(5)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Option<RLockGuard<'_, T>>> {
        Timed::new(self.lock_op(), timeout)
    }

    /// Takes the lock (or one more level) if that needs no waiting.
    ///
    /// # Examples
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
        self.try_take_level(GUARD_LEVEL)
            .then(|| RLockGuard::adopt(self))
    }

    /// [`lock`](RLock::lock), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`lock`](RLock::lock) there): always in debug builds,
    /// when it would have to wait in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RLock::new(());
    /// let _a = lock.lock_blocking();
    /// let _b = lock.lock_blocking();
    /// assert_eq!(lock.recursion_count(), 2);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock_blocking(&self) -> RLockGuard<'_, T> {
        // The first try inlined into the caller's crate, as
        // `Lock::lock_blocking` does; the waiting operation only if it fails.
        debug_assert_may_block("lock_blocking");
        if self.try_take_level_fair(GUARD_LEVEL) {
            return RLockGuard::adopt(self);
        }
        self.lock_blocking_slow()
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_blocking_slow(&self) -> RLockGuard<'_, T> {
        block_on_untimed(self.lock_op(), "lock_blocking")
    }

    /// [`lock_timeout`](RLock::lock_timeout), blocking the thread; needs no
    /// runtime.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](RLock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::RLock::new(());
    /// assert!(lock.lock_timeout_blocking(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn lock_timeout_blocking(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        block_on(
            self.lock_op(),
            deadline_after(timeout),
            "lock_timeout_blocking",
        )
    }

    /// [`lock`](RLock::lock) with a guard that owns an `Arc` of the lock, to
    /// hold in a spawned task.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](RLock::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let lock = Arc::new(ambisync::RLock::new(5));
    /// let task = tokio::spawn({
    ///     let lock = Arc::clone(&lock);
    ///     async move {
    ///         let guard = lock.lock_owned().await;
    ///         tokio::task::yield_now().await;
    ///         *guard
    ///     }
    /// });
    /// assert_eq!(task.await.unwrap(), 5);
    /// # }
    /// ```
    pub fn lock_owned(self: &Arc<Self>) -> impl Future<Output = OwnedRLockGuard<T>> + use<T> {
        Waiting::new(self.owned_lock_op())
    }

    /// [`lock_owned`](RLock::lock_owned) for at most `timeout`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](RLock::lock).
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
    /// let lock = Arc::new(ambisync::RLock::new(()));
    /// assert!(lock.lock_owned_timeout(Duration::from_millis(5)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn lock_owned_timeout(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> impl Future<Output = Option<OwnedRLockGuard<T>>> + use<T> {
        Timed::new(self.owned_lock_op(), timeout)
    }

    /// [`try_lock`](RLock::try_lock) with an owned guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RLock::new(()));
    /// let a = lock.try_lock_owned().unwrap();
    /// let b = lock.try_lock_owned().unwrap(); // re-entry
    /// assert_eq!(lock.recursion_count(), 2);
    /// # drop((a, b));
    /// ```
    pub fn try_lock_owned(self: &Arc<Self>) -> Option<OwnedRLockGuard<T>> {
        self.try_take_level(GUARD_LEVEL)
            .then(|| OwnedRLockGuard::adopt(Arc::clone(self)))
    }

    /// [`lock_blocking`](RLock::lock_blocking) with an owned guard.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](RLock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RLock::new(()));
    /// let guard = lock.lock_owned_blocking();
    /// assert!(lock.is_owned());
    /// # drop(guard);
    /// ```
    #[track_caller]
    pub fn lock_owned_blocking(self: &Arc<Self>) -> OwnedRLockGuard<T> {
        block_on_untimed(self.owned_lock_op(), "lock_owned_blocking")
    }

    /// [`lock_timeout_blocking`](RLock::lock_timeout_blocking) with an owned
    /// guard.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](RLock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let lock = Arc::new(ambisync::RLock::new(()));
    /// assert!(lock.lock_owned_timeout_blocking(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn lock_owned_timeout_blocking(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<OwnedRLockGuard<T>> {
        block_on(
            self.owned_lock_op(),
            deadline_after(timeout),
            "lock_owned_timeout_blocking",
        )
    }

    /// Whether anybody holds the lock.
    ///
    /// # Examples
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
    /// # Examples
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
    /// # Examples
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
    pub(crate) fn count(&self) -> usize {
        let levels = self.levels.load(Ordering::Acquire);
        (levels & GUARD_LEVELS) as usize + (levels / RAW_LEVEL) as usize
    }

    /// How many tasks and threads are waiting to take the lock (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::RLock::new(()).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.raw.waiters_now()
    }

    /// The value, through exclusive access (no locking needed).
    ///
    /// # Examples
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
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::RLock::new(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The value, if the caller owns the lock (see the `Sync` impl).
    pub(crate) fn owned_value(&self) -> Option<&T> {
        (self.owner.load(Ordering::Acquire) == Owner::current().0).then_some(&self.value)
    }

    /// Takes one `level` for the caller without waiting: re-entry if it owns
    /// the lock, else only if the lock is free.
    fn try_take_level(&self, level: u64) -> bool {
        let me = Owner::current();
        if self.owner.load(Ordering::Acquire) == me.0 && self.reenter(me, level) {
            return true;
        }
        let taken = self.raw.try_lock();
        if taken {
            self.adopt(me, level);
        }
        taken
    }

    /// The first try of a waiting call: re-entry if the caller owns the
    /// lock, else the lock if it is free and nobody starves (what the
    /// waiting operation tries first, with one look at who the caller is).
    #[inline]
    fn try_take_level_fair(&self, level: u64) -> bool {
        let me = Owner::current();
        if self.owner.load(Ordering::Acquire) == me.0 && self.reenter(me, level) {
            return true;
        }
        let taken = self.raw.try_lock_fair();
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
    pub(crate) fn adopt(&self, me: Owner, levels: u64) {
        self.owner.store(me.0, Ordering::Relaxed);
        self.levels.store(levels, Ordering::Release);
    }

    /// Gives up one `level`; the last level of the hold frees the lock and
    /// wakes a waiter.
    pub(crate) fn drop_level(&self, level: u64) {
        // Acquire too: a guard dropped on another thread may end the hold,
        // and the next owner must see what the owner wrote under it (found
        // by loom: `rlock_a_guard_dropped_on_another_thread_races_reentry`).
        let before = self.levels.fetch_sub(level, Ordering::AcqRel);
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
    pub(crate) fn unlock_all(&self) -> u64 {
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
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](RLock::lock).
    ///
    /// # Examples
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
    pub fn acquire(&self) -> impl Future<Output = ()> {
        Waiting::new(self.acquire_op())
    }

    fn acquire_op(&self) -> impl crate::wait::WaitOp<Output = ()> {
        Map::new(rlock_op(self, RAW_LEVEL), |_| ())
    }

    /// Acquires one level if that needs no waiting; `true` when it did.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RLock::default();
    /// assert!(lock.try_acquire());
    /// assert!(lock.try_acquire()); // re-entry
    /// assert_eq!(lock.recursion_count(), 2);
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.try_take_level(RAW_LEVEL)
    }

    /// Acquires one level within `timeout`; `true` when it did.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`lock`](RLock::lock).
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
    /// let lock = ambisync::RLock::default();
    /// assert!(lock.acquire_timeout(Duration::from_millis(5)).await);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> impl Future<Output = bool> {
        let acquiring = Timed::new(self.acquire_op(), timeout);
        MapOutput::new(acquiring, |out: Option<()>| out.is_some())
    }

    /// Acquires one level, blocking the thread.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](RLock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RLock::default();
    /// lock.acquire_blocking();
    /// assert!(lock.is_owned());
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire_blocking(&self) {
        // As `lock_blocking`.
        debug_assert_may_block("acquire_blocking");
        if !self.try_take_level_fair(RAW_LEVEL) {
            self.acquire_blocking_slow();
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn acquire_blocking_slow(&self) {
        block_on_untimed(self.acquire_op(), "acquire_blocking");
    }

    /// Acquires one level, blocking the thread for at most `timeout`; `true`
    /// when it did.
    ///
    /// # Panics
    ///
    /// As [`lock_blocking`](RLock::lock_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::RLock::default();
    /// assert!(lock.acquire_timeout_blocking(Duration::from_millis(5)));
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
    /// # Examples
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
        let mut out = f.debug_struct("RLock");
        out.field(
            "owner",
            &Owner::describe(self.owner.load(Ordering::Relaxed)),
        )
        .field("count", &self.count())
        .field("waiters", &self.waiters());
        // The value only for its owner (see the `Sync` impl): a caller that
        // can take a level now.
        match self.try_lock() {
            Some(guard) => out.field("value", &&*guard),
            None => out.field("value", &format_args!("<locked>")),
        };
        out.finish()
    }
}
