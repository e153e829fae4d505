//! Taking part in tokio's cooperative scheduling.
//!
//! tokio gives each task a budget of operations per turn; its own
//! synchronization futures spend one unit each time they are polled and
//! return `Pending` (waking the task at once) when the budget is spent, so a
//! task that loops on always-ready `.await`s still yields now and then.
//! Without that, two tasks that hand a lock back and forth can keep one
//! worker forever: the task that each unlock wakes sits in that worker's
//! LIFO slot, which no other worker may steal, and a thread or task waiting
//! for its turn never gets it. Every waiting operation of ambisync spends
//! the budget the same way.

use std::task::{Context, Poll};

/// Spends one unit of the current tokio task's budget; `Pending` (with the
/// task scheduled to run again) once the budget is spent. Outside tokio, or
/// without the `tokio` feature, always ready.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    #[cfg(feature = "tokio")]
    {
        // Counting the poll as progress whatever it turns into, as a wait
        // that registers itself is progress too.
        std::task::ready!(tokio::task::coop::poll_proceed(cx)).made_progress();
    }
    #[cfg(not(feature = "tokio"))]
    let _ = cx;
    Poll::Ready(())
}

/// Spends one unit of budget (see [`poll_proceed`]) at the start of an
/// async operation, yielding first if the budget is spent.
#[inline]
pub(crate) async fn proceed() {
    std::future::poll_fn(poll_proceed).await
}
