//! Guards narrowed to a part of a [`Lock`]'s value (tokio's
//! `MutexGuard::map`): [`LockGuard::map`] and [`OwnedLockGuard::map`].
//!
//! A mapped guard keeps the lock and a pointer to the part, derived from the
//! `&mut T` the original guard gave (through the lock's `UnsafeCell`); the
//! original guard is consumed, so that pointer is the only way to the value
//! while the mapped guard lives.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use super::raw::RawLock;
use super::{LockGuard, OwnedLockGuard};

/// A [`LockGuard`] narrowed to a part `U` of the value by
/// [`LockGuard::map`]; unlocks when dropped.
///
/// `Send` when `U: Send`, `Sync` when `U: Sync`, as tokio's.
///
/// # Examples
///
/// ```
/// use ambisync::{Lock, LockGuard, MappedLockGuard};
/// let lock = Lock::new((0, String::new()));
/// let mut name: MappedLockGuard<'_, String> = LockGuard::map(lock.lock_blocking(), |p| &mut p.1);
/// name.push_str("ann");
/// assert!(lock.is_locked());
/// drop(name);
/// assert_eq!(lock.lock_blocking().1, "ann");
/// ```
#[must_use = "the lock unlocks as soon as the guard is dropped"]
pub struct MappedLockGuard<'a, U: ?Sized> {
    raw: &'a RawLock,
    data: NonNull<U>,
    _exclusive: PhantomData<&'a mut U>,
}

// SAFETY: the guard holds the lock (unlocking is an atomic operation any
// thread may do) and gives out `&mut U` and `&U` of a value nobody else can
// reach while it lives: the bounds of `&mut U`.
unsafe impl<U: ?Sized + Send> Send for MappedLockGuard<'_, U> {}
// SAFETY: as for `Send`: sharing the guard shares `&U`.
unsafe impl<U: ?Sized + Sync> Sync for MappedLockGuard<'_, U> {}

impl<'a, U: ?Sized> MappedLockGuard<'a, U> {
    /// Narrows the guard further.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{Lock, LockGuard, MappedLockGuard};
    /// let lock = Lock::new(((1, 2), 3));
    /// let inner = LockGuard::map(lock.lock_blocking(), |p| &mut p.0);
    /// let mut first = MappedLockGuard::map(inner, |p| &mut p.0);
    /// *first = 10;
    /// ```
    pub fn map<V: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut U) -> &mut V,
    ) -> MappedLockGuard<'a, V> {
        // SAFETY: the guard holds the lock and is consumed: the reference is
        // the only way to the value while the new guard lives (it takes the
        // lock over). If `f` panics, `this` still unlocks.
        let data = NonNull::from(f(unsafe { this.data.as_mut() }));
        let raw = this.raw;
        std::mem::forget(this);
        MappedLockGuard::adopt(raw, data)
    }

    /// Narrows the guard further if `f` finds a part; gives the guard back
    /// otherwise.
    ///
    /// # Errors
    ///
    /// The original guard, when `f` returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{Lock, LockGuard, MappedLockGuard};
    /// let lock = Lock::new((vec![1], 0));
    /// let list = LockGuard::map(lock.lock_blocking(), |p| &mut p.0);
    /// let list = MappedLockGuard::try_map(list, |v| v.get_mut(4)).unwrap_err();
    /// assert_eq!(list.len(), 1);
    /// ```
    pub fn try_map<V: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut U) -> Option<&mut V>,
    ) -> Result<MappedLockGuard<'a, V>, Self> {
        // SAFETY: as in `map`; on `None` the reference is gone before the
        // guard is given back.
        let Some(part) = f(unsafe { this.data.as_mut() }) else {
            return Err(this);
        };
        let data = NonNull::from(part);
        let raw = this.raw;
        std::mem::forget(this);
        Ok(MappedLockGuard::adopt(raw, data))
    }

    fn adopt(raw: &'a RawLock, data: NonNull<U>) -> Self {
        MappedLockGuard {
            raw,
            data,
            _exclusive: PhantomData,
        }
    }
}

