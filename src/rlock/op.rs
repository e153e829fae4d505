//! Taking a level of an [`RLock`]: re-entry without waiting for its owner,
//! else the lock's wait.

use std::marker::PhantomData;
use std::ops::Deref;
use std::task::Poll;
use std::time::Duration;

use super::RLock;
use super::owner::Owner;
use crate::lock::raw::RawLockWait;
use crate::wait::{WaitOp, Wakeup};

/// One call taking one `level` of the lock behind `H` (a reference or an
/// `Arc`); gives `H` back.
pub(crate) struct RLockOp<H: Deref<Target = RLock<T>>, T> {
    handle: Option<H>,
    level: u64,
    /// Whether it looked for re-entry yet.
    started: bool,
    wait: RawLockWait,
    _value: PhantomData<fn() -> T>,
}

impl<H: Deref<Target = RLock<T>>, T> RLockOp<H, T> {
    pub(crate) fn new(handle: H, level: u64) -> Self {
        RLockOp {
            handle: Some(handle),
            level,
            started: false,
            wait: RawLockWait::default(),
            _value: PhantomData,
        }
    }

    fn rlock(&self) -> &RLock<T> {
        self.handle
            .as_deref()
            .expect("an RLock operation used after it completed")
    }

    fn finish(&mut self) -> H {
        // The owner is the caller that takes the lock, now.
        let handle = self.handle.take().expect("checked by the caller");
        handle.adopt(Owner::current(), self.level);
        handle
    }
}

impl<H: Deref<Target = RLock<T>> + Unpin, T> WaitOp for RLockOp<H, T> {
    type Output = H;

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<H> {
        let level = self.level;
        if !std::mem::replace(&mut self.started, true) {
            let rlock = self.rlock();
            let me = Owner::current();
            if rlock.owner.load(std::sync::atomic::Ordering::Acquire) == me.0
                && rlock.reenter(me, level)
            {
                return Poll::Ready(self.handle.take().expect("not completed"));
            }
        }
        let rlock = self
            .handle
            .as_deref()
            .expect("an RLock operation polled after it completed");
        std::task::ready!(self.wait.poll(&rlock.raw, wakeup));
        Poll::Ready(self.finish())
    }

    fn expire(&mut self) -> Poll<Option<H>> {
        let rlock = self
            .handle
            .as_deref()
            .expect("an RLock operation expired after it completed");
        Poll::Ready(self.wait.expire(&rlock.raw).then(|| self.finish()))
    }

    fn woken(&self) -> bool {
        self.wait.woken(&self.rlock().raw)
    }

    fn park_limit(&mut self) -> Option<Duration> {
        self.wait.park_limit()
    }
}

impl<H: Deref<Target = RLock<T>>, T> Drop for RLockOp<H, T> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.wait.cancel(&handle.raw);
        }
    }
}
