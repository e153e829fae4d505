//! Eventually fair waiting: newcomers may barge (fast under contention), but a
//! waiter that has waited too long reserves the next free turn for itself.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::state::{LOCKED, STARVING, pass_along, take_if_clear, wake_next};
use crate::wait::WaitList;
use crate::wait::sync::AtomicUsize;

/// How long a waiter lets newcomers barge in before it claims its turn.
pub(crate) const STARVATION: Duration = Duration::from_micros(500);

/// One waiting call's claim to fairness. From its first failed attempt on it
/// measures how long it waits; past [`STARVATION`] it sets the lock's
/// `STARVING` flag (at most one waiter owns it), after which newcomers leave
/// the lock to it and waiters that are woken pass their wake-ups along until
/// one reaches it. Cancelled while owning the flag, it must
/// [`give_up`](FairWaiter::give_up).
#[derive(Default)]
pub(crate) struct FairWaiter {
    since: Option<Instant>,
    /// Failed attempts so far; the clock is read on every other one.
    failures: u32,
    starving: bool,
}

impl FairWaiter {
    /// Tries to take the lock, fairly.
    pub(crate) fn attempt(&mut self, state: &AtomicUsize, list: &WaitList) -> bool {
        if self.starving {
            if take_if_clear(state, LOCKED, STARVING) {
                self.starving = false;
                return true;
            }
            return false;
        }
        if take_if_clear(state, LOCKED | STARVING, 0) {
            return true;
        }
        // Waiting calls fail in pairs (before joining the line and again
        // right after, microseconds apart): reading the clock on the first of
        // each pair is enough (clock reads once showed up at 5 % of a
        // contended profile).
        self.failures = self.failures.wrapping_add(1);
        if self.failures % 2 == 1 {
            let now = Instant::now();
            let since = *self.since.get_or_insert(now);
            if waited_too_long(now.duration_since(since), self.failures)
                && state.fetch_or(STARVING, Ordering::AcqRel) & STARVING == 0
            {
                self.starving = true;
                return self.attempt(state, list);
            }
        }
        if state.load(Ordering::Acquire) & (LOCKED | STARVING) == STARVING {
            // The free lock is reserved for a starving waiter that may be
            // asleep: pass a wake-up along the line until it reaches it.
            pass_along(state, list);
        }
        false
    }

    /// Whether this waiter owns the starvation flag: the next turn is its own.
    pub(crate) fn is_starving(&self) -> bool {
        self.starving
    }

    /// The waiting call ended without the lock (cancelled, timed out): gives
    /// the flag up if it owns it, and wakes a waiter if the lock is free.
    pub(crate) fn give_up(&mut self, state: &AtomicUsize, list: &WaitList) {
        if std::mem::take(&mut self.starving) {
            state.fetch_and(!STARVING, Ordering::AcqRel);
            wake_next(state, list);
        }
    }
}

/// Whether a waiting call that has failed `failures` times over `waited` has
/// waited too long.
#[cfg(not(ambisync_loom))]
fn waited_too_long(waited: Duration, _failures: u32) -> bool {
    waited >= STARVATION
}

/// loom replays each execution and needs the same choices every time, which a
/// real clock does not give: in the model tests the test decides, by a count
/// of failed attempts (`ambisync::model::starve_after`).
#[cfg(ambisync_loom)]
fn waited_too_long(_waited: Duration, failures: u32) -> bool {
    crate::model::starves(failures)
}
