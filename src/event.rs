//! [`Event`]: a flag that tasks and threads wait for (Python `threading.Event`).

use std::fmt;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use crate::wait::sync::AtomicUsize;
use crate::wait::{
    LazyList, SpendOnReady, Ticket, WaitList, WaitOp, Wakeup, block_on, block_on_untimed,
    deadline_after,
};
#[cfg(feature = "tokio")]
use crate::wait::{MapOutput, Timed};

/// Bit 0 of the state: the flag. Waiters are not counted in the state word:
/// a waiter looks at the flag under the list's lock when it joins, and a
/// `set()` that changes the flag takes that lock to wake the line, so either
/// the waiter sees the flag or the `set()` sees the waiter. Counting waiters
/// here too (so that a `set()` with nobody waiting was one atomic operation)
/// cost every waiter a read-modify-write of a shared word: a quarter of a
/// wake-all of 100 futures (BENCHMARKS.md, "Sixth session").
const SET: usize = 1;

/// A flag that starts false; [`set`](Event::set) makes it true and wakes every
/// task and thread waiting for it, [`clear`](Event::clear) makes it false again.
///
/// `set()` releases every waiter present at that moment, even if `clear()`
/// follows at once (Python's `test_set_and_clear`): a waiter learns that it
/// was woken from the waiter list, not from the flag.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ambisync::Event;
///
/// # futures::executor::block_on(async {
/// let started = Arc::new(Event::new());
/// let remote = Arc::clone(&started);
/// let thread = std::thread::spawn(move || remote.wait_blocking());
/// started.set();
/// thread.join().unwrap();
/// started.wait().await; // already set: returns at once
/// # });
/// ```
pub struct Event {
    state: AtomicUsize,
    waiters: LazyList,
}

/// One [`Event::wait`]: returns at once if the flag is set, else waits in
/// line until a `set()` empties it.
struct EventWait<'a> {
    event: &'a Event,
    ticket: Option<Ticket>,
}

impl WaitOp for EventWait<'_> {
    type Output = ();

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<()> {
        let event = self.event;
        let Some(ticket) = self.ticket else {
            if event.is_set() {
                return Poll::Ready(());
            }
            return match event.enter(wakeup) {
                None => Poll::Ready(()),
                Some(ticket) => {
                    self.ticket = Some(ticket);
                    Poll::Pending
                }
            };
        };
        // A wake-up means the flag was set while we waited, whatever it is
        // now. `set()` counted us out.
        let list = event.list();
        if list.poll_ticket(ticket, wakeup) {
            self.ticket = None;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn expire(&mut self) -> Poll<Option<()>> {
        let set = match self.ticket.take() {
            Some(ticket) => !self.event.leave(ticket) || self.event.is_set(),
            None => true,
        };
        Poll::Ready(set.then_some(()))
    }

    fn woken(&self) -> bool {
        self.ticket
            .is_none_or(|ticket| self.event.list().is_notified(ticket))
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.event.leave(ticket);
        }
    }
}

impl Event {
    crate::wait::const_unless_loom! {
        /// Creates an event whose flag is false.
        ///
        /// ```
        /// assert!(!ambisync::Event::new().is_set());
        /// ```
        pub fn new() -> Event {
            Event {
                state: AtomicUsize::new(0),
                waiters: LazyList::new(),
            }
        }
    }

    /// Sets the flag and wakes every task and thread waiting at this moment.
    ///
    /// ```
    /// let event = ambisync::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        let before = self.state.fetch_or(SET, Ordering::SeqCst);
        // Waiters check the flag under the list's lock when they join, so
        // only the transition from clear to set can find somebody asleep;
        // the wake-all takes that lock (and moves the list's mark even when
        // nobody is in line, for a waiter about to join: see `enter`).
        if before & SET == 0 {
            if let Some(list) = self.waiters.get() {
                list.wake_all();
            }
        }
    }

    /// Clears the flag; later waits wait for the next [`set`](Event::set).
    ///
    /// ```
    /// let event = ambisync::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        self.state.fetch_and(!SET, Ordering::SeqCst);
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// assert!(!ambisync::Event::new().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.state.load(Ordering::SeqCst) & SET != 0
    }

    /// Waits until the flag is set; returns at once if it is.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped future leaves the list; nothing else changes.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let event = ambisync::Event::new();
    /// event.set();
    /// event.wait().await;
    /// # });
    /// ```
    pub fn wait(&self) -> impl Future<Output = ()> {
        // A wake-up is `()`: it may wait a turn for tokio's budget, so the
        // poll that only joins the line skips the budget.
        SpendOnReady::new(self.wait_op())
    }

    fn wait_op(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            ticket: None,
        }
    }

    /// [`wait`](Event::wait) for at most `timeout`; `true` if the flag was set
    /// (or a `set()` woke this waiter).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`wait`](Event::wait).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let event = ambisync::Event::new();
    /// assert!(!event.wait_timeout(Duration::from_millis(5)).await);
    /// event.set();
    /// assert!(event.wait_timeout(Duration::from_millis(5)).await);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> impl Future<Output = bool> {
        let waiting = Timed::new(self.wait_op(), timeout);
        MapOutput::new(waiting, |out: Option<()>| out.is_some())
    }

    /// [`wait`](Event::wait), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`wait`](Event::wait) there): always in debug builds,
    /// when it would have to wait in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = ambisync::Event::new();
    /// event.set();
    /// event.wait_blocking();
    /// ```
    #[track_caller]
    pub fn wait_blocking(&self) {
        block_on_untimed(self.wait_op(), "wait_blocking");
    }

    /// [`wait_timeout`](Event::wait_timeout), blocking the thread; needs no
    /// runtime.
    ///
    /// # Panics
    ///
    /// As [`wait_blocking`](Event::wait_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let event = ambisync::Event::new();
    /// assert!(!event.wait_timeout_blocking(Duration::from_millis(5)));
    /// ```
    #[track_caller]
    pub fn wait_timeout_blocking(&self, timeout: Duration) -> bool {
        block_on(
            self.wait_op(),
            deadline_after(timeout),
            "wait_timeout_blocking",
        )
        .is_some()
    }

    fn list(&self) -> &WaitList {
        self.waiters.get_or_init()
    }

    /// Puts the caller in the list, unless the flag is set (or a `set()`
    /// happened since it started): then `None`.
    fn enter(&self, wakeup: Wakeup<'_>) -> Option<Ticket> {
        let list = self.list();
        // A `set()` after this point wakes us even if the flag is cleared
        // again by the time we join the line: it moves the list's "last
        // notified" mark, which we look at under the list's lock.
        let seen = list.last_notified();
        list.enqueue_unless(wakeup, || list.last_notified() != seen || self.is_set())
    }

    /// A waiter gives up; `true` if it was still waiting, `false` if a
    /// `set()` had woken it first.
    fn leave(&self, ticket: Ticket) -> bool {
        self.list().leave(ticket, || {})
    }

    /// How many tasks and threads are waiting (a snapshot). Waiters that a
    /// [`set`](Event::set) woke no longer count, even before they run.
    ///
    /// ```
    /// assert_eq!(ambisync::Event::new().waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.waiters.get().map_or(0, WaitList::len)
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("waiters", &self.waiters())
            .finish()
    }
}
