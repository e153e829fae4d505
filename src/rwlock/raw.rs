//! The reader-writer lock without its value: one state word and three
//! lines (readers, writers with upgradable readers, and the one upgrading
//! reader).
//!
//! # Policy: writer-preferring, and a waiting future holds nothing
//!
//! - **A waiting writer holds new readers back**: writers (and upgradable
//!   readers) that wait are counted in the state word, and no reader enters
//!   while that count is not zero. The readers inside drain out, so **a
//!   stream of readers never starves a writer**. Readers held back wait in
//!   their line and are woken all at once when no writer holds or waits.
//! - **Writers take turns as they come, and may barge**: a release wakes
//!   the oldest waiting writer, but a running writer may take the lock
//!   first (the woken one waits again; the next release wakes it again), as
//!   async-lock's writers and ambisync's `Lock` do: under contention that
//!   is much faster than handing the lock to a task that is not running.
//! - **A waiting future owns nothing, and looks again on every poll**: it
//!   is only counted, never handed the lock. So a future that was woken but
//!   is not polled (it sits in a `select!` branch, or behind another future
//!   of the same task) never keeps others out: the task polls the other
//!   future, which takes the lock (async-lock#91, where two pending
//!   `write()` futures awaited in reverse order hang forever, cannot
//!   happen). A woken writer that is dropped passes its wake-up on.
//! - **Upgrading** sets `UPGRADING` (no new readers) and waits in a line of
//!   its own, one waiter long, until the upgrading reader is the only one
//!   left.
//! - Both kinds of waiter look once more, a pause later, before they sleep:
//!   the lock is usually held for much less time than a wake-up takes.
//!
//! Readers may wait behind a steady stream of writers (as with async-lock):
//! the lock is meant for read-mostly data.
//!
//! Why not first come, first served with hand-off (tokio's policy), which
//! was tried first: handing the lock to the run of readers behind a writer
//! makes the next writer wait for those readers to be scheduled, and every
//! newcomer queue behind that writer; on a read-mostly load with more tasks
//! than workers the line rarely empties and operations pay a wake-up each
//! (`BENCHMARKS.md` has the numbers). Hand-off also makes a woken future
//! that is not polled the owner of the lock (async-lock#91 above).

use std::sync::atomic::Ordering;
use std::task::Poll;

use crate::wait::sync::AtomicU64;
use crate::wait::{LazyList, PassOn, Retry, Ticket, WaitList, Wakeup};

/// Bit 0: a writer holds the lock.
const WRITER: u64 = 1;
/// Bit 1: an upgradable reader holds the lock (it counts as a reader too).
const UPGRADABLE: u64 = 2;
/// Bit 2: the upgradable reader waits to upgrade: no new readers.
const UPGRADING: u64 = 4;
/// Bit 3: readers may be in their line. Set under the line's lock by a
/// reader joining it; cleared by the release that wakes them all.
const PARKED: u64 = 8;
/// Bits 4 to 31 count the writers and upgradable readers waiting.
const WAITER: u64 = 16;
const WAITERS: u64 = (1 << 32) - WAITER;
/// The high 32 bits count the readers holding the lock.
const READER: u64 = 1 << 32;
/// The most readers at once.
const MAX_READERS: u64 = u32::MAX as u64;

/// What a caller wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Upgradable,
    Write,
}

