//! The reader-writer lock without its value: a state word (readers, the
//! writer, the pending writer), the writers' lock, and two lines: readers
//! held back by a writer, and the writer (or upgrading reader) waiting for
//! the readers to leave.
//!
//! # Policy: writer-preferring, eventually fair among writers
//!
//! - **Writers take turns through a [`RawLock`]**, the one under `Lock`:
//!   a running writer may take a just-released turn ahead of a woken one
//!   (fast under contention), and a writer that has waited more than half a
//!   millisecond reserves the next turn. Upgradable readers take the same
//!   lock, which is what keeps them exclusive of writers and of each other.
//! - **The writer whose turn it is sets `PENDING`**: from then on no new
//!   reader enters, so the readers inside drain out and **a stream of
//!   readers never starves a writer**. It then waits in the `drain` line
//!   (one waiter at most: the holder of the writers' lock) until the last
//!   reader leaves, and becomes the writer.
//! - **Readers enter with one compare-and-swap** unless a writer holds the
//!   lock or is pending; then they wait in the `readers` line, all woken at
//!   once when the writer leaves (or gives up its turn).
//! - Both waiting stages spin for a moment before they sleep: the holders
//!   of a lock used this way are often gone within a few hundred
//!   nanoseconds, and a wake-up costs more.
//!
//! Cancellation: a pending writer that gives up (dropped, timed out) clears
//! `PENDING`, wakes the readers it held back and hands the writers' lock
//! on; a reader or writer woken and then dropped takes nothing with it (a
//! woken reader only retries; the writers' lock passes its wake-ups on).
//!
//! Why not first come, first served with hand-off (tokio's policy), which
//! was tried first: handing the lock to the run of readers behind a writer
//! makes the next writer wait for those readers to be scheduled, and every
//! newcomer queue behind that writer; on a read-mostly load with more tasks
//! than workers the line never empties and every operation pays a wake-up
//! (see `BENCHMARKS.md`).

use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use crate::lock::raw::{RawLock, RawLockWait};
use crate::wait::sync::AtomicU64;
use crate::wait::{LazyList, PassOn, Retry, Wakeup};

/// Bit 0: a writer holds the lock.
const WRITER: u64 = 1;
/// Bit 1: the holder of the writers' lock waits for the readers to leave
/// (to write, or to upgrade): no new readers.
const PENDING: u64 = 2;
/// Bit 2: an upgradable reader holds the lock (it counts as a reader too).
const UPGRADABLE: u64 = 4;
/// The bits above count the readers holding the lock.
const READER: u64 = 8;
/// The most readers at once.
const MAX_READERS: u64 = u64::MAX / READER - 1;

/// What a caller wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Upgradable,
    Write,
}

/// A snapshot of the state, for `Debug` and the accessors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    pub(crate) readers: usize,
    pub(crate) writer: bool,
    pub(crate) upgradable: bool,
    pub(crate) waiters: usize,
}

pub(crate) struct RawRwLock {
    state: AtomicU64,
    /// Held by the writer, the pending writer and the upgradable reader.
    writers: RawLock,
    /// Readers held back by a writer.
    readers: LazyList,
    /// The holder of the writers' lock, waiting for the readers to leave.
    drain: LazyList,
}

