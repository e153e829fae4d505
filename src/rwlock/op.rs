//! The waiting operations of an [`RwLock`](super::RwLock), on the lock
//! behind a handle (a reference or an `Arc`), so that borrowed and owned
//! guards share one state machine.

use std::ops::Deref;
use std::task::Poll;

use super::raw::{Access, RawRwLock, RwWait, UpgradeWait};
use crate::wait::{WaitOp, Wakeup};

/// What holds a [`RawRwLock`]: an [`RwLock`](super::RwLock).
pub(crate) trait AsRawRwLock {
    fn raw_rwlock(&self) -> &RawRwLock;
}

/// Taking `access` to the lock behind `H`; gives `H` back.
pub(crate) struct RwOp<H: Deref<Target: AsRawRwLock>> {
    handle: Option<H>,
    wait: RwWait,
}

impl<H: Deref<Target: AsRawRwLock>> RwOp<H> {
    pub(crate) fn new(handle: H, access: Access) -> Self {
        RwOp {
            handle: Some(handle),
            wait: RwWait::new(access),
        }
    }
}

/// The lock behind a handle the operation still holds.
fn raw<H: Deref<Target: AsRawRwLock>>(handle: &Option<H>) -> &RawRwLock {
    handle
        .as_deref()
        .expect("an RwLock operation used after it completed")
        .raw_rwlock()
}

impl<H: Deref<Target: AsRawRwLock> + Unpin> WaitOp for RwOp<H> {
    type Output = H;

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<H> {
        std::task::ready!(self.wait.poll(raw(&self.handle), wakeup));
        Poll::Ready(self.handle.take().expect("checked above"))
    }

    fn expire(&mut self) -> Poll<Option<H>> {
        let taken = self.wait.expire(raw(&self.handle));
        Poll::Ready(if taken { self.handle.take() } else { None })
    }

    fn woken(&self) -> bool {
        self.wait.woken(raw(&self.handle))
    }
}

impl<H: Deref<Target: AsRawRwLock>> Drop for RwOp<H> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.wait.cancel(handle.raw_rwlock());
        }
    }
}

/// Upgrading the upgradable read access held through `H` (taken over from
/// its guard) to the write access: `Ok(H)` once upgraded, `Err(H)` (still
/// upgradable) if the deadline passed first. Dropped before it completed,
/// it gives the upgradable access back, as dropping the guard would have.
pub(crate) struct UpgradeOp<H: Deref<Target: AsRawRwLock>> {
    handle: Option<H>,
    wait: UpgradeWait,
}

impl<H: Deref<Target: AsRawRwLock>> UpgradeOp<H> {
    /// `handle` holds the upgradable read access.
    pub(crate) fn new(handle: H) -> Self {
        UpgradeOp {
            handle: Some(handle),
            wait: UpgradeWait::new(),
        }
    }
}

impl<H: Deref<Target: AsRawRwLock> + Unpin> WaitOp for UpgradeOp<H> {
    type Output = Result<H, H>;

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<Result<H, H>> {
        std::task::ready!(self.wait.poll(raw(&self.handle), wakeup));
        Poll::Ready(Ok(self.handle.take().expect("checked above")))
    }

    fn expire(&mut self) -> Poll<Option<Result<H, H>>> {
        let upgraded = self.wait.expire(raw(&self.handle));
        let handle = self.handle.take().expect("checked above");
        Poll::Ready(Some(if upgraded { Ok(handle) } else { Err(handle) }))
    }

    fn woken(&self) -> bool {
        self.wait.woken(raw(&self.handle))
    }
}

impl<H: Deref<Target: AsRawRwLock>> Drop for UpgradeOp<H> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let raw = handle.raw_rwlock();
            self.wait.cancel(raw);
            raw.unlock_upgradable();
        }
    }
}
