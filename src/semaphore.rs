//! [`Semaphore`] and [`BoundedSemaphore`] (Python `threading.Semaphore` and
//! `threading.BoundedSemaphore`), with RAII permits.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::core::deadline_after;
use crate::core::hand_off::{HandOffQueue, Ticket};
use crate::core::sync::{AtomicU64, OnceBox};
use crate::core::waiters::Wakeup;
use crate::error::BoundedReleaseError;

/// The most permits a semaphore can hold (`u32::MAX`).
///
/// Creating a semaphore with more, or a raw `release`/`release_n` that would
/// go beyond it, panics and changes nothing. A permit guard dropped when raw
/// releases have already filled the count to `MAX_PERMITS` is not added: the
/// count saturates at `MAX_PERMITS` (a guard's drop never panics).
///
/// ```
/// let sem = ambisync::Semaphore::new(ambisync::MAX_PERMITS);
/// assert_eq!(sem.available_permits(), ambisync::MAX_PERMITS);
/// ```
pub const MAX_PERMITS: usize = u32::MAX as usize;

/// One permit in the state word: permits count in the high 32 bits.
const PERMIT: u64 = 1 << 32;
/// The count at [`MAX_PERMITS`], with no waiter queued.
const FULL: u64 = MAX_PERMITS as u64 * PERMIT;
/// The low 32 bits count the waiters queued (not yet granted a permit). They
/// change only under the queue's lock.
const WAITERS: u64 = PERMIT - 1;

/// The count and the waiters, shared by both semaphore types.
///
/// Waiters are served first come, first served, with direct hand-off: a
/// release that finds waiters queued gives the permit to the oldest one
/// (`HandOffQueue`), and nobody takes a permit from the count while anybody
/// is queued. The count and the number of queued waiters share one word, so
/// that taking or giving back a permit with nobody queued is a single atomic
/// operation that also tells whether anybody is, and the semaphore stays two
/// words in size (the queue is allocated by the first waiter).
///
/// Permits and queued waiters can be in the word together only for a moment:
/// a releaser adds its permit with `fetch_add`, and if that shows waiters it
/// moves permits to them under the queue's lock (`hand_off`) until either
/// runs out. A waiter counts itself in under that lock too, taking a permit
/// instead if one is free and nobody is queued, so a release either sees the
/// waiter or the waiter sees the permit.
struct Permits {
    state: AtomicU64,
    /// Allocated by the first caller that has to wait.
    queue: OnceBox<HandOffQueue>,
}

impl Permits {
    #[cfg(not(ambisync_loom))]
    const fn new(permits: usize) -> Permits {
        assert!(permits <= MAX_PERMITS, "semaphore permit count overflow");
        Permits {
            state: AtomicU64::new(permits as u64 * PERMIT),
            queue: OnceBox::new(),
        }
    }

    /// loom's atomics have no `const` constructor, and its `OnceBox` is made
    /// up front.
    #[cfg(ambisync_loom)]
    fn new(permits: usize) -> Permits {
        assert!(permits <= MAX_PERMITS, "semaphore permit count overflow");
        Permits {
            state: AtomicU64::new(permits as u64 * PERMIT),
            queue: OnceBox::with(HandOffQueue::new()),
        }
    }

    /// Takes a permit if one is free and nobody is queued for one.
    #[inline]
    fn try_take(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state >= PERMIT && state & WAITERS == 0 {
            match self.state.compare_exchange_weak(
                state,
                state - PERMIT,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    fn queue(&self) -> &HandOffQueue {
        self.queue.get_or_init(|| Box::new(HandOffQueue::new()))
    }

    /// Under the queue's lock: takes a permit if one is free and nobody is
    /// queued (`false`: no need to wait), or counts the caller in as a
    /// queued waiter (`true`).
    fn count_in(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let (next, wait) = if state >= PERMIT && state & WAITERS == 0 {
                (state - PERMIT, false)
            } else {
                assert!(state & WAITERS != WAITERS, "too many semaphore waiters");
                (state + 1, true)
            };
            match self.state.compare_exchange_weak(
                state,
                next,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return wait,
                Err(now) => state = now,
            }
        }
    }

    /// Under the queue's lock: a queued waiter leaves without a permit.
    fn count_out(&self) {
        self.state.fetch_sub(1, Ordering::Relaxed);
    }

    /// Under the queue's lock: takes a permit from the count for the oldest
    /// queued waiter, and counts that waiter out. `None` if there is no
    /// permit or no waiter, else whether both are left for another grant.
    fn claim_for_head(&self) -> Option<bool> {
        // Waiters change only under the lock we hold, so the load sees their
        // exact number; permits can only grow meanwhile (nobody takes one
        // from the count while somebody is queued), and a releaser that adds
        // one after this load sees the waiters and hands off in turn.
        let state = self.state.load(Ordering::Relaxed);
        if state < PERMIT || state & WAITERS == 0 {
            return None;
        }
        let after = self.state.fetch_sub(PERMIT + 1, Ordering::AcqRel) - PERMIT - 1;
        Some(after >= PERMIT && after & WAITERS != 0)
    }

    /// Moves permits from the count to queued waiters, oldest first, while
    /// there are both. Permits added after the last grant's look at the word
    /// are handed off by whoever added them: they saw the waiters.
    fn hand_off(&self) {
        // Waiters are counted in only under the queue's lock, so they exist
        // only once the queue does.
        if let Some(queue) = self.queue.get() {
            while let Some(true) = queue.grant_next(|| self.claim_for_head()) {}
        }
    }

    async fn take(&self) {
        crate::core::coop::proceed().await;
        if !self.try_take() {
            self.wait().await;
        }
    }

    /// Waits for a permit (the caller found none free): queues up and
    /// completes once a release hands it one.
    fn wait(&self) -> Acquire<'_> {
        Acquire {
            permits: self,
            stage: Stage::Start,
        }
    }

    #[track_caller]
    fn take_deadline(&self, deadline: Option<Instant>, method: &'static str) -> bool {
        crate::core::runtime::debug_assert_may_block(method);
        if self.try_take() {
            return true;
        }
        crate::core::runtime::assert_may_block(method);
        let queue = self.queue();
        match queue.enqueue(Wakeup::Thread, || self.count_in()) {
            None => true,
            Some(ticket) => queue.park(ticket, deadline, || self.count_out()),
        }
    }

    /// Adds `n` permits (a raw release), handing them to queued waiters
    /// first.
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
            self.hand_off();
        }
    }

    /// Gives back one permit taken by a guard. Never fails or panics (it runs
    /// in `Drop`): if raw releases filled the count to [`MAX_PERMITS`] while
    /// the permit was out, the count stays at `MAX_PERMITS` (it saturates)
    /// instead of wrapping.
    ///
    /// With nobody queued this is one compare-and-swap; otherwise the permit
    /// goes to the oldest waiter.
    #[inline]
    fn give_back(&self) {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state >= FULL {
                // Saturated: nobody waits while permits are free, so there is
                // nobody to hand this permit to either.
                return;
            }
            match self.state.compare_exchange_weak(
                state,
                state + PERMIT,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        if state & WAITERS != 0 {
            self.hand_off();
        }
    }

    fn available(&self) -> usize {
        (self.state.load(Ordering::Acquire) / PERMIT) as usize
    }

    fn waiters(&self) -> usize {
        (self.state.load(Ordering::Relaxed) & WAITERS) as usize
    }
}