impl<'a, T> LockGuard<'a, T> {
    /// Narrows the guard to a part of the value, keeping the lock (tokio's
    /// `MutexGuard::map`). An associated function, so that it does not hide
    /// a method of `T`: `LockGuard::map(guard, ...)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{Lock, LockGuard};
    /// let lock = Lock::new((0u32, vec![1u8]));
    /// let mut bytes = LockGuard::map(lock.lock_blocking(), |pair| &mut pair.1);
    /// bytes.push(2);
    /// drop(bytes);
    /// assert_eq!(lock.lock_blocking().1, [1, 2]);
    /// ```
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&mut T) -> &mut U) -> MappedLockGuard<'a, U> {
        let lock = this.lock;
        // SAFETY: the guard holds the lock and is consumed below: the
        // reference (derived from the lock's `UnsafeCell`) is the only way to
        // the value while the mapped guard lives. If `f` panics, `this`
        // still unlocks.
        let data = NonNull::from(f(unsafe { &mut *lock.value() }));
        std::mem::forget(this);
        MappedLockGuard::adopt(&lock.raw, data)
    }

    /// Narrows the guard to a part of the value if `f` finds one; gives the
    /// guard back otherwise (tokio's `MutexGuard::try_map`).
    ///
    /// # Errors
    ///
    /// The original guard, when `f` returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{Lock, LockGuard};
    /// let lock = Lock::new(vec![5]);
    /// let guard = LockGuard::try_map(lock.lock_blocking(), |v| v.get_mut(3)).unwrap_err();
    /// let first = LockGuard::try_map(guard, |v| v.first_mut()).unwrap();
    /// assert_eq!(*first, 5);
    /// ```
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<MappedLockGuard<'a, U>, Self> {
        let lock = this.lock;
        // SAFETY: as in `map`; on `None` the reference is gone before the
        // guard is given back.
        let Some(part) = f(unsafe { &mut *lock.value() }) else {
            return Err(this);
        };
        let data = NonNull::from(part);
        std::mem::forget(this);
        Ok(MappedLockGuard::adopt(&lock.raw, data))
    }
}

impl<U: ?Sized> Deref for MappedLockGuard<'_, U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: the guard holds the lock, and `data` points into the lock's
        // value (derived from the `&mut` its guard gave).
        unsafe { self.data.as_ref() }
    }
}

impl<U: ?Sized> DerefMut for MappedLockGuard<'_, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { self.data.as_mut() }
    }
}

impl<U: ?Sized> Drop for MappedLockGuard<'_, U> {
    #[inline]
    fn drop(&mut self) {
        self.raw.unlock();
    }
}

impl<U: ?Sized + fmt::Debug> fmt::Debug for MappedLockGuard<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An [`OwnedLockGuard`] narrowed to a part `U` of the value by
/// [`OwnedLockGuard::map`]; unlocks when dropped.
///
/// `Send` when `T` and `U` are `Send`; `Sync` when `T: Send + Sync` and
/// `U: Sync`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ambisync::{Lock, OwnedLockGuard, OwnedMappedLockGuard};
/// let lock = Arc::new(Lock::new((1, 2)));
/// let mut second: OwnedMappedLockGuard<(i32, i32), i32> =
///     OwnedLockGuard::map(lock.lock_owned_blocking(), |p| &mut p.1);
/// std::thread::spawn(move || *second += 1).join().unwrap();
/// assert_eq!(*lock.lock_blocking(), (1, 3));
/// ```
#[must_use = "the lock unlocks as soon as the guard is dropped"]
pub struct OwnedMappedLockGuard<T, U: ?Sized = T> {
    /// Holds the lock (and unlocks when dropped); never dereferenced again.
    guard: OwnedLockGuard<T>,
    data: NonNull<U>,
}

// SAFETY: the guard owns an `OwnedLockGuard<T>` (`Send` when `T: Send`) and
// gives out `&mut U` and `&U` of a value nobody else can reach while it
// lives.
unsafe impl<T: Send, U: ?Sized + Send> Send for OwnedMappedLockGuard<T, U> {}
// SAFETY: sharing the guard shares `&U` (and `&OwnedLockGuard<T>`, `Sync`
// when `T: Send + Sync`).
unsafe impl<T: Send + Sync, U: ?Sized + Sync> Sync for OwnedMappedLockGuard<T, U> {}

