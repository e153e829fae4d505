//! [`Semaphore`] and [`BoundedSemaphore`] (Python `threading.Semaphore` and
//! `threading.BoundedSemaphore`), with RAII permits.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use event_listener::{Event, IntoNotification};
use std::time::{Duration, Instant};

use crate::core::fair::{FairState, FairWaiter};
use crate::core::{WaiterCount, block_until, deadline_after, wait_until};
use crate::error::BoundedReleaseError;

/// The most permits a semaphore can hold (`u32::MAX`); creating or releasing
/// beyond it panics.
///
/// ```
/// let sem = ambisync::Semaphore::new(ambisync::MAX_PERMITS);
/// assert_eq!(sem.available_permits(), ambisync::MAX_PERMITS);
/// ```
pub const MAX_PERMITS: usize = u32::MAX as usize;

/// One permit in the state word: permits count in the high 32 bits.
const PERMIT: u64 = 1 << 32;
/// Bit 31: a waiter starves; the last free permit is reserved for it.
const STARVING: u64 = 1 << 31;
/// Bits 0 to 30 count registered waiters.
const WAITERS: u64 = STARVING - 1;

/// The count and the waiters, shared by both semaphore types, in one word so
/// that giving a permit back is a single `fetch_add` that also tells whether
/// anybody waits, and the semaphore stays two words in size.
struct Permits {
    state: AtomicU64,
    event: Event,
}

