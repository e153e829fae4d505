//! The count of free permits and the line of waiters: what both semaphore
//! types are built on.
//!
//! Waiters are served first come, first served, with direct hand-off: a
//! release that finds waiters in line gives the permits to the oldest one
//! (if it has enough for it), and nobody takes a permit from the count while
//! anybody is in line. The count and the number of waiters share one word,
//! so that taking or giving back permits with nobody in line is a single
//! atomic operation that also tells whether anybody is, and a semaphore
//! stays two words in size (the line is allocated by the first waiter).
//!
//! Permits and waiters can be in the word together only for a moment (or
//! while the oldest waiter wants more permits than are free): a releaser
//! adds its permits, and if that shows waiters it moves permits to them
//! under the line's lock ([`Permits::hand_off`]) until either runs out. A
//! waiter counts itself in under that lock too, taking its permits instead
//! if they are free and nobody is in line, so a release either sees the
//! waiter or the waiter sees the permits.

use std::sync::atomic::Ordering;
use std::task::Poll;

use crate::wait::sync::AtomicU64;
use crate::wait::{Handed, LazyList, Ticket, WaitList, Wakeup};

/// The most permits a semaphore can hold (`u32::MAX`).
///
/// Creating a semaphore with more, or a raw `release`/`release_n` that would
/// go beyond it, panics and changes nothing. A permit guard dropped when raw
/// releases have already filled the count to `MAX_PERMITS` is not added: the
/// count saturates at `MAX_PERMITS` (a guard's drop never panics).
///
/// # Examples
///
/// ```
/// let sem = ambisync::Semaphore::new(ambisync::MAX_PERMITS);
/// assert_eq!(sem.available_permits(), ambisync::MAX_PERMITS);
/// ```
pub const MAX_PERMITS: usize = u32::MAX as usize;

/// One permit in the state word: permits count in the high 32 bits.
const PERMIT: u64 = 1 << 32;
/// The count at [`MAX_PERMITS`], with no waiter in line.
const FULL: u64 = MAX_PERMITS as u64 * PERMIT;
/// The low 32 bits count the waiters in line (not yet handed their
/// permits). They change only under the line's lock.
const WAITERS: u64 = PERMIT - 1;

pub(crate) struct Permits {
    state: AtomicU64,
    waiters: LazyList,
}

impl Permits {
    crate::wait::const_unless_loom! {
        pub(crate) fn new(permits: usize) -> Permits {
            assert!(permits <= MAX_PERMITS, "semaphore permit count overflow");
            Permits {
                state: AtomicU64::new(permits as u64 * PERMIT),
                waiters: LazyList::new(),
            }
        }
    }

    /// Takes `n` permits if they are free and nobody is in line for any.
    /// Zero permits are always free: a request for none never joins the
    /// line (in line, the hand-off that serves the waiter ahead with the
    /// last permits would stop without looking at it: tests/found.rs).
    #[inline]
    pub(crate) fn try_take(&self, n: u32) -> bool {
        let want = u64::from(n) * PERMIT;
        let mut state = self.state.load(Ordering::Relaxed);
        while state >= want && state & WAITERS == 0 {
            match self.state.compare_exchange_weak(
                state,
                state - want,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        // Out only because somebody waits (`state >= 0` always holds): none
        // is taken, so there is nothing to change. Looked at only here, so
        // that the path with nobody in line is unchanged.
        n == 0
    }

    fn list(&self) -> &WaitList {
        self.waiters.get_or_init()
    }

    /// Under the line's lock: takes `n` permits if they are free and nobody
    /// is in line (`false`: no need to wait), or counts the caller in as a
    /// waiter (`true`).
    fn count_in(&self, n: u32) -> bool {
        let want = u64::from(n) * PERMIT;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let (next, wait) = if state >= want && state & WAITERS == 0 {
                (state - want, false)
            } else {
                assert!(state & WAITERS != WAITERS, "too many semaphore waiters");
                (state + 1, true)
            };
            // AcqRel: a releaser that sees this waiter counted in must also
            // see the line it made and joins (the `OnceBox` publication),
            // and so must acquire what this release publishes.
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return wait,
                Err(now) => state = now,
            }
        }
    }

    /// Under the line's lock: a waiter leaves without its permits.
    fn count_out(&self) {
        self.state.fetch_sub(1, Ordering::Relaxed);
    }

    /// Under the line's lock: takes the `n` permits the oldest waiter wants
    /// from the count, and counts that waiter out. `None` if there are not
    /// enough permits or no waiter, else whether permits and waiters are
    /// both left (another grant may follow).
    fn claim_for_head(&self, n: usize) -> Option<bool> {
        // Waiters change only under the lock we hold, so the load sees their
        // exact number; permits can only grow meanwhile (nobody takes one
        // from the count while somebody is in line), and a releaser that adds
        // some after this load sees the waiters and hands off in turn.
        let want = n as u64 * PERMIT;
        let state = self.state.load(Ordering::Relaxed);
        if state < want || state & WAITERS == 0 {
            return None;
        }
        let after = self.state.fetch_sub(want + 1, Ordering::AcqRel) - want - 1;
        Some(after >= PERMIT && after & WAITERS != 0)
    }

