//! Taking a level of an [`RLock`]: re-entry without waiting for its owner,
//! else the lock's wait.

use std::ops::Deref;
use std::task::Poll;
use std::time::Duration;

use super::RLock;
use super::owner::Owner;
use crate::lock::raw::RawLockWait;
use crate::wait::{Handed, Held, Part, Wakeup};

/// Taking one level of the lock behind `H` (a reference or an `Arc`); gives
/// `H` back.
pub(crate) type RLockOp<H, T> = Held<H, RLock<T>, RLockWait>;

/// [`RLockOp`] taking one `level` on `handle`.
pub(crate) fn rlock_op<H: Deref<Target: Part<RLock<T>>>, T>(
    handle: H,
    level: u64,
) -> RLockOp<H, T> {
    Held::new(
        handle,
        RLockWait {
            level,
            started: false,
            wait: RawLockWait::default(),
        },
    )
}

/// One call taking one `level` (a guard's or a raw one): re-entry if the
/// caller owns the lock, else the raw lock's wait, after which the caller
/// that took it becomes the owner.
pub(crate) struct RLockWait {
    level: u64,
    /// Whether it looked for re-entry yet.
    started: bool,
    wait: RawLockWait,
}

impl<T> Handed<RLock<T>> for RLockWait {
    fn poll(&mut self, rlock: &RLock<T>, wakeup: Wakeup<'_>) -> Poll<()> {
        if !std::mem::replace(&mut self.started, true) {
            let me = Owner::current();
            if rlock.owner.load(std::sync::atomic::Ordering::Acquire) == me.0
                && rlock.reenter(me, self.level)
            {
                return Poll::Ready(());
            }
        }
        std::task::ready!(self.wait.poll(&rlock.raw, wakeup));
        // The owner is the caller that takes the lock, now.
        rlock.adopt(Owner::current(), self.level);
        Poll::Ready(())
    }

    fn expire(&mut self, rlock: &RLock<T>) -> bool {
        let taken = self.wait.expire(&rlock.raw);
        if taken {
            rlock.adopt(Owner::current(), self.level);
        }
        taken
    }

    fn cancel(&mut self, rlock: &RLock<T>) {
        self.wait.cancel(&rlock.raw);
    }

    fn woken(&self, rlock: &RLock<T>) -> bool {
        self.wait.woken(&rlock.raw)
    }

    fn park_limit(&mut self) -> Option<Duration> {
        Handed::<crate::lock::raw::RawLock>::park_limit(&mut self.wait)
    }
}
