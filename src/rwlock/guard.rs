//! The borrowed guards of an [`RwLock`]: read (mappable), upgradable read,
//! write, and mapped write.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use super::RwLock;
use super::raw::{Access, RawRwLock};

/// Shared access to an [`RwLock`]'s value (or to a part of it, after
/// [`map`](RwLockReadGuard::map)); gives the read access back when dropped.
///
/// `Send` and `Sync` when `T: Sync`, as tokio's.
///
/// # Examples
///
/// ```
/// let lock = ambisync::RwLock::new(vec![1, 2]);
/// let a = lock.read_blocking();
/// let b = lock.try_read().unwrap(); // readers share the lock
/// assert_eq!(a.len() + b.len(), 4);
/// ```
#[must_use = "the read access is given back as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    raw: &'a RawRwLock,
    data: NonNull<T>,
    _shares: PhantomData<&'a T>,
}

// SAFETY: the guard gives out `&T` only, and releasing the read access is an
// atomic operation on the lock that any thread may do: sending or sharing
// the guard shares `&T`, which needs `T: Sync` (the bounds of `&T`).
unsafe impl<T: ?Sized + Sync> Send for RwLockReadGuard<'_, T> {}
// SAFETY: as for `Send`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    /// A guard for a read access the caller has just taken, over `data`
    /// (the lock's value, or a part of it reached through a guard).
    fn adopt(raw: &'a RawRwLock, data: NonNull<T>) -> Self {
        RwLockReadGuard {
            raw,
            data,
            _shares: PhantomData,
        }
    }

    /// Narrows the guard to a part of the value, keeping the read access
    /// (tokio's `RwLockReadGuard::map`). An associated function, so that it
    /// does not hide a method of `T`: `RwLockReadGuard::map(guard, ...)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{RwLock, RwLockReadGuard};
    /// let lock = RwLock::new((String::from("name"), 7));
    /// let name = RwLockReadGuard::map(lock.read_blocking(), |pair| &pair.0);
    /// assert_eq!(&*name, "name");
    /// ```
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&T) -> &U) -> RwLockReadGuard<'a, U> {
        let raw = this.raw;
        // SAFETY: the guard holds the read access, so nobody writes the value
        // for as long as the new guard lives (it takes the access over).
        let data = NonNull::from(f(unsafe { this.data.as_ref() }));
        std::mem::forget(this);
        RwLockReadGuard::adopt(raw, data)
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
    /// use ambisync::{RwLock, RwLockReadGuard};
    /// let lock = RwLock::new(vec![1, 2, 3]);
    /// let first = RwLockReadGuard::try_map(lock.read_blocking(), |v| v.first()).unwrap();
    /// assert_eq!(*first, 1);
    /// drop(first);
    /// assert!(RwLockReadGuard::try_map(lock.read_blocking(), |v| v.get(9)).is_err());
    /// ```
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&T) -> Option<&U>,
    ) -> Result<RwLockReadGuard<'a, U>, Self> {
        // SAFETY: as in `map`.
        let Some(part) = f(unsafe { this.data.as_ref() }) else {
            return Err(this);
        };
        let (raw, data) = (this.raw, NonNull::from(part));
        std::mem::forget(this);
        Ok(RwLockReadGuard::adopt(raw, data))
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read access, so no writer exists while it
        // lives, and `data` points into the lock's value, which outlives 'a.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.raw.unlock_read();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Shared access to an [`RwLock`]'s value that excludes writers and other
/// upgradable readers (not plain readers), and can be
/// [upgraded](RwLockUpgradableReadGuard::upgrade) to the write access
/// without letting a writer in between. Gives the access back when dropped.
///
/// # Examples
///
/// ```
/// use ambisync::{RwLock, RwLockUpgradableReadGuard};
/// # futures::executor::block_on(async {
/// let lock = RwLock::new(1);
/// let guard = lock.upgradable_read().await;
/// assert!(lock.try_read().is_some()); // readers still enter
/// if *guard == 1 {
///     let mut writer = RwLockUpgradableReadGuard::upgrade(guard).await;
///     *writer = 2;
/// }
/// assert_eq!(*lock.read().await, 2);
/// # });
/// ```
#[must_use = "the access is given back as soon as the guard is dropped"]
pub struct RwLockUpgradableReadGuard<'a, T> {
    pub(super) lock: &'a RwLock<T>,
}