impl Access {
    /// The state with this access taken, if nothing keeps it out.
    /// `counted`: the caller is one of the waiters counted in the state (a
    /// writer or upgradable reader in line), which it then leaves.
    #[inline]
    fn enter(self, state: u64, counted: bool) -> Option<u64> {
        let blocked_by = match self {
            Access::Read => WRITER | UPGRADING | WAITERS,
            // A newcomer's first look lets those who wait go first. Once
            // counted, a waiter does not wait for itself, nor for the others:
            // they may never be polled again (async-lock#91), so every look
            // competes with them.
            Access::Upgradable if counted => WRITER | UPGRADABLE | UPGRADING,
            Access::Upgradable => WRITER | UPGRADABLE | UPGRADING | WAITERS,
            Access::Write if counted => WRITER | !(READER - 1),
            Access::Write => WRITER | !(READER - 1) | WAITERS,
        };
        if state & blocked_by != 0 {
            return None;
        }
        let gain = match self {
            Access::Read => READER,
            Access::Upgradable => READER + UPGRADABLE,
            Access::Write => WRITER,
        };
        if self != Access::Write {
            assert!(state / READER < MAX_READERS, "too many RwLock readers");
        }
        Some(if counted {
            state + gain - WAITER
        } else {
            state + gain
        })
    }
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
    /// Readers held back by a writer (holding or waiting).
    readers: LazyList,
    /// Writers and upgradable readers.
    writers: LazyList,
    /// The upgradable reader waiting for the other readers to leave.
    upgrader: LazyList,
}

