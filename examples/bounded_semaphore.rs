//! Python's candy machine: a `BoundedSemaphore` counts the bars in a tray.
//!
//! Python lesson: the candy machine of the `threading.BoundedSemaphore`
//! tutorials (`release()` on a full machine raises `ValueError`,
//! `acquire(blocking=False)` when buying).
//!
//! The tray holds at most 5 bars and starts full; each permit is one bar.
//! A vendor (an OS thread) refills one bar at a time with `release()`; since
//! the semaphore is *bounded*, refilling a full tray fails with
//! `BoundedReleaseError` instead of silently creating a sixth bar (a plain
//! `Semaphore` would). Two buyers, an async task and an OS thread, never wait
//! at the machine: `try_acquire()` either sells a bar — `forget()` keeps the
//! permit taken, the bar is eaten — or finds the tray empty.
//!
//! The vendor inspects the full tray before opening the machine, so at least
//! one over-release always happens; the buyers try more often than there are
//! bars, so some find it empty. The end checks that every bar is accounted
//! for (bought = initial + refilled - left) and exits with status 1 if not.
//!
//! What to look for in the output: the vendor's first refill of the full tray
//! is refused ("semaphore released too many times"), the bars left go down
//! with each purchase and up with each refill but never above 5, buyers who
//! find the tray empty skip instead of waiting, and the `==` line balances
//! bought against initial + refilled - left.
//!
//! ```text
//! cargo run --example bounded_semaphore
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ambisync::{BoundedSemaphore, Event};

const TRAY_SIZE: usize = 5;
const REFILLS: usize = 6;
const REFILL_EVERY: Duration = Duration::from_millis(6);
const PURCHASES_PER_BUYER: usize = 10;

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Timestamped tutorial-style logging.
fn log(who: &str, what: impl std::fmt::Display) {
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

struct CandyMachine {
    tray: BoundedSemaphore,
    /// Set by the vendor once the machine is open for business.
    open: Event,
    bought: AtomicUsize,
    refilled: AtomicUsize,
}

impl CandyMachine {
    fn refill(&self) {
        match self.tray.release() {
            Ok(()) => {
                self.refilled.fetch_add(1, Ordering::SeqCst);
                log(
                    "vendor",
                    format!("refilled: {} in the tray", self.tray.available_permits()),
                );
            }
            Err(full) => log("vendor", format!("tray full, skipping ({full})")),
        }
    }

    fn buy(&self, who: &str) {
        match self.tray.try_acquire() {
            Some(bar) => {
                // Eaten: the permit stays taken until the vendor refills.
                bar.forget();
                self.bought.fetch_add(1, Ordering::SeqCst);
                log(
                    who,
                    format!("bought a bar: {} left", self.tray.available_permits()),
                );
            }
            None => log(who, "tray empty, skipping"),
        }
    }
}

fn main() {
    LazyLock::force(&START);
    start_watchdog(Duration::from_secs(20));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let machine = Arc::new(CandyMachine {
        tray: BoundedSemaphore::new(TRAY_SIZE),
        open: Event::new(),
        bought: AtomicUsize::new(0),
        refilled: AtomicUsize::new(0),
    });
    log(
        "main",
        format!("THE CANDY MACHINE (full with {TRAY_SIZE} bars)"),
    );

    let vendor = {
        let machine = Arc::clone(&machine);
        std::thread::spawn(move || {
            // Nobody has bought yet: this refill must fail.
            machine.refill();
            machine.open.set();
            for _ in 0..REFILLS {
                std::thread::sleep(REFILL_EVERY);
                machine.refill();
            }
        })
    };
    let buyer_task = {
        let machine = Arc::clone(&machine);
        runtime.spawn(async move {
            machine.open.wait().await;
            for _ in 0..PURCHASES_PER_BUYER {
                machine.buy("buyer task");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let buyer_thread = {
        let machine = Arc::clone(&machine);
        std::thread::spawn(move || {
            machine.open.wait_blocking();
            for _ in 0..PURCHASES_PER_BUYER {
                machine.buy("buyer thread");
                std::thread::sleep(Duration::from_millis(4));
            }
        })
    };

    vendor.join().expect("vendor panicked");
    buyer_thread.join().expect("buyer thread panicked");
    runtime.block_on(buyer_task).expect("buyer task panicked");

    let bought = machine.bought.load(Ordering::SeqCst);
    let refilled = machine.refilled.load(Ordering::SeqCst);
    let left = machine.tray.available_permits();
    println!();
    println!(
        "== {bought} bars bought, {} times found empty, {refilled} refilled, {left} left",
        2 * PURCHASES_PER_BUYER - bought
    );
    let balanced = bought == TRAY_SIZE + refilled - left;

    // Closing time: top the tray up until the bound says stop.
    let mut topped_up = 0;
    let error = loop {
        match machine.tray.release() {
            Ok(()) => topped_up += 1,
            Err(error) => break error,
        }
    };
    println!("== closing: topped up {topped_up} bars, then release() said \"{error}\"");
    let full = machine.tray.available_permits() == TRAY_SIZE;
    if !(balanced && full) {
        eprintln!("error: the bars do not add up, or the tray is not full at closing");
        std::process::exit(1);
    }
}
