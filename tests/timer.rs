//! `Timer` (feature `tokio`): `after` runs a future on tokio and
//! `after_blocking` a closure on an OS thread after the delay (never before);
//! `cancel` before the call began stops it, after that changes nothing;
//! `is_finished`; every join form, the value going to the first join only; a
//! panicking call panics the first join instead of leaving joiners hanging;
//! a task and a thread joining the same timer.
#![cfg(feature = "tokio")]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ambisync::{Event, Timer, TimerOutcome};

use common::{LIMIT, eventually, eventually_async, join_within, panic_message, within};
use tokio_test::{assert_pending, assert_ready_eq, task};

/// A delay long enough that a test is over before it ends.
const FOREVER: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------
// Running after the delay
// ---------------------------------------------------------------------------

#[tokio::test]
async fn after_runs_the_future_on_tokio_and_join_returns_its_value() {
    let timer = Timer::after(Duration::from_millis(5), async { 6 * 7 });
    assert_eq!(within("join", timer.join()).await, Some(42));
    assert!(timer.is_finished());
    assert!(!timer.is_cancelled());
}

#[test]
fn after_blocking_runs_the_closure_on_another_thread_without_any_runtime() {
    let caller = std::thread::current().id();
    let timer = Timer::after_blocking(Duration::from_millis(5), move || {
        let no_runtime = tokio::runtime::Handle::try_current().is_err();
        (std::thread::current().id() != caller, no_runtime)
    });
    let joiner = std::thread::spawn(move || timer.join_blocking());
    assert_eq!(join_within("join_blocking", joiner), Some((true, true)));
}

#[tokio::test]
async fn after_never_starts_the_future_before_the_delay() {
    let delay = Duration::from_millis(50);
    let start = Instant::now();
    let timer = Timer::after(delay, async move { start.elapsed() });
    let began_after = within("join", timer.join()).await.unwrap();
    assert!(
        began_after >= delay,
        "began after {began_after:?} < {delay:?}"
    );
}

#[test]
fn after_blocking_never_calls_the_closure_before_the_delay() {
    let delay = Duration::from_millis(50);
    let start = Instant::now();
    let timer = Timer::after_blocking(delay, move || start.elapsed());
    let joiner = std::thread::spawn(move || timer.join_blocking());
    let began_after = join_within("join_blocking", joiner).unwrap();
    assert!(
        began_after >= delay,
        "began after {began_after:?} < {delay:?}"
    );
}

#[test]
fn dropping_a_timer_does_not_cancel_the_call() {
    let called = Arc::new(Event::new());
    let timer = Timer::after_blocking(Duration::from_millis(5), {
        let called = Arc::clone(&called);
        move || called.set()
    });
    drop(timer);
    assert!(called.wait_timeout_blocking(LIMIT), "the call never ran");
}

// ---------------------------------------------------------------------------
// Cancelling
// ---------------------------------------------------------------------------

#[tokio::test]
async fn cancel_before_the_future_began_returns_true_and_it_never_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let timer = Timer::after(Duration::from_millis(20), {
        let ran = Arc::clone(&ran);
        async move { ran.store(true, Ordering::SeqCst) }
    });
    assert!(timer.cancel());
    assert_eq!(within("join", timer.join()).await, None);
    assert!(timer.is_finished());
    assert!(timer.is_cancelled());
    // Nothing should happen: wait well past the deadline, then look.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !ran.load(Ordering::SeqCst),
        "a cancelled timer ran its call"
    );
}

