//! One `Event`, ten waiters, one `set()`: Python's `threading.Event` lesson.
//!
//! Python lesson: `threading.Event` as a start signal: many threads block in
//! `event.wait(timeout)` / `event.wait()` until one `event.set()`.
//!
//! Five async tasks and five OS threads wait on the same `Event`. Before the
//! event is set, each first tries a bounded wait, which gives up and returns
//! false (`wait_timeout(..).await` in a task, `wait_timeout_blocking(..)` in a
//! thread). Then each waits for good (`wait().await` / `wait_blocking()`).
//! Once all ten report that their bounded wait ran out, the main thread calls
//! `set()` once, and every one of them wakes, tasks and threads alike.
//!
//! The example exits with status 1 if a bounded wait returned true before the
//! `set()`, or if a waiter did not wake.
//!
//! What to look for in the output: all ten bounded waits return false at
//! about 20 ms (nothing was set yet), then one `set()` wakes all ten within a
//! millisecond or so, tasks and threads mixed, each seeing `is_set() = true`.
//!
//! ```text
//! cargo run --example event_waiters
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ambisync::{Event, Semaphore};

const TASKS: usize = 5;
const THREADS: usize = 5;
const WAITERS: usize = TASKS + THREADS;
/// How long each waiter's first, bounded wait lasts.
const PATIENCE: Duration = Duration::from_millis(20);

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Timestamped tutorial-style logging.
fn log(who: &str, what: impl std::fmt::Display) {
    println!("{:>8.3}s  {who:<10} {what}", START.elapsed().as_secs_f64());
}

/// CI must never hang on an example: give up loudly if it takes far too long.
fn start_watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("error: still running after {limit:?}, something is stuck");
        std::process::exit(2);
    });
}

struct Shared {
    go: Event,
    /// A countdown: each waiter adds a permit once its bounded wait is over.
    reported: Semaphore,
    /// Bounded waits that wrongly saw the event set.
    early: AtomicUsize,
    woke: AtomicUsize,
}

impl Shared {
    fn bounded_wait_done(&self, who: &str, was_set: bool) {
        log(
            who,
            format!("wait_timeout({PATIENCE:?}) returned {was_set}"),
        );
        if was_set {
            self.early.fetch_add(1, Ordering::SeqCst);
        }
        self.reported.release();
    }

    fn woke(&self, who: &str) {
        let count = self.woke.fetch_add(1, Ordering::SeqCst) + 1;
        log(
            who,
            format!("woke up, is_set() = {} ({count} awake)", self.go.is_set()),
        );
    }
}

/// A task's bounded wait: `false` if the event was not set in time.
#[cfg(feature = "tokio")]
async fn bounded_wait(event: &Event) -> bool {
    event.wait_timeout(PATIENCE).await
}

/// Without the `tokio` feature there is no async `wait_timeout`; an executor's
/// own timeout around `wait()` does the same, since dropping `wait()` is safe.
#[cfg(not(feature = "tokio"))]
async fn bounded_wait(event: &Event) -> bool {
    tokio::time::timeout(PATIENCE, event.wait()).await.is_ok()
}

fn main() {
    LazyLock::force(&START);
    start_watchdog(Duration::from_secs(20));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let shared = Arc::new(Shared {
        go: Event::new(),
        reported: Semaphore::new(0),
        early: AtomicUsize::new(0),
        woke: AtomicUsize::new(0),
    });

    log(
        "main",
        format!("{TASKS} tasks and {THREADS} threads wait for the event"),
    );
    let tasks: Vec<_> = (1..=TASKS)
        .map(|id| {
            let shared = Arc::clone(&shared);
            runtime.spawn(async move {
                let who = format!("task {id}");
                let was_set = bounded_wait(&shared.go).await;
                shared.bounded_wait_done(&who, was_set);
                shared.go.wait().await;
                shared.woke(&who);
            })
        })
        .collect();
    let threads: Vec<_> = (1..=THREADS)
        .map(|id| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let who = format!("thread {id}");
                let was_set = shared.go.wait_timeout_blocking(PATIENCE);
                shared.bounded_wait_done(&who, was_set);
                shared.go.wait_blocking();
                shared.woke(&who);
            })
        })
        .collect();

    // Setting before every bounded wait ran out would spoil the lesson.
    for _ in 0..WAITERS {
        shared
            .reported
            .acquire_timeout_blocking(Duration::from_secs(5))
            .expect("a waiter never finished its bounded wait")
            .forget();
    }
    // Not needed for correctness (a set() also lets late arrivals through):
    // only so that the log shows all ten asleep in `wait()` when it comes.
    let deadline = Instant::now() + Duration::from_secs(1);
    while shared.go.waiters() < WAITERS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    log(
        "main",
        format!("{} waiting; one set()", shared.go.waiters()),
    );
    shared.go.set();

    for thread in threads {
        thread.join().expect("waiter thread panicked");
    }
    runtime.block_on(async {
        for task in tasks {
            task.await.expect("waiter task panicked");
        }
    });

    let early = shared.early.load(Ordering::SeqCst);
    let woke = shared.woke.load(Ordering::SeqCst);
    println!();
    println!(
        "== {woke} of {WAITERS} waiters woke from one set(); {early} bounded waits saw it early"
    );
    if woke != WAITERS || early != 0 {
        eprintln!("error: expected all {WAITERS} to wake and no early wake-up");
        std::process::exit(1);
    }
}
