//! A recursive function re-entering an `RLock`: Python's reentrant-lock lesson.
//!
//! Python lesson: `threading.RLock`, the lock its owner may take again, as in
//! a method that calls itself (or another locked method) under
//! `with self.lock:`.
//!
//! A "walker" adds up the sizes of a directory tree. Like a Python method that
//! calls itself under `with self.lock:`, every level of the recursion locks the
//! catalog again: a plain `Lock` would deadlock on the second level, an `RLock`
//! lets its owner in and counts the levels (`recursion_count()`, printed at
//! each depth). Meanwhile rivals ask for the same lock; they must wait until
//! the walker has released every level, not just the innermost one.
//!
//! Scene 1: the walker is an OS thread (`lock_blocking`), the rivals are a task
//! and another thread. Scene 2: the walker is an async task (`lock().await`,
//! recursing through `Box::pin`), the rivals a thread and another task. Tasks
//! run on a single-threaded runtime, so in scene 2 the walker and the rival
//! task share one OS thread: the rival still waits, because with the `tokio`
//! feature (on by default) an `RLock` is owned by a *task*, not by a thread.
//! Without that feature the owner is the thread, so that rival is skipped.
//!
//! What to look for in the output: `recursion_count` goes up by one at each
//! level and back down to 0; the rivals say "wants the lock" while the walker
//! is deep inside, and "got the lock" only after the walker left its last
//! level; the `Debug` line at the bottom shows the owner (a thread in scene 1,
//! a task in scene 2), the count and the waiting rivals.
//!
//! ```text
//! cargo run --example rlock_recursion
//! ```

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ambisync::{Event, RLock};
use tokio::runtime::Runtime;

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Timestamped tutorial-style logging.
fn log(who: &str, what: impl fmt::Display) {
    println!("{:>8.3}s  {who:<12} {what}", START.elapsed().as_secs_f64());
}

/// CI must never hang on an example: give up loudly if it takes far too long.
fn start_watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("error: still running after {limit:?}, something is stuck");
        std::process::exit(2);
    });
}

struct Dir {
    name: &'static str,
    own_kib: u64,
    children: &'static [usize],
}

/// The tree, by index; `project/src/core/wait.rs` is the deepest, at depth 4.
struct Catalog([Dir; 6]);

/// A directory (or file), its own size, and its children's indexes.
const fn dir(name: &'static str, own_kib: u64, children: &'static [usize]) -> Dir {
    Dir {
        name,
        own_kib,
        children,
    }
}

const CATALOG: Catalog = Catalog([
    dir("project", 4, &[1, 5]),
    dir("src", 12, &[2, 3]),
    dir("lib.rs", 6, &[]),
    dir("core", 8, &[4]),
    dir("wait.rs", 3, &[]),
    dir("README.md", 2, &[]),
]);
const TOTAL_KIB: u64 = 35;
const DEEPEST: usize = 4;

/// `RLock`'s `Debug` shows its value: keep that line short.
impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} entries>", self.0.len())
    }
}

struct Shared {
    catalog: RLock<Catalog>,
    /// Set once the walker holds the lock, so that rivals come second.
    walker_inside: Event,
    /// Levels the walker holds, kept by the walker: a rival must find 0.
    walker_levels: AtomicUsize,
    rivals: usize,
}

impl Shared {
    fn new(rivals: usize) -> Arc<Shared> {
        Arc::new(Shared {
            catalog: RLock::new(CATALOG),
            walker_inside: Event::new(),
            walker_levels: AtomicUsize::new(0),
            rivals,
        })
    }

    fn entered(&self, depth: usize, name: &str) {
        self.walker_levels.fetch_add(1, Ordering::SeqCst);
        self.walker_inside.set();
        self.trace(depth, "enter", name);
    }

    /// Logs a level entered or left, indented by depth, with the walker's count.
    fn trace(&self, depth: usize, what: &str, name: &str) {
        let count = self.catalog.recursion_count();
        let indent = "  ".repeat(depth);
        log(
            "walker",
            format!("{indent}{what} {name}: recursion_count {count}"),
        );
    }

    /// A rival got the lock: fine only if the walker holds no level.
    fn rival_got_it(&self, who: &str) -> bool {
        let levels = self.walker_levels.load(Ordering::SeqCst);
        log(
            who,
            format!("got the lock; the walker holds {levels} levels"),
        );
        levels == 0
    }
}

