//! [`Event`]: a flag that tasks and threads wait for (Python `threading.Event`).

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::core::sync::{AtomicUsize, OnceBox};
use crate::core::waiters::Wakeup;
use crate::core::wake_all::{Ticket, WakeAllList};

/// Bit 0 of the state: the flag.
const SET: usize = 1;
/// The rest of the state counts waiters in the list (and those about to
/// enter it), in units of this, so that `set()` with nobody waiting is one
/// atomic operation.
const WAITER: usize = 2;

/// A flag that starts false; [`set`](Event::set) makes it true and wakes every
/// task and thread waiting for it, [`clear`](Event::clear) makes it false again.
///
/// `set()` releases every waiter present at that moment, even if `clear()`
/// follows at once (Python's `test_set_and_clear`).
///
/// Unlike the other primitives, `Event` keeps its own waiter list instead of
/// an `event_listener::Event`: waking everybody is its whole job, and a list
/// that is only ever emptied at once lets a woken waiter leave without taking
/// a lock (see BENCHMARKS.md).
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
    /// Allocated by the first waiter that has to wait.
    waiters: OnceBox<WakeAllList>,
}

/// [`Event::wait`] once the flag was found clear: enters the list on its
/// first poll, and leaves it when dropped before a wake-up.
struct Waiting<'a> {
    event: &'a Event,
    list: &'a WakeAllList,
    stage: Stage,
}

enum Stage {
    Start,
    Listed(Ticket),
    Done,
}

impl Future for Waiting<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (event, list) = (self.event, self.list);
        let woken = match self.stage {
            Stage::Start => match event.enter(list, Wakeup::Task(cx.waker())) {
                Some(ticket) => {
                    self.stage = Stage::Listed(ticket);
                    false
                }
                None => true,
            },
            // A wake-up means the flag was set while we waited, whatever it
            // is now.
            Stage::Listed(ticket) => list.is_woken(ticket) || list.update(ticket, cx.waker()),
            Stage::Done => panic!("`Event::wait` polled after it completed"),
        };
        if woken {
            self.stage = Stage::Done;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Stage::Listed(ticket) = self.stage {
            self.event.leave(self.list, ticket);
        }
    }
}

impl Event {
    /// Creates an event whose flag is false.
    ///
    /// ```
    /// assert!(!ambisync::Event::new().is_set());
    /// ```
    #[cfg(not(ambisync_loom))]
    pub const fn new() -> Event {
        Event {
            state: AtomicUsize::new(0),
            waiters: OnceBox::new(),
        }
    }

    /// Creates an event whose flag is false (loom's atomics have no `const`
    /// constructor).
    #[cfg(ambisync_loom)]
    pub fn new() -> Event {
        Event {
            state: AtomicUsize::new(0),
            waiters: OnceBox::with(WakeAllList::new()),
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
        // Waiters check the flag after they start listening, so only the
        // transition from clear to set can find somebody asleep.
        if before & SET == 0 && before >= WAITER {
            if let Some(list) = self.waiters.get() {
                let woken = list.wake_all();
                self.state.fetch_sub(woken * WAITER, Ordering::Relaxed);
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
    /// ```
    /// # futures::executor::block_on(async {
    /// let event = ambisync::Event::new();
    /// event.set();
    /// event.wait().await;
    /// # });
    /// ```
    pub async fn wait(&self) {
        crate::core::coop::proceed().await;
        if self.is_set() {
            return;
        }
        Waiting {
            event: self,
            list: self.list(),
            stage: Stage::Start,
        }
        .await
    }

    /// [`wait`](Event::wait) for at most `timeout`; `true` if the flag was set.
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
    pub async fn wait_timeout(&self, timeout: Duration) -> bool {
        crate::core::with_timeout(timeout, self.wait())
            .await
            .is_some()
            || self.is_set()
    }

    /// [`wait`](Event::wait), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, if it has to wait inside a tokio runtime.
    ///
    /// ```
    /// let event = ambisync::Event::new();
    /// event.set();
    /// event.wait_blocking();
    /// ```
    #[track_caller]
    pub fn wait_blocking(&self) {
        self.wait_deadline(None, "wait_blocking");
    }

    /// [`wait_timeout`](Event::wait_timeout), blocking the thread; needs no
    /// runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// let event = ambisync::Event::new();
    /// assert!(!event.wait_timeout_blocking(Duration::from_millis(5)));
    /// ```
    #[track_caller]
    pub fn wait_timeout_blocking(&self, timeout: Duration) -> bool {
        self.wait_deadline(
            crate::core::deadline_after(timeout),
            "wait_timeout_blocking",
        )
    }

    #[track_caller]
    fn wait_deadline(&self, deadline: Option<Instant>, method: &'static str) -> bool {
        crate::core::runtime::debug_assert_may_block(method);
        if self.is_set() {
            return true;
        }
        crate::core::runtime::assert_may_block(method);
        let list = self.list();
        match self.enter(list, Wakeup::Thread) {
            None => true,
            Some(ticket) => {
                if list.park(ticket, deadline) {
                    true
                } else {
                    self.state.fetch_sub(WAITER, Ordering::Relaxed);
                    self.is_set()
                }
            }
        }
    }

    fn list(&self) -> &WakeAllList {
        self.waiters.get_or_init(|| Box::new(WakeAllList::new()))
    }

    /// Counts the caller in and puts it in the list, unless the flag is set
    /// (or a `set()` happened since it started): then `None`.
    fn enter(&self, list: &WakeAllList, wakeup: Wakeup<'_>) -> Option<Ticket> {
        // A `set()` after this generation wakes us even if it sees the flag
        // cleared again by the time we take the list's lock.
        let seen = list.generation();
        // Counted before looking at the flag, so that a `set()` that misses
        // us in the state word is one we see there.
        let before = self.state.fetch_add(WAITER, Ordering::SeqCst);
        let ticket = if before & SET == 0 {
            list.insert(seen, wakeup, || self.is_set())
        } else {
            None
        };
        if ticket.is_none() {
            self.state.fetch_sub(WAITER, Ordering::Relaxed);
        }
        ticket
    }

    /// A waiter gives up before a wake-up reached it.
    fn leave(&self, list: &WakeAllList, ticket: Ticket) {
        // If a wake-up took it first, `set()` already counted it out.
        if list.remove(ticket) {
            self.state.fetch_sub(WAITER, Ordering::Relaxed);
        }
    }

    /// How many tasks and threads are waiting (a snapshot). Waiters that a
    /// [`set`](Event::set) woke no longer count, even before they run.
    ///
    /// ```
    /// assert_eq!(ambisync::Event::new().waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.state.load(Ordering::Relaxed) / WAITER
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
