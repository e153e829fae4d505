//! Refusing to block a thread that drives async tasks (as the core crate does).

/// Panics when the calling thread runs a tokio runtime (a task or
/// `block_on`), where parking it would stall every task it drives, and
/// possibly the very task the blocking call waits for.
#[track_caller]
pub(crate) fn assert_may_block(method: &'static str) {
    if in_runtime() {
        let base = method.strip_suffix("_blocking").unwrap_or(method);
        panic!(
            "`{method}` would block a tokio runtime thread; use `{base}(..).await` inside async code, or call it from `spawn_blocking` or a plain thread"
        );
    }
}

/// Whether tokio forbids blocking on this thread. tokio keeps the flag
/// private; its public `blocking_recv` panics exactly when it is set, so the
/// probe asks it on a closed channel (which answers at once).
fn in_runtime() -> bool {
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
    drop(sender);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _ = receiver.blocking_recv();
    }))
    .is_err()
}
