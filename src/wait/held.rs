//! A wait on a primitive reached through a handle: a reference, or the
//! `Arc` that an owned guard's future holds next to the wait.

use std::marker::PhantomData;
use std::ops::Deref;
use std::task::Poll;
use std::time::Duration;

use super::{WaitOp, Wakeup};

/// The piece of a primitive a wait is handed: a `Lock`'s raw lock, a
/// semaphore's permit count...
#[doc(hidden)] // public only as a bound of a sealed trait of `Condition`
pub trait Part<P: ?Sized> {
    /// The piece.
    fn part(&self) -> &P;
}

/// A waiting operation that does not hold its primitive but is handed it
/// (`on`) on every step, so that one state machine serves a borrowed guard's
/// future and an owned one's (which holds the primitive's `Arc` beside it).
pub(crate) trait Handed<P: ?Sized>: Unpin {
    /// Completes, or makes sure `wakeup` is woken when worth trying again.
    fn poll(&mut self, on: &P, wakeup: Wakeup<'_>) -> Poll<()>;
    /// The deadline passed: one last try; `true` if it completed, else it
    /// gave up (as [`cancel`](Handed::cancel)).
    fn expire(&mut self, on: &P) -> bool;
    /// Gives up: leaves the line and passes on what it was handed.
    fn cancel(&mut self, on: &P);
    /// Whether a wake-up may have come since the last poll.
    fn woken(&self, on: &P) -> bool;
    /// See [`WaitOp::park_limit`].
    fn park_limit(&mut self) -> Option<Duration> {
        None
    }
}

/// The operation: `wait` on the part of the primitive behind `H`; gives `H`
/// back when it completes (to make a guard of). Dropped before that, it
/// cancels the wait.
pub(crate) struct Held<H, P: ?Sized, W>
where
    H: Deref<Target: Part<P>>,
    W: Handed<P>,
{
    handle: Option<H>,
    wait: W,
    _part: PhantomData<fn(&P)>,
}

impl<H, P: ?Sized, W> Held<H, P, W>
where
    H: Deref<Target: Part<P>>,
    W: Handed<P>,
{
    pub(crate) fn new(handle: H, wait: W) -> Self {
        Held {
            handle: Some(handle),
            wait,
            _part: PhantomData,
        }
    }

    fn part(&self) -> &P {
        self.handle
            .as_deref()
            .expect("an operation used after it completed")
            .part()
    }
}

impl<H, P: ?Sized, W> WaitOp for Held<H, P, W>
where
    H: Deref<Target: Part<P>> + Unpin,
    W: Handed<P>,
{
    type Output = H;

    #[inline]
    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<H> {
        let handle = self
            .handle
            .as_deref()
            .expect("an operation polled after it completed");
        std::task::ready!(self.wait.poll(handle.part(), wakeup));
        Poll::Ready(self.handle.take().expect("checked above"))
    }

    fn expire(&mut self) -> Poll<Option<H>> {
        let handle = self
            .handle
            .as_deref()
            .expect("an operation expired after it completed");
        let done = self.wait.expire(handle.part());
        Poll::Ready(if done { self.handle.take() } else { None })
    }

    fn woken(&self) -> bool {
        self.wait.woken(self.part())
    }

    fn park_limit(&mut self) -> Option<Duration> {
        self.wait.park_limit()
    }
}

impl<H, P: ?Sized, W> Drop for Held<H, P, W>
where
    H: Deref<Target: Part<P>>,
    W: Handed<P>,
{
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.wait.cancel(handle.part());
        }
    }
}
