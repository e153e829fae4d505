//! The lock's state word: the locked bit, the starvation flag and the count
//! of waiting calls, and the one way to set the locked bit.

use std::sync::atomic::Ordering;

use crate::wait::sync::AtomicUsize;

/// Bit 0 of the state: somebody holds the lock.
pub(super) const LOCKED: usize = 1;
/// Bit 1: a waiter has waited too long; newcomers stop barging until it got in.
pub(super) const STARVING: usize = 2;
/// The rest of the state counts waiting calls, in units of this.
pub(super) const WAITER: usize = 4;

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
