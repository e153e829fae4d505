//! [`Lock`]: a mutual-exclusion lock for tasks and threads (Python `threading.Lock`).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use event_listener::Event;

use crate::core::fair::{FairState, FairWaiter};
use crate::core::{CountedIn, WaiterCount, block_until, deadline_after, wait_until};
use crate::error::ReleaseError;

/// Bit 0 of the state: somebody holds the lock.
const LOCKED: usize = 1;
/// Bit 1: a waiter has waited too long; newcomers stop barging until it got in.
const STARVING: usize = 2;
/// The rest of the state counts registered waiters, in units of this.
const WAITER: usize = 4;

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
    state: AtomicUsize,
    event: Event,
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
            state: AtomicUsize::new(0),
            event: Event::new(),
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
        if !self.try_take_fair() {
            let state = LockState(&self.state);
            let mut waiter = FairWaiter::new(&state, &self.event);
            wait_until(&self.event, &CountedIn::<WAITER>(&self.state), || {
                waiter.attempt().then_some(())
            })
            .await;
        }
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
        if self.try_take_fair() {
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
        self.try_take().then(|| self.guard())
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
        crate::core::runtime::debug_assert_may_block(method);
        if self.try_take_fair() || spin_until(|| self.try_take_fair()) {
            return Some(self.guard());
        }
        let state = LockState(&self.state);
        let mut waiter = FairWaiter::new(&state, &self.event);
        block_until(
            &self.event,
            &CountedIn::<WAITER>(&self.state),
            deadline,
            method,
            || waiter.attempt().then_some(()),
        )
        .map(|()| self.guard())
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
        self.try_take()
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
        self.state.load(Ordering::Acquire) & LOCKED != 0
    }

    /// How many tasks and threads are waiting to take the lock (a snapshot).
    ///
    /// ```
    /// assert_eq!(ambisync::Lock::new(()).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.state.load(Ordering::Relaxed) / WAITER
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

    /// Sets the locked bit if it is clear and nobody starves: the first try of
    /// a waiting call, so that newcomers queue behind a starving waiter.
    #[inline]
    fn try_take_fair(&self) -> bool {
        take_if_clear(&self.state, LOCKED | STARVING, 0)
    }

    /// Sets the locked bit if it is clear; waiters' counts are kept. For the
    /// non-waiting `try_` forms, which take a free lock whoever waits.
    #[inline]
    fn try_take(&self) -> bool {
        take_if_clear(&self.state, LOCKED, 0)
    }

    /// Clears the locked bit and wakes a waiter if there is one.
    #[inline]
    fn unlock(&self) {
        // Clear the bit rather than subtract it: on `Lock<()>` a raw
        // `release()` by anybody may already have cleared it (Python lets any
        // caller release a held lock), and subtracting would then underflow
        // into "locked forever, with usize::MAX / 2 waiters".
        //
        // The result is not used, so this is a single `lock and` on x86; the
        // load after it sees any waiter registered before the clear (same
        // location, later in its modification order), and a waiter registered
        // after the clear finds the lock free on its next attempt.
        self.state.fetch_and(!LOCKED, Ordering::Release);
        if self.state.load(Ordering::Relaxed) >= WAITER {
            // Only one waiter can take the lock, so "at least one notified" is
            // exactly right: an already-woken waiter that has not run yet will
            // find the lock free.
            self.event.notify(1);
        }
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
        self.try_take()
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
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                return Err(ReleaseError::NotLocked);
            }
            match self.state.compare_exchange_weak(
                state,
                state & !LOCKED,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        if state >= WAITER {
            self.event.notify(1);
        }
        Ok(())
    }
}

/// Sets `LOCKED` in `state` if none of the `must_be_clear` bits is set, and
/// clears the `also_clear` bits with it. The first try assumes an idle lock.
#[inline]
fn take_if_clear(state: &AtomicUsize, must_be_clear: usize, also_clear: usize) -> bool {
    let mut now = match state.compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed) {
        Ok(_) => return true,
        Err(now) => now,
    };
    while now & must_be_clear == 0 {
        match state.compare_exchange_weak(
            now,
            (now | LOCKED) & !also_clear,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(actual) => now = actual,
        }
    }
    false
}

/// Retries `attempt` a few times with a growing pause before a thread parks:
/// a lock is often held for less time than parking and waking take.
fn spin_until(mut attempt: impl FnMut() -> bool) -> bool {
    for round in 0..4 {
        for _ in 0..(2 << round) {
            std::hint::spin_loop();
        }
        if attempt() {
            return true;
        }
    }
    false
}

/// The lock's state word under the fairness protocol: the unit is the lock.
struct LockState<'a>(&'a AtomicUsize);

impl FairState for LockState<'_> {
    fn take_fair(&self) -> bool {
        take_if_clear(self.0, LOCKED | STARVING, 0)
    }
    fn take_starving(&self) -> bool {
        take_if_clear(self.0, LOCKED, STARVING)
    }
    fn claim_starving(&self) -> bool {
        self.0.fetch_or(STARVING, Ordering::AcqRel) & STARVING == 0
    }
    fn unclaim_starving(&self) -> bool {
        let before = self.0.fetch_and(!STARVING, Ordering::AcqRel);
        before & LOCKED == 0 && before >= WAITER
    }
    fn reserved_and_free(&self) -> bool {
        self.0.load(Ordering::Acquire) & (LOCKED | STARVING) == STARVING
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
        let state = self.state.load(Ordering::Relaxed);
        let mut out = f.debug_struct("Lock");
        out.field("locked", &(state & LOCKED != 0))
            .field("waiters", &(state / WAITER));
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
        self.lock.unlock();
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
        self.lock.unlock();
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
    fn try_relock(&self) -> Option<Self::Guard> {
        self.0.try_lock()
    }
    fn event(&self) -> &Event {
        &self.0.event
    }
    fn register(&self) {
        CountedIn::<WAITER>(&self.0.state).register();
    }
    fn unregister(&self) {
        CountedIn::<WAITER>(&self.0.state).unregister();
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
    fn try_relock(&self) -> Option<Self::Guard> {
        self.0.try_lock_owned()
    }
    fn event(&self) -> &Event {
        &self.0.event
    }
    fn register(&self) {
        CountedIn::<WAITER>(&self.0.state).register();
    }
    fn unregister(&self) {
        CountedIn::<WAITER>(&self.0.state).unregister();
    }
}