impl WaiterCount for Permits {
    fn register(&self) {
        self.state.fetch_add(1, Ordering::SeqCst);
    }
    fn unregister(&self) {
        self.state.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Semaphores barge like `Lock`, with the same starvation guard: a waiter
/// that waited too long reserves the last free permit for itself.
impl FairState for Permits {
    fn take_fair(&self) -> bool {
        self.take_when(
            |state| state >= 2 * PERMIT || (state >= PERMIT && state & STARVING == 0),
            0,
        )
    }
    fn take_starving(&self) -> bool {
        self.take_when(|state| state >= PERMIT, STARVING)
    }
    fn claim_starving(&self) -> bool {
        self.state.fetch_or(STARVING, Ordering::AcqRel) & STARVING == 0
    }
    fn unclaim_starving(&self) -> bool {
        let before = self.state.fetch_and(!STARVING, Ordering::AcqRel);
        before >= PERMIT && before & WAITERS != 0
    }
    fn reserved_and_free(&self) -> bool {
        let state = self.state.load(Ordering::Acquire);
        state >= PERMIT && state & STARVING != 0
    }
}

impl Permits {
    const fn new(permits: usize) -> Permits {
        assert!(permits <= MAX_PERMITS, "semaphore permit count overflow");
        Permits {
            state: AtomicU64::new(permits as u64 * PERMIT),
            event: Event::new(),
        }
    }

    /// Takes a permit if one is free, whoever waits: the non-waiting forms.
    #[inline]
    fn try_take(&self) -> bool {
        self.take_when(|state| state >= PERMIT, 0)
    }

    /// Takes `PERMIT` (clearing `also_clear`) while `allowed` says so.
    #[inline]
    fn take_when(&self, allowed: impl Fn(u64) -> bool, also_clear: u64) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while allowed(state) {
            match self.state.compare_exchange_weak(
                state,
                (state - PERMIT) & !also_clear,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    async fn take(&self) {
        if !self.take_fair() {
            let mut waiter = FairWaiter::new(self, &self.event);
            wait_until(&self.event, self, || waiter.attempt().then_some(())).await;
            drop(waiter);
            self.pass_on_surplus();
        }
    }

    #[track_caller]
    fn take_deadline(&self, deadline: Option<Instant>, method: &'static str) -> bool {
        crate::core::runtime::debug_assert_may_block(method);
        if self.take_fair() {
            return true;
        }
        let mut waiter = FairWaiter::new(self, &self.event);
        let taken = block_until(&self.event, self, deadline, method, || {
            waiter.attempt().then_some(())
        })
        .is_some();
        drop(waiter);
        if taken {
            self.pass_on_surplus();
        }
        taken
    }

    /// After a waiter took a permit: if more are free and others wait, make
    /// sure one of them is woken. Releases of single permits only promise
    /// "at least one waiter notified" (see `give_back`), so a waiter woken
    /// for several releases hands the rest on.
    fn pass_on_surplus(&self) {
        let state = self.state.load(Ordering::Acquire);
        if state >= PERMIT && state & WAITERS != 0 {
            self.event.notify(1);
        }
    }

    /// Adds `n` permits (a raw release) and wakes exactly `n` more waiters:
    /// `notify(1)` twice would wake only one while a permit sits free.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`MAX_PERMITS`]; nothing changes then.
    #[inline]
    fn give(&self, n: usize) {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let available = (state / PERMIT) as usize;
            assert!(
                n <= MAX_PERMITS - available,
                "semaphore permit count overflow"
            );
            match self.state.compare_exchange_weak(
                state,
                state + n as u64 * PERMIT,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        if state & WAITERS != 0 {
            self.event.notify(n.additional());
        }
    }

    /// Gives back one permit taken by a guard. Never fails: the count it
    /// restores was there before (raw releases are the ones that check).
    ///
    /// The waiter count comes back with the same `fetch_add`: a waiter that
    /// registered later finds the permit on its next attempt.
    ///
    /// Wakes "at least one" waiter, not one more: while a woken waiter has
    /// not run yet, releases by tasks that barge back in (release, re-acquire,
    /// release) would otherwise wake a new waiter each time, only for it to
    /// find the permit taken. The woken waiter passes on what it does not
    /// take (`pass_on_surplus`), and one dropped before it ran passes its
    /// wake-up on (event-listener), so no permit sits free while all sleep.
    #[inline]
    fn give_back(&self) {
        let before = self.state.fetch_add(PERMIT, Ordering::Release);
        if before & WAITERS != 0 {
            self.event.notify(1);
        }
    }

    fn available(&self) -> usize {
        (self.state.load(Ordering::Acquire) / PERMIT) as usize
    }

    fn waiters(&self) -> usize {
        (self.state.load(Ordering::Relaxed) & WAITERS) as usize
    }
}

/// A counting semaphore for tasks and threads.
///
/// Acquiring returns a [`SemaphorePermit`] that gives the permit back when
/// dropped; [`forget`](SemaphorePermit::forget) keeps it taken (Python's
/// `acquire()` without `release()`), and [`release`](Semaphore::release) adds
/// a permit at any time, beyond the initial count too.
///
/// Releases wake exactly as many waiters as they free permits, and a woken
/// waiter whose future is dropped passes its wake-up on.
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
pub struct Semaphore {
    permits: Permits,
}

/// A semaphore that never holds more permits than it was created with.
///
/// As Python's `BoundedSemaphore`: a raw [`release`](BoundedSemaphore::release)
/// that would exceed the bound, counting permits still out as guards, returns
/// [`BoundedReleaseError`] and changes nothing. Only permits taken out with
/// [`forget`](SemaphorePermit::forget) can be released that way; a permit
/// guard's drop always succeeds.
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
pub struct BoundedSemaphore {
    permits: Permits,
    bound: usize,
    /// Permits taken out with `forget`, which a raw `release` may return.
    forgotten: AtomicUsize,
}

/// Writes the acquire forms once for both semaphore types. `$sem` names the
/// type in the doc examples; `$owned` wraps an `Arc<Self>` for owned permits.
macro_rules! acquire_forms {
    ($ty:ident, $owned:ident) => {
        impl $ty {
            /// Takes a permit, waiting as long as it takes.
            ///
            /// Cancel safe: a dropped future holds no permit, and passes on a
            /// wake-up it received.
            ///
            /// ```
            #[doc = concat!("let sem = ambisync::", stringify!($ty), "::new(1);")]
            /// # futures::executor::block_on(async {
            /// let permit = sem.acquire().await;
            /// assert_eq!(sem.available_permits(), 0);
            /// drop(permit);
            /// assert_eq!(sem.available_permits(), 1);
            /// # });
            /// ```
            pub async fn acquire(&self) -> SemaphorePermit<'_> {
                self.permits.take().await;
                self.permit()
            }

            /// Takes a permit, or gives up after `timeout` and returns `None`.
            ///
            /// ```
            /// use std::time::Duration;
            /// # #[tokio::main] async fn main() {
            #[doc = concat!("let sem = ambisync::", stringify!($ty), "::new(1);")]
            /// let _held = sem.acquire().await;
            /// assert!(sem.acquire_timeout(Duration::from_millis(5)).await.is_none());
            /// # }
            /// ```
            #[cfg(feature = "tokio")]
            pub async fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
                if !self.permits.take_fair() {
                    crate::core::with_timeout(timeout, self.permits.take()).await?;
                }
                Some(self.permit())
            }

            /// Takes a permit if one is free, without waiting.
            ///
            /// ```
            #[doc = concat!("let sem = ambisync::", stringify!($ty), "::new(1);")]
            /// let permit = sem.try_acquire().unwrap();
            /// assert!(sem.try_acquire().is_none());
            /// # drop(permit);
            /// ```
            pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
                self.permits.try_take().then(|| self.permit())
            }

            /// Takes a permit, blocking the thread as long as it takes.
            ///
            /// # Panics
            ///
            /// With the `tokio` feature, if it has to wait inside a tokio runtime.
            ///
            /// ```
            #[doc = concat!("let sem = ambisync::", stringify!($ty), "::new(1);")]
            /// let permit = sem.acquire_blocking();
            /// # drop(permit);
            /// ```
            #[track_caller]
            pub fn acquire_blocking(&self) -> SemaphorePermit<'_> {
                self.permits.take_deadline(None, "acquire_blocking");
                self.permit()
            }

            /// Takes a permit, blocking the thread for at most `timeout`; needs
            /// no runtime.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let sem = ambisync::", stringify!($ty), "::new(0);")]
            /// assert!(sem.acquire_timeout_blocking(Duration::from_millis(5)).is_none());
            /// ```
            #[track_caller]
            pub fn acquire_timeout_blocking(
                &self,
                timeout: Duration,
            ) -> Option<SemaphorePermit<'_>> {
                self.permits
                    .take_deadline(deadline_after(timeout), "acquire_timeout_blocking")
                    .then(|| self.permit())
            }

            /// Takes a permit that owns an `Arc` of the semaphore, to move
            /// into a spawned task.
            ///
            /// ```
            /// use std::sync::Arc;
            /// # #[tokio::main] async fn main() {
            #[doc = concat!("let sem = Arc::new(ambisync::", stringify!($ty), "::new(1));")]
            /// let permit = sem.acquire_owned().await;
            /// tokio::spawn(async move { drop(permit) }).await.unwrap();
            /// assert_eq!(sem.available_permits(), 1);
            /// # }
            /// ```
            pub fn acquire_owned(
                self: &Arc<Self>,
            ) -> impl Future<Output = OwnedSemaphorePermit> + use<> {
                let this = Arc::clone(self);
                async move {
                    this.permits.take().await;
                    OwnedSemaphorePermit::adopt(OwnedSemaphore::$owned(this))
                }
            }

            /// [`acquire_owned`](Self::acquire_owned) that gives up after `timeout`.
            ///
            /// ```
            /// use std::{sync::Arc, time::Duration};
            /// # #[tokio::main] async fn main() {
            #[doc = concat!("let sem = Arc::new(ambisync::", stringify!($ty), "::new(0));")]
            /// assert!(sem.acquire_owned_timeout(Duration::from_millis(5)).await.is_none());
            /// # }
            /// ```
            #[cfg(feature = "tokio")]
            pub fn acquire_owned_timeout(
                self: &Arc<Self>,
                timeout: Duration,
            ) -> impl Future<Output = Option<OwnedSemaphorePermit>> + use<> {
                let this = Arc::clone(self);
                async move {
                    if !this.permits.take_fair() {
                        crate::core::with_timeout(timeout, this.permits.take()).await?;
                    }
                    Some(OwnedSemaphorePermit::adopt(OwnedSemaphore::$owned(this)))
                }
            }

            /// [`try_acquire`](Self::try_acquire) with an owned permit.
            ///
            /// ```
            /// use std::sync::Arc;
            #[doc = concat!("let sem = Arc::new(ambisync::", stringify!($ty), "::new(1));")]
            /// let permit = sem.try_acquire_owned().unwrap();
            /// assert!(sem.try_acquire_owned().is_none());
            /// # drop(permit);
            /// ```
            pub fn try_acquire_owned(self: &Arc<Self>) -> Option<OwnedSemaphorePermit> {
                self.permits
                    .try_take()
                    .then(|| OwnedSemaphorePermit::adopt(OwnedSemaphore::$owned(Arc::clone(self))))
            }

            /// [`acquire_blocking`](Self::acquire_blocking) with an owned permit.
            ///
            /// ```
            /// use std::sync::Arc;
            #[doc = concat!("let sem = Arc::new(ambisync::", stringify!($ty), "::new(1));")]
            /// let permit = sem.acquire_owned_blocking();
            /// std::thread::spawn(move || drop(permit)).join().unwrap();
            /// assert_eq!(sem.available_permits(), 1);
            /// ```
            #[track_caller]
            pub fn acquire_owned_blocking(self: &Arc<Self>) -> OwnedSemaphorePermit {
                self.permits.take_deadline(None, "acquire_owned_blocking");
                OwnedSemaphorePermit::adopt(OwnedSemaphore::$owned(Arc::clone(self)))
            }

            /// [`acquire_timeout_blocking`](Self::acquire_timeout_blocking)
            /// with an owned permit.
            ///
            /// ```
            /// use std::{sync::Arc, time::Duration};
            #[doc = concat!("let sem = Arc::new(ambisync::", stringify!($ty), "::new(0));")]
            /// assert!(sem.acquire_owned_timeout_blocking(Duration::from_millis(5)).is_none());
            /// ```
            #[track_caller]
            pub fn acquire_owned_timeout_blocking(
                self: &Arc<Self>,
                timeout: Duration,
            ) -> Option<OwnedSemaphorePermit> {
                self.permits
                    .take_deadline(deadline_after(timeout), "acquire_owned_timeout_blocking")
                    .then(|| OwnedSemaphorePermit::adopt(OwnedSemaphore::$owned(Arc::clone(self))))
            }

            /// How many permits are free right now.
            ///
            /// ```
            #[doc = concat!("let sem = ambisync::", stringify!($ty), "::new(3);")]
            /// let _permit = sem.try_acquire();
            /// assert_eq!(sem.available_permits(), 2);
            /// ```
            pub fn available_permits(&self) -> usize {
                self.permits.available()
            }

            /// How many tasks and threads are waiting for a permit (a snapshot).
            ///
            /// ```
            #[doc = concat!("let sem = ambisync::", stringify!($ty), "::new(1);")]
            /// assert_eq!(sem.waiters(), 0);
            /// ```
            pub fn waiters(&self) -> usize {
                self.permits.waiters()
            }
        }
    };
}