impl<T> OwnedLockGuard<T> {
    /// Narrows the guard to a part `U` of the value, keeping the lock
    /// (tokio's `OwnedMutexGuard::map`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{Lock, OwnedLockGuard};
    /// let lock = Arc::new(Lock::new((0, vec![0])));
    /// let mut list = OwnedLockGuard::map(lock.lock_owned_blocking(), |p| &mut p.1);
    /// list.push(1);
    /// drop(list);
    /// assert_eq!(lock.lock_blocking().1, [0, 1]);
    /// ```
    pub fn map<U: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut T) -> &mut U,
    ) -> OwnedMappedLockGuard<T, U> {
        // The mapped guard takes the guard over (to unlock) and never
        // dereferences it again: `data` stays the only way in.
        let data = NonNull::from(f(&mut *this));
        OwnedMappedLockGuard { guard: this, data }
    }

    /// Narrows the guard to a part of the value if `f` finds one; gives the
    /// guard back otherwise.
    ///
    /// # Errors
    ///
    /// The original guard, when `f` returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{Lock, OwnedLockGuard};
    /// let lock = Arc::new(Lock::new(vec![1]));
    /// assert!(OwnedLockGuard::try_map(lock.lock_owned_blocking(), |v| v.get_mut(2)).is_err());
    /// ```
    pub fn try_map<U: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<OwnedMappedLockGuard<T, U>, Self> {
        match f(&mut *this).map(NonNull::from) {
            Some(data) => Ok(OwnedMappedLockGuard { guard: this, data }),
            None => Err(this),
        }
    }
}

impl<T, U: ?Sized> OwnedMappedLockGuard<T, U> {
    /// Narrows the guard further.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{Lock, OwnedLockGuard, OwnedMappedLockGuard};
    /// let lock = Arc::new(Lock::new(((0, 0), 0)));
    /// let inner = OwnedLockGuard::map(lock.lock_owned_blocking(), |p| &mut p.0);
    /// *OwnedMappedLockGuard::map(inner, |p| &mut p.1) = 4;
    /// assert_eq!(*lock.lock_blocking(), ((0, 4), 0));
    /// ```
    pub fn map<V: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut U) -> &mut V,
    ) -> OwnedMappedLockGuard<T, V> {
        let data = NonNull::from(f(&mut *this));
        OwnedMappedLockGuard {
            guard: this.guard,
            data,
        }
    }

    /// Narrows the guard further if `f` finds a part; gives the guard back
    /// otherwise.
    ///
    /// # Errors
    ///
    /// The original guard, when `f` returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{Lock, OwnedLockGuard, OwnedMappedLockGuard};
    /// let lock = Arc::new(Lock::new((vec![0], 0)));
    /// let list = OwnedLockGuard::map(lock.lock_owned_blocking(), |p| &mut p.0);
    /// assert!(OwnedMappedLockGuard::try_map(list, |v| v.get_mut(1)).is_err());
    /// ```
    pub fn try_map<V: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut U) -> Option<&mut V>,
    ) -> Result<OwnedMappedLockGuard<T, V>, Self> {
        match f(&mut *this).map(NonNull::from) {
            Some(data) => Ok(OwnedMappedLockGuard {
                guard: this.guard,
                data,
            }),
            None => Err(this),
        }
    }
}

impl<T, U: ?Sized> Deref for OwnedMappedLockGuard<T, U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: `guard` holds the lock and is never dereferenced while this
        // guard lives; `data` was derived from its `&mut T`.
        unsafe { self.data.as_ref() }
    }
}

impl<T, U: ?Sized> DerefMut for OwnedMappedLockGuard<T, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { self.data.as_mut() }
    }
}

impl<T, U: ?Sized + fmt::Debug> fmt::Debug for OwnedMappedLockGuard<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
