//! Taking part in tokio's cooperative scheduling.
//!
//! tokio gives each task a budget of operations per turn; its own
//! synchronization futures spend one unit each time they make progress and
//! return `Pending` (waking the task at once) when the budget is spent, so a
//! task that loops on always-ready `.await`s still yields now and then.
//! Without that, two tasks that hand a lock back and forth can keep one
//! worker forever: the task that each unlock wakes sits in that worker's
//! LIFO slot, which no other worker may steal, and a thread or task waiting
//! for its turn never gets it. Every waiting operation of ambisync spends
//! the budget the same way (the async drivers in [`super::op`] do it).

use std::task::{Context, Poll};

/// One unit of the current tokio task's budget, taken by [`poll_budget`]:
/// given back when dropped unless [`made_progress`](Budget::made_progress)
/// was called.
pub(crate) struct Budget {
    #[cfg(feature = "tokio")]
    restore: tokio::task::coop::RestoreOnPending,
}

impl Budget {
    /// The operation completed: the unit stays spent.
    #[inline]
    pub(crate) fn made_progress(&self) {
        #[cfg(feature = "tokio")]
        self.restore.made_progress();
    }
}

/// Takes one unit of the current tokio task's budget; `Pending` (with the
/// task scheduled to run again) once the budget is spent. Outside tokio, or
/// without the `tokio` feature, always ready.
#[inline]
pub(crate) fn poll_budget(cx: &mut Context<'_>) -> Poll<Budget> {
    #[cfg(feature = "tokio")]
    {
        tokio::task::coop::poll_proceed(cx).map(|restore| Budget { restore })
    }
    #[cfg(not(feature = "tokio"))]
    {
        let _ = cx;
        Poll::Ready(Budget {})
    }
}