#[test]
fn cancel_before_the_closure_began_returns_true_and_it_never_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let timer = Timer::after_blocking(Duration::from_millis(20), {
        let ran = Arc::clone(&ran);
        move || ran.store(true, Ordering::SeqCst)
    });
    assert!(timer.cancel());
    let timer = Arc::new(timer);
    let joiner = std::thread::spawn({
        let timer = Arc::clone(&timer);
        move || timer.join_blocking()
    });
    assert_eq!(join_within("join_blocking", joiner), None);
    assert!(timer.is_finished());
    // Nothing should happen: wait well past the deadline, then look.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !ran.load(Ordering::SeqCst),
        "a cancelled timer ran its call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_the_future_began_returns_false_and_it_completes() {
    let started = Arc::new(Event::new());
    let release = Arc::new(Event::new());
    let timer = Timer::after(Duration::from_millis(1), {
        let (started, release) = (Arc::clone(&started), Arc::clone(&release));
        async move {
            started.set();
            release.wait().await;
            "completed"
        }
    });
    within("the call begins", started.wait()).await;
    assert!(!timer.cancel(), "the call already began");
    assert!(!timer.is_cancelled());
    assert!(!timer.is_finished(), "the call is still running");
    release.set();
    assert_eq!(within("join", timer.join()).await, Some("completed"));
    assert!(timer.is_finished());
}

#[test]
fn cancel_after_the_closure_began_returns_false_and_it_completes() {
    let started = Arc::new(Event::new());
    let release = Arc::new(Event::new());
    let timer = Timer::after_blocking(Duration::from_millis(1), {
        let (started, release) = (Arc::clone(&started), Arc::clone(&release));
        move || {
            started.set();
            assert!(release.wait_timeout_blocking(LIMIT), "never released");
            "completed"
        }
    });
    assert!(started.wait_timeout_blocking(LIMIT), "the call never began");
    assert!(!timer.cancel(), "the call already began");
    assert!(!timer.is_cancelled());
    assert!(!timer.is_finished(), "the call is still running");
    release.set();
    let joiner = std::thread::spawn(move || timer.join_blocking());
    assert_eq!(join_within("join_blocking", joiner), Some("completed"));
}

#[tokio::test]
async fn cancel_after_the_call_finished_returns_false_and_keeps_the_value() {
    let timer = Timer::after(Duration::from_millis(1), async { 5 });
    eventually_async("the call finishes", || timer.is_finished()).await;
    assert!(!timer.cancel());
    assert_eq!(within("join", timer.join()).await, Some(5));
}

#[test]
fn a_second_cancel_returns_false() {
    let timer = Timer::after_blocking(FOREVER, || ());
    assert!(timer.cancel());
    assert!(!timer.cancel());
    assert!(timer.is_cancelled());
}

#[test]
fn cancel_wakes_a_waiting_joiner_with_none() {
    let timer = Arc::new(Timer::after_blocking(FOREVER, || 1));
    let joiner = std::thread::spawn({
        let timer = Arc::clone(&timer);
        move || timer.join_blocking()
    });
    assert!(timer.cancel());
    assert_eq!(join_within("join_blocking after cancel", joiner), None);
}

#[tokio::test]
async fn cancel_wakes_a_pending_join_future_with_none() {
    let timer = Timer::after(FOREVER, async { 1 });
    let mut join = task::spawn(timer.join());
    assert_pending!(join.poll(), "the call has not run");
    assert!(timer.cancel());
    assert!(join.is_woken(), "cancel must wake the joiner");
    assert_ready_eq!(join.poll(), None, "cancel must wake the joiner");
}

// ---------------------------------------------------------------------------
// is_finished and the join forms
// ---------------------------------------------------------------------------

#[test]
fn is_finished_is_false_while_waiting_or_running_and_true_once_the_call_returned() {
    let release = Arc::new(Event::new());
    let started = Arc::new(Event::new());
    let timer = Timer::after_blocking(Duration::from_millis(20), {
        let (started, release) = (Arc::clone(&started), Arc::clone(&release));
        move || {
            started.set();
            assert!(release.wait_timeout_blocking(LIMIT), "never released");
        }
    });
    assert!(!timer.is_finished(), "still waiting for the delay");
    assert!(started.wait_timeout_blocking(LIMIT), "the call never began");
    assert!(!timer.is_finished(), "still running");
    release.set();
    eventually("the call returns", || timer.is_finished());
}

