//! The lock bit itself, with its waiters and the starvation guard: what
//! [`Lock`](crate::Lock), [`RLock`](crate::RLock) and a condition's relock are
//! built on.

use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use super::fair::{FairWaiter, STARVATION};
use super::state::{LOCKED, STARVING, WAITER, must_wake, wake_next, woken_runs};
use crate::error::ReleaseError;
use crate::wait::sync::AtomicUsize;
use crate::wait::{Handed, Held, LazyList, Part, Ticket, WaitList, Wakeup};

/// A lock without a value: one state word (the locked bit, the starvation
/// flag, the woken flag and the number of waiting calls) and the line they
/// wait in.
///
/// Not fair, but eventually fair: a running caller may take the lock ahead
/// of a woken waiter (fast under contention), and a waiter that has waited
/// longer than [`STARVATION`] reserves the next turn for itself. An unlock
/// wakes the oldest waiter unless a woken one has yet to run: only one can
/// take the lock.
#[doc(hidden)] // public only as the type a sealed trait of `Condition` names
pub struct RawLock {
    state: AtomicUsize,
    waiters: LazyList,
}

impl RawLock {
    crate::wait::const_unless_loom! {
        pub(crate) fn new() -> RawLock {
            RawLock {
                state: AtomicUsize::new(0),
                waiters: LazyList::new(),
            }
        }
    }