acquire_forms!(Semaphore, Plain);
acquire_forms!(BoundedSemaphore, Bounded);

impl Semaphore {
    /// Creates a semaphore with `permits` free permits.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`MAX_PERMITS`].
    ///
    /// ```
    /// assert_eq!(ambisync::Semaphore::new(4).available_permits(), 4);
    /// ```
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: Permits::new(permits),
        }
    }

    /// Adds one permit (Python's `release()`); always allowed.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`MAX_PERMITS`].
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn release(&self) {
        self.permits.give(1);
    }

    /// Adds `n` permits at once and wakes up to `n` waiters.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`MAX_PERMITS`].
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

    fn permit(&self) -> SemaphorePermit<'_> {
        SemaphorePermit {
            permits: &self.permits,
            forgotten: None,
        }
    }
}

impl BoundedSemaphore {
    /// Creates a semaphore with `permits` free permits, which is also its bound.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`MAX_PERMITS`].
    ///
    /// ```
    /// let sem = ambisync::BoundedSemaphore::new(2);
    /// assert_eq!(sem.bound(), 2);
    /// ```
    pub const fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            permits: Permits::new(permits),
            bound: permits,
            forgotten: AtomicUsize::new(0),
        }
    }

    /// The number of permits it was created with, which it never exceeds.
    ///
    /// ```
    /// assert_eq!(ambisync::BoundedSemaphore::new(3).bound(), 3);
    /// ```
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Gives back one permit taken out with [`forget`](SemaphorePermit::forget)
    /// (Python's `release()`).
    ///
    /// # Errors
    ///
    /// [`BoundedReleaseError`] when that would exceed the bound, counting the
    /// permits still out as guards; nothing changes then.
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
        self.forgotten
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .map_err(|_| BoundedReleaseError)?;
        self.permits.give(1);
        Ok(())
    }

    fn permit(&self) -> SemaphorePermit<'_> {
        SemaphorePermit {
            permits: &self.permits,
            forgotten: Some(&self.forgotten),
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available_permits())
            .field("waiters", &self.waiters())
            .finish()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.available_permits())
            .field("bound", &self.bound)
            .field("forgotten", &self.forgotten.load(Ordering::Relaxed))
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`]; dropping it gives the
/// permit back.
///
/// ```
/// let sem = ambisync::Semaphore::new(1);
/// {
///     let _permit = sem.acquire_blocking();
///     assert_eq!(sem.available_permits(), 0);
/// }
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    permits: &'a Permits,
    forgotten: Option<&'a AtomicUsize>,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken instead of giving it back (Python's `acquire()`
    /// without `release()`). On a `BoundedSemaphore`, a later raw `release()`
    /// may give it back.
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(1);
    /// sem.acquire_blocking().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(self) {
        if let Some(forgotten) = self.forgotten {
            forgotten.fetch_add(1, Ordering::AcqRel);
        }
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.permits.give_back();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("bounded", &self.forgotten.is_some())
            .finish()
    }
}

