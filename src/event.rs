//! [`Event`]: a flag that tasks and threads wait for (Python `threading.Event`).

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::{EventListener, Listener, listener};

use crate::core::{CountedIn, Registration};

/// Bit 0 of the state: the flag.
const SET: usize = 1;
/// The rest of the state counts registered waiters, in units of this.
const WAITER: usize = 2;

/// A flag that starts false; [`set`](Event::set) makes it true and wakes every
/// task and thread waiting for it, [`clear`](Event::clear) makes it false again.
///
/// `set()` releases every waiter present at that moment, even if `clear()`
/// follows at once (Python's `test_set_and_clear`).
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
    event: event_listener::Event,
}

/// A listener that, when dropped, drops its notification instead of passing it
/// on: every waiter present at a `set()` is notified anyway, and a passed-on
/// notification could wake a waiter that arrived after a `clear()`.
struct Discarding(Option<EventListener>);

impl Future for Discarding {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let listener = self.0.as_mut().expect("polled after completion");
        let ready = Pin::new(listener).poll(cx);
        if ready.is_ready() {
            self.0 = None;
        }
        ready
    }
}

impl Drop for Discarding {
    fn drop(&mut self) {
        if let Some(listener) = self.0.take() {
            listener.discard();
        }
    }
}

impl Event {
    /// Creates an event whose flag is false.
    ///
    /// ```
    /// assert!(!ambisync::Event::new().is_set());
    /// ```
    pub const fn new() -> Event {
        Event {
            state: AtomicUsize::new(0),
            event: event_listener::Event::new(),
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
            self.event.notify(usize::MAX);
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
        if self.is_set() {
            return;
        }
        // Listen first, then register: a waiter that `waiters()` counts must
        // already be able to receive `set()`'s notification, or a `set()`
        // that sees it counted followed by a `clear()` would leave it waiting.
        let listener = Discarding(Some(self.event.listen()));
        let waiters = CountedIn::<WAITER>(&self.state);
        let _registration = Registration::new(&waiters);
        if self.is_set() {
            return;
        }
        // Only `set` notifies, so a notification means the flag was set while
        // we listened, whatever it is now.
        listener.await;
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
        // Listen before registering, as in `wait`.
        listener!(self.event => listener);
        let waiters = CountedIn::<WAITER>(&self.state);
        let _registration = Registration::new(&waiters);
        if self.is_set() {
            listener.discard();
            return true;
        }
        match deadline {
            None => {
                listener.wait();
                true
            }
            Some(deadline) => listener.wait_deadline(deadline).is_some() || self.is_set(),
        }
    }

    /// How many tasks and threads are waiting (a snapshot).
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
