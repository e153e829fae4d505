//! Run something later, unless cancelled first: Python's `threading.Timer`.
//!
//! Python lesson: `threading.Timer(interval, function)` with `start()`,
//! `cancel()` and `join()`, including a cancel that comes too late.
//!
//! Three timers of each kind — `Timer::after_blocking` runs a closure on its
//! own OS thread and needs no runtime; `Timer::after` runs a future on tokio:
//!
//! - one fires: `join` returns the call's value;
//! - one is cancelled while its delay is still running: `cancel()` returns
//!   true, the call never happens, `join` returns `None` at once;
//! - one is cancelled after its call began: as in Python that changes
//!   nothing, `cancel()` returns false, and `join` still brings its value.
//!
//! The "began" moment is an `Event` set by the call itself, so the late cancel
//! is late for sure. Exits with status 1 if any outcome differs.
//!
//! `Timer` comes with the `tokio` feature (on by default); built without it,
//! this example only says so.
//!
//! What to look for in the output: every line ends "(as expected)"; a timer
//! cancelled in time joins at once with `None`, and one cancelled after its
//! call began still delivers its value about 30 ms later.
//!
//! ```text
//! cargo run --example timer_cancel
//! ```

#[cfg(feature = "tokio")]
use std::sync::{Arc, LazyLock};
#[cfg(feature = "tokio")]
use std::time::{Duration, Instant};

#[cfg(feature = "tokio")]
use ambisync::{Event, Timer};

#[cfg(feature = "tokio")]
static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Timestamped tutorial-style logging.
#[cfg(feature = "tokio")]
fn log(who: &str, what: impl std::fmt::Display) {
    println!("{:>8.3}s  {who:<6} {what}", START.elapsed().as_secs_f64());
}

/// CI must never hang on an example: give up loudly if it takes far too long.
#[cfg(feature = "tokio")]
fn start_watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("error: still running after {limit:?}, something is stuck");
        std::process::exit(2);
    });
}

/// Logs one outcome; `false` if it is not the expected one.
#[cfg(feature = "tokio")]
fn check<T: std::fmt::Debug + PartialEq>(who: &str, what: &str, got: T, expected: T) -> bool {
    let verdict = if got == expected {
        "as expected"
    } else {
        "WRONG"
    };
    log(who, format!("{what}: {got:?} ({verdict})"));
    got == expected
}

/// `Timer::after_blocking`: plain threads, no runtime anywhere.
#[cfg(feature = "tokio")]
fn thread_timers() -> bool {
    let who = "thread";
    let mut ok = true;

    let fires = Timer::after_blocking(Duration::from_millis(20), || "tea is ready");
    log(who, "timer 1 set for 20ms");
    ok &= check(
        who,
        "timer 1 join_blocking()",
        fires.join_blocking(),
        Some("tea is ready"),
    );

    let never = Timer::after_blocking(Duration::from_secs(60), || "too late");
    log(who, "timer 2 set for 60s");
    ok &= check(
        who,
        "timer 2 cancel() before it fires",
        never.cancel(),
        true,
    );
    ok &= check(who, "timer 2 join_blocking()", never.join_blocking(), None);

    let began = Arc::new(Event::new());
    let late = Timer::after_blocking(Duration::from_millis(10), {
        let began = Arc::clone(&began);
        move || {
            began.set();
            std::thread::sleep(Duration::from_millis(30)); // the call's work
            "report written"
        }
    });
    log(who, "timer 3 set for 10ms, its call takes 30ms");
    began.wait_blocking();
    ok &= check(
        who,
        "timer 3 cancel() once its call began",
        late.cancel(),
        false,
    );
    ok &= check(
        who,
        "timer 3 join_blocking()",
        late.join_blocking(),
        Some("report written"),
    );
    ok
}

/// `Timer::after`: the same three stories with futures on tokio.
#[cfg(feature = "tokio")]
async fn task_timers() -> bool {
    let who = "task";
    let mut ok = true;

    let fires = Timer::after(Duration::from_millis(20), async { "tea is ready" });
    log(who, "timer 4 set for 20ms");
    ok &= check(
        who,
        "timer 4 join()",
        fires.join().await,
        Some("tea is ready"),
    );

    let never = Timer::after(Duration::from_secs(60), async { "too late" });
    log(who, "timer 5 set for 60s");
    ok &= check(
        who,
        "timer 5 cancel() before it fires",
        never.cancel(),
        true,
    );
    ok &= check(who, "timer 5 join()", never.join().await, None);

    let began = Arc::new(Event::new());
    let late = Timer::after(Duration::from_millis(10), {
        let began = Arc::clone(&began);
        async move {
            began.set();
            tokio::time::sleep(Duration::from_millis(30)).await; // the call's work
            "report written"
        }
    });
    log(who, "timer 6 set for 10ms, its call takes 30ms");
    began.wait().await;
    ok &= check(
        who,
        "timer 6 cancel() once its call began",
        late.cancel(),
        false,
    );
    ok &= check(
        who,
        "timer 6 join()",
        late.join().await,
        Some("report written"),
    );
    ok
}

#[cfg(feature = "tokio")]
fn main() {
    LazyLock::force(&START);
    start_watchdog(Duration::from_secs(20));
    let threads_ok = thread_timers();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let tasks_ok = runtime.block_on(task_timers());

    println!();
    if threads_ok && tasks_ok {
        println!(
            "== 6 timers: 2 fired, 2 cancelled in time, 2 cancelled too late and still delivered"
        );
    } else {
        eprintln!("error: a timer did not behave like Python's threading.Timer");
        std::process::exit(1);
    }
}

#[cfg(not(feature = "tokio"))]
fn main() {
    eprintln!("timer_cancel needs ambisync's `tokio` feature (on by default)");
}
