//! [`Semaphore`] and [`BoundedSemaphore`] (Python `threading.Semaphore` and
//! `threading.BoundedSemaphore`), with RAII permits: one generic type,
//! [`GenericSemaphore`], whose acquire forms are written once.

mod permit;
mod permits;

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use permit::{OwnedSemaphorePermit, SemaphorePermit};
pub use permits::MAX_PERMITS;
use permits::{AcquireWait, Permits};

use crate::error::{BoundedReleaseError, TooManyPermitsError};
#[cfg(feature = "tokio")]
use crate::wait::Timed;
use crate::wait::sync::AtomicUsize;
use crate::wait::{
    Checked, Held, Map, Part, WaitOp, Waiting, block_on, block_on_untimed, deadline_after,
};

/// A counting semaphore for tasks and threads.
///
/// Acquiring returns a [`SemaphorePermit`] that gives the permit back when
/// dropped; [`forget`](SemaphorePermit::forget) keeps it taken (Python's
/// `acquire()` without `release()`), and [`release`](GenericSemaphore::release)
/// adds a permit at any time, beyond the initial count too.
///
/// Waiters are served first come, first served (like tokio's semaphore and
/// Python 3.11+ `asyncio.Semaphore`): a release hands its permit straight to
/// the task or thread that has waited longest, and nobody takes a free permit
/// while others are in line for one. Releasing `n` permits serves up to `n`
/// waiters, and a waiter whose future is dropped after it was handed a permit
/// passes the permit on to the next in line. A waiter for
/// [many](GenericSemaphore::acquire_many) permits is served in its turn too:
/// later waiters for fewer wait behind it.
///
/// # Python's acquire/release pairing
///
/// In Python, `sem.acquire()` … `sem.release()` brackets the work. Here the
/// permit guard does that on its own: hold it while working. Writing the
/// Python shape literally adds a permit per round (the guard of
/// `acquire().await;` is dropped at once, and `release()` then adds one more):
/// if you need separate acquire and release calls, `forget()` the guard.
///
/// ```
/// # futures::executor::block_on(async {
/// let sem = ambisync::Semaphore::new(2);
/// for _ in 0..3 {
///     let _permit = sem.acquire().await; // Rust: held until the end of the block
/// }
/// for _ in 0..3 {
///     sem.acquire().await.forget();      // Python: sem.acquire()
///     sem.release();                     // Python: sem.release()
/// }
/// assert_eq!(sem.available_permits(), 2);
/// # });
/// ```
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ambisync::Semaphore;
///
/// # #[tokio::main] async fn main() {
/// let slots = Arc::new(Semaphore::new(2));
/// let mut tasks = Vec::new();
/// for _ in 0..5 {
///     let permit = slots.acquire_owned().await; // at most 2 run at once
///     tasks.push(tokio::spawn(async move {
///         // ... work ...
///         drop(permit);
///     }));
/// }
/// for task in tasks { task.await.unwrap(); }
/// assert_eq!(slots.available_permits(), 2);
/// # }
/// ```
pub type Semaphore = GenericSemaphore<Unbounded>;

/// A semaphore that never holds more permits than it was created with.
///
/// As Python's `BoundedSemaphore`: a raw [`release`](GenericSemaphore::release)
/// that would exceed the bound, counting permits still out as guards, returns
/// [`BoundedReleaseError`] and changes nothing. Only permits taken out with
/// [`forget`](SemaphorePermit::forget) can be released that way; a permit
/// guard's drop always succeeds. Asking for more permits at once than the
/// bound fails at once with [`TooManyPermitsError`].
///
/// Every acquire form of [`Semaphore`] is here too: both are
/// [`GenericSemaphore`].
///
/// # Examples
///
/// ```
/// use ambisync::BoundedSemaphore;
///
/// let sem = BoundedSemaphore::new(1);
/// sem.try_acquire().unwrap().forget(); // Python: sem.acquire()
/// assert_eq!(sem.available_permits(), 0);
/// sem.release().unwrap();               // Python: sem.release()
/// assert!(sem.release().is_err());      // one too many: ValueError in Python
/// assert_eq!(sem.available_permits(), 1);
/// ```
pub type BoundedSemaphore = GenericSemaphore<Bounded>;

mod sealed {
    pub trait Sealed {}
}

