//! Upgrading an upgradable read guard to a write guard, in the five forms,
//! borrowed and owned: one state machine ([`UpgradeOp`]) for all of them.

use std::ops::Deref;
use std::time::Duration;

use super::op::{AsRawRwLock, UpgradeOp};
use super::{
    OwnedRwLockUpgradableReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockUpgradableReadGuard,
    RwLockWriteGuard,
};
use crate::wait::{Map, WaitOp, Waiting, block_on, block_on_untimed, deadline_after};
#[cfg(feature = "tokio")]
use crate::wait::{MapOutput, Timed};

/// The write guard of a finished upgrade that had no deadline.
fn upgraded<W, U>(out: Result<W, U>) -> W {
    match out {
        Ok(guard) => guard,
        Err(_) => unreachable!("an upgrade without a deadline never gives up"),
    }
}

/// The outcome of an upgrade that had a deadline (which always has one: the
/// upgradable guard comes back when it times out).
fn outcome<W, U>(out: Option<Result<W, U>>) -> Result<W, U> {
    out.expect("an upgrade that times out gives its guard back")
}

/// Upgrades the access behind `handle`, mapping the outcome to guards.
fn upgrade_op<H, W, U>(
    handle: H,
    write: impl FnOnce(H) -> W + Unpin,
    upgradable: impl FnOnce(H) -> U + Unpin,
) -> impl WaitOp<Output = Result<W, U>>
where
    H: Deref<Target: AsRawRwLock> + Unpin,
{
    Map::new(UpgradeOp::new(handle), move |out: Result<H, H>| {
        out.map(write).map_err(upgradable)
    })
}

impl<'a, T> RwLockUpgradableReadGuard<'a, T> {
    fn upgrade_op(
        this: Self,
    ) -> impl WaitOp<Output = Result<RwLockWriteGuard<'a, T>, RwLockUpgradableReadGuard<'a, T>>>
    {
        upgrade_op(
            this.into_lock(),
            RwLock::write_guard,
            RwLock::upgradable_guard,
        )
    }

    /// Upgrades to the write access, waiting until the other readers are
    /// gone. No writer gets in between, and no new reader enters meanwhile.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives the upgradable access back (the guard was
    /// moved into it), and lets in the readers it had held back.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{RwLock, RwLockUpgradableReadGuard};
    /// # futures::executor::block_on(async {
    /// let lock = RwLock::new(vec![1]);
    /// let guard = lock.upgradable_read().await;
    /// let mut writer = RwLockUpgradableReadGuard::upgrade(guard).await;
    /// writer.push(2);
    /// # });
    /// ```
    pub fn upgrade(this: Self) -> impl Future<Output = RwLockWriteGuard<'a, T>> {
        Waiting::new(Map::new(Self::upgrade_op(this), upgraded))
    }

    /// [`upgrade`](Self::upgrade) that gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// The upgradable guard, back, if the other readers were still there at
    /// the deadline.
    ///
    /// # Cancel safety
    ///
    /// As [`upgrade`](Self::upgrade).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{RwLock, RwLockUpgradableReadGuard};
    /// # #[tokio::main] async fn main() {
    /// let lock = RwLock::new(0);
    /// let reader = lock.read().await;
    /// let guard = lock.upgradable_read().await;
    /// let guard = RwLockUpgradableReadGuard::upgrade_timeout(guard, Duration::from_millis(5))
    ///     .await
    ///     .unwrap_err(); // the reader is still there
    /// drop(reader);
    /// assert!(RwLockUpgradableReadGuard::upgrade_timeout(guard, Duration::from_millis(5)).await.is_ok());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn upgrade_timeout(
        this: Self,
        timeout: Duration,
    ) -> impl Future<Output = Result<RwLockWriteGuard<'a, T>, Self>> {
        let timed = Timed::new(Self::upgrade_op(this), timeout);
        MapOutput::new(timed, outcome)
    }

    /// Upgrades at once if no other reader holds the lock.
    ///
    /// # Errors
    ///
    /// The upgradable guard, back, if another reader holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{RwLock, RwLockUpgradableReadGuard};
    /// let lock = RwLock::new(0);
    /// let guard = lock.upgradable_read_blocking();
    /// let reader = lock.read_blocking();
    /// let guard = RwLockUpgradableReadGuard::try_upgrade(guard).unwrap_err();
    /// drop(reader);
    /// assert!(RwLockUpgradableReadGuard::try_upgrade(guard).is_ok());
    /// ```
    pub fn try_upgrade(this: Self) -> Result<RwLockWriteGuard<'a, T>, Self> {
        if this.lock.raw.try_upgrade() {
            Ok(this.into_lock().write_guard())
        } else {
            Err(this)
        }
    }

    /// [`upgrade`](Self::upgrade), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`upgrade`](Self::upgrade) there): always in debug
    /// builds, when it would have to wait in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::{RwLock, RwLockUpgradableReadGuard};
    /// let lock = RwLock::new(1);
    /// let mut writer = RwLockUpgradableReadGuard::upgrade_blocking(lock.upgradable_read_blocking());
    /// *writer = 2;
    /// ```
    #[track_caller]
    pub fn upgrade_blocking(this: Self) -> RwLockWriteGuard<'a, T> {
        upgraded(block_on_untimed(Self::upgrade_op(this), "upgrade_blocking"))
    }

    /// [`upgrade_timeout`](Self::upgrade_timeout), blocking the thread;
    /// needs no runtime.
    ///
    /// # Errors
    ///
    /// As [`upgrade_timeout`](Self::upgrade_timeout).
    ///
    /// # Panics
    ///
    /// As [`upgrade_blocking`](Self::upgrade_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{RwLock, RwLockUpgradableReadGuard};
    /// let lock = RwLock::new(1);
    /// let guard = lock.upgradable_read_blocking();
    /// let writer = RwLockUpgradableReadGuard::upgrade_timeout_blocking(guard, Duration::from_millis(5));
    /// assert!(writer.is_ok());
    /// ```
    #[track_caller]
    pub fn upgrade_timeout_blocking(
        this: Self,
        timeout: Duration,
    ) -> Result<RwLockWriteGuard<'a, T>, Self> {
        outcome(block_on(
            Self::upgrade_op(this),
            deadline_after(timeout),
            "upgrade_timeout_blocking",
        ))
    }
}