impl<'a, T> RwLockUpgradableReadGuard<'a, T> {
    /// Gives the guard up without giving its access back (it moves to an
    /// upgrade or another guard).
    pub(super) fn into_lock(self) -> &'a RwLock<T> {
        let lock = self.lock;
        std::mem::forget(self);
        lock
    }

    /// Turns the guard into a plain read guard: other upgradable readers may
    /// enter, and no writer gets in between.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{RwLock, RwLockUpgradableReadGuard};
    /// let lock = RwLock::new(0);
    /// let read = RwLockUpgradableReadGuard::downgrade(lock.upgradable_read_blocking());
    /// assert!(lock.try_upgradable_read().is_some());
    /// # drop(read);
    /// ```
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
        let lock = this.into_lock();
        lock.raw.downgrade_upgradable();
        lock.read_guard()
    }

    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(());
    /// let guard = lock.upgradable_read_blocking();
    /// assert!(std::ptr::eq(ambisync::RwLockUpgradableReadGuard::rwlock(&guard), &lock));
    /// ```
    pub fn rwlock(this: &Self) -> &'a RwLock<T> {
        this.lock
    }
}

impl<T> Deref for RwLockUpgradableReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds an upgradable read access, which excludes
        // writers; its own upgrade consumes the guard.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> Drop for RwLockUpgradableReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock_upgradable();
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockUpgradableReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value; gives the write access back
/// when dropped.
///
/// `Send` and `Sync` when `T: Send + Sync`, as tokio's.
///
/// # Examples
///
/// ```
/// let lock = ambisync::RwLock::new(String::new());
/// lock.write_blocking().push_str("hi");
/// assert_eq!(*lock.read_blocking(), "hi");
/// ```
#[must_use = "the write access is given back as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T> {
    pub(super) lock: &'a RwLock<T>,
    // `&mut T` is `Sync` only when `T` is: sharing the guard shares `&T`.
    pub(super) _exclusive: PhantomData<&'a mut T>,
}

impl<'a, T> RwLockWriteGuard<'a, T> {
    /// Gives the guard up without giving its access back.
    fn into_lock(self) -> &'a RwLock<T> {
        let lock = self.lock;
        std::mem::forget(self);
        lock
    }

    /// Turns the write access into a read access, letting no other writer in
    /// between; readers waiting in line enter with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{RwLock, RwLockWriteGuard};
    /// let lock = RwLock::new(1);
    /// let mut writer = lock.write_blocking();
    /// *writer = 2;
    /// let reader = RwLockWriteGuard::downgrade(writer);
    /// assert_eq!(*reader, 2);
    /// assert!(lock.try_read().is_some());
    /// ```
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
        let lock = this.into_lock();
        lock.raw.downgrade_write(Access::Read);
        lock.read_guard()
    }

    /// Turns the write access into an upgradable read access, letting no
    /// writer in between.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{RwLock, RwLockWriteGuard};
    /// let lock = RwLock::new(1);
    /// let upgradable = RwLockWriteGuard::downgrade_to_upgradable(lock.write_blocking());
    /// assert!(lock.try_read().is_some());
    /// assert!(lock.try_write().is_none());
    /// # drop(upgradable);
    /// ```
    pub fn downgrade_to_upgradable(this: Self) -> RwLockUpgradableReadGuard<'a, T> {
        let lock = this.into_lock();
        lock.raw.downgrade_write(Access::Upgradable);
        RwLockUpgradableReadGuard { lock }
    }

    /// Narrows the guard to a part of the value, keeping the write access
    /// (tokio's `RwLockWriteGuard::map`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{RwLock, RwLockWriteGuard};
    /// let lock = RwLock::new((0, String::new()));
    /// let mut text = RwLockWriteGuard::map(lock.write_blocking(), |pair| &mut pair.1);
    /// text.push('x');
    /// drop(text);
    /// assert_eq!(lock.read_blocking().1, "x");
    /// ```
    pub fn map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> &mut U,
    ) -> RwLockMappedWriteGuard<'a, U> {
        // SAFETY: the guard holds the write access and is consumed: the
        // reference is the only way to the value while the mapped guard
        // (which takes the access over) lives. If `f` panics, `this` still
        // gives the access back.
        let data = NonNull::from(f(unsafe { &mut *this.lock.value.get() }));
        let lock = this.into_lock();
        RwLockMappedWriteGuard::adopt(&lock.raw, data)
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
    /// use ambisync::{RwLock, RwLockWriteGuard};
    /// let lock = RwLock::new(vec![1]);
    /// let guard = lock.write_blocking();
    /// let guard = RwLockWriteGuard::try_map(guard, |v| v.get_mut(5)).unwrap_err();
    /// let mut first = RwLockWriteGuard::try_map(guard, |v| v.first_mut()).unwrap();
    /// *first = 9;
    /// ```
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<RwLockMappedWriteGuard<'a, U>, Self> {
        // SAFETY: as in `map`; on `None` the reference is gone before the
        // guard is given back.
        let Some(part) = f(unsafe { &mut *this.lock.value.get() }) else {
            return Err(this);
        };
        let data = NonNull::from(part);
        let lock = this.into_lock();
        Ok(RwLockMappedWriteGuard::adopt(&lock.raw, data))
    }

    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ambisync::RwLock::new(());
    /// let guard = lock.write_blocking();
    /// assert!(std::ptr::eq(ambisync::RwLockWriteGuard::rwlock(&guard), &lock));
    /// ```
    pub fn rwlock(this: &Self) -> &'a RwLock<T> {
        this.lock
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the write access: nobody else reads or
        // writes the value while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.raw.unlock_write();
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to a part of an [`RwLock`]'s value, made by
/// [`RwLockWriteGuard::map`]; gives the write access back when dropped.
///
/// `Send` and `Sync` when `U: Send + Sync`.
///
/// # Examples
///
/// ```
/// use ambisync::{RwLock, RwLockMappedWriteGuard, RwLockWriteGuard};
/// let lock = RwLock::new(([0u8; 4], 1));
/// let bytes: RwLockMappedWriteGuard<'_, [u8]> =
///     RwLockWriteGuard::map(lock.write_blocking(), |pair| &mut pair.0[..]);
/// let mut second = RwLockMappedWriteGuard::map(bytes, |bytes| &mut bytes[1]);
/// *second = 5;
/// drop(second);
/// assert_eq!(lock.read_blocking().0, [0, 5, 0, 0]);
/// ```
#[must_use = "the write access is given back as soon as the guard is dropped"]
pub struct RwLockMappedWriteGuard<'a, U: ?Sized> {
    raw: &'a RawRwLock,
    data: NonNull<U>,
    _exclusive: PhantomData<&'a mut U>,
}