/// Whether a semaphore has a bound: [`Unbounded`] ([`Semaphore`]) or
/// [`Bounded`] ([`BoundedSemaphore`]). Sealed: the two are all there is.
///
/// # Examples
///
/// ```
/// use ambisync::{Bound, GenericSemaphore};
///
/// // Code for either kind of semaphore:
/// fn free<B: Bound>(sem: &GenericSemaphore<B>) -> usize {
///     sem.available_permits()
/// }
/// assert_eq!(free(&ambisync::Semaphore::new(2)), 2);
/// assert_eq!(free(&ambisync::BoundedSemaphore::new(3)), 3);
/// ```
pub trait Bound: sealed::Sealed + Send + Sync + 'static {
    /// The most permits the semaphore can ever have free.
    #[doc(hidden)]
    fn limit(&self) -> usize;
    /// The count of permits taken out with `forget`, for a bounded one.
    #[doc(hidden)]
    fn forgotten(&self) -> Option<&AtomicUsize>;
}

/// No bound: raw releases may add permits beyond the initial count
/// ([`Semaphore`]).
///
/// # Examples
///
/// ```
/// let sem: ambisync::GenericSemaphore<ambisync::Unbounded> = ambisync::Semaphore::new(0);
/// sem.release();
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Unbounded;

/// The initial count is a bound that raw releases cannot exceed
/// ([`BoundedSemaphore`]).
///
/// # Examples
///
/// ```
/// let sem: ambisync::GenericSemaphore<ambisync::Bounded> = ambisync::BoundedSemaphore::new(1);
/// assert!(sem.release().is_err());
/// ```
#[derive(Debug)]
pub struct Bounded {
    bound: usize,
    /// Permits taken out with `forget`, which a raw `release` may return.
    forgotten: AtomicUsize,
}

impl sealed::Sealed for Unbounded {}
impl sealed::Sealed for Bounded {}

impl Bound for Unbounded {
    fn limit(&self) -> usize {
        MAX_PERMITS
    }
    fn forgotten(&self) -> Option<&AtomicUsize> {
        None
    }
}

impl Bound for Bounded {
    fn limit(&self) -> usize {
        self.bound
    }
    fn forgotten(&self) -> Option<&AtomicUsize> {
        Some(&self.forgotten)
    }
}

/// A semaphore, bounded or not: use it as [`Semaphore`] or
/// [`BoundedSemaphore`].
///
/// Every waiting operation has its five forms: `acquire().await`,
/// `acquire_timeout(d).await`, `try_acquire()`, `acquire_blocking()` and
/// `acquire_timeout_blocking(d)`; the same with `_owned` for permits that own
/// an `Arc` of the semaphore, and with `_many(n)` for `n` permits at once.
///
/// # Examples
///
/// ```
/// use ambisync::Semaphore;
/// # futures::executor::block_on(async {
/// let sem = Semaphore::new(3);
/// let one = sem.acquire().await;
/// let two = sem.acquire_many(2).await.unwrap();
/// assert_eq!(sem.available_permits(), 0);
/// drop((one, two));
/// assert_eq!(sem.available_permits(), 3);
/// # });
/// ```
pub struct GenericSemaphore<B: Bound = Unbounded> {
    pub(crate) permits: Permits,
    pub(crate) bound: B,
}

/// What an owned permit needs of its semaphore, whichever kind it is.
pub(crate) trait SemaphoreCore: Send + Sync {
    fn permits(&self) -> &Permits;
    fn forgotten(&self) -> Option<&AtomicUsize>;
}

impl<B: Bound> SemaphoreCore for GenericSemaphore<B> {
    fn permits(&self) -> &Permits {
        &self.permits
    }
    fn forgotten(&self) -> Option<&AtomicUsize> {
        self.bound.forgotten()
    }
}