enum OwnedSemaphore {
    Plain(Arc<Semaphore>),
    Bounded(Arc<BoundedSemaphore>),
}

/// A permit that owns an `Arc` of its semaphore, so it is `'static` and can
/// move into spawned tasks and threads; dropping it gives the permit back.
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(ambisync::BoundedSemaphore::new(1));
/// let permit: ambisync::OwnedSemaphorePermit = sem.try_acquire_owned().unwrap();
/// std::thread::spawn(move || drop(permit)).join().unwrap();
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    /// `None` once forgotten: the `Arc` is dropped without giving the permit.
    semaphore: Option<OwnedSemaphore>,
}

impl OwnedSemaphorePermit {
    fn adopt(semaphore: OwnedSemaphore) -> Self {
        OwnedSemaphorePermit {
            semaphore: Some(semaphore),
        }
    }

    /// Keeps the permit taken; see [`SemaphorePermit::forget`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(ambisync::BoundedSemaphore::new(1));
    /// sem.try_acquire_owned().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// sem.release().unwrap();
    /// ```
    pub fn forget(mut self) {
        if let Some(OwnedSemaphore::Bounded(sem)) = self.semaphore.take() {
            sem.forgotten.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        match &self.semaphore {
            Some(OwnedSemaphore::Plain(sem)) => sem.permits.give_back(),
            Some(OwnedSemaphore::Bounded(sem)) => sem.permits.give_back(),
            None => {}
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field(
                "bounded",
                &matches!(self.semaphore, Some(OwnedSemaphore::Bounded(_))),
            )
            .finish()
    }
}