    /// Sets the locked bit if it is clear; waiters are not asked. For the
    /// non-waiting `try_` forms, which take a free lock whoever waits.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.state.fetch_or(LOCKED, Ordering::Acquire) & LOCKED == 0
    }

    /// Sets the locked bit if it is clear and nobody starves: the first try of
    /// a waiting call, so that newcomers queue behind a starving waiter.
    #[inline]
    pub(crate) fn try_lock_fair(&self) -> bool {
        if self.state.fetch_or(LOCKED, Ordering::Acquire) & LOCKED != 0 {
            return false;
        }
        // One `lock bts` rather than a compare and swap that must guess the
        // rest of the word (a guess of 0 fails whenever anybody is counted as
        // waiting, and the second try costs another trip of the contended
        // cache line). The line is now this core's: reading the flag is free.
        if self.state.load(Ordering::Relaxed) & STARVING == 0 {
            return true;
        }
        // The free lock was reserved for a starving waiter: give it back as
        // any holder would (waking a waiter if one must be).
        self.unlock();
        false
    }

    /// Clears the locked bit and wakes a waiter if there is one.
    #[inline]
    pub(crate) fn unlock(&self) {
        // Clear the bit rather than subtract it: on `Lock<()>` a raw
        // `release()` by anybody may already have cleared it (Python lets any
        // caller release a held lock), and subtracting would then underflow
        // into "locked forever, with usize::MAX / 8 waiters".
        //
        // The result is not used, so this is a single `lock and` on x86; the
        // load after it sees any waiting call counted before the clear (same
        // location, later in its modification order), and one counted after
        // the clear finds the lock free on its next attempt.
        self.state.fetch_and(!LOCKED, Ordering::Release);
        if must_wake(self.state.load(Ordering::Acquire)) {
            self.wake_one();
        }
    }

    /// Wakes the oldest waiter unless a woken one has yet to run.
    #[cold]
    fn wake_one(&self) {
        // Counted waiters made the list before counting themselves in.
        if let Some(list) = self.waiters.get() {
            wake_next(&self.state, list);
        }
    }

    /// Clears the locked bit if it is set (Python's `release()` by anybody).
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotLocked`] when it is not locked; nothing changes.
    pub(crate) fn release(&self) -> Result<(), ReleaseError> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                return Err(ReleaseError::NotLocked);
            }
            match self.state.compare_exchange_weak(
                state,
                state & !LOCKED,
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        if must_wake(state & !LOCKED) {
            self.wake_one();
        }
        Ok(())
    }

    /// Whether somebody holds the lock right now.
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Acquire) & LOCKED != 0
    }

    /// How many tasks and threads wait for the lock (a snapshot).
    pub(crate) fn waiters_now(&self) -> usize {
        self.state.load(Ordering::Relaxed) / WAITER
    }
}

impl std::fmt::Debug for RawLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLock")
            .field("locked", &self.is_locked())
            .field("waiters", &self.waiters_now())
            .finish()
    }
}

/// Spins a while before a thread joins the line: a lock is often held for
/// less time than parking and waking take. `true` if it took the lock.
///
/// It only looks at the state word between pauses (no compare and swap while
/// the lock is held, which would pull its cache line away from the holder)
/// and tries when the lock is free. It stops as soon as anybody is counted as
/// waiting or starving: the lock then goes round by wake-ups, and a spinner
/// would only take turns from the woken (parking_lot's mutex stops on its
/// parked bit for the same reason).
///
/// It never yields the processor: `yield_now` rounds as parking_lot's were
/// tried and, on a loaded machine, made a thread that had to claim its turn
/// from relocking tasks wait milliseconds before its starvation clock even
/// started (BENCHMARKS.md, "Performance round 2").
fn spin_until(lock: &RawLock) -> bool {
    // In the loom models the retries only repeat the try just made (nothing
    // new to check) and multiply the interleavings to explore.
    if cfg!(ambisync_loom) {
        return false;
    }
    for round in 0..SPIN_ROUNDS {
        for _ in 0..(FIRST_PAUSE << round) {
            std::hint::spin_loop();
        }
        let state = lock.state.load(Ordering::Relaxed);
        if state & (LOCKED | STARVING) == 0 {
            if lock.try_lock_fair() {
                return true;
            }
        } else if state >= WAITER || state & STARVING != 0 {
            return false;
        }
    }
    false
}

/// Rounds of [`spin_until`]: pauses of 32, 64 and 128 `spin_loop`s, about
/// 1, 2 and 4 µs where a pause takes 30 ns (a `pause` of AMD Zen or recent
/// Intel), 7 µs in all.
///
/// Few looks, far apart: each look pulls the state word's cache line away
/// from the holder's core, whose next unlock and relock then wait for it.
/// Looking after 2, 4, 8 and 16 pauses (the first version) kept the line
/// moving between the cores and cost contended `lock_blocking` 1.5–1.8×
/// parking_lot's time; these rounds let the holder's core run several turns
/// in a row (BENCHMARKS.md, "Sixth session").
const SPIN_ROUNDS: u32 = 3;

/// The pause before the first look of [`spin_until`], in `spin_loop`s.
const FIRST_PAUSE: u32 = 32;

/// The longest a waiting thread sleeps before it looks at the lock again
/// without a wake-up.
const MAX_RECHECK: Duration = Duration::from_millis(16);

/// One call waiting for a [`RawLock`], handed the lock on every step (so that
/// an owned guard's future can hold the lock's `Arc` next to it).
///
/// Protocol: count the call in (so that unlocks wake somebody), try, join
/// the line, try again, wait for a wake-up, repeat. A woken waiter that
/// gives up, or takes the lock on the try right after joining, passes the
/// wake-up on if the lock is free.
pub(crate) struct RawLockWait {
    ticket: Option<Ticket>,
    /// Counted in the lock's state word as a waiting call.
    counted: bool,
    fair: FairWaiter,
    /// How long a parked thread sleeps before it looks again by itself: a
    /// thread whose wake-ups are all taken by barging tasks must still wake
    /// to notice that it starves and claim its turn.
    recheck: Duration,
}

impl Default for RawLockWait {
    fn default() -> Self {
        RawLockWait {
            ticket: None,
            counted: false,
            fair: FairWaiter::default(),
            recheck: STARVATION,
        }
    }
}

impl Handed<RawLock> for RawLockWait {
    /// The first try is inlined into the caller (this crate's generic code is
    /// compiled in the user's crate, a non-generic function is not): a free
    /// lock costs one compare and swap and no call.
    #[inline]
    fn poll(&mut self, lock: &RawLock, wakeup: Wakeup<'_>) -> Poll<()> {
        if self.ticket.is_none() && !self.counted && lock.try_lock_fair() {
            return Poll::Ready(());
        }
        self.poll_slow(lock, wakeup)
    }

    /// One last try at the deadline; `false` (and out of line) if it failed.
    fn expire(&mut self, lock: &RawLock) -> bool {
        if self.counted && self.fair.attempt(&lock.state, lock.list()) {
            if let Some(ticket) = self.ticket.take() {
                let list = lock.list();
                if !list.leave(ticket, || {}) {
                    pass_on(lock, list);
                }
            }
            self.uncount(lock);
            return true;
        }
        self.cancel(lock);
        false
    }

    /// Gives up: leaves the line and the count, passing on what it held.
    #[inline]
    fn cancel(&mut self, lock: &RawLock) {
        if self.counted {
            self.cancel_counted(lock);
        }
    }

    fn woken(&self, lock: &RawLock) -> bool {
        self.ticket
            .is_none_or(|ticket| lock.list().is_notified(ticket))
    }

    fn park_limit(&mut self) -> Option<Duration> {
        if cfg!(ambisync_loom) {
            return None;
        }
        if self.fair.is_starving() {
            // The lock is reserved for this thread and everybody else waits
            // for it: look often, whether or not a wake-up finds it.
            return Some(STARVATION);
        }
        let limit = self.recheck;
        self.recheck = (limit * 2).min(MAX_RECHECK);
        Some(limit)
    }
}

impl RawLockWait {
    /// Everything but a first try that found the lock free.
    #[inline(never)]
    fn poll_slow(&mut self, lock: &RawLock, wakeup: Wakeup<'_>) -> Poll<()> {
        let list = match self.ticket {
            Some(ticket) => {
                let list = lock.list();
                if !list.poll_ticket(ticket, wakeup) {
                    // Polled without a wake-up of its own (a task polling
                    // several futures): it tries anyway. The unlock's wake-up
                    // may sit with another future of this task that is never
                    // polled again (async-lock#91), and this one must not
                    // sleep on a free lock.
                    if self.attempt_in_line(lock, list, ticket) {
                        self.ticket = None;
                        if !list.leave(ticket, || {}) {
                            pass_on(lock, list);
                        }
                        self.uncount(lock);
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
                self.ticket = None;
                woken_runs(&lock.state);
                list
            }
            None if !self.counted => {
                // `poll` has just tried once.
                if matches!(wakeup, Wakeup::Thread) && spin_until(lock) {
                    return Poll::Ready(());
                }
                let list = lock.waiters.get_or_init();
                lock.state.fetch_add(WAITER, Ordering::SeqCst);
                self.counted = true;
                list
            }
            None => lock.list(),
        };
        if self.fair.attempt(&lock.state, list) {
            self.uncount(lock);
            return Poll::Ready(());
        }
        let ticket = list.enqueue(wakeup);
        if self.attempt_in_line(lock, list, ticket) {
            if !list.leave(ticket, || {}) {
                pass_on(lock, list);
            }
            self.uncount(lock);
            return Poll::Ready(());
        }
        self.ticket = Some(ticket);
        Poll::Pending
    }

    /// Tries to take the lock while in line with `ticket`. A starving waiter
    /// first marks its place as the one wake-ups are passed along to, then
    /// tries (again, if it claimed the flag on this try): a waiter woken after
    /// that try failed then sees the mark under the line's lock and passes
    /// its wake-up on, so the lock kept for this waiter never sits free while
    /// it sleeps.
    fn attempt_in_line(&mut self, lock: &RawLock, list: &WaitList, ticket: Ticket) -> bool {
        loop {
            let starving = self.fair.is_starving();
            if starving {
                list.reserve(ticket);
            }
            if self.fair.attempt(&lock.state, list) {
                return true;
            }
            if self.fair.is_starving() == starving {
                return false;
            }
        }
    }

    #[cold]
    fn cancel_counted(&mut self, lock: &RawLock) {
        let list = lock.list();
        if let Some(ticket) = self.ticket.take() {
            if !list.leave(ticket, || {}) {
                pass_on(lock, list);
            }
        }
        self.uncount(lock);
        self.fair.give_up(&lock.state, list);
    }

    fn uncount(&mut self, lock: &RawLock) {
        if std::mem::take(&mut self.counted) {
            lock.state.fetch_sub(WAITER, Ordering::Release);
        }
    }
}

impl RawLock {
    /// The line, which every counted waiter made.
    fn list(&self) -> &WaitList {
        self.waiters
            .get()
            .expect("a waiting call made the list before it counted itself in")
    }
}

/// A wake-up that a waiter was sent and did not use goes on to the next
/// waiter if the lock is free (if not, its holder's unlock wakes somebody).
fn pass_on(lock: &RawLock, list: &WaitList) {
    woken_runs(&lock.state);
    wake_next(&lock.state, list);
}

/// Taking the lock behind `H` (a reference or an `Arc` of a `Lock`, an
/// `RLock`): gives `H` back.
pub(crate) type LockOp<H> = Held<H, RawLock, RawLockWait>;

/// [`LockOp`] on `handle`.
pub(crate) fn lock_op<H: Deref<Target: Part<RawLock>>>(handle: H) -> LockOp<H> {
    Held::new(handle, RawLockWait::default())
}
