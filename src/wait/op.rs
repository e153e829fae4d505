//! One state machine per waiting operation, and the drivers that derive its
//! forms: `foo().await`, `foo_timeout(d).await`, `foo_blocking()` and
//! `foo_timeout_blocking(d)`.
//!
//! A primitive writes each waiting operation once, as a [`WaitOp`]: polled
//! with a [`Wakeup`], it completes, or puts the caller in a [`WaitList`]
//! (once; later polls only look for the wake-up) and says `Pending`. The
//! drivers here poll it:
//! - [`Waiting`] from an async task (spending tokio's coop budget);
//! - [`Timed`] from an async task with tokio's timer, asking the operation
//!   to [`expire`](WaitOp::expire) when the deadline passes;
//! - [`block_on`] from a thread, parking it between polls, with or without a
//!   deadline.
//!
//! Cancellation is the operation's `Drop`: a dropped future, and a blocking
//! wait that gave up, leave the list and pass on whatever was handed to them.
//!
//! [`WaitList`]: super::list::WaitList

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::list::{Wakeup, park_until};
use super::{coop, runtime};

/// One waiting operation of a primitive, as a state machine.
pub(crate) trait WaitOp: Unpin {
    /// What the operation gives when it completes.
    type Output;

    /// Completes the operation, or makes sure `wakeup` is woken when it is
    /// worth polling again and returns `Pending`.
    ///
    /// Polling again after a `Pending` must not join the line again: it
    /// looks for the wake-up (and, for a task, updates the waker).
    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<Self::Output>;

    /// The caller's deadline passed while the operation waited. `Ready(None)`:
    /// it gave up (and left the line); `Ready(Some(_))`: it has a result after
    /// all (handed a unit at that very moment, or a result that reports the
    /// timeout, such as a `put`'s item); `Pending`: it must go on waiting
    /// without a deadline (a condition's relock), and will be polled again.
    fn expire(&mut self) -> Poll<Option<Self::Output>>;

    /// Whether a wake-up may have come since the last poll: a parked thread
    /// polls again once this turns true.
    fn woken(&self) -> bool;

    /// The longest a parked thread may sleep before polling again without a
    /// wake-up (`None`: as long as it takes).
    fn park_limit(&mut self) -> Option<Duration> {
        None
    }
}

/// The async form of an operation (`foo().await`).
pub(crate) struct Waiting<O>(O);

impl<O: WaitOp> Waiting<O> {
    pub(crate) fn new(op: O) -> Self {
        Waiting(op)
    }
}

impl<O: WaitOp> Future for Waiting<O> {
    type Output = O::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O::Output> {
        let budget = std::task::ready!(coop::poll_budget(cx));
        let polled = self.get_mut().0.poll_op(Wakeup::Task(cx.waker()));
        if polled.is_ready() {
            budget.made_progress();
        }
        polled
    }
}

/// [`Waiting`] for an operation whose result may wait a turn in the future:
/// it spends tokio's coop budget only when the operation completes, so a
/// poll that only joins the line costs no budget check (two thread-local
/// accesses of tokio's, a sixth of a wake-all round of 100 waiters).
///
/// The budget still bounds a loop of always-ready waits: when it is spent,
/// the completed result is kept and the task yields before getting it. Only
/// for operations whose result is nothing to lose if the future is then
/// dropped (an event's wake-up: `()`); never for one that hands over a
/// unit (a permit, an item, a lock).
pub(crate) struct SpendOnReady<O: WaitOp> {
    op: O,
    /// The result of a completed operation, waiting for the budget.
    done: Option<O::Output>,
}

impl<O: WaitOp> SpendOnReady<O> {
    pub(crate) fn new(op: O) -> Self {
        SpendOnReady { op, done: None }
    }
}

impl<O: WaitOp<Output: Unpin>> Future for SpendOnReady<O> {
    type Output = O::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O::Output> {
        let this = self.get_mut();
        if this.done.is_none() {
            this.done = Some(std::task::ready!(this.op.poll_op(Wakeup::Task(cx.waker()))));
        }
        let budget = std::task::ready!(coop::poll_budget(cx));
        budget.made_progress();
        Poll::Ready(this.done.take().expect("polled after it completed"))
    }
}