/// A wait for a permit once none was free: queues up on its first poll and
/// completes when a release hands it a permit. Dropped while queued it
/// leaves the line; dropped after a grant it did not see, it gives the permit
/// back (to the next waiter in line).
struct Acquire<'a> {
    permits: &'a Permits,
    stage: Stage<'a>,
}

enum Stage<'a> {
    Start,
    Queued(&'a HandOffQueue, Ticket),
    Done,
}

impl Future for Acquire<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let permits = self.permits;
        let done = match self.stage {
            Stage::Start => {
                let queue = permits.queue();
                match queue.enqueue(Wakeup::Task(cx.waker()), || permits.count_in()) {
                    None => true,
                    Some(ticket) => {
                        self.stage = Stage::Queued(queue, ticket);
                        false
                    }
                }
            }
            Stage::Queued(queue, ticket) => {
                queue.is_granted(ticket) || queue.update(ticket, cx.waker())
            }
            Stage::Done => panic!("a semaphore acquire polled after it completed"),
        };
        if done {
            self.stage = Stage::Done;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Stage::Queued(queue, ticket) = self.stage {
            if !queue.leave(ticket, || self.permits.count_out()) {
                // Granted, but never seen: the permit goes on.
                self.permits.give_back();
            }
        }
    }
}

/// A counting semaphore for tasks and threads.
///
/// Acquiring returns a [`SemaphorePermit`] that gives the permit back when
/// dropped; [`forget`](SemaphorePermit::forget) keeps it taken (Python's
/// `acquire()` without `release()`), and [`release`](Semaphore::release) adds
/// a permit at any time, beyond the initial count too.
///
/// Waiters are served first come, first served (like tokio's semaphore and
/// Python 3.11+ `asyncio.Semaphore`): a release hands its permit straight to
/// the task or thread that has waited longest, and nobody takes a free permit
/// while others are queued for one. Releasing `n` permits serves up to `n`
/// waiters, and a waiter whose future is dropped after it was handed a permit
/// passes the permit on to the next in line.
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
            /// Waiters get permits in the order they started waiting. Cancel
            /// safe: a dropped future holds no permit, and passes on a permit
            /// handed to it.
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
                crate::core::coop::proceed().await;
                if !self.permits.try_take() {
                    crate::core::with_timeout(timeout, self.permits.wait()).await?;
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
                    crate::core::coop::proceed().await;
                    if !this.permits.try_take() {
                        crate::core::with_timeout(timeout, this.permits.wait()).await?;
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
    #[cfg(not(ambisync_loom))]
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: Permits::new(permits),
        }
    }

    /// Creates a semaphore with `permits` free permits (loom's atomics have
    /// no `const` constructor).
    #[cfg(ambisync_loom)]
    pub fn new(permits: usize) -> Semaphore {
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

    /// Adds `n` permits at once: up to `n` waiters get one, oldest first,
    /// and the rest go to the count.
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
    #[cfg(not(ambisync_loom))]
    pub const fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            permits: Permits::new(permits),
            bound: permits,
            forgotten: AtomicUsize::new(0),
        }
    }

    /// Creates a semaphore with `permits` free permits, which is also its
    /// bound (loom's atomics have no `const` constructor).
    #[cfg(ambisync_loom)]
    pub fn new(permits: usize) -> BoundedSemaphore {
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
