//! Eventually fair waiting: newcomers may barge (fast under contention), but a
//! waiter that has waited too long reserves the next free unit for itself.

use std::time::{Duration, Instant};

use event_listener::Event;

/// How long a waiter lets newcomers barge in before it claims its turn.
pub(crate) const STARVATION: Duration = Duration::from_micros(500);

/// A primitive's state with a `STARVING` flag that at most one waiter owns.
pub(crate) trait FairState {
    /// Takes a unit unless the last free one is reserved for a starving waiter.
    fn take_fair(&self) -> bool;
    /// Takes a unit for the starving waiter and clears the flag with it.
    fn take_starving(&self) -> bool;
    /// Sets the flag; `false` if another waiter owns it already.
    fn claim_starving(&self) -> bool;
    /// Clears the flag (its owner gave up); `true` if a unit is free.
    fn unclaim_starving(&self) -> bool;
    /// A unit is free but reserved: its starving waiter may be asleep.
    fn reserved_and_free(&self) -> bool;
}

/// One waiting call. From its first failed attempt on it measures how long
/// it waits; past [`STARVATION`] it claims the flag, after which waiting calls
/// leave the reserved unit to it and pass their wake-ups along until one
/// reaches it. Dropped while owning the flag (cancelled, timed out), it clears
/// it and wakes a waiter if a unit is free.
pub(crate) struct FairWaiter<'a, S: FairState> {
    state: &'a S,
    event: &'a Event,
    since: Option<Instant>,
    /// Failed attempts so far; the clock is read on every other one.
    failures: u32,
    starving: bool,
}

impl<'a, S: FairState> FairWaiter<'a, S> {
    pub(crate) fn new(state: &'a S, event: &'a Event) -> Self {
        FairWaiter {
            state,
            event,
            since: None,
            failures: 0,
            starving: false,
        }
    }

    pub(crate) fn attempt(&mut self) -> bool {
        if self.starving {
            if self.state.take_starving() {
                self.starving = false;
                return true;
            }
            return false;
        }
        if self.state.take_fair() {
            return true;
        }
        // The waiting loops fail in pairs (before listening, and again right
        // after starting to listen, microseconds apart): reading the clock
        // on the first of each pair is enough, and clock reads showed up at
        // 5 % of a contended semaphore's profile when semaphores used it.
        self.failures = self.failures.wrapping_add(1);
        if self.failures % 2 == 1 {
            let now = Instant::now();
            let since = *self.since.get_or_insert(now);
            if now.duration_since(since) >= STARVATION && self.state.claim_starving() {
                self.starving = true;
                return self.attempt();
            }
        }
        if self.state.reserved_and_free() {
            // "At least one notified": a no-op if a waiter already holds a
            // wake-up, which it will pass on in turn if it is not the owner.
            self.event.notify(1);
        }
        false
    }
}

impl<S: FairState> Drop for FairWaiter<'_, S> {
    fn drop(&mut self) {
        if self.starving && self.state.unclaim_starving() {
            self.event.notify(1);
        }
    }
}