impl RawRwLock {
    #[cfg(not(ambisync_loom))]
    pub(crate) const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicU64::new(0),
            writers: RawLock::new(),
            readers: LazyList::new(),
            drain: LazyList::new(),
        }
    }

    /// loom's atomics have no `const` constructor.
    #[cfg(ambisync_loom)]
    pub(crate) fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicU64::new(0),
            writers: RawLock::new(),
            readers: LazyList::new(),
            drain: LazyList::new(),
        }
    }

    /// Takes `access` if it is free now, without waiting.
    #[inline]
    pub(crate) fn try_enter(&self, access: Access) -> bool {
        match access {
            Access::Read => self.try_read(),
            Access::Upgradable => self.try_upgradable(),
            Access::Write => self.try_write(),
        }
    }

    /// Takes a read access unless a writer holds the lock or is pending.
    #[inline]
    fn try_read(&self) -> bool {
        // `SeqCst`: after a waiter joined the readers' line, this look and
        // the releaser's look at the line cannot both miss (see
        // `WaitList::anybody_waiting`).
        let mut state = self.state.load(Ordering::SeqCst);
        while state & (WRITER | PENDING) == 0 {
            assert!(state / READER < MAX_READERS, "too many RwLock readers");
            match self.state.compare_exchange_weak(
                state,
                state + READER,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    /// Takes the write access if nobody holds the lock.
    fn try_write(&self) -> bool {
        if !self.writers.try_lock() {
            return false;
        }
        if self
            .state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.try_become_writer()
        {
            return true;
        }
        self.writers.unlock();
        false
    }

    /// Takes an upgradable read access if no writer or upgradable reader
    /// holds the lock.
    fn try_upgradable(&self) -> bool {
        if !self.writers.try_lock() {
            return false;
        }
        self.add_upgradable();
        true
    }

    /// With the writers' lock held: counts the caller in as the upgradable
    /// reader (no writer can hold the lock, nor be pending).
    fn add_upgradable(&self) {
        let before = self.state.fetch_add(READER + UPGRADABLE, Ordering::Acquire);
        debug_assert!(before & (WRITER | PENDING | UPGRADABLE) == 0);
        assert!(before / READER < MAX_READERS, "too many RwLock readers");
    }

    /// With the writers' lock held: becomes the writer if no reader is left
    /// (clearing `PENDING`).
    #[inline]
    fn try_become_writer(&self) -> bool {
        let mut state = self.state.load(Ordering::SeqCst);
        while state / READER == 0 {
            match self.state.compare_exchange_weak(
                state,
                WRITER,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    /// Turns the caller's upgradable read access into the write access if
    /// it is the only reader left (clearing `PENDING`).
    #[inline]
    pub(crate) fn try_upgrade(&self) -> bool {
        let mut state = self.state.load(Ordering::SeqCst);
        while state / READER == 1 {
            debug_assert!(state & UPGRADABLE != 0, "upgrading without the access");
            match self.state.compare_exchange_weak(
                state,
                WRITER,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    /// With the writers' lock held: no new readers from now on.
    fn set_pending(&self) {
        self.state.fetch_or(PENDING, Ordering::SeqCst);
    }

    /// The holder of the writers' lock stopped waiting for the readers:
    /// readers may enter again, and those held back are woken.
    fn clear_pending(&self) {
        self.state.fetch_and(!PENDING, Ordering::SeqCst);
        self.wake_readers();
    }

    fn wake_readers(&self) {
        if let Some(list) = self.readers.get() {
            if list.anybody_waiting() {
                list.wake_all();
            }
        }
    }

    /// Gives back a read access.
    #[inline]
    pub(crate) fn unlock_read(&self) {
        let after = self.state.fetch_sub(READER, Ordering::SeqCst) - READER;
        // The last reader but the upgrading one lets the upgrade go on, the
        // last one the pending writer (a spurious wake-up for a writer when
        // one reader is left is harmless: it looks and waits again).
        if after & PENDING != 0 && after / READER <= 1 {
            self.wake_drain();
        }
    }

    #[cold]
    fn wake_drain(&self) {
        if let Some(list) = self.drain.get() {
            if list.anybody_waiting() {
                list.notify(1);
            }
        }
    }

    /// Gives back an upgradable read access.
    #[inline]
    pub(crate) fn unlock_upgradable(&self) {
        self.state.fetch_sub(READER + UPGRADABLE, Ordering::Release);
        self.writers.unlock();
    }

    /// Gives back the write access.
    #[inline]
    pub(crate) fn unlock_write(&self) {
        self.state.fetch_and(!WRITER, Ordering::SeqCst);
        self.wake_readers();
        self.writers.unlock();
    }

    /// Turns the write access into `to` (read or upgradable) without letting
    /// any writer in between; readers held back enter with it.
    pub(crate) fn downgrade_write(&self, to: Access) {
        let gain = match to {
            Access::Read => READER,
            Access::Upgradable => READER + UPGRADABLE,
            Access::Write => unreachable!("a downgrade to the write access"),
        };
        self.state.fetch_add(gain - WRITER, Ordering::SeqCst);
        self.wake_readers();
        if to == Access::Read {
            self.writers.unlock();
        }
    }

    /// Turns the upgradable read access into a plain read access: writers
    /// and upgradable readers may take their turn.
    pub(crate) fn downgrade_upgradable(&self) {
        self.state.fetch_sub(UPGRADABLE, Ordering::Release);
        self.writers.unlock();
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = self.state.load(Ordering::Acquire);
        Snapshot {
            readers: (state / READER) as usize,
            writer: state & WRITER != 0,
            upgradable: state & UPGRADABLE != 0,
            waiters: self.readers.len() + self.writers.waiters_now() + self.drain.len(),
        }
    }
}

/// One call waiting for `access` to a [`RawRwLock`], handed the lock on
/// every step (so that an owned guard's future can hold the lock's `Arc`).
///
/// - A reader: try, join the `readers` line, try again, wait for the
///   writer to leave, repeat.
/// - An upgradable reader: take the writers' lock, then count itself in.
/// - A writer: take the writers' lock, set `PENDING`, then wait in the
///   `drain` line until the last reader leaves.
pub(crate) struct RwWait {
    access: Access,
    /// A reader's wait for the writer, or a writer's wait for the readers.
    retry: Retry,
    /// Whether a reader looked yet, or a writer set `PENDING` yet.
    started: bool,
    /// The writers' lock (writers and upgradable readers).
    writers: RawLockWait,
    /// Whether the writers' lock is taken.
    holds_writers: bool,
}

impl RwWait {
    pub(crate) fn new(access: Access) -> RwWait {
        RwWait {
            access,
            // Readers are woken all at once; the drain line has one waiter.
            retry: Retry::new(PassOn::Nothing),
            started: false,
            writers: RawLockWait::default(),
            holds_writers: false,
        }
    }

    pub(crate) fn poll(&mut self, lock: &RawRwLock, wakeup: Wakeup<'_>) -> Poll<()> {
        match self.access {
            Access::Read => {
                if !std::mem::replace(&mut self.started, true)
                    && (lock.try_read() || spin_until(|| lock.try_read()))
                {
                    return Poll::Ready(());
                }
                let list = lock.readers.get_or_init();
                self.retry
                    .poll(list, wakeup, || lock.try_read().then_some(()))
            }
            Access::Upgradable => {
                std::task::ready!(self.writers.poll(&lock.writers, wakeup));
                lock.add_upgradable();
                Poll::Ready(())
            }
            Access::Write => {
                if !self.holds_writers {
                    std::task::ready!(self.writers.poll(&lock.writers, wakeup));
                    self.holds_writers = true;
                    if lock.try_become_writer() {
                        return self.done();
                    }
                    lock.set_pending();
                    if spin_until(|| lock.try_become_writer()) {
                        return self.done();
                    }
                }
                let list = lock.drain.get_or_init();
                std::task::ready!(
                    self.retry
                        .poll(list, wakeup, || lock.try_become_writer().then_some(()))
                );
                self.done()
            }
        }
    }

    fn done(&mut self) -> Poll<()> {
        self.holds_writers = false;
        Poll::Ready(())
    }

    /// The deadline passed: one last try, then gives up; `true` if it holds
    /// the lock after all.
    pub(crate) fn expire(&mut self, lock: &RawRwLock) -> bool {
        let taken = match self.access {
            Access::Read => lock.try_read(),
            Access::Upgradable => {
                let taken = self.writers.expire(&lock.writers);
                if taken {
                    lock.add_upgradable();
                }
                return taken;
            }
            Access::Write => {
                if !self.holds_writers {
                    if !self.writers.expire(&lock.writers) {
                        return false;
                    }
                    self.holds_writers = true;
                }
                lock.try_become_writer()
            }
        };
        if taken {
            self.leave(lock);
            self.holds_writers = false;
        } else {
            self.cancel(lock);
        }
        taken
    }

    /// Leaves whichever line it waits in.
    fn leave(&mut self, lock: &RawRwLock) {
        let list = match self.access {
            Access::Read => &lock.readers,
            _ => &lock.drain,
        };
        if let Some(list) = list.get() {
            self.retry.cancel(list);
        }
    }

    /// Gives up: leaves the line; a pending writer lets the readers in
    /// again and hands the writers' lock on.
    pub(crate) fn cancel(&mut self, lock: &RawRwLock) {
        self.leave(lock);
        if std::mem::take(&mut self.holds_writers) {
            lock.clear_pending();
            lock.writers.unlock();
        } else if self.access != Access::Read {
            self.writers.cancel(&lock.writers);
        }
    }

    pub(crate) fn woken(&self, lock: &RawRwLock) -> bool {
        match self.access {
            Access::Read => woken_in(&self.retry, &lock.readers),
            _ if self.holds_writers => woken_in(&self.retry, &lock.drain),
            _ => self.writers.woken(&lock.writers),
        }
    }

    pub(crate) fn park_limit(&mut self) -> Option<Duration> {
        // A thread waiting for the writers' lock looks again now and then,
        // as a `Lock` waiter does, to claim its turn from barging tasks.
        if self.access != Access::Read && !self.holds_writers {
            self.writers.park_limit()
        } else {
            None
        }
    }
}

/// Looks at `done` a few times with a growing pause in between.
fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    for round in 0..SPIN_ROUNDS {
        for _ in 0..(2 << round) {
            std::hint::spin_loop();
        }
        if done() {
            return true;
        }
    }
    false
}

const SPIN_ROUNDS: u32 = 2;

fn woken_in(retry: &Retry, list: &LazyList) -> bool {
    list.get().is_none_or(|list| retry.woken(list))
}

/// The upgradable reader waiting to become the writer: stops new readers,
/// then waits in the drain line until it is the only reader left.
pub(crate) struct UpgradeWait {
    started: bool,
    retry: Retry,
}

impl UpgradeWait {
    pub(crate) fn new() -> UpgradeWait {
        UpgradeWait {
            started: false,
            // One waiter at most, woken by the reader that leaves it alone.
            retry: Retry::new(PassOn::Nothing),
        }
    }

    pub(crate) fn poll(&mut self, lock: &RawRwLock, wakeup: Wakeup<'_>) -> Poll<()> {
        if !self.started {
            if lock.try_upgrade() {
                return Poll::Ready(());
            }
            self.started = true;
            lock.set_pending();
            if spin_until(|| lock.try_upgrade()) {
                self.started = false;
                return Poll::Ready(());
            }
        }
        let list = lock.drain.get_or_init();
        let polled = self
            .retry
            .poll(list, wakeup, || lock.try_upgrade().then_some(()));
        if polled.is_ready() {
            // The upgrade cleared `PENDING`: nothing left to give up.
            self.started = false;
        }
        polled
    }

    /// Stops waiting (timed out or cancelled); the caller still holds its
    /// upgradable read access.
    pub(crate) fn cancel(&mut self, lock: &RawRwLock) {
        if std::mem::take(&mut self.started) {
            if let Some(list) = lock.drain.get() {
                self.retry.cancel(list);
            }
            lock.clear_pending();
        }
    }

    /// One last try at the deadline; `false` (no longer waiting) if it failed.
    pub(crate) fn expire(&mut self, lock: &RawRwLock) -> bool {
        if lock.try_upgrade() {
            if let Some(list) = lock.drain.get() {
                self.retry.cancel(list);
            }
            self.started = false;
            return true;
        }
        self.cancel(lock);
        false
    }

    pub(crate) fn woken(&self, lock: &RawRwLock) -> bool {
        woken_in(&self.retry, &lock.drain)
    }
}
