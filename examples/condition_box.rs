//! Producers and consumers around a small box: Python's `threading.Condition`
//! lesson.
//!
//! Python lesson: the bounded buffer of the `threading.Condition` docs and
//! tutorials (`with cond: cond.wait_for(predicate)`, then `notify()`), with a
//! lock around the shared data and one condition per thing to wait for.
//!
//! The box holds at most 2 items. Its contents sit in a `Lock`, and two
//! `Condition`s say when to look again: producers wait on `not_full`,
//! consumers on `not_empty`, each with `wait_for` and a predicate, which
//! releases the lock while waiting and re-checks the predicate whenever woken
//! (Python's `cond.wait_for(predicate)`). Each side notifies the other after
//! changing the box. When the last producer is done it wakes every consumer
//! (`notify_all`), and they leave once the box is empty.
//!
//! One producer and one consumer are async tasks, the others OS threads, all
//! sharing the same lock and conditions. The summary checks that every item
//! was consumed exactly once and the box never held more than 2 (exit 1 if not).
//!
//! What to look for in the output: a side that finds the box full (or empty)
//! says "waiting", and its next line comes only after the other side changed
//! the box and notified; while one side waits, the other keeps using the lock
//! (waiting released it). At the end the consumers see the box empty with no
//! producer left and go home, and the last lines count the waits.
//!
//! ```text
//! cargo run --example condition_box
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ambisync::{Condition, Lock};

const CAPACITY: usize = 2;
const ITEMS_PER_PRODUCER: u32 = 4;
/// How long consuming an item takes: slower than producing, so the box fills.
const CONSUME: Duration = Duration::from_millis(2);

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Timestamped tutorial-style logging.
fn log(who: &str, what: impl std::fmt::Display) {
    println!("{:>8.3}s  {who:<16} {what}", START.elapsed().as_secs_f64());
}