impl<B: Bound> GenericSemaphore<B> {
    /// Takes a permit, waiting as long as it takes.
    ///
    /// Waiters get permits in the order they started waiting.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. A future dropped while in line just leaves it; one
    /// dropped after a release handed it a permit passes the permit on to the
    /// next in line.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(1);
    /// # futures::executor::block_on(async {
    /// let permit = sem.acquire().await;
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub fn acquire(&self) -> impl Future<Output = SemaphorePermit<'_>> {
        Waiting::new(self.acquire_op(1))
    }

    /// Takes a permit, or gives up after `timeout` and returns `None`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`acquire`](GenericSemaphore::acquire). A permit
    /// handed over as the timeout expires is kept (`Some`).
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
    /// let sem = ambisync::Semaphore::new(1);
    /// let _held = sem.acquire().await;
    /// assert!(sem.acquire_timeout(Duration::from_millis(5)).await.is_none());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Option<SemaphorePermit<'_>>> {
        Timed::new(self.acquire_op(1), timeout)
    }

    /// Takes a permit if one is free and nobody waits for one, without
    /// waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// # drop(permit);
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.permits.try_take(1).then(|| self.permit(1))
    }

    /// Takes a permit, blocking the thread as long as it takes.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`acquire`](GenericSemaphore::acquire) there): always in
    /// debug builds, when it would have to wait in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(1);
    /// let permit = sem.acquire_blocking();
    /// # drop(permit);
    /// ```
    #[track_caller]
    pub fn acquire_blocking(&self) -> SemaphorePermit<'_> {
        block_on_untimed(self.acquire_op(1), "acquire_blocking")
    }

    /// Takes a permit, blocking the thread for at most `timeout`; needs no
    /// runtime.
    ///
    /// # Panics
    ///
    /// As [`acquire_blocking`](GenericSemaphore::acquire_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = ambisync::Semaphore::new(0);
    /// assert!(sem.acquire_timeout_blocking(Duration::from_millis(5)).is_none());
    /// ```
    #[track_caller]
    pub fn acquire_timeout_blocking(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        block_on(
            self.acquire_op(1),
            deadline_after(timeout),
            "acquire_timeout_blocking",
        )
    }

    /// Takes a permit that owns an `Arc` of the semaphore, to move into a
    /// spawned task.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`acquire`](GenericSemaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let sem = Arc::new(ambisync::Semaphore::new(1));
    /// let permit = sem.acquire_owned().await;
    /// tokio::spawn(async move { drop(permit) }).await.unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// # }
    /// ```
    pub fn acquire_owned(self: &Arc<Self>) -> impl Future<Output = OwnedSemaphorePermit> + use<B> {
        Waiting::new(self.owned_acquire_op(1))
    }

    /// [`acquire_owned`](GenericSemaphore::acquire_owned) that gives up after
    /// `timeout`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`acquire`](GenericSemaphore::acquire).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// # #[tokio::main] async fn main() {
    /// let sem = Arc::new(ambisync::Semaphore::new(0));
    /// assert!(sem.acquire_owned_timeout(Duration::from_millis(5)).await.is_none());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn acquire_owned_timeout(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> impl Future<Output = Option<OwnedSemaphorePermit>> + use<B> {
        Timed::new(self.owned_acquire_op(1), timeout)
    }

    /// [`try_acquire`](GenericSemaphore::try_acquire) with an owned permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(ambisync::Semaphore::new(1));
    /// let permit = sem.try_acquire_owned().unwrap();
    /// assert!(sem.try_acquire_owned().is_none());
    /// # drop(permit);
    /// ```
    pub fn try_acquire_owned(self: &Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.permits
            .try_take(1)
            .then(|| OwnedSemaphorePermit::adopt(Arc::clone(self) as Arc<dyn SemaphoreCore>, 1))
    }

    /// [`acquire_blocking`](GenericSemaphore::acquire_blocking) with an owned
    /// permit.
    ///
    /// # Panics
    ///
    /// As [`acquire_blocking`](GenericSemaphore::acquire_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(ambisync::Semaphore::new(1));
    /// let permit = sem.acquire_owned_blocking();
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    #[track_caller]
    pub fn acquire_owned_blocking(self: &Arc<Self>) -> OwnedSemaphorePermit {
        block_on_untimed(self.owned_acquire_op(1), "acquire_owned_blocking")
    }

    /// [`acquire_timeout_blocking`](GenericSemaphore::acquire_timeout_blocking)
    /// with an owned permit.
    ///
    /// # Panics
    ///
    /// As [`acquire_blocking`](GenericSemaphore::acquire_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let sem = Arc::new(ambisync::Semaphore::new(0));
    /// assert!(sem.acquire_owned_timeout_blocking(Duration::from_millis(5)).is_none());
    /// ```
    #[track_caller]
    pub fn acquire_owned_timeout_blocking(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<OwnedSemaphorePermit> {
        block_on(
            self.owned_acquire_op(1),
            deadline_after(timeout),
            "acquire_owned_timeout_blocking",
        )
    }

    /// Takes `n` permits at once, waiting as long as it takes (tokio's
    /// `acquire_many`, Java's `acquire(n)`).
    ///
    /// The waiter keeps its place in line: later waiters, even for fewer
    /// permits, wait behind it, so it is never overtaken. A request for zero
    /// permits takes none and never waits.
    ///
    /// # Errors
    ///
    /// [`TooManyPermitsError`], at once, when `n` exceeds what the semaphore
    /// can ever have free (a bounded semaphore's bound, or [`MAX_PERMITS`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`acquire`](GenericSemaphore::acquire): permits
    /// handed to a dropped future go on to the next in line.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem = ambisync::BoundedSemaphore::new(4);
    /// let three = sem.acquire_many(3).await.unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// drop(three);
    /// assert!(sem.acquire_many(5).await.is_err()); // more than the bound
    /// # });
    /// ```
    pub fn acquire_many(
        &self,
        n: usize,
    ) -> impl Future<Output = Result<SemaphorePermit<'_>, TooManyPermitsError>> {
        let op = self.check(n).map(|n| Waiting::new(self.acquire_op(n)));
        Checked::new(op)
    }

    /// [`acquire_many`](GenericSemaphore::acquire_many) for at most
    /// `timeout`; `Ok(None)` if it timed out.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](GenericSemaphore::acquire_many).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`acquire`](GenericSemaphore::acquire).
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
    /// let sem = ambisync::Semaphore::new(2);
    /// assert!(sem.acquire_many_timeout(3, Duration::from_millis(5)).await.unwrap().is_none());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn acquire_many_timeout(
        &self,
        n: usize,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<SemaphorePermit<'_>>, TooManyPermitsError>> {
        let op = self
            .check(n)
            .map(|n| Timed::new(self.acquire_op(n), timeout));
        Checked::new(op)
    }

    /// Takes `n` permits if they are free and nobody waits, without waiting.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](GenericSemaphore::acquire_many).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(2);
    /// assert!(sem.try_acquire_many(3).unwrap().is_none());
    /// assert_eq!(sem.try_acquire_many(2).unwrap().unwrap().num_permits(), 2);
    /// ```
    pub fn try_acquire_many(
        &self,
        n: usize,
    ) -> Result<Option<SemaphorePermit<'_>>, TooManyPermitsError> {
        let n = self.check(n)?;
        Ok(self.permits.try_take(n).then(|| self.permit(n)))
    }

    /// [`acquire_many`](GenericSemaphore::acquire_many), blocking the thread.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](GenericSemaphore::acquire_many).
    ///
    /// # Panics
    ///
    /// As [`acquire_blocking`](GenericSemaphore::acquire_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(3);
    /// let permits = sem.acquire_many_blocking(3).unwrap();
    /// assert_eq!(permits.num_permits(), 3);
    /// ```
    #[track_caller]
    pub fn acquire_many_blocking(
        &self,
        n: usize,
    ) -> Result<SemaphorePermit<'_>, TooManyPermitsError> {
        let n = self.check(n)?;
        Ok(block_on_untimed(
            self.acquire_op(n),
            "acquire_many_blocking",
        ))
    }

    /// [`acquire_many_timeout`](GenericSemaphore::acquire_many_timeout),
    /// blocking the thread; needs no runtime.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](GenericSemaphore::acquire_many).
    ///
    /// # Panics
    ///
    /// As [`acquire_blocking`](GenericSemaphore::acquire_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = ambisync::Semaphore::new(1);
    /// assert!(sem.acquire_many_timeout_blocking(2, Duration::from_millis(5)).unwrap().is_none());
    /// ```
    #[track_caller]
    pub fn acquire_many_timeout_blocking(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Option<SemaphorePermit<'_>>, TooManyPermitsError> {
        let n = self.check(n)?;
        Ok(block_on(
            self.acquire_op(n),
            deadline_after(timeout),
            "acquire_many_timeout_blocking",
        ))
    }

    /// [`acquire_many`](GenericSemaphore::acquire_many) with owned permits.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](GenericSemaphore::acquire_many).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`acquire`](GenericSemaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(ambisync::Semaphore::new(4));
    /// let permits = sem.acquire_many_owned(4).await.unwrap();
    /// std::thread::spawn(move || drop(permits)).join().unwrap();
    /// assert_eq!(sem.available_permits(), 4);
    /// # });
    /// ```
    pub fn acquire_many_owned(
        self: &Arc<Self>,
        n: usize,
    ) -> impl Future<Output = Result<OwnedSemaphorePermit, TooManyPermitsError>> + use<B> {
        let op = self
            .check(n)
            .map(|n| Waiting::new(self.owned_acquire_op(n)));
        Checked::new(op)
    }

    /// [`acquire_many_timeout`](GenericSemaphore::acquire_many_timeout) with
    /// owned permits.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](GenericSemaphore::acquire_many).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`acquire`](GenericSemaphore::acquire).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// # #[tokio::main] async fn main() {
    /// let sem = Arc::new(ambisync::Semaphore::new(1));
    /// assert!(sem.acquire_many_owned_timeout(2, Duration::from_millis(5)).await.unwrap().is_none());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn acquire_many_owned_timeout(
        self: &Arc<Self>,
        n: usize,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<OwnedSemaphorePermit>, TooManyPermitsError>> + use<B>
    {
        let op = self
            .check(n)
            .map(|n| Timed::new(self.owned_acquire_op(n), timeout));
        Checked::new(op)
    }

    /// [`try_acquire_many`](GenericSemaphore::try_acquire_many) with owned
    /// permits.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](GenericSemaphore::acquire_many).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(ambisync::Semaphore::new(2));
    /// assert!(sem.try_acquire_many_owned(2).unwrap().is_some());
    /// ```
    pub fn try_acquire_many_owned(
        self: &Arc<Self>,
        n: usize,
    ) -> Result<Option<OwnedSemaphorePermit>, TooManyPermitsError> {
        let n = self.check(n)?;
        Ok(self
            .permits
            .try_take(n)
            .then(|| OwnedSemaphorePermit::adopt(Arc::clone(self) as Arc<dyn SemaphoreCore>, n)))
    }

    /// [`acquire_many_blocking`](GenericSemaphore::acquire_many_blocking) with
    /// owned permits.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](GenericSemaphore::acquire_many).
    ///
    /// # Panics
    ///
    /// As [`acquire_blocking`](GenericSemaphore::acquire_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(ambisync::Semaphore::new(2));
    /// assert_eq!(sem.acquire_many_owned_blocking(2).unwrap().num_permits(), 2);
    /// ```
    #[track_caller]
    pub fn acquire_many_owned_blocking(
        self: &Arc<Self>,
        n: usize,
    ) -> Result<OwnedSemaphorePermit, TooManyPermitsError> {
        let n = self.check(n)?;
        Ok(block_on_untimed(
            self.owned_acquire_op(n),
            "acquire_many_owned_blocking",
        ))
    }

    /// [`acquire_many_timeout_blocking`](GenericSemaphore::acquire_many_timeout_blocking)
    /// with owned permits.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](GenericSemaphore::acquire_many).
    ///
    /// # Panics
    ///
    /// As [`acquire_blocking`](GenericSemaphore::acquire_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let sem = Arc::new(ambisync::Semaphore::new(0));
    /// let permits = sem.acquire_many_owned_timeout_blocking(1, Duration::from_millis(5));
    /// assert!(permits.unwrap().is_none());
    /// ```
    #[track_caller]
    pub fn acquire_many_owned_timeout_blocking(
        self: &Arc<Self>,
        n: usize,
        timeout: Duration,
    ) -> Result<Option<OwnedSemaphorePermit>, TooManyPermitsError> {
        let n = self.check(n)?;
        Ok(block_on(
            self.owned_acquire_op(n),
            deadline_after(timeout),
            "acquire_many_owned_timeout_blocking",
        ))
    }

    /// How many permits are free right now.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(3);
    /// let _permit = sem.try_acquire();
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.permits.available()
    }

    /// How many tasks and threads are waiting for permits (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(1);
    /// assert_eq!(sem.waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.permits.waiters()
    }

    /// `n` as a permit count this semaphore can ever serve.
    fn check(&self, n: usize) -> Result<u32, TooManyPermitsError> {
        let limit = self.bound.limit();
        if n > limit {
            return Err(TooManyPermitsError {
                requested: n,
                limit,
            });
        }
        Ok(u32::try_from(n).expect("the limit is at most MAX_PERMITS"))
    }

    fn permit(&self, n: u32) -> SemaphorePermit<'_> {
        SemaphorePermit::adopt(&self.permits, self.bound.forgotten(), n)
    }

    fn acquire_op(&self, n: u32) -> impl WaitOp<Output = SemaphorePermit<'_>> {
        Map::new(acquire(self, n), move |sem| sem.permit(n))
    }

    fn owned_acquire_op(
        self: &Arc<Self>,
        n: u32,
    ) -> impl WaitOp<Output = OwnedSemaphorePermit> + use<B> {
        Map::new(acquire(Arc::clone(self), n), move |sem| {
            OwnedSemaphorePermit::adopt(sem as Arc<dyn SemaphoreCore>, n)
        })
    }
}

