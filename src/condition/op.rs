//! The two waiting operations of a [`Condition`]: one wait, and a wait until
//! a predicate holds.

use std::task::Poll;
use std::time::Duration;

use super::Condition;
use super::guards::sealed::Sealed;
use crate::lock::raw::{LockOp, lock_op};
use crate::wait::{Ticket, WaitOp, Wakeup};

/// One wait: release the lock, wait in the condition's line for a
/// notification (or the deadline), take the lock back. Gives the guard back
/// with whether it was notified.
///
/// A notification it took (or was sent at the moment it gave up) and could
/// not use, because the wait was dropped before it had the lock back, goes
/// to the next waiter.
pub(crate) struct CondWait<'c, G: Sealed> {
    cond: &'c Condition,
    stage: Stage<G>,
    /// For an async form: its name, to refuse (panic) when the guard's owner
    /// holds outer levels at the moment the lock is released.
    refuse_nested: Option<&'static str>,
    notified: bool,
    /// Holds a notification it has not turned into a returned guard yet.
    holds_notification: bool,
}

enum Stage<G: Sealed> {
    /// Not polled yet: the lock is still held.
    Locked(G),
    /// In the condition's line, the lock released.
    Waiting {
        relock: LockOp<G::Handle>,
        levels: u64,
        ticket: Ticket,
    },
    /// Taking the lock back.
    Relocking {
        relock: LockOp<G::Handle>,
        levels: u64,
    },
    Done,
}

impl<'c, G: Sealed> CondWait<'c, G> {
    /// A wait that releases every level of an `RLock` (the blocking forms:
    /// they cannot be cancelled half-way); with `refuse_nested`, an async
    /// form's name, it refuses outer levels instead.
    pub(crate) fn new(cond: &'c Condition, guard: G, refuse_nested: Option<&'static str>) -> Self {
        CondWait {
            cond,
            stage: Stage::Locked(guard),
            refuse_nested,
            notified: false,
            holds_notification: false,
        }
    }

    /// From the line to taking the lock back.
    fn relock(&mut self) {
        let Stage::Waiting { relock, levels, .. } = std::mem::replace(&mut self.stage, Stage::Done)
        else {
            unreachable!("relocking from a wait that is not in line");
        };
        self.stage = Stage::Relocking { relock, levels };
    }
}

impl<G: Sealed> WaitOp for CondWait<'_, G> {
    type Output = (G, bool);

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<(G, bool)> {
        loop {
            match &mut self.stage {
                Stage::Locked(guard) => {
                    // Checked here, where the levels are released: a level
                    // taken after the call but before this poll counts too.
                    if let Some(method) = self.refuse_nested {
                        super::refuse_nested_levels(guard, method);
                    }
                    // In line before the lock is released: a notifier that
                    // takes the lock after us finds us there.
                    let ticket = self.cond.list().enqueue(wakeup);
                    let Stage::Locked(guard) = std::mem::replace(&mut self.stage, Stage::Done)
                    else {
                        unreachable!()
                    };
                    let (handle, levels) = guard.unlock();
                    self.stage = Stage::Waiting {
                        relock: lock_op(handle),
                        levels,
                        ticket,
                    };
                }
                Stage::Waiting { ticket, .. } => {
                    let (list, ticket) = (self.cond.list(), *ticket);
                    if !list.poll_ticket(ticket, wakeup) {
                        return Poll::Pending;
                    }
                    self.notified = true;
                    self.holds_notification = true;
                    self.relock();
                }
                Stage::Relocking { relock, levels } => {
                    let handle = std::task::ready!(relock.poll_op(wakeup));
                    let levels = *levels;
                    self.stage = Stage::Done;
                    self.holds_notification = false;
                    return Poll::Ready((G::relocked(handle, levels), self.notified));
                }
                Stage::Done => panic!("a condition wait polled after it completed"),
            }
        }
    }

    /// Stops waiting for a notification and takes the lock back (the guard
    /// always comes back locked).
    fn expire(&mut self) -> Poll<Option<(G, bool)>> {
        if let Stage::Waiting { ticket, .. } = self.stage {
            if !self.cond.list().leave(ticket, || {}) {
                // Notified at that very moment: the wake-up is ours.
                self.notified = true;
                self.holds_notification = true;
            }
            self.relock();
        }
        Poll::Pending
    }

    fn woken(&self) -> bool {
        match &self.stage {
            Stage::Waiting { ticket, .. } => self.cond.list().is_notified(*ticket),
            Stage::Relocking { relock, .. } => relock.woken(),
            Stage::Locked(_) | Stage::Done => true,
        }
    }

    fn park_limit(&mut self) -> Option<Duration> {
        match &mut self.stage {
            Stage::Relocking { relock, .. } => relock.park_limit(),
            _ => None,
        }
    }
}

impl<G: Sealed> Drop for CondWait<'_, G> {
    fn drop(&mut self) {
        if let Stage::Waiting { ticket, .. } = self.stage {
            if !self.cond.list().leave(ticket, || {}) {
                self.holds_notification = true;
            }
        }
        // The relock (if any) is dropped with the stage and gives up.
        if self.holds_notification {
            self.cond.list().notify(1);
        }
    }
}

/// Waits until `predicate` holds, re-checking it under the lock after every
/// wake-up; one deadline for the whole call. Gives the guard back with the
/// predicate's last value.
pub(crate) struct CondWaitFor<'c, G: Sealed, P> {
    cond: &'c Condition,
    refuse_nested: Option<&'static str>,
    guard: Option<G>,
    wait: Option<CondWait<'c, G>>,
    predicate: P,
    expired: bool,
}

// The predicate is never pinned: a closure that is not `Unpin` is still
// only called through `&mut`.
impl<G: Sealed, P> Unpin for CondWaitFor<'_, G, P> {}

impl<'c, G: Sealed, P: FnMut(&mut G) -> bool> CondWaitFor<'c, G, P> {
    pub(crate) fn new(
        cond: &'c Condition,
        guard: G,
        predicate: P,
        refuse_nested: Option<&'static str>,
    ) -> Self {
        CondWaitFor {
            cond,
            refuse_nested,
            guard: Some(guard),
            wait: None,
            predicate,
            expired: false,
        }
    }
}

impl<G: Sealed, P: FnMut(&mut G) -> bool> WaitOp for CondWaitFor<'_, G, P> {
    type Output = (G, bool);

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<(G, bool)> {
        loop {
            if let Some(wait) = &mut self.wait {
                let (guard, _) = std::task::ready!(wait.poll_op(wakeup));
                self.wait = None;
                self.guard = Some(guard);
            }
            let mut guard = self
                .guard
                .take()
                .expect("a condition wait polled after it completed");
            if (self.predicate)(&mut guard) {
                return Poll::Ready((guard, true));
            }
            if self.expired {
                return Poll::Ready((guard, false));
            }
            self.wait = Some(CondWait::new(self.cond, guard, self.refuse_nested));
        }
    }

    fn expire(&mut self) -> Poll<Option<(G, bool)>> {
        self.expired = true;
        if let Some(wait) = &mut self.wait {
            // Always goes on: the lock is taken back first.
            let _ = wait.expire();
        }
        Poll::Pending
    }

    fn woken(&self) -> bool {
        self.wait.as_ref().is_none_or(WaitOp::woken)
    }

    fn park_limit(&mut self) -> Option<Duration> {
        self.wait.as_mut().and_then(WaitOp::park_limit)
    }
}
