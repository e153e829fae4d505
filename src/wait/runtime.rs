//! Refusing to block a thread that drives async tasks.

/// Panics when the calling thread is inside a tokio runtime (a task or
/// `block_on`), where parking the thread would stall every task it drives.
///
/// `method` is the `_blocking` method's name; the message names its async form.
/// Threads of `spawn_blocking`, `block_in_place` closures and plain threads
/// may block. Without the `tokio` feature nothing is checked.
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
/// (runtime workers, `block_on`, `spawn_blocking` threads, `block_in_place`,
/// `Handle::enter`).
///
/// The verdict is taken afresh on every call: the same task on the same
/// thread may be allowed to block one moment (inside `block_in_place`, or a
/// `spawn_blocking` closure) and not the next (back on the worker, or inside
/// a nested runtime's `block_on`), so no answer can be cached.
///
/// The probe's panic is caught, and kept out of the panic hook's output (see
/// [`quiet_probe_panics`]) so that the user sees one message: ours.
#[cfg(feature = "tokio")]
fn in_runtime() -> bool {
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    quiet_probe_panics();
    let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
    drop(sender);
    PROBING.set(true);
    // A closed channel answers at once, so this never blocks; it panics only
    // where blocking is forbidden.
    let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _ = receiver.blocking_recv();
    }));
    PROBING.set(false);
    probe.is_err()
}

#[cfg(feature = "tokio")]
thread_local! {
    /// Set while this thread probes tokio's flag: its panic is expected.
    static PROBING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wraps the process's panic hook, once, so that the probe's expected panic
/// prints nothing (no message, no backtrace) while every other panic goes to
/// the hook that was installed before, unchanged.
///
/// A hook installed later replaces the wrapper; the probe's message may then
/// show up in its output, which is harmless. The hook cannot be changed while
/// the thread panics, so a check made during unwinding (in a `Drop`) leaves
/// it as it is.
#[cfg(feature = "tokio")]
fn quiet_probe_panics() {
    static WRAPPED: std::sync::Once = std::sync::Once::new();
    if std::thread::panicking() {
        return;
    }
    WRAPPED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // `try_with`: a panic while thread-locals are torn down must
            // still be reported.
            if !PROBING.try_with(std::cell::Cell::get).unwrap_or(false) {
                previous(info);
            }
        }));
    });
}