    /// Moves permits from the count to waiters, oldest first, while the
    /// oldest has enough. Permits added after the last grant's look at the
    /// word are handed off by whoever added them: they saw the waiters.
    fn hand_off(&self) {
        // Waiters are counted in only under the line's lock, so they exist
        // only once the line does.
        if let Some(list) = self.waiters.get() {
            while let Some(true) = list.grant_next(|n| self.claim_for_head(n)) {}
        }
    }

    /// Adds `n` permits (a raw release), handing them to waiters first.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`MAX_PERMITS`]; nothing changes then.
    #[inline]
    pub(crate) fn give(&self, n: usize) {
        let added = u32::try_from(n).ok().and_then(|n| self.add(n, false));
        assert!(added.is_some(), "semaphore permit count overflow");
    }

    /// Gives back `n` permits taken by a guard. Never fails or panics (it
    /// runs in `Drop`): if raw releases filled the count while the permits
    /// were out, the count saturates at [`MAX_PERMITS`] instead of wrapping.
    ///
    /// With nobody in line this is one compare-and-swap; otherwise the
    /// permits go to the oldest waiters.
    #[inline]
    pub(crate) fn give_back(&self, n: u32) {
        self.add(n, true);
    }

    /// Adds `n` permits and hands them to waiters; beyond [`MAX_PERMITS`],
    /// stops at it if `saturate`, else changes nothing and returns `None`.
    #[inline]
    fn add(&self, n: u32, saturate: bool) -> Option<()> {
        let added = u64::from(n) * PERMIT;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let next = if FULL - (state & !WAITERS) >= added {
                state + added
            } else if saturate {
                // Nobody waits while permits are free, so only the permits
                // that fit can be wanted.
                FULL | (state & WAITERS)
            } else {
                return None;
            };
            if next == state {
                return Some(());
            }
            // AcqRel: seeing a waiter counted in, this release must see the
            // line that waiter made (see `count_in`); found by miri's
            // weak-memory emulation (tests/found.rs).
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        if state & WAITERS != 0 {
            self.hand_off();
        }
        Some(())
    }

    pub(crate) fn available(&self) -> usize {
        (self.state.load(Ordering::Acquire) / PERMIT) as usize
    }

    pub(crate) fn waiters(&self) -> usize {
        (self.state.load(Ordering::Relaxed) & WAITERS) as usize
    }
}

/// One call waiting for `n` permits, handed the [`Permits`] on every step.
///
/// Joins the line on its first poll (unless the permits are free and nobody
/// waits) and completes when a release hands it its permits. Cancelled while
/// in line it leaves; cancelled after a grant it did not see, it gives the
/// permits back (to the next in line).
pub(crate) struct AcquireWait {
    n: u32,
    ticket: Option<Ticket>,
}

impl AcquireWait {
    pub(crate) fn new(n: u32) -> Self {
        AcquireWait { n, ticket: None }
    }
}

impl AcquireWait {
    /// Everything after a failed first try, out of line so that the first
    /// try inlines into the caller's crate (as the lock's does).
    #[cold]
    #[inline(never)]
    fn poll_slow(&mut self, permits: &Permits, wakeup: Wakeup<'_>) -> Poll<()> {
        match self.ticket {
            None => {
                if permits.try_take(self.n) {
                    return Poll::Ready(());
                }
                let n = self.n;
                let list = permits.list();
                match list.enqueue_tagged_unless(wakeup, n as usize, || !permits.count_in(n)) {
                    None => Poll::Ready(()),
                    Some(ticket) => {
                        self.ticket = Some(ticket);
                        Poll::Pending
                    }
                }
            }
            Some(ticket) => {
                let list = permits.list();
                if list.poll_ticket(ticket, wakeup) {
                    self.ticket = None;
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl Handed<Permits> for AcquireWait {
    #[inline]
    fn poll(&mut self, permits: &Permits, wakeup: Wakeup<'_>) -> Poll<()> {
        if self.ticket.is_none() && permits.try_take(self.n) {
            return Poll::Ready(());
        }
        self.poll_slow(permits, wakeup)
    }

    /// The deadline passed: leaves the line, unless a grant came first;
    /// `true` if it has its permits.
    fn expire(&mut self, permits: &Permits) -> bool {
        self.ticket
            .take()
            .is_some_and(|ticket| !leave(permits, ticket))
    }

    /// Gives up: leaves the line, or passes on permits granted meanwhile.
    fn cancel(&mut self, permits: &Permits) {
        if let Some(ticket) = self.ticket.take() {
            if !leave(permits, ticket) {
                // Granted, but never seen: the permits go on.
                permits.give_back(self.n);
            }
        }
    }

    fn woken(&self, permits: &Permits) -> bool {
        self.ticket
            .is_none_or(|ticket| permits.list().is_notified(ticket))
    }
}

/// A waiter leaves the line; `false` if it had been granted its permits
/// first. The waiter behind it may want fewer permits than it did, and be
/// served by those already free: the line is looked at again.
fn leave(permits: &Permits, ticket: Ticket) -> bool {
    let left = permits.list().leave(ticket, || permits.count_out());
    if left {
        permits.hand_off();
    }
    left
}
