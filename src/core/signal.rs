//! An event-listener [`Event`] paired with a count of its waiters.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use event_listener::{Event, IntoNotification};

use super::wait::WaiterCount;

/// An [`Event`] that knows whether anybody listens, so that notifying an idle
/// signal costs one fence and one load instead of a lock (and, the first time,
/// an allocation) inside event-listener.
///
/// The releaser publishes its change (a store, an atomic RMW, or a mutex
/// unlock), then calls a `notify_*` method, which fences before reading the
/// count. A waiter registers (an `SeqCst` RMW), listens (event-listener fences
/// after inserting the listener) and only then re-checks the state. With a
/// sequentially consistent fence on both sides, either the releaser sees the
/// waiter or the waiter sees the released state.
#[derive(Default)]
pub(crate) struct Signal {
    pub(crate) event: Event,
    waiting: AtomicUsize,
}

impl Signal {
    pub(crate) const fn new() -> Self {
        Signal {
            event: Event::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// How many waiters are registered right now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    fn anybody_waiting(&self) -> bool {
        fence(Ordering::SeqCst);
        self.waiting.load(Ordering::Relaxed) > 0
    }

    /// Notifies `n` more waiters than are already notified: for releases that
    /// free `n` units. Returns how many it notified.
    pub(crate) fn notify_additional(&self, n: usize) -> usize {
        if n == 0 || !self.anybody_waiting() {
            return 0;
        }
        self.event.notify(n.additional())
    }

    /// Notifies every current waiter. Returns how many it notified.
    pub(crate) fn notify_all(&self) -> usize {
        if !self.anybody_waiting() {
            return 0;
        }
        self.event.notify(usize::MAX.additional())
    }
}

impl WaiterCount for Signal {
    fn register(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `anybody_waiting`: the waiter's later
        // re-check of the state cannot be ordered before its registration.
        fence(Ordering::SeqCst);
    }

    fn unregister(&self) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("waiting", &self.waiting())
            .finish()
    }
}