impl<T> OwnedRwLockUpgradableReadGuard<T> {
    fn upgrade_op(
        this: Self,
    ) -> impl WaitOp<Output = Result<OwnedRwLockWriteGuard<T>, OwnedRwLockUpgradableReadGuard<T>>> + use<T>
    {
        upgrade_op(
            this.into_lock(),
            OwnedRwLockWriteGuard::adopt,
            OwnedRwLockUpgradableReadGuard::adopt,
        )
    }

    /// Upgrades to the write access; see
    /// [`RwLockUpgradableReadGuard::upgrade`].
    ///
    /// # Cancel safety
    ///
    /// As [`RwLockUpgradableReadGuard::upgrade`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{OwnedRwLockUpgradableReadGuard, RwLock};
    /// # futures::executor::block_on(async {
    /// let lock = Arc::new(RwLock::new(0));
    /// let guard = lock.upgradable_read_owned().await;
    /// *OwnedRwLockUpgradableReadGuard::upgrade(guard).await += 1;
    /// # });
    /// ```
    pub fn upgrade(this: Self) -> impl Future<Output = OwnedRwLockWriteGuard<T>> + use<T> {
        Waiting::new(Map::new(Self::upgrade_op(this), upgraded))
    }

    /// [`upgrade`](Self::upgrade) that gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// The upgradable guard, back, if the other readers were still there at
    /// the deadline.
    ///
    /// # Cancel safety
    ///
    /// As [`RwLockUpgradableReadGuard::upgrade`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use ambisync::{OwnedRwLockUpgradableReadGuard, RwLock};
    /// # #[tokio::main] async fn main() {
    /// let lock = Arc::new(RwLock::new(0));
    /// let guard = lock.upgradable_read_owned().await;
    /// let upgraded = OwnedRwLockUpgradableReadGuard::upgrade_timeout(guard, Duration::from_millis(5));
    /// assert!(upgraded.await.is_ok());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn upgrade_timeout(
        this: Self,
        timeout: Duration,
    ) -> impl Future<Output = Result<OwnedRwLockWriteGuard<T>, Self>> + use<T> {
        let timed = Timed::new(Self::upgrade_op(this), timeout);
        MapOutput::new(timed, outcome)
    }

    /// Upgrades at once if no other reader holds the lock.
    ///
    /// # Errors
    ///
    /// The upgradable guard, back, if another reader holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ambisync::{OwnedRwLockUpgradableReadGuard, RwLock};
    /// let lock = Arc::new(RwLock::new(0));
    /// let guard = lock.upgradable_read_owned_blocking();
    /// assert!(OwnedRwLockUpgradableReadGuard::try_upgrade(guard).is_ok());
    /// ```
    pub fn try_upgrade(this: Self) -> Result<OwnedRwLockWriteGuard<T>, Self> {
        if Self::rwlock(&this).raw.try_upgrade() {
            Ok(OwnedRwLockWriteGuard::adopt(this.into_lock()))
        } else {
            Err(this)
        }
    }

    /// [`upgrade`](Self::upgrade), blocking the thread.
    ///
    /// # Panics
    ///
    /// As [`RwLockUpgradableReadGuard::upgrade_blocking`].
    ///
    /// # Examples
    ///
    /// See [`OwnedRwLockUpgradableReadGuard`].
    #[track_caller]
    pub fn upgrade_blocking(this: Self) -> OwnedRwLockWriteGuard<T> {
        upgraded(block_on_untimed(Self::upgrade_op(this), "upgrade_blocking"))
    }

    /// [`upgrade_timeout`](Self::upgrade_timeout), blocking the thread;
    /// needs no runtime.
    ///
    /// # Errors
    ///
    /// As [`upgrade_timeout`](Self::upgrade_timeout).
    ///
    /// # Panics
    ///
    /// As [`RwLockUpgradableReadGuard::upgrade_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use ambisync::{OwnedRwLockUpgradableReadGuard, RwLock};
    /// let lock = Arc::new(RwLock::new(0));
    /// let _reader = lock.read_blocking();
    /// let guard = lock.upgradable_read_owned_blocking();
    /// let guard = OwnedRwLockUpgradableReadGuard::upgrade_timeout_blocking(guard, Duration::from_millis(5));
    /// assert!(guard.is_err());
    /// ```
    #[track_caller]
    pub fn upgrade_timeout_blocking(
        this: Self,
        timeout: Duration,
    ) -> Result<OwnedRwLockWriteGuard<T>, Self> {
        outcome(block_on(
            Self::upgrade_op(this),
            deadline_after(timeout),
            "upgrade_timeout_blocking",
        ))
    }
}