/// "once", "twice", "3 times".
fn times(n: usize) -> String {
    match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
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

struct Contents {
    items: VecDeque<u32>,
    producers_left: usize,
}

impl Contents {
    fn has_room(&self) -> bool {
        self.items.len() < CAPACITY
    }

    /// What a consumer waits for: something to take, or the end.
    fn has_item_or_is_over(&self) -> bool {
        !self.items.is_empty() || self.producers_left == 0
    }
}

struct SharedBox {
    contents: Lock<Contents>,
    not_full: Condition,
    not_empty: Condition,
    /// The most items ever seen in the box.
    high_water: AtomicUsize,
    /// How often a producer found the box full, a consumer found it empty.
    full_waits: AtomicUsize,
    empty_waits: AtomicUsize,
}

impl SharedBox {
    /// The part of `put` that runs under the lock, once there is room.
    fn store(&self, who: &str, contents: &mut Contents, item: u32) {
        contents.items.push_back(item);
        self.high_water
            .fetch_max(contents.items.len(), Ordering::SeqCst);
        log(who, format!("put {item}   box {:?}", contents.items));
    }

    /// The part of `take` that runs under the lock; `None`: empty for good.
    fn remove(&self, who: &str, contents: &mut Contents) -> Option<u32> {
        let item = contents.items.pop_front()?;
        log(who, format!("took {item}  box {:?}", contents.items));
        Some(item)
    }

    /// Before a producer's `wait_for`: says whether it will wait.
    fn check_room(&self, who: &str, contents: &Contents) {
        if !contents.has_room() {
            self.full_waits.fetch_add(1, Ordering::SeqCst);
            log(who, "box full, waiting on not_full");
        }
    }

    /// Before a consumer's `wait_for`: says whether it will wait.
    fn check_item(&self, who: &str, contents: &Contents) {
        if !contents.has_item_or_is_over() {
            self.empty_waits.fetch_add(1, Ordering::SeqCst);
            log(who, "box empty, waiting on not_empty");
        }
    }

    /// Called by each producer when it has put its last item.
    fn producer_done(&self, who: &str, contents: &mut Contents) {
        contents.producers_left -= 1;
        if contents.producers_left == 0 {
            // Consumers waiting on an empty box must now see that it stays empty.
            let woken = self.not_empty.notify_all();
            log(
                who,
                format!("last producer done: notify_all() woke {woken} waiting consumers"),
            );
        }
    }
}

async fn producer_task(shared: Arc<SharedBox>, first: u32) {
    let who = "producer task";
    for item in first..first + ITEMS_PER_PRODUCER {
        let contents = shared.contents.lock().await;
        shared.check_room(who, &contents);
        let mut contents = shared
            .not_full
            .wait_for(contents, |contents| contents.has_room())
            .await;
        shared.store(who, &mut contents, item);
        // Notified with the lock held, as Python requires; ambisync would
        // also accept it after the guard is dropped.
        shared.not_empty.notify_one();
    }
    shared.producer_done(who, &mut *shared.contents.lock().await);
}

fn producer_thread(shared: Arc<SharedBox>, first: u32) {
    let who = "producer thread";
    for item in first..first + ITEMS_PER_PRODUCER {
        let contents = shared.contents.lock_blocking();
        shared.check_room(who, &contents);
        let mut contents = shared
            .not_full
            .wait_for_blocking(contents, |contents| contents.has_room());
        shared.store(who, &mut contents, item);
        shared.not_empty.notify_one();
    }
    shared.producer_done(who, &mut shared.contents.lock_blocking());
}

async fn consumer_task(shared: Arc<SharedBox>) -> Vec<u32> {
    let who = "consumer task";
    let mut consumed = Vec::new();
    loop {
        let contents = shared.contents.lock().await;
        shared.check_item(who, &contents);
        let mut contents = shared
            .not_empty
            .wait_for(contents, |contents| contents.has_item_or_is_over())
            .await;
        let Some(item) = shared.remove(who, &mut contents) else {
            log(who, "box empty, no producer left: going home");
            break;
        };
        shared.not_full.notify_one();
        drop(contents);
        consumed.push(item);
        tokio::time::sleep(CONSUME).await;
    }
    consumed
}

fn consumer_thread(shared: Arc<SharedBox>) -> Vec<u32> {
    let who = "consumer thread";
    let mut consumed = Vec::new();
    loop {
        let contents = shared.contents.lock_blocking();
        shared.check_item(who, &contents);
        let mut contents = shared
            .not_empty
            .wait_for_blocking(contents, |contents| contents.has_item_or_is_over());
        let Some(item) = shared.remove(who, &mut contents) else {
            log(who, "box empty, no producer left: going home");
            break;
        };
        shared.not_full.notify_one();
        drop(contents);
        consumed.push(item);
        std::thread::sleep(CONSUME);
    }
    consumed
}

fn main() {
    LazyLock::force(&START);
    start_watchdog(Duration::from_secs(20));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let shared = Arc::new(SharedBox {
        contents: Lock::new(Contents {
            items: VecDeque::new(),
            producers_left: 2,
        }),
        not_full: Condition::new(),
        not_empty: Condition::new(),
        high_water: AtomicUsize::new(0),
        full_waits: AtomicUsize::new(0),
        empty_waits: AtomicUsize::new(0),
    });

    let consumers = (
        runtime.spawn(consumer_task(Arc::clone(&shared))),
        std::thread::spawn({
            let shared = Arc::clone(&shared);
            move || consumer_thread(shared)
        }),
    );
    let producers = (
        runtime.spawn(producer_task(Arc::clone(&shared), 100)),
        std::thread::spawn({
            let shared = Arc::clone(&shared);
            move || producer_thread(shared, 200)
        }),
    );

    producers.1.join().expect("producer thread panicked");
    let mut consumed = consumers.1.join().expect("consumer thread panicked");
    runtime.block_on(async {
        producers.0.await.expect("producer task panicked");
        consumed.extend(consumers.0.await.expect("consumer task panicked"));
    });

    consumed.sort_unstable();
    let produced: Vec<u32> = (100..100 + ITEMS_PER_PRODUCER)
        .chain(200..200 + ITEMS_PER_PRODUCER)
        .collect();
    let high_water = shared.high_water.load(Ordering::SeqCst);
    println!();
    println!(
        "== produced {}, consumed {}, each exactly once: {}; the box held at most {high_water} of {CAPACITY}",
        produced.len(),
        consumed.len(),
        consumed == produced
    );
    println!(
        "== producers found the box full {}, consumers found it empty {};\n   \
         each time wait_for released the lock, and re-checked its predicate when notified",
        times(shared.full_waits.load(Ordering::SeqCst)),
        times(shared.empty_waits.load(Ordering::SeqCst)),
    );
    if consumed != produced || high_water > CAPACITY {
        eprintln!("error: items were lost, duplicated, or overfilled the box");
        std::process::exit(1);
    }
}
