//! The permits a semaphore hands out: borrowed and owned.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::SemaphoreCore;
use super::permits::Permits;
use crate::wait::sync::AtomicUsize;

/// Permits of a [`Semaphore`](crate::Semaphore) or [`BoundedSemaphore`](crate::BoundedSemaphore) (one, or as many as
/// `acquire_many` took); dropping the guard gives them back.
///
/// # Examples
///
/// ```
/// let sem = ambisync::Semaphore::new(1);
/// {
///     let _permit = sem.acquire_blocking();
///     assert_eq!(sem.available_permits(), 0);
/// }
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped: keep it in a variable (`let _permit = ...`) while you work, or call `.forget()` to keep it taken until a raw `release()` (Python's acquire/release pairing)"]
pub struct SemaphorePermit<'a> {
    permits: &'a Permits,
    /// A bounded semaphore's count of forgotten permits.
    forgotten: Option<&'a AtomicUsize>,
    n: u32,
}

impl<'a> SemaphorePermit<'a> {
    pub(crate) fn adopt(permits: &'a Permits, forgotten: Option<&'a AtomicUsize>, n: u32) -> Self {
        SemaphorePermit {
            permits,
            forgotten,
            n,
        }
    }

    /// Keeps the permits taken instead of giving them back (Python's
    /// `acquire()` without `release()`). On a `BoundedSemaphore`, later raw
    /// `release()` calls may give them back, one each.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(1);
    /// sem.acquire_blocking().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(self) {
        if let Some(forgotten) = self.forgotten {
            forgotten.fetch_add(self.n as usize, Ordering::AcqRel);
        }
        std::mem::forget(self);
    }

    /// How many permits this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = ambisync::Semaphore::new(5);
    /// assert_eq!(sem.try_acquire_many(3).unwrap().unwrap().num_permits(), 3);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.n as usize
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.permits.give_back(self.n);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .field("bounded", &self.forgotten.is_some())
            .finish()
    }
}

/// Permits that own an `Arc` of their semaphore, so they are `'static` and
/// can move into spawned tasks and threads; dropping the guard gives them
/// back.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(ambisync::BoundedSemaphore::new(1));
/// let permit: ambisync::OwnedSemaphorePermit = sem.try_acquire_owned().unwrap();
/// std::thread::spawn(move || drop(permit)).join().unwrap();
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped: keep it in a variable (`let _permit = ...`) while you work, or call `.forget()` to keep it taken until a raw `release()` (Python's acquire/release pairing)"]
pub struct OwnedSemaphorePermit {
    /// `None` once forgotten: the `Arc` is dropped without giving permits.
    semaphore: Option<Arc<dyn SemaphoreCore>>,
    n: u32,
}

impl OwnedSemaphorePermit {
    pub(crate) fn adopt(semaphore: Arc<dyn SemaphoreCore>, n: u32) -> Self {
        OwnedSemaphorePermit {
            semaphore: Some(semaphore),
            n,
        }
    }

    /// Keeps the permits taken; see [`SemaphorePermit::forget`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(ambisync::BoundedSemaphore::new(1));
    /// sem.try_acquire_owned().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// sem.release().unwrap();
    /// ```
    pub fn forget(mut self) {
        if let Some(semaphore) = self.semaphore.take() {
            if let Some(forgotten) = semaphore.forgotten() {
                forgotten.fetch_add(self.n as usize, Ordering::AcqRel);
            }
        }
    }

    /// How many permits this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(ambisync::Semaphore::new(5));
    /// assert_eq!(sem.try_acquire_many_owned(2).unwrap().unwrap().num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.n as usize
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if let Some(semaphore) = &self.semaphore {
            semaphore.permits().give_back(self.n);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.n)
            .field(
                "bounded",
                &self
                    .semaphore
                    .as_ref()
                    .is_some_and(|semaphore| semaphore.forgotten().is_some()),
            )
            .finish()
    }
}
