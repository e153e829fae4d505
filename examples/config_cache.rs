//! A read-mostly configuration cache: many readers, one writer at a time,
//! and the writer is never starved by the readers.
//!
//! Lesson: a reader-writer lock (Java's `ReentrantReadWriteLock`, tokio's
//! `RwLock`; Python's standard library has none) lets any number of readers
//! share the data while a writer gets it alone. Here eight async tasks read
//! a configuration in a loop, holding each read across an `.await`, so that
//! the lock is nearly never free of readers; an OS thread refreshes the
//! configuration every few milliseconds with `write_blocking()`. ambisync's
//! `RwLock` is writer-preferring: once the refresher waits, new readers wait
//! behind it and the readers inside drain out, so every refresh gets in
//! within moments. A second refresher shows the check-then-change pattern
//! with an upgradable read (`upgradable_read` + `upgrade`), and readers
//! narrow their guard to one entry with `RwLockReadGuard::map`.
//!
//! Every configuration is written whole (each entry carries the version), so
//! a reader that saw a half-written configuration would notice; each reader
//! also checks that versions never go backwards.
//!
//! What to look for in the output: every refresh applied (`version 10`), the
//! longest wait of the refresher for the write lock (a few milliseconds at
//! most, however busy the readers are), no torn or backward reads, and the
//! lock's `Debug` state at the end (no readers, no writer, no waiters).
//! The example exits with status 1 if a check fails.
//!
//! ```text
//! cargo run --example config_cache
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ambisync::{RwLock, RwLockReadGuard, RwLockUpgradableReadGuard};

const READERS: usize = 8;
const REFRESHES: u64 = 10;
const ENTRIES: usize = 4;

/// The configuration: every entry names the version it was written in.
#[derive(Debug, Clone)]
struct Config {
    version: u64,
    entries: BTreeMap<String, String>,
}

impl Config {
    fn build(version: u64) -> Config {
        let entries = (0..ENTRIES)
            .map(|i| (format!("key{i}"), format!("v{version}")))
            .collect();
        Config { version, entries }
    }

    /// Whether every entry belongs to the version (a whole configuration).
    fn is_whole(&self) -> bool {
        let expected = format!("v{}", self.version);
        self.entries.values().all(|value| *value == expected)
    }
}

/// CI must never hang on an example: give up loudly if it takes far too long.
fn start_watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("error: still running after {limit:?}, something is stuck");
        std::process::exit(2);
    });
}

/// One reader task: reads until the refreshes are over; returns how many
/// reads it made and how many were torn or went backwards.
async fn reader(cache: Arc<RwLock<Config>>, done: Arc<AtomicBool>) -> (u64, u64) {
    let (mut reads, mut bad, mut last) = (0, 0, 0);
    while !done.load(Ordering::Acquire) {
        let config = cache.read().await;
        // Holding the read across an `.await` keeps the lock busy with
        // readers: the refresher still gets in.
        tokio::task::yield_now().await;
        if !config.is_whole() || config.version < last {
            bad += 1;
        }
        last = config.version;
        drop(config);
        // A guard narrowed to one entry (tokio's `RwLockReadGuard::map`).
        let entry = RwLockReadGuard::map(cache.read().await, |config| &config.entries["key0"]);
        if !entry.starts_with('v') {
            bad += 1;
        }
        drop(entry);
        reads += 2;
    }
    (reads, bad)
}

fn main() {
    start_watchdog(Duration::from_secs(60));
    let cache = Arc::new(RwLock::new(Config::build(0)));
    let done = Arc::new(AtomicBool::new(false));
    let longest_wait_us = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");

    println!(
        "{READERS} reader tasks read the config in a loop; a thread refreshes it {REFRESHES} times"
    );
    let readers: Vec<_> = (0..READERS)
        .map(|_| runtime.spawn(reader(Arc::clone(&cache), Arc::clone(&done))))
        .collect();

    // The refresher: builds each version outside the lock (a slow fetch),
    // then swaps it in under the write lock.
    let refresher = {
        let (cache, longest) = (Arc::clone(&cache), Arc::clone(&longest_wait_us));
        std::thread::spawn(move || {
            for version in 1..=REFRESHES {
                std::thread::sleep(Duration::from_millis(3));
                let fresh = Config::build(version);
                let asked = Instant::now();
                let mut config = cache.write_blocking();
                let waited = asked.elapsed();
                *config = fresh;
                drop(config);
                longest.fetch_max(waited.as_micros() as u64, Ordering::Relaxed);
                println!(
                    "  refresh: version {version} in, after waiting {waited:.1?} for the write lock"
                );
            }
        })
    };

    // Check-then-change with an upgradable read: add a missing entry once,
    // without letting another writer in between the check and the change.
    let filler = {
        let cache = Arc::clone(&cache);
        runtime.spawn(async move {
            let mut filled = 0;
            for round in 0..3 {
                let config = cache.upgradable_read().await;
                if !config.entries.contains_key("extra") {
                    let mut config = RwLockUpgradableReadGuard::upgrade(config).await;
                    // Written whole: the extra entry carries the version too.
                    let value = format!("v{}", config.version);
                    config.entries.insert("extra".into(), value);
                    filled += 1;
                    println!("  filler: round {round}: \"extra\" was missing, added under the upgraded lock");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            filled
        })
    };

    refresher.join().expect("the refresher panicked");
    done.store(true, Ordering::Release);
    let (mut reads, mut bad) = (0, 0);
    for task in readers {
        let (r, b) = runtime.block_on(task).expect("a reader panicked");
        reads += r;
        bad += b;
    }
    let filled = runtime.block_on(filler).expect("the filler panicked");

    let final_version = cache.read_blocking().version;
    let longest = Duration::from_micros(longest_wait_us.load(Ordering::Relaxed));
    println!("readers made {reads} reads; torn or backward reads: {bad}");
    println!("final version: {final_version}; \"extra\" added {filled} time(s)");
    println!("longest wait of the refresher for the write lock: {longest:.1?}");
    println!("the lock at the end: {:?}", DebugState(&cache));

    let ok = bad == 0 && final_version == REFRESHES && filled >= 1 && !cache.is_locked();
    if !ok {
        eprintln!("error: a check failed (see above)");
        std::process::exit(1);
    }
    println!("ok: every refresh got in, and every read saw a whole configuration");
}

/// The lock's state without the (long) configuration.
struct DebugState<'a>(&'a RwLock<Config>);

impl std::fmt::Debug for DebugState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RwLock")
            .field("readers", &self.0.readers())
            .field("writer", &self.0.is_write_locked())
            .field("waiters", &self.0.waiters())
            .finish_non_exhaustive()
    }
}
