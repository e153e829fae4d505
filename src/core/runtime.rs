//! Refusing to block a thread that drives async tasks.

/// Panics when the calling thread is inside a tokio runtime (a task or
/// `block_on`), where parking the thread would stall every task it drives.
///
/// `method` is the `_blocking` method's name; the message names its async form.
/// Threads of `spawn_blocking` and plain threads may block. Without the
/// `tokio` feature nothing is checked.
#[cfg(feature = "tokio")]
#[track_caller]
pub(crate) fn assert_may_block(method: &'static str) {
    if in_runtime() {
        let async_form = async_form_of(method);
        panic!(
            "`{method}` would block a tokio runtime thread; use `{async_form}.await` inside async code, or call it from `spawn_blocking` or a plain thread"
        );
    }
}

#[cfg(not(feature = "tokio"))]
pub(crate) fn assert_may_block(_method: &'static str) {}

/// [`assert_may_block`] for calls that may not have to wait at all.
///
/// Release builds check only once a call is about to wait, which keeps the
/// uncontended path free of the check; debug builds check every call, so that
/// a `_blocking` call inside a runtime fails in testing even when it happens
/// not to wait.
#[inline]
#[track_caller]
pub(crate) fn debug_assert_may_block(method: &'static str) {
    if cfg!(debug_assertions) {
        assert_may_block(method);
    }
}

/// `lock_timeout_blocking` -> `lock_timeout(..)`.
#[cfg(feature = "tokio")]
fn async_form_of(method: &str) -> String {
    let base = method.strip_suffix("_blocking").unwrap_or(method);
    format!("{base}(..)")
}

/// Whether tokio considers this thread to be running a runtime.
///
/// tokio keeps that flag private; its public blocking calls (`blocking_recv`
/// and friends) panic exactly when it is set. A thread without a runtime
/// handle cannot have it set, so the probe runs only where a handle exists
/// (runtime workers, `block_on`, `spawn_blocking` threads, `Handle::enter`).
///
/// The probe costs an allocation and an unwind, so a `spawn_blocking` thread
/// remembers the task it found allowed and skips the probe for it next time.
#[cfg(feature = "tokio")]
fn in_runtime() -> bool {
    use std::cell::Cell;
    thread_local! {
        static ALLOWED_TASK: Cell<u64> = const { Cell::new(0) };
    }
    let task = tokio::task::try_id().map(super::owner::task_number);
    if task.is_some_and(|task| ALLOWED_TASK.get() == task) {
        return false;
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
    drop(sender);
    // A closed channel answers at once, so this never blocks; it panics only
    // where blocking is forbidden.
    let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _ = receiver.blocking_recv();
    }));
    let inside = probe.is_err();
    if let (false, Some(task)) = (inside, task) {
        ALLOWED_TASK.set(task);
    }
    inside
}