/// The walker as a thread: each level locks the catalog again.
fn total_kib_blocking(shared: &Shared, id: usize, depth: usize) -> u64 {
    let catalog = shared.catalog.lock_blocking();
    let dir = &catalog.0[id];
    shared.entered(depth, dir.name);
    if depth == DEEPEST {
        // Not needed for correctness: only so that the log shows the rivals queued.
        let deadline = Instant::now() + Duration::from_secs(2);
        while shared.catalog.waiters() < shared.rivals && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        log("walker", format!("at the bottom: {:?}", shared.catalog));
    }
    let children: u64 = dir
        .children
        .iter()
        .map(|&child| total_kib_blocking(shared, child, depth + 1))
        .sum();
    let (total, name) = (dir.own_kib + children, dir.name);
    shared.walker_levels.fetch_sub(1, Ordering::SeqCst);
    drop(catalog);
    shared.trace(depth, "left", name);
    total
}

/// The walker as a task: the same, awaiting; recursion needs a boxed future.
async fn total_kib(shared: &Shared, id: usize, depth: usize) -> u64 {
    let catalog = shared.catalog.lock().await;
    let dir = &catalog.0[id];
    shared.entered(depth, dir.name);
    if depth == DEEPEST {
        let deadline = Instant::now() + Duration::from_secs(2);
        while shared.catalog.waiters() < shared.rivals && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        log("walker", format!("at the bottom: {:?}", shared.catalog));
    }
    let mut children = 0;
    for &child in dir.children {
        children += Box::pin(total_kib(shared, child, depth + 1)).await;
    }
    let (total, name) = (dir.own_kib + children, dir.name);
    shared.walker_levels.fetch_sub(1, Ordering::SeqCst);
    drop(catalog);
    shared.trace(depth, "left", name);
    total
}

fn rival_thread(shared: &Arc<Shared>, who: &'static str) -> std::thread::JoinHandle<bool> {
    let shared = Arc::clone(shared);
    std::thread::spawn(move || {
        shared.walker_inside.wait_blocking();
        log(who, "wants the lock");
        match shared.catalog.lock_timeout_blocking(Duration::from_secs(5)) {
            Some(_catalog) => shared.rival_got_it(who),
            None => false,
        }
    })
}

fn rival_task(
    runtime: &Runtime,
    shared: &Arc<Shared>,
    who: &'static str,
) -> tokio::task::JoinHandle<bool> {
    let shared = Arc::clone(shared);
    runtime.spawn(async move {
        shared.walker_inside.wait().await;
        log(who, "wants the lock");
        let _catalog = shared.catalog.lock().await;
        shared.rival_got_it(who)
    })
}

fn main() {
    LazyLock::force(&START);
    start_watchdog(Duration::from_secs(20));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut ok = true;

    log("main", "--- scene 1: the walker is a thread ---");
    let shared = Shared::new(2);
    let walker = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || total_kib_blocking(&shared, 0, 1))
    };
    let task = rival_task(&runtime, &shared, "rival task");
    let thread = rival_thread(&shared, "rival thread");
    // `block_on` drives the runtime, so the rival task runs from here on.
    let task_ok = runtime.block_on(task).expect("rival task panicked");
    let total = walker.join().expect("walker panicked");
    log("walker", format!("total {total} KiB"));
    ok &= task_ok && thread.join().expect("rival panicked") && total == TOTAL_KIB;

    log("main", "--- scene 2: the walker is a task ---");
    let rivals = if cfg!(feature = "tokio") { 2 } else { 1 };
    let shared = Shared::new(rivals);
    let walker = {
        let shared = Arc::clone(&shared);
        runtime.spawn(async move { total_kib(&shared, 0, 1).await })
    };
    let thread = rival_thread(&shared, "rival thread");
    // Same runtime thread as the walker: only task ownership keeps it out.
    let task = cfg!(feature = "tokio").then(|| rival_task(&runtime, &shared, "rival task"));
    let (total, task_ok) = runtime.block_on(async {
        let total = walker.await.expect("walker panicked");
        let task_ok = match task {
            Some(task) => task.await.expect("rival task panicked"),
            None => true,
        };
        (total, task_ok)
    });
    log("walker", format!("total {total} KiB"));
    ok &= task_ok && thread.join().expect("rival panicked") && total == TOTAL_KIB;

    println!();
    if ok {
        println!("== every rival waited until the walker released all {DEEPEST} levels");
    } else {
        eprintln!("error: a rival got in while the walker held the lock, or a total was wrong");
        std::process::exit(1);
    }
}