#[cfg(feature = "tokio")]
pin_project_lite::pin_project! {
    /// The async form with a deadline (`foo_timeout(d).await`), on tokio's
    /// timer: `None` if the operation gave up at the deadline.
    ///
    /// Lazy like every future: the clock starts at the first poll, which is
    /// also where a missing runtime is noticed.
    pub(crate) struct Timed<O> {
        op: O,
        #[pin]
        clock: Clock,
    }
}

#[cfg(feature = "tokio")]
pin_project_lite::pin_project! {
    /// The deadline of a [`Timed`] future. One enum rather than the timeout,
    /// the caller and an `Option<Sleep>` side by side: what comes before the
    /// first poll shares its bytes with the `Sleep`, so the timed future is
    /// no larger than the operation and tokio's `Sleep` (the layout of
    /// `tokio::time::timeout`).
    #[project = ClockProj]
    enum Clock {
        /// Not polled yet: the timeout, and where the caller made the future
        /// (for the panic outside tokio).
        Unstarted {
            timeout: Duration,
            caller: &'static std::panic::Location<'static>,
        },
        Running {
            #[pin]
            sleep: tokio::time::Sleep,
        },
        /// The deadline passed and the operation goes on without one (a
        /// condition's relock).
        Expired,
    }
}

#[cfg(feature = "tokio")]
impl<O: WaitOp> Timed<O> {
    #[track_caller]
    pub(crate) fn new(op: O, timeout: Duration) -> Self {
        Timed {
            op,
            clock: Clock::Unstarted {
                timeout,
                caller: std::panic::Location::caller(),
            },
        }
    }
}

#[cfg(feature = "tokio")]
impl<O: WaitOp> Future for Timed<O> {
    type Output = Option<O::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let ClockProj::Unstarted { timeout, caller } = this.clock.as_mut().project() {
            let (timeout, caller) = (*timeout, *caller);
            if tokio::runtime::Handle::try_current().is_err() {
                panic!(
                    "a `_timeout` future of ambisync made at {caller} was polled outside a tokio runtime: its timer is tokio's (use the `_timeout_blocking` form, or run it inside tokio)",
                );
            }
            this.clock.set(Clock::Running {
                sleep: tokio::time::sleep(timeout),
            });
        }
        let budget = std::task::ready!(coop::poll_budget(cx));
        budget.made_progress();
        loop {
            if let Poll::Ready(out) = this.op.poll_op(Wakeup::Task(cx.waker())) {
                return Poll::Ready(Some(out));
            }
            let ClockProj::Running { sleep } = this.clock.as_mut().project() else {
                return Poll::Pending;
            };
            if sleep.poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.clock.set(Clock::Expired);
            if let Poll::Ready(out) = this.op.expire() {
                return Poll::Ready(out);
            }
            // The operation goes on without a deadline: poll it once more so
            // that it waits for its next step.
        }
    }
}

/// The blocking forms: polls `op` from this thread, parking between polls,
/// until it completes or `deadline` passes (`None`: as long as it takes).
/// `None` if it gave up at the deadline.
///
/// `method` names the public method for the panic when the thread drives a
/// tokio runtime (see [`runtime::assert_may_block`]).
#[track_caller]
pub(crate) fn block_on<O: WaitOp>(
    mut op: O,
    deadline: Option<Instant>,
    method: &'static str,
) -> Option<O::Output> {
    runtime::debug_assert_may_block(method);
    if let Poll::Ready(out) = op.poll_op(Wakeup::Thread) {
        return Some(out);
    }
    // Dropping `op` (if this panics) leaves the line.
    runtime::assert_may_block(method);
    let mut deadline = deadline;
    loop {
        let limit = op
            .park_limit()
            .and_then(|limit| Instant::now().checked_add(limit));
        let until = match (deadline, limit) {
            (Some(deadline), Some(limit)) => Some(deadline.min(limit)),
            (deadline, None) => deadline,
            (None, limit) => limit,
        };
        let woken = park_until(until, || op.woken());
        if !woken && deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            deadline = None;
            if let Poll::Ready(out) = op.expire() {
                return out;
            }
        }
        if let Poll::Ready(out) = op.poll_op(Wakeup::Thread) {
            return Some(out);
        }
    }
}

