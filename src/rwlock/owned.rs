//! The owned guards of an [`RwLock`]: each owns an `Arc` of its lock, so it
//! is `'static` and can move into spawned tasks and threads.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;

use super::RwLock;
use super::raw::Access;

/// The lock an owned guard holds, until the guard hands it on.
fn held<T>(lock: &Option<Arc<RwLock<T>>>) -> &Arc<RwLock<T>> {
    lock.as_ref()
        .expect("an owned RwLock guard is used only while it holds the lock")
}

/// An [`RwLockReadGuard`](super::RwLockReadGuard) that owns an `Arc` of its
/// lock; [`map`](OwnedRwLockReadGuard::map) narrows it to a part `U` of the
/// value.
///
/// `Send` and `Sync` when `T: Send + Sync` and `U: Sync`, as tokio's.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(ambisync::RwLock::new(5));
/// let guard: ambisync::OwnedRwLockReadGuard<i32> = lock.read_owned_blocking();
/// std::thread::spawn(move || assert_eq!(*guard, 5)).join().unwrap();
/// ```
#[must_use = "the read access is given back as soon as the guard is dropped"]
pub struct OwnedRwLockReadGuard<T, U: ?Sized = T> {
    /// `None` once the guard handed its access on.
    lock: Option<Arc<RwLock<T>>>,
    data: NonNull<U>,
}

// SAFETY: the guard owns an `Arc<RwLock<T>>` (which is `Send` when `T: Send +
// Sync`) and gives out `&U` only (shared between threads when `U: Sync`);
// releasing the read access is an atomic operation any thread may do.
unsafe impl<T: Send + Sync, U: ?Sized + Sync> Send for OwnedRwLockReadGuard<T, U> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send + Sync, U: ?Sized + Sync> Sync for OwnedRwLockReadGuard<T, U> {}

impl<T> OwnedRwLockReadGuard<T> {
    /// A guard for a read access the caller has just taken.
    pub(super) fn adopt(lock: Arc<RwLock<T>>) -> Self {
        let data = lock.data();
        OwnedRwLockReadGuard {
            lock: Some(lock),
            data,
        }
    }
}

impl<T, U: ?Sized> OwnedRwLockReadGuard<T, U> {
    /// Narrows the guard to a part of the value, keeping the read access
    /// (tokio's `OwnedRwLockReadGuard::map`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{OwnedRwLockReadGuard, RwLock};
    /// let lock = Arc::new(RwLock::new((1, "one")));
    /// let word = OwnedRwLockReadGuard::map(lock.read_owned_blocking(), |pair| &pair.1);
    /// assert_eq!(*word, "one");
    /// ```
    pub fn map<V: ?Sized>(mut this: Self, f: impl FnOnce(&U) -> &V) -> OwnedRwLockReadGuard<T, V> {
        // SAFETY: the guard holds the read access, so nobody writes the value
        // while the new guard (which takes the access over) lives.
        let data = NonNull::from(f(unsafe { this.data.as_ref() }));
        OwnedRwLockReadGuard {
            lock: this.lock.take(),
            data,
        }
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
    /// use ambisync::{OwnedRwLockReadGuard, RwLock};
    /// let lock = Arc::new(RwLock::new(vec![4]));
    /// let first = OwnedRwLockReadGuard::try_map(lock.read_owned_blocking(), |v| v.first());
    /// assert_eq!(*first.unwrap(), 4);
    /// ```
    pub fn try_map<V: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&U) -> Option<&V>,
    ) -> Result<OwnedRwLockReadGuard<T, V>, Self> {
        // SAFETY: as in `map`.
        let Some(part) = f(unsafe { this.data.as_ref() }) else {
            return Err(this);
        };
        let data = NonNull::from(part);
        Ok(OwnedRwLockReadGuard {
            lock: this.lock.take(),
            data,
        })
    }

    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(()));
    /// let guard = lock.read_owned_blocking();
    /// assert!(Arc::ptr_eq(ambisync::OwnedRwLockReadGuard::rwlock(&guard), &lock));
    /// ```
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        held(&this.lock)
    }
}

impl<T, U: ?Sized> Deref for OwnedRwLockReadGuard<T, U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: the guard holds a read access (no writer exists while it
        // lives) and an `Arc` of the lock, which keeps the value alive.
        unsafe { self.data.as_ref() }
    }
}

impl<T, U: ?Sized> Drop for OwnedRwLockReadGuard<T, U> {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.raw.unlock_read();
        }
    }
}

impl<T, U: ?Sized + fmt::Debug> fmt::Debug for OwnedRwLockReadGuard<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An [`RwLockUpgradableReadGuard`](super::RwLockUpgradableReadGuard) that
/// owns an `Arc` of its lock.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ambisync::{OwnedRwLockUpgradableReadGuard, RwLock};
/// let lock = Arc::new(RwLock::new(1));
/// let guard = lock.upgradable_read_owned_blocking();
/// let mut writer = OwnedRwLockUpgradableReadGuard::upgrade_blocking(guard);
/// *writer += 1;
/// ```
#[must_use = "the access is given back as soon as the guard is dropped"]
pub struct OwnedRwLockUpgradableReadGuard<T> {
    /// `None` once the guard handed its access on.
    lock: Option<Arc<RwLock<T>>>,
}

