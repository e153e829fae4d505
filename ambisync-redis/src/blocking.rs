//! Refusing to block a thread that drives async tasks (as the core crate
//! does, with the same probe).

use std::cell::Cell;

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

thread_local! {
    /// Set while this thread probes tokio's flag: its panic is expected.
    static PROBING: Cell<bool> = const { Cell::new(false) };
}

/// Whether tokio forbids blocking on this thread. tokio keeps the flag
/// private; its public `blocking_recv` panics exactly when it is set, so the
/// probe asks it on a closed channel (which answers at once). The verdict is
/// taken afresh on every call (`block_in_place` and nested runtimes change
/// it), and the probe's own panic is kept out of the panic hook's output.
fn in_runtime() -> bool {
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    quiet_probe_panics();
    let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
    drop(sender);
    PROBING.set(true);
    let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _ = receiver.blocking_recv();
    }));
    PROBING.set(false);
    probe.is_err()
}

/// Wraps the process's panic hook once so that the probe's expected panic
/// prints nothing, while every other panic goes to the previous hook.
fn quiet_probe_panics() {
    static WRAPPED: std::sync::Once = std::sync::Once::new();
    if std::thread::panicking() {
        return;
    }
    WRAPPED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !PROBING.try_with(Cell::get).unwrap_or(false) {
                previous(info);
            }
        }));
    });
}