impl GenericSemaphore<Unbounded> {
    crate::wait::const_unless_loom! {
        /// Creates a semaphore with `permits` free permits.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`MAX_PERMITS`].
        ///
        /// # Examples
        ///
        /// ```
        /// assert_eq!(ambisync::Semaphore::new(4).available_permits(), 4);
        /// ```
        pub fn new(permits: usize) -> Semaphore {
            GenericSemaphore {
                permits: Permits::new(permits),
                bound: Unbounded,
            }
        }
    }

    /// Adds one permit (Python's `release()`); always allowed.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`MAX_PERMITS`]; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn release(&self) {
        self.permits.give(1);
    }

    /// Adds `n` permits at once (Python's `release(n)`): waiters get them
    /// first, oldest first, and the rest go to the count.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`MAX_PERMITS`]; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(0);
    /// sem.release_n(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn release_n(&self, n: usize) {
        if n > 0 {
            self.permits.give(n);
        }
    }
}

impl GenericSemaphore<Bounded> {
    crate::wait::const_unless_loom! {
        /// Creates a semaphore with `permits` free permits, which is also its bound.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`MAX_PERMITS`].
        ///
        /// # Examples
        ///
        /// ```
        /// let sem = ambisync::BoundedSemaphore::new(2);
        /// assert_eq!(sem.bound(), 2);
        /// ```
        pub fn new(permits: usize) -> BoundedSemaphore {
            GenericSemaphore {
                permits: Permits::new(permits),
                bound: Bounded {
                    bound: permits,
                    forgotten: AtomicUsize::new(0),
                },
            }
        }
    }