impl<T> OwnedRwLockUpgradableReadGuard<T> {
    pub(super) fn adopt(lock: Arc<RwLock<T>>) -> Self {
        OwnedRwLockUpgradableReadGuard { lock: Some(lock) }
    }

    /// Gives the guard up without giving its access back.
    pub(super) fn into_lock(mut self) -> Arc<RwLock<T>> {
        self.lock
            .take()
            .expect("an owned RwLock guard holds its lock until it is consumed")
    }

    /// Turns the guard into a plain read guard: other upgradable readers may
    /// enter, and no writer gets in between.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{OwnedRwLockUpgradableReadGuard, RwLock};
    /// let lock = Arc::new(RwLock::new(0));
    /// let read = OwnedRwLockUpgradableReadGuard::downgrade(lock.upgradable_read_owned_blocking());
    /// assert!(lock.try_upgradable_read().is_some());
    /// # drop(read);
    /// ```
    pub fn downgrade(this: Self) -> OwnedRwLockReadGuard<T> {
        let lock = this.into_lock();
        lock.raw.downgrade_upgradable();
        OwnedRwLockReadGuard::adopt(lock)
    }

    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(()));
    /// let guard = lock.upgradable_read_owned_blocking();
    /// assert!(Arc::ptr_eq(ambisync::OwnedRwLockUpgradableReadGuard::rwlock(&guard), &lock));
    /// ```
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        held(&this.lock)
    }
}

impl<T> Deref for OwnedRwLockUpgradableReadGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds an upgradable read access, which excludes
        // writers; its own upgrade consumes the guard.
        unsafe { &*held(&self.lock).value.get() }
    }
}

impl<T> Drop for OwnedRwLockUpgradableReadGuard<T> {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.raw.unlock_upgradable();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedRwLockUpgradableReadGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An [`RwLockWriteGuard`](super::RwLockWriteGuard) that owns an `Arc` of its
/// lock.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(ambisync::RwLock::new(0));
/// let mut guard: ambisync::OwnedRwLockWriteGuard<i32> = lock.write_owned_blocking();
/// std::thread::spawn(move || *guard += 1).join().unwrap();
/// assert_eq!(*lock.read_blocking(), 1);
/// ```
#[must_use = "the write access is given back as soon as the guard is dropped"]
pub struct OwnedRwLockWriteGuard<T> {
    /// `None` once the guard handed its access on.
    lock: Option<Arc<RwLock<T>>>,
}

impl<T> OwnedRwLockWriteGuard<T> {
    pub(super) fn adopt(lock: Arc<RwLock<T>>) -> Self {
        OwnedRwLockWriteGuard { lock: Some(lock) }
    }

    fn into_lock(mut self) -> Arc<RwLock<T>> {
        self.lock
            .take()
            .expect("an owned RwLock guard holds its lock until it is consumed")
    }

    /// Turns the write access into a read access, letting no other writer in
    /// between.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{OwnedRwLockWriteGuard, RwLock};
    /// let lock = Arc::new(RwLock::new(1));
    /// let reader = OwnedRwLockWriteGuard::downgrade(lock.write_owned_blocking());
    /// assert!(lock.try_read().is_some());
    /// # drop(reader);
    /// ```
    pub fn downgrade(this: Self) -> OwnedRwLockReadGuard<T> {
        let lock = this.into_lock();
        lock.raw.downgrade_write(Access::Read);
        OwnedRwLockReadGuard::adopt(lock)
    }

    /// Turns the write access into an upgradable read access, letting no
    /// writer in between.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{OwnedRwLockWriteGuard, RwLock};
    /// let lock = Arc::new(RwLock::new(1));
    /// let guard = OwnedRwLockWriteGuard::downgrade_to_upgradable(lock.write_owned_blocking());
    /// assert!(lock.try_write().is_none());
    /// # drop(guard);
    /// ```
    pub fn downgrade_to_upgradable(this: Self) -> OwnedRwLockUpgradableReadGuard<T> {
        let lock = this.into_lock();
        lock.raw.downgrade_write(Access::Upgradable);
        OwnedRwLockUpgradableReadGuard::adopt(lock)
    }