// SAFETY: the guard gives out `&mut U` and `&U` of a value nobody else can
// reach while it lives; releasing the write access is an atomic operation
// any thread may do. The bounds are those of tokio's mapped write guard.
unsafe impl<U: ?Sized + Send + Sync> Send for RwLockMappedWriteGuard<'_, U> {}
// SAFETY: as for `Send`: sharing the guard shares `&U`.
unsafe impl<U: ?Sized + Send + Sync> Sync for RwLockMappedWriteGuard<'_, U> {}

impl<'a, U: ?Sized> RwLockMappedWriteGuard<'a, U> {
    fn adopt(raw: &'a RawRwLock, data: NonNull<U>) -> Self {
        RwLockMappedWriteGuard {
            raw,
            data,
            _exclusive: PhantomData,
        }
    }

    /// Narrows the guard further.
    ///
    /// # Examples
    ///
    /// See [`RwLockMappedWriteGuard`].
    pub fn map<V: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut U) -> &mut V,
    ) -> RwLockMappedWriteGuard<'a, V> {
        // SAFETY: the guard holds the write access and is consumed (see
        // `RwLockWriteGuard::map`).
        let data = NonNull::from(f(unsafe { this.data.as_mut() }));
        let raw = this.raw;
        std::mem::forget(this);
        RwLockMappedWriteGuard::adopt(raw, data)
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
    /// use ambisync::{RwLock, RwLockMappedWriteGuard, RwLockWriteGuard};
    /// let lock = RwLock::new((vec![1, 2], ()));
    /// let list = RwLockWriteGuard::map(lock.write_blocking(), |pair| &mut pair.0);
    /// let list = RwLockMappedWriteGuard::try_map(list, |v| v.get_mut(7)).unwrap_err();
    /// assert_eq!(list.len(), 2);
    /// ```
    pub fn try_map<V: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut U) -> Option<&mut V>,
    ) -> Result<RwLockMappedWriteGuard<'a, V>, Self> {
        // SAFETY: as in `map`; on `None` the reference is gone before the
        // guard is given back.
        let Some(part) = f(unsafe { this.data.as_mut() }) else {
            return Err(this);
        };
        let data = NonNull::from(part);
        let raw = this.raw;
        std::mem::forget(this);
        Ok(RwLockMappedWriteGuard::adopt(raw, data))
    }
}

impl<U: ?Sized> Deref for RwLockMappedWriteGuard<'_, U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: the guard holds the write access, and `data` points into
        // the lock's value (derived from the `&mut` its write guard gave).
        unsafe { self.data.as_ref() }
    }
}

impl<U: ?Sized> DerefMut for RwLockMappedWriteGuard<'_, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { self.data.as_mut() }
    }
}

impl<U: ?Sized> Drop for RwLockMappedWriteGuard<'_, U> {
    fn drop(&mut self) {
        self.raw.unlock_write();
    }
}

impl<U: ?Sized + fmt::Debug> fmt::Debug for RwLockMappedWriteGuard<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> RwLock<T> {
    /// A read guard for a read access the caller has just taken.
    pub(super) fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard::adopt(&self.raw, self.data())
    }

    /// A write guard for the write access the caller has just taken.
    pub(super) fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            _exclusive: PhantomData,
        }
    }

    /// An upgradable guard for the access the caller has just taken.
    pub(super) fn upgradable_guard(&self) -> RwLockUpgradableReadGuard<'_, T> {
        RwLockUpgradableReadGuard { lock: self }
    }
}