    /// The number of permits it was created with, which it never exceeds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::BoundedSemaphore::new(3).bound(), 3);
    /// ```
    pub fn bound(&self) -> usize {
        self.bound.bound
    }

    /// Gives back one permit taken out with [`forget`](SemaphorePermit::forget)
    /// (Python's `release()`).
    ///
    /// # Errors
    ///
    /// [`BoundedReleaseError`] when that would exceed the bound, counting the
    /// permits still out as guards; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::BoundedSemaphore::new(2);
    /// let guard = sem.try_acquire().unwrap();
    /// // One permit is free and one is out as a guard: the bound is reached.
    /// assert!(sem.release().is_err());
    /// sem.try_acquire().unwrap().forget();
    /// assert!(sem.release().is_ok());
    /// # drop(guard);
    /// ```
    pub fn release(&self) -> Result<(), BoundedReleaseError> {
        self.bound
            .forgotten
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .map_err(|_| BoundedReleaseError)?;
        self.permits.give(1);
        Ok(())
    }
}

impl fmt::Debug for GenericSemaphore<Unbounded> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available_permits())
            .field("waiters", &self.waiters())
            .finish()
    }
}

impl fmt::Debug for GenericSemaphore<Bounded> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.available_permits())
            .field("bound", &self.bound.bound)
            .field("forgotten", &self.bound.forgotten.load(Ordering::Relaxed))
            .field("waiters", &self.waiters())
            .finish()
    }
}

impl<B: Bound> Part<Permits> for GenericSemaphore<B> {
    fn part(&self) -> &Permits {
        &self.permits
    }
}

/// One call taking `n` permits of the semaphore behind `H` (a reference or
/// an `Arc`); gives `H` back.
type Acquire<H> = Held<H, Permits, AcquireWait>;

fn acquire<H: Deref<Target: Part<Permits>>>(handle: H, n: u32) -> Acquire<H> {
    Held::new(handle, AcquireWait::new(n))
}
