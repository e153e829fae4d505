//! The errors of ambisync. Each has a short, lowercase, Python-style message,
//! and those of a failed `put` carry the item back.

use std::error::Error;
use std::fmt;

/// Releasing a lock that the caller may not release.
///
/// # Examples
///
/// ```
/// use ambisync::{Lock, ReleaseError};
///
/// let lock = Lock::new(());
/// assert_eq!(lock.release(), Err(ReleaseError::NotLocked));
/// assert_eq!(ReleaseError::NotLocked.to_string(), "release unlocked lock");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseError {
    /// The lock was not locked (Python: `RuntimeError: release unlocked lock`).
    NotLocked,
    /// A reentrant lock is held by another task or thread, or by nobody
    /// (Python: `RuntimeError: cannot release un-acquired lock`).
    NotOwner,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReleaseError::NotLocked => "release unlocked lock",
            ReleaseError::NotOwner => "cannot release un-acquired lock",
        })
    }
}

impl Error for ReleaseError {}

/// A [`BoundedSemaphore`](crate::BoundedSemaphore) release that would exceed
/// its initial number of permits; nothing was changed.
///
/// # Examples
///
/// ```
/// use ambisync::{BoundedReleaseError, BoundedSemaphore};
///
/// let sem = BoundedSemaphore::new(1);
/// assert_eq!(sem.release(), Err(BoundedReleaseError));
/// assert_eq!(BoundedReleaseError.to_string(), "semaphore released too many times");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BoundedReleaseError;

impl fmt::Display for BoundedReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore released too many times")
    }
}

impl Error for BoundedReleaseError {}

/// A [`Barrier`](crate::Barrier) wait that failed because the barrier is, or
/// became, broken (aborted, reset, timed out, or its action panicked).
///
/// # Examples
///
/// ```
/// use ambisync::{Barrier, BrokenBarrierError};
///
/// let barrier = Barrier::new(2);
/// barrier.abort();
/// assert_eq!(barrier.wait_blocking(), Err(BrokenBarrierError));
/// assert_eq!(BrokenBarrierError.to_string(), "barrier is broken");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("barrier is broken")
    }
}

impl Error for BrokenBarrierError {}

/// A `put` that did not deliver its item; the item comes back inside.
///
/// # Examples
///
/// ```
/// use ambisync::{PutError, Queue};
///
/// let queue = Queue::bounded(1);
/// queue.try_put("first").unwrap();
/// let err = queue.try_put("second").unwrap_err();
/// assert_eq!(err, PutError::Full("second"));
/// assert_eq!(err.to_string(), "queue is full");
/// assert_eq!(err.into_inner(), "second");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PutError<T> {
    /// The queue was full (`try_put`).
    Full(T),
    /// No slot freed up in time (`put_timeout`).
    Timeout(T),
    /// The queue was shut down.
    ShutDown(T),
}

impl<T> PutError<T> {
    /// The item that could not be put.
    ///
    /// ```
    /// # use ambisync::PutError;
    /// assert_eq!(PutError::ShutDown(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::Timeout(item) | PutError::ShutDown(item) => item,
        }
    }

    /// A reference to the item that could not be put.
    ///
    /// ```
    /// # use ambisync::PutError;
    /// assert_eq!(PutError::Full("x").item(), &"x");
    /// ```
    pub fn item(&self) -> &T {
        match self {
            PutError::Full(item) | PutError::Timeout(item) | PutError::ShutDown(item) => item,
        }
    }
}

// Not derived: printing a `PutError` must not require `T: Debug`.
impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Full(_) => "Full(..)",
            PutError::Timeout(_) => "Timeout(..)",
            PutError::ShutDown(_) => "ShutDown(..)",
        })
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Full(_) => "queue is full",
            PutError::Timeout(_) => "put timed out",
            PutError::ShutDown(_) => "queue is shut down",
        })
    }
}

impl<T> Error for PutError<T> {}

/// A `get` that returned no item.
///
/// # Examples
///
/// ```
/// use ambisync::{GetError, Queue};
///
/// let queue: Queue<u8> = Queue::unbounded();
/// assert_eq!(queue.try_get(), Err(GetError::Empty));
/// queue.shutdown();
/// assert_eq!(queue.try_get(), Err(GetError::ShutDown));
/// assert_eq!(GetError::ShutDown.to_string(), "queue is shut down");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GetError {
    /// The queue was empty (`try_get`).
    Empty,
    /// No item arrived in time (`get_timeout`).
    Timeout,
    /// The queue was shut down and holds no more items.
    ShutDown,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GetError::Empty => "queue is empty",
            GetError::Timeout => "get timed out",
            GetError::ShutDown => "queue is shut down",
        })
    }
}

impl Error for GetError {}

/// `task_done()` was called more times than items were put.
///
/// # Examples
///
/// ```
/// use ambisync::{Queue, TaskDoneError};
///
/// let queue: Queue<u8> = Queue::unbounded();
/// assert_eq!(queue.task_done(), Err(TaskDoneError));
/// assert_eq!(TaskDoneError.to_string(), "task_done() called too many times");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl Error for TaskDoneError {}

/// Asking a semaphore for more permits at once than it can ever have free:
/// more than a [`BoundedSemaphore`](crate::BoundedSemaphore)'s bound, or
/// more than [`MAX_PERMITS`](crate::MAX_PERMITS). Waiting would never end,
/// so the call fails at once.
///
/// # Examples
///
/// ```
/// use ambisync::{BoundedSemaphore, TooManyPermitsError};
///
/// let sem = BoundedSemaphore::new(2);
/// let err = sem.try_acquire_many(3).unwrap_err();
/// assert_eq!(err, TooManyPermitsError { requested: 3, limit: 2 });
/// assert_eq!(err.to_string(), "cannot acquire 3 permits: at most 2 can ever be free");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TooManyPermitsError {
    /// How many permits were asked for.
    pub requested: usize,
    /// The most permits the semaphore can ever have free.
    pub limit: usize,
}

impl fmt::Display for TooManyPermitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot acquire {} permits: at most {} can ever be free",
            self.requested, self.limit
        )
    }
}

impl Error for TooManyPermitsError {}
