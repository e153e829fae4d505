//! The lock bit itself, with its waiters and the starvation guard: what
//! [`Lock`](crate::Lock) and [`RLock`](crate::RLock) are built on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use event_listener::Event;

use super::fair::{FairState, FairWaiter, STARVATION};
use crate::core::{CountedIn, block_until_rechecking, wait_until};
use crate::error::ReleaseError;

/// Bit 0 of the state: somebody holds the lock.
const LOCKED: usize = 1;
/// Bit 1: a waiter has waited too long; newcomers stop barging until it got in.
const STARVING: usize = 2;
/// The rest of the state counts registered waiters, in units of this.
const WAITER: usize = 4;

/// A lock without a value: one state word (the locked bit, the starvation
/// flag and the number of waiters) and the event its waiters listen to.
///
/// Not fair, but eventually fair: a running caller may take the lock ahead
/// of a woken waiter (fast under contention), and a waiter that has waited
/// longer than [`STARVATION`] reserves the next turn for itself.
#[doc(hidden)] // public only as the type a sealed trait of `Condition` names
pub struct RawLock {
    state: AtomicUsize,
    event: Event,
}

impl RawLock {
    pub(crate) const fn new() -> RawLock {
        RawLock {
            state: AtomicUsize::new(0),
            event: Event::new(),
        }
    }

    /// Sets the locked bit if it is clear; waiters' counts are kept. For the
    /// non-waiting `try_` forms, which take a free lock whoever waits.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        take_if_clear(&self.state, LOCKED, 0)
    }

    /// Sets the locked bit if it is clear and nobody starves: the first try of
    /// a waiting call, so that newcomers queue behind a starving waiter.
    #[inline]
    pub(crate) fn try_lock_fair(&self) -> bool {
        take_if_clear(&self.state, LOCKED | STARVING, 0)
    }

    /// Takes the lock, waiting as long as it takes. Cancel safe: a dropped
    /// future holds nothing and passes on a wake-up it received.
    pub(crate) async fn lock(&self) {
        crate::core::coop::proceed().await;
        if self.try_lock_fair() {
            return;
        }
        let state = LockState(&self.state);
        let mut waiter = FairWaiter::new(&state, &self.event);
        let waiters = CountedIn::<WAITER>(&self.state);
        wait_until(&self.event, &waiters, || waiter.attempt().then_some(())).await;
    }

    /// Takes the lock, blocking the thread until `deadline` (`None`: as long
    /// as it takes); `false` if the deadline passed.
    #[track_caller]
    pub(crate) fn lock_deadline(&self, deadline: Option<Instant>, method: &'static str) -> bool {
        crate::core::runtime::debug_assert_may_block(method);
        if self.try_lock_fair() || spin_until(|| self.try_lock_fair()) {
            return true;
        }
        let state = LockState(&self.state);
        let mut waiter = FairWaiter::new(&state, &self.event);
        // Rechecking: a thread whose wake-ups are all taken by barging tasks
        // must still wake to notice that it starves and claim its turn.
        block_until_rechecking(
            &self.event,
            &CountedIn::<WAITER>(&self.state),
            deadline,
            method,
            Some(STARVATION),
            || waiter.attempt().then_some(()),
        )
        .is_some()
    }

    /// Clears the locked bit and wakes a waiter if there is one.
    #[inline]
    pub(crate) fn unlock(&self) {
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
