//! Helpers shared by the test suites: every wait in a test is bounded, so a
//! deadlock fails the test with a message instead of hanging CI.
//!
//! Polling a future by hand is not done here: tests use tokio-test's
//! `task::spawn` (a mock task that records its wake-ups: `poll`, `is_woken`)
//! with `assert_pending!`/`assert_ready*!`, and futures-test's
//! `new_count_waker` where they count wake-ups exactly.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single step of a test may wait before it is declared hung
/// (longer under miri, which runs code a thousand times slower).
pub const LIMIT: Duration = if cfg!(miri) {
    Duration::from_secs(120)
} else {
    Duration::from_secs(10)
};

/// Awaits `fut`, failing the test if it takes longer than [`LIMIT`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: still waiting after {LIMIT:?} (deadlock or lost wake-up?)"),
    }
}

/// Joins a thread, failing the test if it has not finished within [`LIMIT`].
pub fn join_within<T>(what: &str, handle: JoinHandle<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what}: thread still blocked after {LIMIT:?} (deadlock or lost wake-up?)"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    match handle.join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Waits (polling, from a thread) until `condition` holds, failing the test
/// after [`LIMIT`]. Use it to synchronize on observable state such as a
/// waiter count, never on elapsed time.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {LIMIT:?}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// [`eventually`] for async tests: yields to the runtime between checks.
pub async fn eventually_async(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Awaits a thread's end from async code (polling `is_finished`, so the
/// runtime is never blocked), failing the test after [`LIMIT`].
pub async fn join_thread<T>(what: &str, handle: JoinHandle<T>) -> T {
    eventually_async(what, || handle.is_finished()).await;
    join_within(what, handle)
}

/// The message of a caught panic, whatever its payload type.
pub fn panic_message(payload: impl std::ops::Deref<Target = dyn std::any::Any + Send>) -> String {
    let payload = &*payload;
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "<non-string panic>".to_owned()
    }
}

/// Runs `unblock` if the test is still running after [`LIMIT`], so a call that
/// wrongly blocks (instead of panicking) ends and the test fails instead of
/// hanging. Dropping the guard (also by unwinding) disarms it.
pub struct Watchdog {
    _disarm: std::sync::mpsc::Sender<()>,
}

/// Arms a [`Watchdog`].
pub fn watchdog(unblock: impl FnOnce() + Send + 'static) -> Watchdog {
    let (disarm, armed) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = armed.recv_timeout(LIMIT) {
            unblock();
        }
    });
    Watchdog { _disarm: disarm }
}

/// A moment of work inside a critical section (a few hundred nanoseconds),
/// so that a lock is held most of the time by tasks that relock in a loop.
pub fn busy_work(counter: &mut u64) {
    for _ in 0..200 {
        *counter = std::hint::black_box(*counter + 1);
    }
}

/// A future borrowing `S`, boxed so that one helper can drive any primitive.
pub type Relock<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The starvation pattern of issue 9: two tasks on a 2-worker runtime take
/// and give back a unit of `shared` in a loop (`relock`, with no other
/// `.await`, holding it for a moment of [`busy_work`]), while this thread takes its turn `rounds` times with
/// `take_blocking` (which must give the unit back before it returns, and
/// returns `false` if it timed out). Returns the longest the thread waited.
///
/// Fails the test if a turn times out (`take_blocking` should wait much
/// longer than any fair turn takes) or the tasks never start.
#[cfg(feature = "tokio")]
pub fn worst_wait_beside_relocking_tasks<S: Send + Sync + 'static>(
    shared: Arc<S>,
    relock: for<'a> fn(&'a S) -> Relock<'a>,
    rounds: usize,
    mut take_blocking: impl FnMut(&S) -> bool,
) -> Duration {
    use std::sync::atomic::AtomicBool;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Stops the loops however this function ends: a runtime whose tasks
    // never yield could not shut down, and the test would hang.
    let _stop_on_exit = StopOnDrop(Arc::clone(&stop));
    let turns = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (shared, stop, turns) =
                (Arc::clone(&shared), Arc::clone(&stop), Arc::clone(&turns));
            runtime.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    relock(&shared).await;
                    turns.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    eventually("the relocking tasks run", || {
        turns.load(Ordering::Relaxed) > 10_000
    });
    let mut worst = Duration::ZERO;
    for round in 0..rounds {
        let start = Instant::now();
        assert!(
            take_blocking(&shared),
            "round {round}: the thread did not get its turn within its timeout (starved)"
        );
        worst = worst.max(start.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        runtime
            .block_on(async { within("relocking task", task).await })
            .unwrap();
    }
    worst
}

/// Sets the flag when dropped, also while a failing test unwinds.
pub struct StopOnDrop(pub Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