#[tokio::test]
async fn join_timeout_returns_none_while_waiting_and_the_value_stays_for_a_later_join() {
    let release = Arc::new(Event::new());
    let timer = Timer::after(Duration::from_millis(1), {
        let release = Arc::clone(&release);
        async move {
            release.wait().await;
            "value"
        }
    });
    let wait = Duration::from_millis(20);
    let start = Instant::now();
    assert_eq!(within("join_timeout", timer.join_timeout(wait)).await, None);
    assert!(start.elapsed() >= wait, "gave up before the timeout");
    assert!(!timer.is_finished());
    release.set();
    assert_eq!(
        within("join", timer.join_timeout(LIMIT)).await,
        Some("value")
    );
}

#[test]
fn join_timeout_blocking_returns_none_while_waiting_and_the_value_stays_for_a_later_join() {
    let release = Arc::new(Event::new());
    let timer = Timer::after_blocking(Duration::from_millis(1), {
        let release = Arc::clone(&release);
        move || {
            assert!(release.wait_timeout_blocking(LIMIT), "never released");
            "value"
        }
    });
    let wait = Duration::from_millis(20);
    let start = Instant::now();
    assert_eq!(timer.join_timeout_blocking(wait), None);
    assert!(start.elapsed() >= wait, "gave up before the timeout");
    assert!(!timer.is_finished());
    release.set();
    assert_eq!(timer.join_timeout_blocking(LIMIT), Some("value"));
}

#[tokio::test]
async fn only_the_first_join_gets_the_value() {
    let timer = Timer::after(Duration::from_millis(1), async { String::from("once") });
    assert_eq!(
        within("first join", timer.join()).await.as_deref(),
        Some("once")
    );
    assert_eq!(within("second join", timer.join()).await, None);
    assert_eq!(
        within("join_timeout", timer.join_timeout(LIMIT)).await,
        None
    );
}

