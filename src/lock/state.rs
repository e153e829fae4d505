//! The lock's state word: the locked bit, the starvation flag, the woken
//! flag and the count of waiting calls; the one way to set the locked bit and
//! the one way to wake a waiter.

use std::sync::atomic::Ordering;

use crate::wait::WaitList;
use crate::wait::sync::AtomicUsize;

/// Bit 0 of the state: somebody holds the lock.
pub(super) const LOCKED: usize = 1;
/// Bit 1: a waiter has waited too long; newcomers stop barging until it got in.
pub(super) const STARVING: usize = 2;
/// Bit 2: a waiter was woken and has not run yet (or is still being woken):
/// unlocks wake nobody else meanwhile, since one waiter at a time can take
/// the lock. The woken waiter clears it when it runs, and passes its wake-up
/// on if it does not take the lock. Kept in the state word, which every
/// unlock has just written, so that an unlock that finds a waiter already
/// woken touches no other cache line and needs no fence.
pub(super) const WOKEN: usize = 4;
/// The rest of the state counts waiting calls, in units of this.
pub(super) const WAITER: usize = 8;

/// Sets `LOCKED` in `state` if none of the `must_be_clear` bits is set, and
/// clears the `also_clear` bits with it. The first try assumes an idle lock.
#[inline]
pub(super) fn take_if_clear(state: &AtomicUsize, must_be_clear: usize, also_clear: usize) -> bool {
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

/// Whether an unlock that left `state` behind must wake a waiter: somebody is
/// counted as waiting, nobody has taken the lock since (its holder's unlock
/// will see to it) and no woken waiter has yet to run.
#[inline]
pub(super) fn must_wake(state: usize) -> bool {
    state >= WAITER && state & (LOCKED | WOKEN) == 0
}

/// Wakes the oldest waiter in `list` if the lock is free, somebody is counted
/// as waiting and no woken waiter has yet to run.
///
/// [`WOKEN`] is set under the line's lock, just before the oldest waiter is
/// taken out of line, and only if somebody is in line: a flag set for a wake-up
/// that then does not happen would make unlocks meanwhile skip theirs (loom
/// found that when the flag was set first and cleared again). A counted
/// waiter that has not joined the line yet looks at the lock after joining.
#[cold]
pub(super) fn wake_next(state: &AtomicUsize, list: &WaitList) {
    list.notify_one_if(|| claim_wake_up(state));
}

/// [`wake_next`] for a waiter that found the free lock reserved for a
/// starving waiter: wakes the oldest only while the starving waiter is still
/// in line, to bring the wake-up one step closer to it. Once it was woken it
/// will run anyway, and waiters passing wake-ups to each other meanwhile
/// would only spin (loom found a thread passing its own wake-up back to
/// itself until the starving task ran).
#[cold]
pub(super) fn pass_along(state: &AtomicUsize, list: &WaitList) {
    list.notify_one_toward_reserved_if(|| claim_wake_up(state));
}

/// Sets [`WOKEN`] if [`must_wake`] says a waiter must be woken: the caller
/// then wakes one.
fn claim_wake_up(state: &AtomicUsize) -> bool {
    let mut now = state.load(Ordering::Relaxed);
    loop {
        if !must_wake(now) {
            return false;
        }
        match state.compare_exchange_weak(now, now | WOKEN, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => now = actual,
        }
    }
}

/// The caller was woken by [`wake_next`] and now runs (or gives up): clears
/// [`WOKEN`] so that the next unlock wakes the next waiter. The caller looks
/// at the lock after this; both this and an unlock are read-modify-writes of
/// the one state word, so either the unlock sees the flag clear and wakes
/// somebody, or the caller sees the lock free.
#[inline]
pub(super) fn woken_runs(state: &AtomicUsize) {
    state.fetch_and(!WOKEN, Ordering::AcqRel);
}
