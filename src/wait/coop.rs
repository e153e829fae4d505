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
//!
//! One difference from tokio's: ambisync asks tokio for a unit only on one
//! poll in [`POLLS_PER_UNIT`] on each thread, and lets the others through.
//! Every unit brings the task's forced yield nearer, and a forced yield
//! costs a trip through the scheduler: spending a unit on every poll made
//! a contended `lock().await` of 8 tasks on 2 workers 36–78 ns instead of
//! 17 (async-lock, which spends no budget: 21–25), and a 1 → 1 queue of
//! tasks 120 ns instead of 69 (BENCHMARKS.md, issue 15). One unit per 8
//! polls: 25 ns, level with async-lock. A task that loops on ready
//! operations still yields, after `128 × POLLS_PER_UNIT` of them instead
//! of 128, which is tens of microseconds (tests/coop.rs, and the chaos
//! suite's starvation cases bound a thread's wait by 100 ms).

use std::task::{Context, Poll};

/// One unit of the current tokio task's budget, taken by [`poll_budget`]:
/// given back when dropped unless [`made_progress`](Budget::made_progress)
/// was called.
pub(crate) struct Budget {
    /// `None`: this poll did not ask tokio (see the module docs).
    #[cfg(feature = "tokio")]
    restore: Option<tokio::task::coop::RestoreOnPending>,
}

/// One poll in this many asks tokio for a unit of the task's budget.
#[cfg(feature = "tokio")]
pub(crate) const POLLS_PER_UNIT: u8 = 8;

#[cfg(feature = "tokio")]
std::thread_local! {
    /// Polls left on this thread before the next one asks tokio. A `const`
    /// thread-local without `Drop`: reading it is one load.
    static POLLS_BEFORE_ASKING: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

impl Budget {
    /// The operation completed: the unit stays spent.
    #[inline]
    pub(crate) fn made_progress(&self) {
        #[cfg(feature = "tokio")]
        if let Some(restore) = &self.restore {
            restore.made_progress();
        }
    }
}

/// Takes one unit of the current tokio task's budget (on one poll in
/// [`POLLS_PER_UNIT`]); `Pending` (with the task scheduled to run again)
/// once the budget is spent. Outside tokio, or
/// without the `tokio` feature, always ready.
#[inline]
pub(crate) fn poll_budget(cx: &mut Context<'_>) -> Poll<Budget> {
    #[cfg(feature = "tokio")]
    {
        let ask = POLLS_BEFORE_ASKING.with(|left| match left.get() {
            0 => {
                left.set(POLLS_PER_UNIT - 1);
                true
            }
            n => {
                left.set(n - 1);
                false
            }
        });
        if !ask {
            return Poll::Ready(Budget { restore: None });
        }
        tokio::task::coop::poll_proceed(cx).map(|restore| Budget {
            restore: Some(restore),
        })
    }
    #[cfg(not(feature = "tokio"))]
    {
        let _ = cx;
        Poll::Ready(Budget {})
    }
}
