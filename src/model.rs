//! For the loom model tests only: compiled with `--cfg ambisync_loom`, never
//! otherwise. A public face of the waiter list, so that `tests/loom.rs` can
//! check its protocol directly, and the starvation "clock" the tests set.

use std::cell::Cell;
use std::fmt;
use std::task::Waker;

use crate::wait::list::{Ticket, WaitList, Wakeup, park_until};

std::thread_local! {
    // A std thread-local on purpose: loom runs every thread of a model on
    // the test's own OS thread, and tests run on different OS threads.
    static STARVE_AFTER: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// On this test's OS thread, from now on: a waiting `Lock`/`RLock` call
/// counts as having waited too long at its `failures`-th failed attempt
/// (`None`: never, the default). Calls look at the clock on odd-numbered
/// failures only: `Some(1)` is "at its first failure", `Some(3)` "at the first
/// failure after a wake-up".
///
/// loom needs every replay of an execution to make the same choices, which a
/// real clock does not give; a model picks one of the clock's possible
/// answers this way, and must hold for each.
pub fn starve_after(failures: Option<u32>) {
    STARVE_AFTER.set(failures.unwrap_or(u32::MAX));
}

/// Whether a waiting call that failed `failures` times has waited too long.
pub(crate) fn starves(failures: u32) -> bool {
    failures >= STARVE_AFTER.get()
}

/// A [`WaitList`], for the model tests.
pub struct List(WaitList);

/// A place in a [`List`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListTicket(Ticket);

fn wakeup(waker: Option<&Waker>) -> Wakeup<'_> {
    waker.map_or(Wakeup::Thread, Wakeup::Task)
}

impl List {
    /// An empty line.
    pub fn new() -> List {
        List(WaitList::new())
    }

    /// Joins the back of the line: a task with `waker`, else this thread.
    pub fn enqueue(&self, waker: Option<&Waker>) -> ListTicket {
        ListTicket(self.0.enqueue(wakeup(waker)))
    }

    /// Joins unless `done()`, called under the list's lock, says no.
    pub fn enqueue_unless(
        &self,
        waker: Option<&Waker>,
        done: impl FnOnce() -> bool,
    ) -> Option<ListTicket> {
        self.0.enqueue_unless(wakeup(waker), done).map(ListTicket)
    }

    /// Whether the ticket's waiter was notified.
    pub fn is_notified(&self, ticket: ListTicket) -> bool {
        self.0.is_notified(ticket.0)
    }

    /// Leaves the line: `true` if still waiting, `false` if notified first.
    pub fn leave(&self, ticket: ListTicket) -> bool {
        self.0.leave(ticket.0, || {})
    }

    /// Wakes the `n` oldest; how many it woke.
    pub fn notify(&self, n: usize) -> usize {
        self.0.notify(n)
    }

    /// Wakes everybody; how many it woke.
    pub fn wake_all(&self) -> usize {
        self.0.wake_all()
    }

    /// The sequence number of the last waiter notified (moved by `wake_all`
    /// even when nobody waits).
    pub fn last_notified(&self) -> u64 {
        self.0.last_notified()
    }

    /// How many wait in line.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nobody waits in line.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// Whether somebody waits, for a releaser that just changed the state.
    pub fn anybody_waiting(&self) -> bool {
        self.0.anybody_waiting()
    }

    /// Parks this thread until the ticket is notified.
    pub fn park_until_notified(&self, ticket: ListTicket) {
        park_until(None, || self.0.is_notified(ticket.0));
    }
}

impl Default for List {
    fn default() -> Self {
        List::new()
    }
}

impl fmt::Debug for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("List").field("len", &self.len()).finish()
    }
}