#[test]
fn only_the_first_join_blocking_gets_the_value() {
    let timer = Timer::after_blocking(Duration::from_millis(1), || String::from("once"));
    let timer = Arc::new(timer);
    let first = std::thread::spawn({
        let timer = Arc::clone(&timer);
        move || timer.join_blocking()
    });
    assert_eq!(join_within("first join", first).as_deref(), Some("once"));
    assert_eq!(timer.join_blocking(), None);
    assert_eq!(timer.join_timeout_blocking(LIMIT), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_join_and_a_thread_join_blocking_on_one_async_timer_share_one_value() {
    let release = Arc::new(Event::new());
    let timer = Arc::new(Timer::after(Duration::from_millis(1), {
        let release = Arc::clone(&release);
        async move {
            release.wait().await;
            99
        }
    }));
    let task = tokio::spawn({
        let timer = Arc::clone(&timer);
        async move { timer.join().await }
    });
    let thread = std::thread::spawn({
        let timer = Arc::clone(&timer);
        move || timer.join_blocking()
    });
    release.set();
    let from_task = within("task join", task).await.unwrap();
    let from_thread = join_within("thread join_blocking", thread);
    let mut results = [from_task, from_thread];
    results.sort_unstable();
    assert_eq!(
        results,
        [None, Some(99)],
        "exactly one joiner gets the value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_join_and_a_thread_join_blocking_on_one_thread_timer_share_one_value() {
    let release = Arc::new(Event::new());
    let timer = Arc::new(Timer::after_blocking(Duration::from_millis(1), {
        let release = Arc::clone(&release);
        move || {
            assert!(release.wait_timeout_blocking(LIMIT), "never released");
            99
        }
    }));
    let task = tokio::spawn({
        let timer = Arc::clone(&timer);
        async move { timer.join().await }
    });
    let thread = std::thread::spawn({
        let timer = Arc::clone(&timer);
        move || timer.join_blocking()
    });
    release.set();
    let from_task = within("task join", task).await.unwrap();
    let from_thread = join_within("thread join_blocking", thread);
    let mut results = [from_task, from_thread];
    results.sort_unstable();
    assert_eq!(
        results,
        [None, Some(99)],
        "exactly one joiner gets the value"
    );
}

// ---------------------------------------------------------------------------
// Panicking calls
// ---------------------------------------------------------------------------

#[tokio::test]
#[should_panic(expected = "timer future failed")]
async fn a_panicking_future_makes_the_first_join_panic() {
    let timer: Timer<u8> = Timer::after(Duration::from_millis(1), async {
        panic!("timer future failed")
    });
    within("join", timer.join()).await;
}

#[tokio::test]
async fn after_a_panicking_future_later_joins_get_none() {
    let timer: Arc<Timer<u8>> = Arc::new(Timer::after(Duration::from_millis(1), async {
        panic!("timer future failed")
    }));
    let first = tokio::spawn({
        let timer = Arc::clone(&timer);
        async move { timer.join().await }
    });
    let err = within("first join", first).await.unwrap_err();
    assert!(err.is_panic(), "the first join must panic");
    assert_eq!(panic_message(&*err.into_panic()), "timer future failed");
    assert_eq!(within("later join", timer.join()).await, None);
    assert!(timer.is_finished());
}

#[test]
fn a_panicking_closure_makes_the_first_join_blocking_panic_and_later_joins_get_none() {
    let timer: Timer<u8> =
        Timer::after_blocking(Duration::from_millis(1), || panic!("timer closure failed"));
    let joiner = std::thread::spawn(move || {
        let first = catch_unwind(AssertUnwindSafe(|| timer.join_blocking()));
        let second = timer.join_blocking();
        (first.map_err(|payload| panic_message(&*payload)), second)
    });
    let (first, second) = join_within("joiner", joiner);
    assert_eq!(first, Err(String::from("timer closure failed")));
    assert_eq!(second, None);
}

#[test]
fn a_panicking_closure_leaves_no_joiner_hanging() {
    let release = Arc::new(Event::new());
    let timer: Arc<Timer<u8>> = Arc::new(Timer::after_blocking(Duration::from_millis(1), {
        let release = Arc::clone(&release);
        move || {
            assert!(release.wait_timeout_blocking(LIMIT), "never released");
            panic!("timer closure failed")
        }
    }));
    let joiners: Vec<_> = (0..3)
        .map(|_| {
            let timer = Arc::clone(&timer);
            std::thread::spawn(move || {
                catch_unwind(AssertUnwindSafe(|| timer.join_blocking()))
                    .map_err(|payload| panic_message(&*payload))
            })
        })
        .collect();
    release.set();
    let results: Vec<_> = joiners
        .into_iter()
        .map(|joiner| join_within("joiner", joiner))
        .collect();
    let panicked = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(panicked, 1, "exactly the first join panics: {results:?}");
    assert!(results.contains(&Err(String::from("timer closure failed"))));
    assert_eq!(results.iter().filter(|r| **r == Ok(None)).count(), 2);
}

// ---------------------------------------------------------------------------
// Runtime interplay, traits
// ---------------------------------------------------------------------------

#[tokio::test]
async fn join_blocking_on_an_unfinished_timer_inside_a_tokio_task_panics() {
    let timer = Arc::new(Timer::after(FOREVER, async { 1 }));
    let task = tokio::spawn({
        let timer = Arc::clone(&timer);
        async move { timer.join_blocking() }
    });
    let err = within("the task", task).await.unwrap_err();
    let message = panic_message(&*err.into_panic());
    assert!(message.contains("join_blocking"), "message: {message:?}");
    timer.cancel();
}

#[test]
fn join_does_not_hang_when_the_runtime_shuts_down_before_the_call() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let timer = runtime.block_on(async { Timer::after(FOREVER, async { 1 }) });
    let timer = Arc::new(timer);
    let joiner = std::thread::spawn({
        let timer = Arc::clone(&timer);
        move || timer.join_blocking()
    });
    drop(runtime); // drops the timer's task: the call can never run now
    assert_eq!(
        join_within("join_blocking after runtime shutdown", joiner),
        None
    );
    assert!(timer.is_finished());
    assert!(!timer.cancel());
}

#[test]
fn join_does_not_hang_when_the_runtime_shuts_down_before_the_timer_task_was_polled() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // `block_on` of a current-thread runtime returns without polling the task.
    let timer = runtime.block_on(async { Timer::after(Duration::from_millis(1), async { 1 }) });
    drop(runtime);
    assert_eq!(timer.join_timeout_blocking(LIMIT), None);
    assert!(timer.is_finished());
}

#[test]
fn join_does_not_hang_when_the_runtime_shuts_down_while_the_future_runs() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let started = Arc::new(Event::new());
    let timer = runtime.block_on(async {
        let started = Arc::clone(&started);
        Timer::after(Duration::from_millis(1), async move {
            started.set();
            std::future::pending::<u8>().await
        })
    });
    assert!(started.wait_timeout_blocking(LIMIT), "the call never began");
    let timer = Arc::new(timer);
    let joiner = std::thread::spawn({
        let timer = Arc::clone(&timer);
        move || timer.join_blocking()
    });
    drop(runtime); // drops the running future: it can never finish now
    assert_eq!(
        join_within("join_blocking after runtime shutdown", joiner),
        None
    );
    assert!(timer.is_finished());
}