/// [`block_on`] without a deadline.
#[track_caller]
pub(crate) fn block_on_untimed<O: WaitOp>(op: O, method: &'static str) -> O::Output {
    block_on(op, None, method).expect("a wait without a deadline cannot time out")
}

/// The instant `timeout` from now, or `None` when that is too far to
/// represent (which then means "wait as long as it takes").
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// An operation whose output goes through `map` (a guard made from the
/// lock the operation took, say).
pub(crate) struct Map<O, F> {
    op: O,
    map: Option<F>,
}

impl<O: WaitOp, F> Map<O, F> {
    pub(crate) fn new<U>(op: O, map: F) -> Self
    where
        F: FnOnce(O::Output) -> U,
    {
        Map { op, map: Some(map) }
    }
}

impl<O: WaitOp, F: FnOnce(O::Output) -> U + Unpin, U> WaitOp for Map<O, F> {
    type Output = U;

    #[inline]
    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<U> {
        self.op.poll_op(wakeup).map(|out| self.finish(out))
    }

    fn expire(&mut self) -> Poll<Option<U>> {
        self.op.expire().map(|out| out.map(|out| self.finish(out)))
    }

    fn woken(&self) -> bool {
        self.op.woken()
    }

    fn park_limit(&mut self) -> Option<Duration> {
        self.op.park_limit()
    }
}

impl<O, F> Map<O, F> {
    fn finish<T, U>(&mut self, out: T) -> U
    where
        F: FnOnce(T) -> U,
    {
        let map = self.map.take().expect("an operation completed twice");
        map(out)
    }
}

pin_project_lite::pin_project! {
    /// A future whose output goes through `map`: what an `async move { fut
    /// .await.map(...) }` block would be, without its cost. rustc keeps an
    /// async block's captured future and the future it awaits in separate
    /// bytes, which doubles the size of a timed future (a `Sleep` is
    /// large); this holds the future once.
    pub(crate) struct MapOutput<Fut, F> {
        #[pin]
        fut: Fut,
        map: F,
    }
}

impl<Fut: Future, F: FnMut(Fut::Output) -> U, U> MapOutput<Fut, F> {
    pub(crate) fn new(fut: Fut, map: F) -> Self {
        MapOutput { fut, map }
    }
}

impl<Fut: Future, F: FnMut(Fut::Output) -> U, U> Future for MapOutput<Fut, F> {
    type Output = U;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<U> {
        let this = self.project();
        this.fut.poll(cx).map(this.map)
    }
}

pin_project_lite::pin_project! {
    /// A future that fails at once with `Err(error)`, or runs `fut` and
    /// gives `Ok(output)`: an argument check ahead of a wait (a semaphore's
    /// `acquire_many`) without an async block (see [`MapOutput`]).
    #[project = CheckedProj]
    pub(crate) enum Checked<Fut, E> {
        Running {
            #[pin]
            fut: Fut,
        },
        Failed {
            error: Option<E>,
        },
    }
}

impl<Fut: Future, E> Checked<Fut, E> {
    pub(crate) fn new(checked: Result<Fut, E>) -> Self {
        match checked {
            Ok(fut) => Checked::Running { fut },
            Err(error) => Checked::Failed { error: Some(error) },
        }
    }
}

impl<Fut: Future, E> Future for Checked<Fut, E> {
    type Output = Result<Fut::Output, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CheckedProj::Running { fut } => fut.poll(cx).map(Ok),
            CheckedProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .expect("a failed future polled after it completed"))),
        }
    }
}
