//! The reader-writer lock without its value: one state word, the line of
//! waiting readers and writers, and the slot of an upgrading reader.
//!
//! # Policy: first come, first served, with hand-off
//!
//! Waiters are served in the order they came, through one [`WaitList`] whose
//! waiters are tagged with what they want ([`Access`]). Nobody enters past
//! the line: while anybody waits, newcomers (readers too) join its back, so
//! a writer is never starved by a stream of readers, and a reader never by a
//! stream of writers. A release that may let the oldest waiter in hands the
//! lock to it directly under the line's lock ([`RawRwLock::hand_off`]),
//! and goes on with the next while they are compatible: a writer's release
//! lets the whole run of readers behind it in at once. With nobody waiting,
//! every operation is one compare-and-swap (taking) or one atomic
//! subtraction (releasing).
//!
//! A waiter counts itself in under the line's lock, taking the lock instead
//! if it is free and nobody waits, so a release either sees the waiter (and
//! hands off) or the waiter sees the release. A waiter that leaves the line
//! (cancelled, timed out) hands off too: it may have been what blocked the
//! waiters behind it (a writer ahead of readers). A waiter handed the lock
//! that leaves without using it releases it, which hands it on.
//!
//! An upgradable reader excludes writers and other upgradable readers but
//! not readers. Upgrading sets `UPGRADING`, which stops new readers (and
//! grants to readers), and waits in a line of its own, at most one waiter
//! long, until the last other reader is gone: it goes before everybody in
//! the main line, none of whom could enter before it anyway.

use std::sync::atomic::Ordering;
use std::task::Poll;

use crate::wait::sync::AtomicU64;
use crate::wait::{LazyList, PassOn, Retry, Ticket, WaitList, Wakeup};

/// Bit 0: a writer holds the lock.
const WRITER: u64 = 1;
/// Bit 1: an upgradable reader holds the lock (it counts as a reader too).
const UPGRADABLE: u64 = 2;
/// Bit 2: the upgradable reader waits to upgrade; no new readers.
const UPGRADING: u64 = 4;
/// Bits 3 to 31 count the waiters in line; they change only under the
/// line's lock.
const WAITER: u64 = 8;
const WAITERS: u64 = (1 << 32) - WAITER;
/// The high 32 bits count the readers holding the lock.
const READER: u64 = 1 << 32;
/// The most readers at once.
const MAX_READERS: u64 = u32::MAX as u64;

/// What a caller wants, and what a waiter in line is tagged with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read = 1,
    Upgradable = 2,
    Write = 3,
}

impl Access {
    fn from_tag(tag: usize) -> Option<Access> {
        match tag {
            1 => Some(Access::Read),
            2 => Some(Access::Upgradable),
            3 => Some(Access::Write),
            _ => None,
        }
    }

    /// The bits that keep this access out.
    fn blocked_by(self) -> u64 {
        match self {
            Access::Read => WRITER | UPGRADING,
            Access::Upgradable => WRITER | UPGRADABLE | UPGRADING,
            Access::Write => WRITER | UPGRADABLE | !(READER - 1),
        }
    }

    /// What holding this access adds to the state.
    fn gain(self) -> u64 {
        match self {
            Access::Read => READER,
            Access::Upgradable => READER + UPGRADABLE,
            Access::Write => WRITER,
        }
    }

