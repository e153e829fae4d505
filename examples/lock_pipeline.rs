//! The two-lock pipeline of the Python threading tutorial.
//!
//! Python lesson: Real Python's "Producer-Consumer Using Lock", where two
//! `threading.Lock`s pass a single message slot back and forth and each lock
//! is released by the other thread.
//!
//! A producer hands messages to a consumer through a single slot guarded by
//! two raw `Lock<()>`s used Python-style, with `acquire` and `release`:
//! - the producer acquires `producer_lock`, fills the slot, and releases
//!   `consumer_lock`;
//! - the consumer acquires `consumer_lock`, empties the slot, and releases
//!   `producer_lock`.
//!
//! `consumer_lock` starts locked, so the consumer waits for the first message,
//! and the producer waits until the slot was read before writing the next.
//! Each lock is released by the *other* side: legal for a Python `Lock`, and
//! for ambisync's `Lock<()>` (unlike an `RLock` or a Rust `Mutex`). A
//! `SENTINEL` message ends the run.
//!
//! Run 1: the producer is an async task and the consumer an OS thread; run 2
//! the other way round. The slot is an atomic only because safe Rust needs
//! one to share a word; the locks do the ordering, and the slot checks it:
//! writing over an unread message or reading an empty slot panics. Each run
//! checks that every message arrived exactly once, in order (exit 1 if not).
//!
//! What to look for in the output: the producer and the consumer take turns
//! through the one slot (their log lines, printed outside the locks, may run a
//! little ahead of each other; the slot itself is checked), each run ends
//! "exact", and the last lines explain why `consumer_lock` is still locked:
//! the consumer acquired it to read the sentinel, and since nothing follows
//! the sentinel, nobody releases it again. The Python version ends the same
//! way; the pipeline is over, so the lock is simply dropped.
//!
//! ```text
//! cargo run --example lock_pipeline
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ambisync::Lock;

const MESSAGES: u64 = 6;
/// Tells the consumer there is nothing more (Python's `SENTINEL = object()`).
const SENTINEL: u64 = 0;
/// What the slot holds between a read and the next write.
const EMPTY: u64 = u64::MAX;

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Timestamped tutorial-style logging.
fn log(who: &str, what: impl std::fmt::Display) {
    println!("{:>8.3}s  {who:<16} {what}", START.elapsed().as_secs_f64());
}

/// CI must never hang on an example: give up loudly if it takes far too long.
fn start_watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("error: still running after {limit:?}, something is stuck");
        std::process::exit(2);
    });
}

struct Pipeline {
    slot: AtomicU64,
    producer_lock: Lock,
    consumer_lock: Lock,
}

impl Pipeline {
    fn new() -> Arc<Pipeline> {
        let pipeline = Pipeline {
            slot: AtomicU64::new(EMPTY),
            producer_lock: Lock::new(()),
            consumer_lock: Lock::new(()),
        };
        // Nothing to read yet: the consumer must wait for the first message.
        assert!(pipeline.consumer_lock.try_acquire());
        Arc::new(pipeline)
    }

    /// Under `producer_lock`: fill the slot, then let the consumer read it.
    fn fill(&self, message: u64) {
        let unread = self.slot.swap(message, Ordering::Relaxed);
        assert_eq!(unread, EMPTY, "the producer overwrote an unread message");
        self.consumer_lock
            .release()
            .expect("consumer_lock is held until a message is in the slot");
    }

    /// Under `consumer_lock`: empty the slot, then let the producer refill it.
    fn empty(&self) -> u64 {
        let message = self.slot.swap(EMPTY, Ordering::Relaxed);
        assert_ne!(message, EMPTY, "the consumer read an empty slot");
        self.producer_lock
            .release()
            .expect("producer_lock is held until the slot is read");
        message
    }

    async fn set_message(&self, message: u64) {
        self.producer_lock.acquire().await;
        self.fill(message);
    }

