//! The one waiting loop every primitive uses, in its async and blocking forms.
//!
//! A primitive describes a wait by three things: the [`Event`] its releasers
//! notify, a [`WaiterCount`] that tells releasers whether anybody may be
//! listening (event-listener's `notify` always locks and, on first use,
//! allocates, so releasers skip it when nobody waits), and an `attempt`
//! closure that completes the operation without waiting or says it cannot.
//!
//! The loop is: register as a waiter, attempt, listen, attempt again, wait for
//! a notification, repeat. Consuming a notification and the attempt that
//! follows it happen in the same poll, so a future dropped at any `.await`
//! either holds an unconsumed notification (event-listener passes it on when
//! the listener drops) or has already completed: nothing is lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use event_listener::{Event, Listener, listener};

/// Counts the waiters of one event, so that releasers notify only when needed.
///
/// Registration must be ordered before the waiter re-checks the state. When
/// the count lives in the same atomic word as the state (`Lock`) that order
/// is given by the word's modification order; a count kept apart from the
/// state (`Signal`) fences after registering.
pub(crate) trait WaiterCount {
    fn register(&self);
    fn unregister(&self);
}

/// A waiter count kept in the upper bits of a primitive's state word, in units
/// of `UNIT` (the bits below hold the primitive's flags). Registering in the
/// same word as the state orders it with every change of that state.
pub(crate) struct CountedIn<'a, const UNIT: usize>(pub(crate) &'a AtomicUsize);

impl<const UNIT: usize> WaiterCount for CountedIn<'_, UNIT> {
    fn register(&self) {
        self.0.fetch_add(UNIT, Ordering::SeqCst);
    }
    fn unregister(&self) {
        self.0.fetch_sub(UNIT, Ordering::SeqCst);
    }
}

/// Unregisters the waiter when the wait ends, also when its future is dropped.
pub(crate) struct Registration<'a, C: WaiterCount>(&'a C);

impl<'a, C: WaiterCount> Registration<'a, C> {
    pub(crate) fn new(count: &'a C) -> Self {
        count.register();
        Registration(count)
    }
}

impl<C: WaiterCount> Drop for Registration<'_, C> {
    fn drop(&mut self) {
        self.0.unregister();
    }
}

/// Waits until `attempt` returns `Some`, re-trying after every notification.
pub(crate) async fn wait_until<T>(
    event: &Event,
    count: &impl WaiterCount,
    mut attempt: impl FnMut() -> Option<T>,
) -> T {
    let _registration = Registration::new(count);
    loop {
        if let Some(done) = attempt() {
            return done;
        }
        // On the stack (in this future): no allocation per wait.
        listener!(event => listener);
        if let Some(done) = attempt() {
            return done;
        }
        listener.await;
    }
}

/// Blocks the thread until `attempt` returns `Some` or `deadline` passes.
///
/// `None` means the deadline passed; one last attempt is made at the deadline.
/// `method` names the caller for the "blocking inside a runtime" panic.
#[track_caller]
pub(crate) fn block_until<T>(
    event: &Event,
    count: &impl WaiterCount,
    deadline: Option<Instant>,
    method: &'static str,
    attempt: impl FnMut() -> Option<T>,
) -> Option<T> {
    block_until_rechecking(event, count, deadline, method, None, attempt)
}

/// The longest a rechecking wait sleeps between attempts.
const MAX_RECHECK: Duration = Duration::from_millis(16);

/// [`block_until`] that also attempts again after `recheck` without a
/// notification, then after twice as long, and so on up to [`MAX_RECHECK`].
///
/// For the barging lock: a thread that is never notified (its wake-ups are
/// taken by tasks that barge in) must still get to measure how long it has
/// waited, so that its starvation guard can claim the next turn.
#[track_caller]
pub(crate) fn block_until_rechecking<T>(
    event: &Event,
    count: &impl WaiterCount,
    deadline: Option<Instant>,
    method: &'static str,
    mut recheck: Option<Duration>,
    mut attempt: impl FnMut() -> Option<T>,
) -> Option<T> {
    crate::core::runtime::debug_assert_may_block(method);
    if let Some(done) = attempt() {
        return Some(done);
    }
    crate::core::runtime::assert_may_block(method);
    let _registration = Registration::new(count);
    loop {
        listener!(event => listener);
        if let Some(done) = attempt() {
            return Some(done);
        }
        let wake_at = match recheck {
            None => deadline,
            Some(interval) => {
                recheck = Some((interval * 2).min(MAX_RECHECK));
                let at = Instant::now().checked_add(interval);
                match (at, deadline) {
                    (Some(at), Some(deadline)) => Some(at.min(deadline)),
                    (at, None) => at,
                    (None, deadline) => deadline,
                }
            }
        };
        match wake_at {
            None => listener.wait(),
            Some(wake_at) => {
                if listener.wait_deadline(wake_at).is_none()
                    && deadline.is_some_and(|deadline| wake_at >= deadline)
                {
                    return attempt();
                }
            }
        }
        if let Some(done) = attempt() {
            return Some(done);
        }
    }
}

/// The instant `timeout` from now, or `None` when that is too far to represent
/// (which then means "wait as long as it takes").
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Runs `fut` for at most `timeout` (tokio's timer); `None` if it expired.
///
/// The future is dropped on expiry, which is cancel safe for every future
/// built on [`wait_until`].
#[cfg(feature = "tokio")]
pub(crate) async fn with_timeout<F: Future>(timeout: Duration, fut: F) -> Option<F::Output> {
    tokio::time::timeout(timeout, fut).await.ok()
}
