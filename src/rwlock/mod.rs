//! [`RwLock`]: a reader-writer lock for tasks and threads (tokio's and
//! async-lock's `RwLock`, Java's `ReentrantReadWriteLock`), with upgradable
//! reads and owned guards.

mod guard;
mod op;
mod owned;
mod raw;
mod upgrade;

use std::cell::UnsafeCell;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

pub use guard::{
    RwLockMappedWriteGuard, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use op::{AsRawRwLock, RwOp};
pub use owned::{
    OwnedRwLockMappedWriteGuard, OwnedRwLockReadGuard, OwnedRwLockUpgradableReadGuard,
    OwnedRwLockWriteGuard,
};
use raw::{Access, RawRwLock};

#[cfg(feature = "tokio")]
use crate::wait::Timed;
use crate::wait::{Map, WaitOp, Waiting, block_on, block_on_untimed, deadline_after};

/// A reader-writer lock that async tasks and OS threads share: many readers
/// at once, or one writer.
///
/// [`read`](RwLock::read) gives shared access, [`write`](RwLock::write)
/// exclusive access, and [`upgradable_read`](RwLock::upgradable_read) shared
/// access that excludes writers and other upgradable readers and can be
/// [upgraded](RwLockUpgradableReadGuard::upgrade) to the write access
/// without letting a writer in between (check, then change). Each comes in
/// the five forms of the crate (`read().await`, `read_timeout(d).await`,
/// `try_read()`, `read_blocking()`, `read_timeout_blocking(d)`) and with
/// owned guards (`read_owned()`...) that hold an `Arc` of the lock.
/// Write guards [`map`](RwLockWriteGuard::map) to a part of the value, and
/// so do read guards; write guards
/// [downgrade](RwLockWriteGuard::downgrade) to read guards.
///
/// # Fairness: writer-preferring
///
/// Like async-lock's `RwLock` (and unlike tokio's first-come-first-served
/// one): **a waiting writer holds new readers back**, so the readers inside
/// drain out and **a stream of readers never starves a writer**. Waiting
/// writers (and upgradable readers, which wait with them) are woken oldest
/// first, one per release; a running writer may take the lock ahead of a
/// woken one, which then waits for the next release. Readers held back are
/// woken all at once when no writer holds or waits. Readers can therefore
/// wait behind a steady stream of writers: the lock is made for read-mostly
/// data. With nobody waiting, taking and releasing are one atomic operation
/// each.
///
/// A waiting future holds nothing: it is only counted, and looks at the
/// lock again every time it is polled. So a future that was woken but is
/// not polled (say, the other branch of a `select!` won, or the task awaits
/// another future first) never keeps the others out, and two pending
/// `write()` futures awaited in the reverse order do not hang
/// (async-lock#91). A writer woken and then dropped passes its wake-up to
/// the next writer and stops holding readers back.
///
/// Why not tokio's policy, and the numbers: `BENCHMARKS.md` (read-mostly, 8
/// tasks on 2 workers: 0.90× async-lock's time and 0.28× tokio's, medians of
/// ten passes).
///
/// A task or thread that holds a read guard and asks for another may wait
/// forever if a writer started waiting in between (it waits for the first
/// guard to go): do not take the lock again while holding it.
///
/// There is no poisoning: a panic while holding a guard releases it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ambisync::RwLock;
///
/// # futures::executor::block_on(async {
/// let config = Arc::new(RwLock::new(String::from("v1")));
/// let writer = Arc::clone(&config);
/// std::thread::spawn(move || *writer.write_blocking() = "v2".into())
///     .join()
///     .unwrap();
/// let a = config.read().await;
/// let b = config.read().await; // readers share the lock
/// assert_eq!((a.as_str(), b.as_str()), ("v2", "v2"));
/// # });
/// ```
pub struct RwLock<T> {
    raw: RawRwLock,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one writer at a time, and `&T` to
// readers on any thread at once: it may move between threads when the value
// may, and be shared when the value may also be shared (the bounds of
// `std::sync::RwLock`). Tested by `tests/rwlock.rs`, which reads and writes
// through guards from tasks and threads at once.
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: see above.
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

impl<T> AsRawRwLock for RwLock<T> {
    fn raw_rwlock(&self) -> &RawRwLock {
        &self.raw
    }
}

impl<T> RwLock<T> {
    /// Creates an unlocked lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(5);
    /// assert!(!lock.is_locked());
    /// ```
    #[cfg(not(ambisync_loom))]
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Creates an unlocked lock holding `value` (loom's atomics have no
    /// `const` constructor).
    #[cfg(ambisync_loom)]
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// A pointer to the value, for the guards.
    fn data(&self) -> NonNull<T> {
        NonNull::new(self.value.get()).expect("a cell's pointer is never null")
    }

    fn op(&self, access: Access) -> RwOp<&Self> {
        RwOp::new(self, access)
    }

    fn owned_op(self: &Arc<Self>, access: Access) -> RwOp<Arc<Self>> {
        RwOp::new(Arc::clone(self), access)
    }

    fn read_op(&self) -> impl WaitOp<Output = RwLockReadGuard<'_, T>> {
        Map::new(self.op(Access::Read), RwLock::read_guard)
    }

    fn write_op(&self) -> impl WaitOp<Output = RwLockWriteGuard<'_, T>> {
        Map::new(self.op(Access::Write), RwLock::write_guard)
    }

    fn upgradable_op(&self) -> impl WaitOp<Output = RwLockUpgradableReadGuard<'_, T>> {
        Map::new(self.op(Access::Upgradable), RwLock::upgradable_guard)
    }

    fn owned_read_op(self: &Arc<Self>) -> impl WaitOp<Output = OwnedRwLockReadGuard<T>> + use<T> {
        Map::new(self.owned_op(Access::Read), OwnedRwLockReadGuard::adopt)
    }

    fn owned_write_op(self: &Arc<Self>) -> impl WaitOp<Output = OwnedRwLockWriteGuard<T>> + use<T> {
        Map::new(self.owned_op(Access::Write), OwnedRwLockWriteGuard::adopt)
    }

    fn owned_upgradable_op(
        self: &Arc<Self>,
    ) -> impl WaitOp<Output = OwnedRwLockUpgradableReadGuard<T>> + use<T> {
        Map::new(
            self.owned_op(Access::Upgradable),
            OwnedRwLockUpgradableReadGuard::adopt,
        )
    }

    /// Takes a read access, shared with other readers, waiting as long as it
    /// takes: until no writer holds the lock, waits for it, or is upgrading
    /// to it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. A waiting future holds nothing: dropped, it leaves the
    /// line, stops holding readers back (a writer), and passes a wake-up it
    /// had received on to the next writer.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lock = ambisync::RwLock::new(1);
    /// let a = lock.read().await;
    /// let b = lock.read().await; // readers share the lock
    /// assert_eq!(*a + *b, 2);
    /// # });
    /// ```
    pub fn read(&self) -> impl Future<Output = RwLockReadGuard<'_, T>> {
        Waiting::new(self.read_op())
    }

    /// [`read`](RwLock::read) that gives up after `timeout` and returns `None`.
    /// The time starts at the first poll.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`read`](RwLock::read). So is the timeout itself.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use std::time::Duration;
    /// let lock = ambisync::RwLock::new(0);
    /// let blocker = lock.write().await;
    /// assert!(lock.read_timeout(Duration::from_millis(5)).await.is_none());
    /// drop(blocker);
    /// assert!(lock.read_timeout(Duration::from_millis(5)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn read_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Option<RwLockReadGuard<'_, T>>> {
        Timed::new(self.read_op(), timeout)
    }

    /// Takes a read access if no writer holds the lock or waits for it (nor
    /// an upgrade), without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(0);
    /// let reader = lock.try_read().unwrap();
    /// assert!(lock.try_read().is_some());
    /// assert!(lock.try_write().is_none());
    /// drop(reader);
    /// ```
    #[inline]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.raw.try_enter(Access::Read).then(|| self.read_guard())
    }

    /// [`read`](RwLock::read), blocking the thread as long as it takes.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`read`](RwLock::read) there): always in debug builds, when
    /// it would have to wait in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(3);
    /// assert_eq!(*lock.read_blocking(), 3);
    /// ```
    #[track_caller]
    pub fn read_blocking(&self) -> RwLockReadGuard<'_, T> {
        block_on_untimed(self.read_op(), "read_blocking")
    }

    /// [`read`](RwLock::read), blocking the thread for at most `timeout`; needs
    /// no runtime. A `timeout` too large to represent waits as long as it
    /// takes.
    ///
    /// # Panics
    ///
    /// As [`read_blocking`](RwLock::read_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::RwLock::new(0);
    /// let blocker = lock.write_blocking();
    /// assert!(lock.read_timeout_blocking(Duration::from_millis(5)).is_none());
    /// drop(blocker);
    /// assert!(lock.read_timeout_blocking(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn read_timeout_blocking(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        block_on(
            self.read_op(),
            deadline_after(timeout),
            "read_timeout_blocking",
        )
    }

    /// Takes the write access, exclusive of everybody, waiting as long as it
    /// takes: until nobody holds the lock. While it waits, new readers wait
    /// behind it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. A waiting future holds nothing: dropped, it leaves the
    /// line, stops holding readers back (a writer), and passes a wake-up it
    /// had received on to the next writer.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lock = ambisync::RwLock::new(1);
    /// *lock.write().await += 1;
    /// assert_eq!(*lock.read().await, 2);
    /// # });
    /// ```
    pub fn write(&self) -> impl Future<Output = RwLockWriteGuard<'_, T>> {
        Waiting::new(self.write_op())
    }

    /// [`write`](RwLock::write) that gives up after `timeout` and returns `None`.
    /// The time starts at the first poll.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`write`](RwLock::write). So is the timeout itself.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use std::time::Duration;
    /// let lock = ambisync::RwLock::new(0);
    /// let blocker = lock.read().await;
    /// assert!(lock.write_timeout(Duration::from_millis(5)).await.is_none());
    /// drop(blocker);
    /// assert!(lock.write_timeout(Duration::from_millis(5)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn write_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Option<RwLockWriteGuard<'_, T>>> {
        Timed::new(self.write_op(), timeout)
    }

    /// Takes the write access if nobody holds the lock and no other writer
    /// or upgradable reader waits for it, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(0);
    /// let reader = lock.read_blocking();
    /// assert!(lock.try_write().is_none());
    /// drop(reader);
    /// *lock.try_write().unwrap() = 1;
    /// ```
    #[inline]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.raw
            .try_enter(Access::Write)
            .then(|| self.write_guard())
    }

    /// [`write`](RwLock::write), blocking the thread as long as it takes.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`write`](RwLock::write) there): always in debug builds, when
    /// it would have to wait in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(String::new());
    /// lock.write_blocking().push('a');
    /// assert_eq!(*lock.read_blocking(), "a");
    /// ```
    #[track_caller]
    pub fn write_blocking(&self) -> RwLockWriteGuard<'_, T> {
        block_on_untimed(self.write_op(), "write_blocking")
    }

    /// [`write`](RwLock::write), blocking the thread for at most `timeout`; needs
    /// no runtime. A `timeout` too large to represent waits as long as it
    /// takes.
    ///
    /// # Panics
    ///
    /// As [`write_blocking`](RwLock::write_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::RwLock::new(0);
    /// let blocker = lock.read_blocking();
    /// assert!(lock.write_timeout_blocking(Duration::from_millis(5)).is_none());
    /// drop(blocker);
    /// assert!(lock.write_timeout_blocking(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn write_timeout_blocking(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        block_on(
            self.write_op(),
            deadline_after(timeout),
            "write_timeout_blocking",
        )
    }

    /// Takes an upgradable read access, waiting as long as it takes: shared with
    /// plain readers, exclusive of writers and of other upgradable readers, and
    /// [upgradable](RwLockUpgradableReadGuard::upgrade) to the write access
    /// without letting a writer in between.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. A waiting future holds nothing: dropped, it leaves the
    /// line, stops holding readers back (a writer), and passes a wake-up it
    /// had received on to the next writer.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use ambisync::RwLockUpgradableReadGuard;
    /// let lock = ambisync::RwLock::new(0);
    /// let guard = lock.upgradable_read().await;
    /// assert!(lock.try_read().is_some()); // plain readers still enter
    /// if *guard == 0 {
    ///     *RwLockUpgradableReadGuard::upgrade(guard).await = 1;
    /// }
    /// assert_eq!(*lock.read().await, 1);
    /// # });
    /// ```
    pub fn upgradable_read(&self) -> impl Future<Output = RwLockUpgradableReadGuard<'_, T>> {
        Waiting::new(self.upgradable_op())
    }

    /// [`upgradable_read`](RwLock::upgradable_read) that gives up after `timeout` and returns `None`.
    /// The time starts at the first poll.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`upgradable_read`](RwLock::upgradable_read). So is the timeout itself.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use std::time::Duration;
    /// let lock = ambisync::RwLock::new(0);
    /// let blocker = lock.upgradable_read().await;
    /// assert!(lock.upgradable_read_timeout(Duration::from_millis(5)).await.is_none());
    /// drop(blocker);
    /// assert!(lock.upgradable_read_timeout(Duration::from_millis(5)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn upgradable_read_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Option<RwLockUpgradableReadGuard<'_, T>>> {
        Timed::new(self.upgradable_op(), timeout)
    }

    /// Takes an upgradable read access if no writer or other upgradable reader
    /// holds the lock or waits for it, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(0);
    /// let guard = lock.try_upgradable_read().unwrap();
    /// assert!(lock.try_upgradable_read().is_none());
    /// assert!(lock.try_read().is_some());
    /// drop(guard);
    /// ```
    #[inline]
    pub fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        self.raw
            .try_enter(Access::Upgradable)
            .then(|| self.upgradable_guard())
    }

    /// [`upgradable_read`](RwLock::upgradable_read), blocking the thread as long as it takes.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`upgradable_read`](RwLock::upgradable_read) there): always in debug builds, when
    /// it would have to wait in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(3);
    /// assert_eq!(*lock.upgradable_read_blocking(), 3);
    /// ```
    #[track_caller]
    pub fn upgradable_read_blocking(&self) -> RwLockUpgradableReadGuard<'_, T> {
        block_on_untimed(self.upgradable_op(), "upgradable_read_blocking")
    }

    /// [`upgradable_read`](RwLock::upgradable_read), blocking the thread for at most `timeout`; needs
    /// no runtime. A `timeout` too large to represent waits as long as it
    /// takes.
    ///
    /// # Panics
    ///
    /// As [`upgradable_read_blocking`](RwLock::upgradable_read_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = ambisync::RwLock::new(0);
    /// let blocker = lock.upgradable_read_blocking();
    /// assert!(lock.upgradable_read_timeout_blocking(Duration::from_millis(5)).is_none());
    /// drop(blocker);
    /// assert!(lock.upgradable_read_timeout_blocking(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn upgradable_read_timeout_blocking(
        &self,
        timeout: Duration,
    ) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        block_on(
            self.upgradable_op(),
            deadline_after(timeout),
            "upgradable_read_timeout_blocking",
        )
    }

    // ---- owned guards ----

    /// [`read`](RwLock::read) with a guard that owns an `Arc` of the lock, so
    /// that it can move into a spawned task or a thread.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`read`](RwLock::read).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(1));
    /// let guard = lock.read_owned().await;
    /// std::thread::spawn(move || assert_eq!(*guard, 1)).join().unwrap();
    /// # });
    /// ```
    pub fn read_owned(self: &Arc<Self>) -> impl Future<Output = OwnedRwLockReadGuard<T>> + use<T> {
        Waiting::new(self.owned_read_op())
    }

    /// [`read_timeout`](RwLock::read_timeout) with an owned guard.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`read`](RwLock::read).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use std::{sync::Arc, time::Duration};
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let blocker = lock.write().await;
    /// assert!(lock.read_owned_timeout(Duration::from_millis(5)).await.is_none());
    /// drop(blocker);
    /// assert!(lock.read_owned_timeout(Duration::from_millis(5)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn read_owned_timeout(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> impl Future<Output = Option<OwnedRwLockReadGuard<T>>> + use<T> {
        Timed::new(self.owned_read_op(), timeout)
    }

    /// [`try_read`](RwLock::try_read) with an owned guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let blocker = lock.write_blocking();
    /// assert!(lock.try_read_owned().is_none());
    /// drop(blocker);
    /// assert!(lock.try_read_owned().is_some());
    /// ```
    pub fn try_read_owned(self: &Arc<Self>) -> Option<OwnedRwLockReadGuard<T>> {
        self.raw
            .try_enter(Access::Read)
            .then(|| OwnedRwLockReadGuard::adopt(Arc::clone(self)))
    }

    /// [`read_blocking`](RwLock::read_blocking) with an owned guard.
    ///
    /// # Panics
    ///
    /// As [`read_blocking`](RwLock::read_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(2));
    /// assert_eq!(*lock.read_owned_blocking(), 2);
    /// ```
    #[track_caller]
    pub fn read_owned_blocking(self: &Arc<Self>) -> OwnedRwLockReadGuard<T> {
        block_on_untimed(self.owned_read_op(), "read_owned_blocking")
    }

    /// [`read_timeout_blocking`](RwLock::read_timeout_blocking) with an owned
    /// guard.
    ///
    /// # Panics
    ///
    /// As [`read_blocking`](RwLock::read_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let blocker = lock.write_blocking();
    /// assert!(lock.read_owned_timeout_blocking(Duration::from_millis(5)).is_none());
    /// drop(blocker);
    /// assert!(lock.read_owned_timeout_blocking(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn read_owned_timeout_blocking(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<OwnedRwLockReadGuard<T>> {
        block_on(
            self.owned_read_op(),
            deadline_after(timeout),
            "read_owned_timeout_blocking",
        )
    }

    /// [`write`](RwLock::write) with a guard that owns an `Arc` of the lock, so
    /// that it can move into a spawned task or a thread.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`write`](RwLock::write).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let mut guard = lock.write_owned().await;
    /// std::thread::spawn(move || *guard += 1).join().unwrap();
    /// assert_eq!(*lock.read().await, 1);
    /// # });
    /// ```
    pub fn write_owned(
        self: &Arc<Self>,
    ) -> impl Future<Output = OwnedRwLockWriteGuard<T>> + use<T> {
        Waiting::new(self.owned_write_op())
    }

    /// [`write_timeout`](RwLock::write_timeout) with an owned guard.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`write`](RwLock::write).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use std::{sync::Arc, time::Duration};
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let blocker = lock.read().await;
    /// assert!(lock.write_owned_timeout(Duration::from_millis(5)).await.is_none());
    /// drop(blocker);
    /// assert!(lock.write_owned_timeout(Duration::from_millis(5)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn write_owned_timeout(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> impl Future<Output = Option<OwnedRwLockWriteGuard<T>>> + use<T> {
        Timed::new(self.owned_write_op(), timeout)
    }

    /// [`try_write`](RwLock::try_write) with an owned guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let blocker = lock.read_blocking();
    /// assert!(lock.try_write_owned().is_none());
    /// drop(blocker);
    /// assert!(lock.try_write_owned().is_some());
    /// ```
    pub fn try_write_owned(self: &Arc<Self>) -> Option<OwnedRwLockWriteGuard<T>> {
        self.raw
            .try_enter(Access::Write)
            .then(|| OwnedRwLockWriteGuard::adopt(Arc::clone(self)))
    }

    /// [`write_blocking`](RwLock::write_blocking) with an owned guard.
    ///
    /// # Panics
    ///
    /// As [`write_blocking`](RwLock::write_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// *lock.write_owned_blocking() += 5;
    /// assert_eq!(*lock.read_blocking(), 5);
    /// ```
    #[track_caller]
    pub fn write_owned_blocking(self: &Arc<Self>) -> OwnedRwLockWriteGuard<T> {
        block_on_untimed(self.owned_write_op(), "write_owned_blocking")
    }

    /// [`write_timeout_blocking`](RwLock::write_timeout_blocking) with an owned
    /// guard.
    ///
    /// # Panics
    ///
    /// As [`write_blocking`](RwLock::write_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let blocker = lock.read_blocking();
    /// assert!(lock.write_owned_timeout_blocking(Duration::from_millis(5)).is_none());
    /// drop(blocker);
    /// assert!(lock.write_owned_timeout_blocking(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn write_owned_timeout_blocking(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<OwnedRwLockWriteGuard<T>> {
        block_on(
            self.owned_write_op(),
            deadline_after(timeout),
            "write_owned_timeout_blocking",
        )
    }

    /// [`upgradable_read`](RwLock::upgradable_read) with a guard that owns an `Arc` of the lock, so
    /// that it can move into a spawned task or a thread.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`upgradable_read`](RwLock::upgradable_read).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::sync::Arc;
    /// use ambisync::OwnedRwLockUpgradableReadGuard;
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let guard = lock.upgradable_read_owned().await;
    /// let writer = std::thread::spawn(move || OwnedRwLockUpgradableReadGuard::upgrade_blocking(guard));
    /// *writer.join().unwrap() += 1;
    /// assert_eq!(*lock.read().await, 1);
    /// # });
    /// ```
    pub fn upgradable_read_owned(
        self: &Arc<Self>,
    ) -> impl Future<Output = OwnedRwLockUpgradableReadGuard<T>> + use<T> {
        Waiting::new(self.owned_upgradable_op())
    }

    /// [`upgradable_read_timeout`](RwLock::upgradable_read_timeout) with an owned guard.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`upgradable_read`](RwLock::upgradable_read).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use std::{sync::Arc, time::Duration};
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let blocker = lock.upgradable_read().await;
    /// assert!(lock.upgradable_read_owned_timeout(Duration::from_millis(5)).await.is_none());
    /// drop(blocker);
    /// assert!(lock.upgradable_read_owned_timeout(Duration::from_millis(5)).await.is_some());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn upgradable_read_owned_timeout(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> impl Future<Output = Option<OwnedRwLockUpgradableReadGuard<T>>> + use<T> {
        Timed::new(self.owned_upgradable_op(), timeout)
    }

    /// [`try_upgradable_read`](RwLock::try_upgradable_read) with an owned guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let blocker = lock.upgradable_read_blocking();
    /// assert!(lock.try_upgradable_read_owned().is_none());
    /// drop(blocker);
    /// assert!(lock.try_upgradable_read_owned().is_some());
    /// ```
    pub fn try_upgradable_read_owned(
        self: &Arc<Self>,
    ) -> Option<OwnedRwLockUpgradableReadGuard<T>> {
        self.raw
            .try_enter(Access::Upgradable)
            .then(|| OwnedRwLockUpgradableReadGuard::adopt(Arc::clone(self)))
    }

    /// [`upgradable_read_blocking`](RwLock::upgradable_read_blocking) with an owned guard.
    ///
    /// # Panics
    ///
    /// As [`upgradable_read_blocking`](RwLock::upgradable_read_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(2));
    /// assert_eq!(*lock.upgradable_read_owned_blocking(), 2);
    /// ```
    #[track_caller]
    pub fn upgradable_read_owned_blocking(self: &Arc<Self>) -> OwnedRwLockUpgradableReadGuard<T> {
        block_on_untimed(self.owned_upgradable_op(), "upgradable_read_owned_blocking")
    }

    /// [`upgradable_read_timeout_blocking`](RwLock::upgradable_read_timeout_blocking) with an owned
    /// guard.
    ///
    /// # Panics
    ///
    /// As [`upgradable_read_blocking`](RwLock::upgradable_read_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let lock = Arc::new(ambisync::RwLock::new(0));
    /// let blocker = lock.upgradable_read_blocking();
    /// assert!(lock.upgradable_read_owned_timeout_blocking(Duration::from_millis(5)).is_none());
    /// drop(blocker);
    /// assert!(lock.upgradable_read_owned_timeout_blocking(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn upgradable_read_owned_timeout_blocking(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<OwnedRwLockUpgradableReadGuard<T>> {
        block_on(
            self.owned_upgradable_op(),
            deadline_after(timeout),
            "upgradable_read_owned_timeout_blocking",
        )
    }

    /// Whether anybody holds the lock right now (a reader or the writer).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(());
    /// let reader = lock.try_read();
    /// assert!(lock.is_locked());
    /// # drop(reader);
    /// ```
    pub fn is_locked(&self) -> bool {
        let now = self.raw.snapshot();
        now.writer || now.readers > 0
    }

    /// Whether a writer holds the lock right now.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(());
    /// let writer = lock.try_write();
    /// assert!(lock.is_write_locked());
    /// # drop(writer);
    /// ```
    pub fn is_write_locked(&self) -> bool {
        self.raw.snapshot().writer
    }

    /// How many readers (upgradable ones included) hold the lock right now.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(());
    /// let (_a, _b) = (lock.read_blocking(), lock.upgradable_read_blocking());
    /// assert_eq!(lock.readers(), 2);
    /// ```
    pub fn readers(&self) -> usize {
        self.raw.snapshot().readers
    }

    /// How many tasks and threads are waiting for the lock, an upgrade
    /// included (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::RwLock::new(()).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.raw.snapshot().waiters
    }

    /// The value, through exclusive access to the lock (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = ambisync::RwLock::new(1);
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
    /// assert_eq!(ambisync::RwLock::new("x").into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = self.raw.snapshot();
        let mut out = f.debug_struct("RwLock");
        out.field("readers", &now.readers)
            .field("writer", &now.writer)
            .field("upgradable", &now.upgradable)
            .field("waiters", &now.waiters);
        // Never waits: the value only if a read access is free right now.
        match self.try_read() {
            Some(guard) => out.field("value", &&*guard),
            None => out.field("value", &format_args!("<locked>")),
        };
        out.finish()
    }
}
