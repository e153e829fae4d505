//! The race condition of the Python threading tutorials, and its fix.
//!
//! Python lesson: Real Python's `FakeDatabase` race condition, fixed with
//! `threading.Lock` (`with self._lock:` around the read-modify-write).
//!
//! Python's `FakeDatabase.update` copies the value, works a moment, then
//! writes the copy plus one back. Run by several workers at once it loses
//! updates: two workers read the same value and both write value + 1.
//! Holding a `Lock` across the read-modify-write makes the count exact.
//!
//! Safe Rust would not let several workers touch a plain `u64`, so the racy
//! database keeps its value in an `AtomicU64` and reads and writes it with two
//! separate operations: each one is atomic, the pair is not (`fetch_add` would
//! fix it without a lock, but the lesson is the lock). The locked database is
//! a `Lock<u64>`: the lock owns the value, which cannot be reached without it.
//!
//! In both runs async tasks (pausing with `yield_now`) and OS threads (pausing
//! with a short sleep) update the same counter at the same time. The racy run
//! reports how many updates it lost; a race promises nothing, so losing none
//! is reported, not treated as an error. The locked run must be exact, or the
//! example exits with status 1.
//!
//! What to look for in the output: without a lock, the final count falls far
//! short of the expected total (workers overwrite each other's updates, and
//! "last wrote" values repeat); with the `Lock`, it is exact, and one
//! worker's last write is the total.
//!
//! ```text
//! cargo run --example race_condition
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ambisync::{Event, Lock};
use tokio::runtime::Runtime;

const TASKS: u64 = 4;
const THREADS: u64 = 4;
const UPDATES_PER_WORKER: u64 = 50;
/// How long a thread "works" between its read and its write.
const THREAD_PAUSE: Duration = Duration::from_micros(20);

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

/// What the workers need from a database, from a task or from a thread.
/// Each update returns the value it wrote.
trait Database: Send + Sync + 'static {
    fn update(&self) -> impl Future<Output = u64> + Send;
    fn update_blocking(&self) -> u64;
    /// The final value, read by the main thread once the workers are done.
    fn value(&self) -> u64;
}

/// Python's `FakeDatabase` without its lock.
#[derive(Default)]
struct FakeDatabase {
    value: AtomicU64,
}

impl Database for FakeDatabase {
    async fn update(&self) -> u64 {
        let local_copy = self.value.load(Ordering::Relaxed);
        // Other tasks on this runtime thread run here, and read the old value.
        tokio::task::yield_now().await;
        self.value.store(local_copy + 1, Ordering::Relaxed);
        local_copy + 1
    }

    fn update_blocking(&self) -> u64 {
        let local_copy = self.value.load(Ordering::Relaxed);
        std::thread::sleep(THREAD_PAUSE);
        self.value.store(local_copy + 1, Ordering::Relaxed);
        local_copy + 1
    }

    fn value(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// Python's `locked_update`: the same steps, with the lock held throughout.
#[derive(Default)]
struct LockedDatabase {
    value: Lock<u64>,
}

impl Database for LockedDatabase {
    async fn update(&self) -> u64 {
        let mut value = self.value.lock().await;
        let local_copy = *value;
        // Other tasks run here too, but they queue on the lock.
        tokio::task::yield_now().await;
        *value = local_copy + 1;
        *value
    }

    fn update_blocking(&self) -> u64 {
        let mut value = self.value.lock_blocking();
        let local_copy = *value;
        std::thread::sleep(THREAD_PAUSE);
        *value = local_copy + 1;
        *value
    }

    fn value(&self) -> u64 {
        *self.value.lock_blocking()
    }
}

/// Lets tasks and threads update `database` together; returns its final value.
fn run<D: Database>(runtime: &Runtime, database: D) -> u64 {
    let database = Arc::new(database);
    // A starting gun, so that tasks and threads really overlap.
    let start = Arc::new(Event::new());

    let tasks: Vec<_> = (1..=TASKS)
        .map(|id| {
            let (database, start) = (Arc::clone(&database), Arc::clone(&start));
            runtime.spawn(async move {
                start.wait().await;
                let mut last = 0;
                for _ in 0..UPDATES_PER_WORKER {
                    last = database.update().await;
                }
                log(&format!("task {id}"), format!("done, last wrote {last}"));
            })
        })
        .collect();
    let threads: Vec<_> = (1..=THREADS)
        .map(|id| {
            let (database, start) = (Arc::clone(&database), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait_blocking();
                let mut last = 0;
                for _ in 0..UPDATES_PER_WORKER {
                    last = database.update_blocking();
                }
                log(&format!("thread {id}"), format!("done, last wrote {last}"));
            })
        })
        .collect();

    log("main", "go!");
    start.set();
    for thread in threads {
        thread.join().expect("worker thread panicked");
    }
    runtime.block_on(async {
        for task in tasks {
            task.await.expect("worker task panicked");
        }
    });
    database.value()
}

fn main() {
    LazyLock::force(&START);
    start_watchdog(Duration::from_secs(20));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let expected = (TASKS + THREADS) * UPDATES_PER_WORKER;
    log(
        "main",
        format!(
            "{TASKS} tasks and {THREADS} threads, {UPDATES_PER_WORKER} updates each: expect {expected}"
        ),
    );

    log("main", "--- without a lock ---");
    let racy = run(&runtime, FakeDatabase::default());
    log("main", "--- with a Lock ---");
    let locked = run(&runtime, LockedDatabase::default());

    println!();
    match expected - racy.min(expected) {
        0 => println!(
            "== without a lock: {racy} of {expected}, no update lost this time (lucky timing)"
        ),
        lost => {
            println!("== without a lock: {racy} of {expected}, {lost} updates lost to the race")
        }
    }
    println!("== with a Lock:    {locked} of {expected}");
    if locked != expected {
        eprintln!("error: the locked count is {locked}, expected exactly {expected}");
        std::process::exit(1);
    }
}