    /// Narrows the guard to a part `U` of the value, keeping the write
    /// access (tokio's `OwnedRwLockWriteGuard::map`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{OwnedRwLockWriteGuard, RwLock};
    /// let lock = Arc::new(RwLock::new((0, 0)));
    /// let mut second = OwnedRwLockWriteGuard::map(lock.write_owned_blocking(), |p| &mut p.1);
    /// *second = 3;
    /// drop(second);
    /// assert_eq!(*lock.read_blocking(), (0, 3));
    /// ```
    pub fn map<U: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut T) -> &mut U,
    ) -> OwnedRwLockMappedWriteGuard<T, U> {
        // The mapped guard takes the guard over (to give the access back) and
        // never dereferences it again: `data` stays the only way in.
        let data = NonNull::from(f(&mut *this));
        OwnedRwLockMappedWriteGuard { guard: this, data }
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
    /// use ambisync::{OwnedRwLockWriteGuard, RwLock};
    /// let lock = Arc::new(RwLock::new(vec![1]));
    /// let guard = OwnedRwLockWriteGuard::try_map(lock.write_owned_blocking(), |v| v.get_mut(3));
    /// assert!(guard.is_err());
    /// ```
    pub fn try_map<U: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<OwnedRwLockMappedWriteGuard<T, U>, Self> {
        match f(&mut *this).map(NonNull::from) {
            Some(data) => Ok(OwnedRwLockMappedWriteGuard { guard: this, data }),
            None => Err(this),
        }
    }

    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(ambisync::RwLock::new(()));
    /// let guard = lock.write_owned_blocking();
    /// assert!(Arc::ptr_eq(ambisync::OwnedRwLockWriteGuard::rwlock(&guard), &lock));
    /// ```
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        held(&this.lock)
    }
}

impl<T> Deref for OwnedRwLockWriteGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the write access: nobody else reads or
        // writes the value while it lives.
        unsafe { &*held(&self.lock).value.get() }
    }
}

impl<T> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { &mut *held(&self.lock).value.get() }
    }
}

impl<T> Drop for OwnedRwLockWriteGuard<T> {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.raw.unlock_write();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedRwLockWriteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An [`OwnedRwLockWriteGuard`] narrowed to a part `U` of the value by
/// [`map`](OwnedRwLockWriteGuard::map); gives the write access back when
/// dropped.
///
/// `Send` and `Sync` when `T` and `U` are `Send + Sync`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ambisync::{OwnedRwLockMappedWriteGuard, OwnedRwLockWriteGuard, RwLock};
/// let lock = Arc::new(RwLock::new(((0, 0), 0)));
/// let inner = OwnedRwLockWriteGuard::map(lock.write_owned_blocking(), |p| &mut p.0);
/// let mut first = OwnedRwLockMappedWriteGuard::map(inner, |p| &mut p.0);
/// *first = 1;
/// drop(first);
/// assert_eq!(*lock.read_blocking(), ((1, 0), 0));
/// ```
#[must_use = "the write access is given back as soon as the guard is dropped"]
pub struct OwnedRwLockMappedWriteGuard<T, U: ?Sized = T> {
    /// Holds the write access (and gives it back when dropped); never
    /// dereferenced again.
    guard: OwnedRwLockWriteGuard<T>,
    data: NonNull<U>,
}

// SAFETY: the guard owns an `OwnedRwLockWriteGuard<T>` (`Send` when `T: Send +
// Sync`) and gives out `&mut U` and `&U` of a value nobody else can reach
// while it lives.
unsafe impl<T: Send + Sync, U: ?Sized + Send + Sync> Send for OwnedRwLockMappedWriteGuard<T, U> {}
// SAFETY: as for `Send`: sharing the guard shares `&U`.
unsafe impl<T: Send + Sync, U: ?Sized + Send + Sync> Sync for OwnedRwLockMappedWriteGuard<T, U> {}

impl<T, U: ?Sized> OwnedRwLockMappedWriteGuard<T, U> {
    /// Narrows the guard further.
    ///
    /// # Examples
    ///
    /// See [`OwnedRwLockMappedWriteGuard`].
    pub fn map<V: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut U) -> &mut V,
    ) -> OwnedRwLockMappedWriteGuard<T, V> {
        let data = NonNull::from(f(&mut *this));
        OwnedRwLockMappedWriteGuard {
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
    /// use ambisync::{OwnedRwLockMappedWriteGuard, OwnedRwLockWriteGuard, RwLock};
    /// let lock = Arc::new(RwLock::new((vec![0], 0)));
    /// let list = OwnedRwLockWriteGuard::map(lock.write_owned_blocking(), |p| &mut p.0);
    /// assert!(OwnedRwLockMappedWriteGuard::try_map(list, |v| v.get_mut(1)).is_err());
    /// ```
    pub fn try_map<V: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut U) -> Option<&mut V>,
    ) -> Result<OwnedRwLockMappedWriteGuard<T, V>, Self> {
        match f(&mut *this).map(NonNull::from) {
            Some(data) => Ok(OwnedRwLockMappedWriteGuard {
                guard: this.guard,
                data,
            }),
            None => Err(this),
        }
    }
}

impl<T, U: ?Sized> Deref for OwnedRwLockMappedWriteGuard<T, U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: `guard` holds the write access and is never dereferenced
        // while this guard lives; `data` was derived from its `&mut T`.
        unsafe { self.data.as_ref() }
    }
}

impl<T, U: ?Sized> DerefMut for OwnedRwLockMappedWriteGuard<T, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { self.data.as_mut() }
    }
}

impl<T, U: ?Sized + fmt::Debug> fmt::Debug for OwnedRwLockMappedWriteGuard<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