    /// `state` with this access taken, if nothing in it keeps it out
    /// (`also_blocked_by` adds bits, such as waiters in line).
    #[inline]
    fn enter(self, state: u64, also_blocked_by: u64) -> Option<u64> {
        if state & (self.blocked_by() | also_blocked_by) != 0 {
            return None;
        }
        if self != Access::Write {
            assert!(state / READER < MAX_READERS, "too many RwLock readers");
        }
        Some(state + self.gain())
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
    /// Readers, writers and upgradable readers waiting for their turn.
    waiters: LazyList,
    /// The upgradable reader waiting to upgrade (one at most).
    upgrader: LazyList,
}

impl RawRwLock {
    #[cfg(not(ambisync_loom))]
    pub(crate) const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicU64::new(0),
            waiters: LazyList::new(),
            upgrader: LazyList::new(),
        }
    }

    /// loom's atomics have no `const` constructor.
    #[cfg(ambisync_loom)]
    pub(crate) fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicU64::new(0),
            waiters: LazyList::new(),
            upgrader: LazyList::new(),
        }
    }

    /// Takes `access` if nothing keeps it out and nobody waits.
    #[inline]
    pub(crate) fn try_enter(&self, access: Access) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let Some(next) = access.enter(state, WAITERS) else {
                return false;
            };
            match self.state.compare_exchange_weak(
                state,
                next,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// Under the line's lock: takes `access` if nothing keeps it out and
    /// nobody waits (`false`: no need to wait), or counts the caller in as a
    /// waiter (`true`).
    fn count_in(&self, access: Access) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let (next, wait) = match access.enter(state, WAITERS) {
                Some(next) => (next, false),
                None => {
                    assert!(state & WAITERS != WAITERS, "too many RwLock waiters");
                    (state + WAITER, true)
                }
            };
            match self.state.compare_exchange_weak(
                state,
                next,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return wait,
                Err(now) => state = now,
            }
        }
    }

    /// Under the line's lock: a waiter leaves without the lock.
    fn count_out(&self) {
        self.state.fetch_sub(WAITER, Ordering::Relaxed);
    }

    /// Under the line's lock: gives the oldest waiter (tagged `tag`) its
    /// access, if nothing keeps it out, and counts it out. `None` if it must
    /// wait on, else whether another grant may follow.
    fn claim_for_head(&self, tag: usize) -> Option<bool> {
        let access = Access::from_tag(tag)?;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            // Holders may leave meanwhile (never enter: waiters are counted),
            // so this is a loop; a holder that leaves after the load hands
            // off in turn.
            let next = access.enter(state, 0)? - WAITER;
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(access != Access::Write && next & WAITERS != 0),
                Err(now) => state = now,
            }
        }
    }

    /// Gives the lock to waiters, oldest first, while the oldest can enter.
    pub(crate) fn hand_off(&self) {
        // Waiters are counted in only under the line's lock, so they exist
        // only once the line does.
        if let Some(list) = self.waiters.get() {
            while let Some(true) = list.grant_next(|tag| self.claim_for_head(tag)) {}
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

    /// A reader left while somebody waits: the last one out lets a writer
    /// in; the last but the upgrading one lets the upgrade go on.
    #[cold]
    fn after_reader_left(&self, after: u64) {
        let readers = after / READER;
        if readers == 0 && after & WAITERS != 0 {
            self.hand_off();
        }
        if readers == 1 && after & UPGRADING != 0 {
            if let Some(list) = self.upgrader.get() {
                if list.anybody_waiting() {
                    list.notify(1);
                }
            }
        }
    }

    /// Gives back an upgradable read access.
    #[inline]
    pub(crate) fn unlock_upgradable(&self) {
        let before = self.state.fetch_sub(READER + UPGRADABLE, Ordering::Release);
        if before & WAITERS != 0 {
            self.hand_off();
        }
    }

    /// Gives back the write access.
    #[inline]
    pub(crate) fn unlock_write(&self) {
        let before = self.state.fetch_sub(WRITER, Ordering::Release);
        if before & WAITERS != 0 {
            self.hand_off();
        }
    }

    /// Gives back `access` (a waiter handed the lock that did not use it).
    pub(crate) fn unlock(&self, access: Access) {
        match access {
            Access::Read => self.unlock_read(),
            Access::Upgradable => self.unlock_upgradable(),
            Access::Write => self.unlock_write(),
        }
    }

    /// Turns the write access into `to` (read or upgradable) without letting
    /// any writer in between; waiting readers may enter with it.
    pub(crate) fn downgrade_write(&self, to: Access) {
        debug_assert!(to != Access::Write);
        let before = self.state.fetch_add(to.gain() - WRITER, Ordering::AcqRel);
        if before & WAITERS != 0 {
            self.hand_off();
        }
    }

    /// Turns the upgradable read access into a plain read access: another
    /// upgradable reader may enter.
    pub(crate) fn downgrade_upgradable(&self) {
        let before = self.state.fetch_sub(UPGRADABLE, Ordering::AcqRel);
        if before & WAITERS != 0 {
            self.hand_off();
        }
    }

    /// Turns the caller's upgradable read access into the write access if
    /// it is the only reader left.
    #[inline]
    pub(crate) fn try_upgrade(&self) -> bool {
        let mut state = self.state.load(Ordering::SeqCst);
        while state / READER == 1 {
            debug_assert!(state & UPGRADABLE != 0, "upgrading without the access");
            match self.state.compare_exchange_weak(
                state,
                (state & WAITERS) | WRITER,
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
    /// its access): readers that waited behind it may enter.
    fn abandon_upgrade(&self) {
        let before = self.state.fetch_and(!UPGRADING, Ordering::AcqRel);
        if before & WAITERS != 0 {
            self.hand_off();
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = self.state.load(Ordering::Acquire);
        Snapshot {
            readers: (state / READER) as usize,
            writer: state & WRITER != 0,
            upgradable: state & UPGRADABLE != 0,
            waiters: ((state & WAITERS) / WAITER) as usize
                + self.upgrader.get().map_or(0, WaitList::len),
        }
    }

    fn list(&self) -> &WaitList {
        self.waiters
            .get()
            .expect("a waiter made the line before it counted itself in")
    }
}

/// One call waiting for `access` to a [`RawRwLock`], handed the lock on
/// every step (so that an owned guard's future can hold the lock's `Arc`).
///
/// Joins the line on its first poll (unless it can enter at once) and
/// completes when a release hands it the lock. Cancelled while in line it
/// leaves, handing off to those it was ahead of; cancelled after it was
/// handed the lock but before it saw it, it releases the lock (which hands
/// it on).
pub(crate) struct RwWait {
    access: Access,
    ticket: Option<Ticket>,
}

impl RwWait {
    pub(crate) fn new(access: Access) -> RwWait {
        RwWait {
            access,
            ticket: None,
        }
    }

    pub(crate) fn poll(&mut self, lock: &RawRwLock, wakeup: Wakeup<'_>) -> Poll<()> {
        match self.ticket {
            None => {
                if lock.try_enter(self.access) {
                    return Poll::Ready(());
                }
                let access = self.access;
                let list = lock.waiters.get_or_init();
                match list.enqueue_tagged_unless(wakeup, access as usize, || !lock.count_in(access))
                {
                    None => Poll::Ready(()),
                    Some(ticket) => {
                        self.ticket = Some(ticket);
                        Poll::Pending
                    }
                }
            }
            Some(ticket) => {
                let list = lock.list();
                let granted = list.is_notified(ticket)
                    || matches!(wakeup, Wakeup::Task(waker) if list.update(ticket, waker));
                if granted {
                    self.ticket = None;
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }

    /// The deadline passed: leaves the line, unless the lock was handed to
    /// it first; `true` if it holds the lock.
    pub(crate) fn expire(&mut self, lock: &RawRwLock) -> bool {
        let Some(ticket) = self.ticket.take() else {
            return false;
        };
        if lock.list().leave(ticket, || lock.count_out()) {
            // It may have kept those behind it out (a writer ahead of
            // readers): let them in if they can enter now.
            lock.hand_off();
            false
        } else {
            true
        }
    }

    /// Gives up: leaves the line, or releases the lock handed to it.
    pub(crate) fn cancel(&mut self, lock: &RawRwLock) {
        if self.expire(lock) {
            lock.unlock(self.access);
        }
    }

    pub(crate) fn woken(&self, lock: &RawRwLock) -> bool {
        self.ticket
            .is_none_or(|ticket| lock.list().is_notified(ticket))
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
            lock.begin_upgrade();
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