    fn set_message_blocking(&self, message: u64) {
        self.producer_lock.acquire_blocking();
        self.fill(message);
    }

    async fn get_message(&self) -> u64 {
        self.consumer_lock.acquire().await;
        self.empty()
    }

    fn get_message_blocking(&self) -> u64 {
        self.consumer_lock.acquire_blocking();
        self.empty()
    }
}

/// The messages "read from the network", then the sentinel.
fn messages() -> impl Iterator<Item = u64> {
    (1..=MESSAGES).map(|n| n * 11).chain([SENTINEL])
}

fn producer_log(who: &str, message: u64) {
    match message {
        SENTINEL => log(who, "sending the sentinel"),
        message => log(who, format!("got message {message}")),
    }
}

/// Whether the consumer received exactly what was sent, in order.
fn check(run: &str, received: &[u64]) -> bool {
    let sent: Vec<u64> = messages().take_while(|&m| m != SENTINEL).collect();
    let ok = received == sent;
    println!(
        "== {run}: sent {sent:?}, received {received:?}: {}\n",
        if ok { "exact" } else { "WRONG" }
    );
    ok
}

fn main() {
    LazyLock::force(&START);
    start_watchdog(Duration::from_secs(20));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    log("main", "--- run 1: producer task, consumer thread ---");
    let pipeline = Pipeline::new();
    let producer = runtime.spawn({
        let pipeline = Arc::clone(&pipeline);
        async move {
            for message in messages() {
                producer_log("producer task", message);
                pipeline.set_message(message).await;
            }
        }
    });
    let consumer = std::thread::spawn({
        let pipeline = Arc::clone(&pipeline);
        move || {
            let mut received = Vec::new();
            loop {
                let message = pipeline.get_message_blocking();
                if message == SENTINEL {
                    return received;
                }
                log("consumer thread", format!("storing message {message}"));
                received.push(message);
            }
        }
    });
    runtime.block_on(producer).expect("producer task panicked");
    let run1_ok = check("run 1", &consumer.join().expect("consumer thread panicked"));

    log("main", "--- run 2: producer thread, consumer task ---");
    let pipeline = Pipeline::new();
    let producer = std::thread::spawn({
        let pipeline = Arc::clone(&pipeline);
        move || {
            for message in messages() {
                producer_log("producer thread", message);
                pipeline.set_message_blocking(message);
            }
        }
    });
    let consumer = runtime.spawn({
        let pipeline = Arc::clone(&pipeline);
        async move {
            let mut received = Vec::new();
            loop {
                let message = pipeline.get_message().await;
                if message == SENTINEL {
                    return received;
                }
                log("consumer task", format!("storing message {message}"));
                received.push(message);
            }
        }
    });
    producer.join().expect("producer thread panicked");
    let received = runtime.block_on(consumer).expect("consumer task panicked");
    let run2_ok = check("run 2", &received);

    // Where each run leaves the locks: the producer's last `fill` (the
    // sentinel) released `consumer_lock`; the consumer then took it to read
    // the sentinel, released `producer_lock`, and stopped. With no message
    // after the sentinel, nobody releases `consumer_lock` again.
    let (producer_locked, consumer_locked) = (
        pipeline.producer_lock.is_locked(),
        pipeline.consumer_lock.is_locked(),
    );
    println!(
        "== after run 2: producer_lock locked: {producer_locked}, consumer_lock locked: {consumer_locked}"
    );
    println!(
        "   the consumer acquired consumer_lock to read the sentinel and released producer_lock;\n   \
         no message follows the sentinel, so nothing releases consumer_lock again. Python's\n   \
         version ends the same way; the pipeline is done and its locks are dropped with it."
    );
    let locks_as_expected = !producer_locked && consumer_locked;
    if !(run1_ok && run2_ok && locks_as_expected) {
        eprintln!("error: a message was lost, repeated or reordered, or a lock was left wrong");
        std::process::exit(1);
    }
}
