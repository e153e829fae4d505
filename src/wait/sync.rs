//! The atomics, mutex and thread parking of the code that the loom model
//! tests check (`tests/loom.rs`): std's and parking_lot's normally, loom's
//! when built with `RUSTFLAGS="--cfg ambisync_loom"`.

#[cfg(ambisync_loom)]
pub(crate) use loom::{
    sync::atomic::{AtomicU64, AtomicUsize, fence},
    thread,
};
#[cfg(not(ambisync_loom))]
pub(crate) use std::{
    sync::atomic::{AtomicU64, AtomicUsize, fence},
    thread,
};

#[cfg(not(any(ambisync_loom, miri)))]
pub(crate) use parking_lot::{Mutex, MutexGuard};

// Under miri, std's mutex: parking_lot_core passes `&AtomicI32` to the futex
// syscall where the C prototype has `*mut u32`, which miri's check of
// variadic arguments (nightly, autumn 2026) reports as undefined behaviour
// in a contended `Barrier`. Not ours to fix, and not what the miri runs check.
#[cfg(all(miri, not(ambisync_loom)))]
pub(crate) use {SpinningMutex as Mutex, std::sync::MutexGuard};

/// std's mutex with parking_lot's `lock()` signature. Under contention it
/// spins longer than parking_lot's before sleeping, which suits a lock held
/// for a few dozen instructions by two busy workers (the semaphores' queue).
#[cfg(not(ambisync_loom))]
pub(crate) struct SpinningMutex<T>(std::sync::Mutex<T>);

#[cfg(not(ambisync_loom))]
impl<T> SpinningMutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        SpinningMutex(std::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        // Nothing panics while holding it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(ambisync_loom)]
pub(crate) use Mutex as SpinningMutex;

#[cfg(ambisync_loom)]
pub(crate) use loom::sync::MutexGuard;

/// loom's mutex with parking_lot's `lock()` signature.
#[cfg(ambisync_loom)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(ambisync_loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        // Nothing panics while holding it in the modelled code.
        self.0.lock().unwrap()
    }
}

#[cfg(not(ambisync_loom))]
pub(crate) use once_cell::race::OnceBox;

/// `OnceBox` publishes through a std atomic, which loom cannot see: the model
/// tests use a box made up front (the lazy publication is once_cell's, not
/// ours, to check).
#[cfg(ambisync_loom)]
pub(crate) struct OnceBox<T>(Box<T>);

#[cfg(ambisync_loom)]
impl<T> OnceBox<T> {
    pub(crate) fn with(value: T) -> Self {
        OnceBox(Box::new(value))
    }

    pub(crate) fn get(&self) -> Option<&T> {
        Some(&self.0)
    }

    pub(crate) fn get_or_init(&self, _init: impl FnOnce() -> Box<T>) -> &T {
        &self.0
    }
}

/// `std`'s `UnsafeCell` with loom's access methods, so that loom checks the
/// queue ring's slots for unsynchronised access.
#[cfg(not(ambisync_loom))]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(ambisync_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer to the value; the caller's `unsafe` block
    /// answers for exclusive access.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(ambisync_loom)]
pub(crate) use loom::cell::UnsafeCell;