impl RawRwLock {
    #[cfg(not(ambisync_loom))]
    pub(crate) const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicU64::new(0),
            readers: LazyList::new(),
            writers: LazyList::new(),
            upgrader: LazyList::new(),
        }
    }

    /// loom's atomics have no `const` constructor.
    #[cfg(ambisync_loom)]
    pub(crate) fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicU64::new(0),
            readers: LazyList::new(),
            writers: LazyList::new(),
            upgrader: LazyList::new(),
        }
    }

    /// Takes `access` if nothing keeps it out (`counted`: see
    /// [`Access::enter`]).
    #[inline]
    fn try_take(&self, access: Access, counted: bool) -> bool {
        // `SeqCst`: a waiter that joined a line before this look, and a
        // releaser that changed the state before looking at the line, cannot
        // both miss each other (see `WaitList::anybody_waiting`).
        let mut state = self.state.load(Ordering::SeqCst);
        while let Some(next) = access.enter(state, counted) {
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    if counted && next & WAITERS == 0 {
                        // The last waiter of its kind is in: the readers
                        // it held back may enter alongside an upgradable
                        // reader, or wait for this writer.
                        self.wake_readers_if_free(next);
                    }
                    return true;
                }
                Err(now) => state = now,
            }
        }
        false
    }

    /// Takes `access` if it is free and no writer waits, without waiting.
    #[inline]
    pub(crate) fn try_enter(&self, access: Access) -> bool {
        self.try_take(access, false)
    }

    /// Whether the caller is the only writer or upgradable reader waiting.
    fn alone(&self) -> bool {
        self.state.load(Ordering::Relaxed) & WAITERS == WAITER
    }

    /// A writer or upgradable reader starts waiting: no new readers.
    fn count_in(&self) {
        let before = self.state.fetch_add(WAITER, Ordering::SeqCst);
        assert!(before & WAITERS != WAITERS, "too many RwLock waiters");
    }

    /// A counted waiter gives up.
    fn count_out(&self) {
        let after = self.state.fetch_sub(WAITER, Ordering::SeqCst) - WAITER;
        self.wake_readers_if_free(after);
    }

    /// Wakes the readers held back if nothing keeps them out any more
    /// (`state`: the state a release left).
    #[inline]
    fn wake_readers_if_free(&self, state: u64) {
        if state & (WRITER | UPGRADING | WAITERS | PARKED) == PARKED {
            self.wake_readers();
        }
    }

    #[cold]
    fn wake_readers(&self) {
        // Readers joining the line from now on set the bit again (under the
        // line's lock, so after this wake-up or in it).
        self.state.fetch_and(!PARKED, Ordering::SeqCst);
        if let Some(list) = self.readers.get() {
            list.wake_all();
        }
    }

    /// Under the readers' line's lock: takes a read access if nothing keeps
    /// it out (`true`), or marks readers as parked (`false`: the caller joins
    /// the line, and the release that lets readers in again wakes it).
    fn read_or_park(&self) -> bool {
        let mut state = self.state.load(Ordering::SeqCst);
        loop {
            let (next, entered) = match Access::Read.enter(state, false) {
                Some(next) => (next, true),
                None => (state | PARKED, false),
            };
            if next == state {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return entered,
                Err(now) => state = now,
            }
        }
    }

    /// Wakes the oldest waiting writer (or upgradable reader) if one is
    /// counted.
    #[inline]
    fn wake_writer_if_waiting(&self, state: u64) {
        if state & WAITERS != 0 {
            if let Some(list) = self.writers.get() {
                list.notify(1);
            }
        }
    }

    /// Gives back a read access.
    #[inline]
    pub(crate) fn unlock_read(&self) {
        let after = self.state.fetch_sub(READER, Ordering::SeqCst) - READER;
        if after & (WAITERS | UPGRADING) != 0 {
            self.after_reader_left(after);
        }
    }

    /// A reader left while somebody waits: the last one lets a writer in,
    /// the last but the upgrading one lets the upgrade go on.
    #[cold]
    fn after_reader_left(&self, after: u64) {
        let readers = after / READER;
        if readers == 1 && after & UPGRADING != 0 {
            // Under the line's lock: after the upgrader joined it (then it is
            // woken), or before (then its look after joining sees this).
            if let Some(list) = self.upgrader.get() {
                list.notify(1);
            }
        } else if readers == 0 {
            self.wake_writer_if_waiting(after);
        }
    }

    /// Gives back an upgradable read access.
    #[inline]
    pub(crate) fn unlock_upgradable(&self) {
        let after =
            self.state.fetch_sub(READER + UPGRADABLE, Ordering::SeqCst) - (READER + UPGRADABLE);
        self.wake_writer_if_waiting(after);
    }

    /// Gives back the write access.
    #[inline]
    pub(crate) fn unlock_write(&self) {
        let after = self.state.fetch_sub(WRITER, Ordering::SeqCst) - WRITER;
        self.wake_writer_if_waiting(after);
        self.wake_readers_if_free(after);
    }

    /// Turns the write access into `to` (read or upgradable) without letting
    /// any writer in between.
    pub(crate) fn downgrade_write(&self, to: Access) {
        let gain = match to {
            Access::Read => READER,
            Access::Upgradable => READER + UPGRADABLE,
            Access::Write => unreachable!("a downgrade to the write access"),
        };
        let after = self.state.fetch_add(gain - WRITER, Ordering::SeqCst) + gain - WRITER;
        if to == Access::Read {
            // An upgradable reader may enter alongside.
            self.wake_writer_if_waiting(after);
        }
        self.wake_readers_if_free(after);
    }

    /// Turns the upgradable read access into a plain read access.
    pub(crate) fn downgrade_upgradable(&self) {
        let after = self.state.fetch_sub(UPGRADABLE, Ordering::SeqCst) - UPGRADABLE;
        self.wake_writer_if_waiting(after);
    }

    /// Turns the caller's upgradable read access into the write access if
    /// it is the only reader left (clearing `UPGRADING`).
    #[inline]
    pub(crate) fn try_upgrade(&self) -> bool {
        let mut state = self.state.load(Ordering::SeqCst);
        while state / READER == 1 {
            debug_assert!(state & UPGRADABLE != 0, "upgrading without the access");
            match self.state.compare_exchange_weak(
                state,
                (state & (WAITERS | PARKED)) | WRITER,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    /// The upgradable reader starts waiting to upgrade: no new readers.
    fn begin_upgrade(&self) {
        self.state.fetch_or(UPGRADING, Ordering::SeqCst);
    }

    /// The upgradable reader stopped waiting to upgrade (and still holds
    /// its access): readers held back may enter again.
    fn abandon_upgrade(&self) {
        let after = self.state.fetch_and(!UPGRADING, Ordering::SeqCst) & !UPGRADING;
        self.wake_readers_if_free(after);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = self.state.load(Ordering::Acquire);
        Snapshot {
            readers: (state / READER) as usize,
            writer: state & WRITER != 0,
            upgradable: state & UPGRADABLE != 0,
            waiters: ((state & WAITERS) / WAITER) as usize
                + self.readers.len()
                + self.upgrader.len(),
        }
    }
}

/// Looks at `done` twice, a pause apart, before a waiter sleeps: the lock
/// is usually held for much less time than a wake-up takes. No more than
/// that: a pause costs up to 100 ns on some virtual machines, and spinning
/// longer measured slower on the read-mostly benchmark (the holder may not
/// be running at all when there are more tasks than workers).
fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    if done() {
        return true;
    }
    std::hint::spin_loop();
    done()
}

/// A place in a line that, unlike [`Retry`], looks at the lock on every
/// poll, woken or not: a waiter that was not woken may still take the lock
/// when its task polls it (the wake-up went to another future of the task).
#[derive(Default)]
struct Place {
    ticket: Option<Ticket>,
}

impl Place {
    /// Tries, then joins the line unless `join` (run under the line's lock,
    /// so that it is ordered with the wake-ups) takes the lock or sees it
    /// free; `true` when the lock was taken (then out of line).
    fn poll(
        &mut self,
        list: &WaitList,
        wakeup: Wakeup<'_>,
        pass_on: PassOn,
        mut attempt: impl FnMut() -> bool,
        join: impl FnOnce() -> bool,
    ) -> bool {
        loop {
            if attempt() {
                self.leave(list, pass_on);
                return true;
            }
            match self.ticket {
                Some(ticket) => {
                    let woken = list.is_notified(ticket)
                        || matches!(wakeup, Wakeup::Task(waker) if list.update(ticket, waker));
                    if !woken {
                        return false;
                    }
                    // The wake-up was used by the attempt above: join again.
                    self.ticket = None;
                }
                None => {
                    self.ticket = list.enqueue_unless(wakeup, join);
                    return self.ticket.is_none();
                }
            }
        }
    }

    /// Leaves the line; a wake-up that had reached it goes on as `pass_on`
    /// says.
    fn leave(&mut self, list: &WaitList, pass_on: PassOn) {
        if let Some(ticket) = self.ticket.take() {
            if !list.leave(ticket, || {}) {
                if let PassOn::NextWaiter = pass_on {
                    list.notify(1);
                }
            }
        }
    }

    fn woken(&self, list: &LazyList) -> bool {
        self.ticket
            .is_none_or(|ticket| list.get().is_some_and(|list| list.is_notified(ticket)))
    }
}

/// One call waiting for `access` to a [`RawRwLock`], handed the lock on
/// every step (so that an owned guard's future can hold the lock's `Arc`).
///
/// A reader tries, spins for a moment, then waits in the readers' line.
/// A writer or upgradable reader tries, counts itself in (holding new
/// readers back), spins for a moment, then waits in the writers' line. On
/// every poll either looks at the lock again.
pub(crate) struct RwWait {
    access: Access,
    /// Counted in the state as a waiting writer or upgradable reader.
    counted: bool,
    /// Polled before.
    started: bool,
    place: Place,
}

impl RwWait {
    pub(crate) fn new(access: Access) -> RwWait {
        RwWait {
            access,
            counted: false,
            started: false,
            place: Place::default(),
        }
    }

    fn line<'a>(&self, lock: &'a RawRwLock) -> &'a LazyList {
        match self.access {
            Access::Read => &lock.readers,
            _ => &lock.writers,
        }
    }

    /// What a waiter that leaves with a wake-up it did not use does with it:
    /// readers are woken all at once, writers one at a time.
    fn pass_on(&self) -> PassOn {
        match self.access {
            Access::Read => PassOn::Nothing,
            _ => PassOn::NextWaiter,
        }
    }

    pub(crate) fn poll(&mut self, lock: &RawRwLock, wakeup: Wakeup<'_>) -> Poll<()> {
        let access = self.access;
        if !std::mem::replace(&mut self.started, true) {
            if lock.try_take(access, false) {
                return Poll::Ready(());
            }
            if access != Access::Read {
                // The line first: a release that sees the count (reading
                // from this increment) must also see the line it wakes.
                self.line(lock).get_or_init();
                lock.count_in();
                self.counted = true;
            }
            // Looking again right away, a counted newcomer goes in only if
            // nobody else waits (not to overtake a woken waiter that has yet
            // to run); from its next look on, it competes with them.
            let counted = self.counted;
            if spin_until(|| (!counted || lock.alone()) && lock.try_take(access, counted)) {
                self.counted = false;
                return Poll::Ready(());
            }
        }
        let counted = self.counted;
        let list = self.line(lock).get_or_init();
        let attempt = || lock.try_take(access, counted);
        let taken = match access {
            Access::Read => self.place.poll(list, wakeup, PassOn::Nothing, attempt, || {
                lock.read_or_park()
            }),
            _ => self
                .place
                .poll(list, wakeup, PassOn::NextWaiter, attempt, attempt),
        };
        if taken {
            self.counted = false;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// The deadline passed: one last try, then gives up; `true` if it holds
    /// the lock after all.
    pub(crate) fn expire(&mut self, lock: &RawRwLock) -> bool {
        if lock.try_take(self.access, self.counted) {
            self.place
                .leave(self.line(lock).get_or_init(), self.pass_on());
            self.counted = false;
            return true;
        }
        self.cancel(lock);
        false
    }

    /// Gives up: leaves the line (passing on a writer's wake-up) and the
    /// count (letting in the readers it held back).
    pub(crate) fn cancel(&mut self, lock: &RawRwLock) {
        if let Some(list) = self.line(lock).get() {
            self.place.leave(list, self.pass_on());
        }
        if std::mem::take(&mut self.counted) {
            lock.count_out();
        }
    }

    pub(crate) fn woken(&self, lock: &RawRwLock) -> bool {
        self.place.woken(self.line(lock))
    }
}

/// The upgradable reader waiting to become the writer: stops new readers,
/// then waits in the upgrade line until it is the only reader left.
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
            // The line first: the reader that sees `UPGRADING` must also see
            // the line it wakes.
            lock.upgrader.get_or_init();
            lock.begin_upgrade();
            if spin_until(|| lock.try_upgrade()) {
                self.started = false;
                return Poll::Ready(());
            }
        }
        let list = lock.upgrader.get_or_init();
        let polled = self
            .retry
            .poll(list, wakeup, || lock.try_upgrade().then_some(()));
        if polled.is_ready() {
            // The upgrade cleared `UPGRADING`: nothing left to give up.
            self.started = false;
        }
        polled
    }

    /// Stops waiting (timed out or cancelled); the caller still holds its
    /// upgradable read access.
    pub(crate) fn cancel(&mut self, lock: &RawRwLock) {
        if std::mem::take(&mut self.started) {
            if let Some(list) = lock.upgrader.get() {
                self.retry.cancel(list);
            }
            lock.abandon_upgrade();
        }
    }

    /// One last try at the deadline; `false` (no longer waiting) if it failed.
    pub(crate) fn expire(&mut self, lock: &RawRwLock) -> bool {
        if lock.try_upgrade() {
            if let Some(list) = lock.upgrader.get() {
                self.retry.cancel(list);
            }
            self.started = false;
            return true;
        }
        self.cancel(lock);
        false
    }

    pub(crate) fn woken(&self, lock: &RawRwLock) -> bool {
        lock.upgrader
            .get()
            .is_none_or(|list| self.retry.woken(list))
    }
}