#[test]
fn timer_is_send_and_sync_and_debug_shows_its_stage() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let timer = Timer::after_blocking(FOREVER, || String::from("x"));
    send_sync(&timer);
    assert!(format!("{timer:?}").contains("waiting"), "{timer:?}");
    timer.cancel();
    assert!(format!("{timer:?}").contains("cancelled"), "{timer:?}");
    let done = Timer::after_blocking(Duration::from_millis(1), || 1);
    eventually("the call finishes", || done.is_finished());
    assert!(format!("{done:?}").contains("finished"), "{done:?}");
}

// ---- Python's Timer(t, f) on tokio, and outcomes ---------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_fn_calls_a_plain_function_that_may_block() {
    let timer = Timer::after_fn(Duration::from_millis(1), || {
        // Blocking is fine: the call runs on tokio's blocking pool.
        std::thread::sleep(Duration::from_millis(5));
        "done"
    });
    assert_eq!(within("after_fn", timer.join()).await, Some("done"));
    let cancelled = Timer::after_fn(Duration::from_secs(3600), || "never");
    assert!(cancelled.cancel());
    assert_eq!(
        within("cancelled after_fn", cancelled.outcome()).await,
        TimerOutcome::Cancelled
    );
}

#[tokio::test]
async fn outcome_tells_cancelled_from_already_joined() {
    let timer = Timer::after(Duration::ZERO, async { 5 });
    assert_eq!(
        within("first", timer.outcome()).await,
        TimerOutcome::Finished(5)
    );
    assert_eq!(within("second", timer.join()).await, None);
    assert_eq!(timer.try_outcome(), Some(TimerOutcome::AlreadyJoined));
    let cancelled = Timer::after(Duration::from_secs(3600), async { 5 });
    assert_eq!(cancelled.try_outcome(), None, "still waiting");
    cancelled.cancel();
    assert_eq!(cancelled.try_outcome(), Some(TimerOutcome::Cancelled));
    assert_eq!(
        cancelled.outcome_timeout(LIMIT).await,
        Some(TimerOutcome::Cancelled)
    );
}

#[test]
fn a_runtime_shutdown_during_the_call_is_reported_as_aborted() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let started = Arc::new(ambisync::Event::new());
    let timer = runtime.block_on({
        let started = Arc::clone(&started);
        async move {
            Timer::after(Duration::ZERO, async move {
                started.set();
                std::future::pending::<()>().await
            })
        }
    });
    assert!(started.wait_timeout_blocking(LIMIT), "the call began");
    runtime.shutdown_timeout(LIMIT);
    assert_eq!(
        timer.outcome_timeout_blocking(LIMIT),
        Some(TimerOutcome::Aborted)
    );
    assert_eq!(timer.join_blocking(), None);
}
