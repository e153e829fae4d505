//! `Event` (Python `threading.Event`): the flag (`set`, `clear`, `is_set`),
//! every waiting form, one event shared by tasks and OS threads, Python's
//! `test_set_and_clear` (a `set()` releases every waiter present at that
//! moment even if `clear()` follows at once), late arrivals after set+clear,
//! dropped wait futures, `Debug`/`Send`/`Sync`, and the panic of a `_blocking`
//! call made inside a tokio runtime.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Context;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ambisync::Event;
use common::{LIMIT, eventually, eventually_async, join_thread, join_within, within};
#[cfg(feature = "tokio")]
use common::{panic_message, watchdog};
use futures::FutureExt;
use futures_test::task::new_count_waker;
use tokio_test::{assert_pending, assert_ready, task};

/// A timeout that a test waits out on purpose (generous for a noisy CI).
const SHORT: Duration = Duration::from_millis(100);

/// Spins (yielding the CPU) until `condition` holds, failing after `LIMIT`.
/// Tighter than `eventually`, so a racy release path gets exercised.
fn spin_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {LIMIT:?}"
        );
        std::thread::yield_now();
    }
}

fn spawn_blocking_waiter(event: &Arc<Event>) -> JoinHandle<()> {
    let event = Arc::clone(event);
    std::thread::spawn(move || event.wait_blocking())
}

// ---------------------------------------------------------------- the flag

#[test]
fn a_new_event_is_clear() {
    let event = Event::new();
    assert!(!event.is_set());
    assert_eq!(event.waiters(), 0);
    assert!(!Event::default().is_set());
}

#[test]
fn set_and_clear_toggle_the_flag() {
    let event = Event::new();
    event.set();
    assert!(event.is_set());
    event.set(); // setting twice is harmless
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
    event.clear();
    assert!(!event.is_set());
}

// ------------------------------------------------- waiting on a set flag

#[tokio::test]
async fn wait_returns_at_once_when_the_flag_is_set() {
    let event = Event::new();
    event.set();
    within("wait() on a set event", event.wait()).await;
    assert!(event.is_set(), "waiting does not consume the flag");
}

#[test]
fn wait_blocking_returns_at_once_when_the_flag_is_set() {
    let event = Arc::new(Event::new());
    event.set();
    let waiter = spawn_blocking_waiter(&event);
    join_within("wait_blocking() on a set event", waiter);
}

#[test]
fn wait_timeout_blocking_returns_true_at_once_when_the_flag_is_set() {
    let event = Event::new();
    event.set();
    // A long timeout: returning at all proves it did not wait it out.
    let started = Instant::now();
    assert!(event.wait_timeout_blocking(Duration::from_secs(60)));
    assert!(started.elapsed() < LIMIT);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn wait_timeout_returns_true_at_once_when_the_flag_is_set() {
    let event = Event::new();
    event.set();
    assert!(
        within(
            "wait_timeout on a set event",
            event.wait_timeout(Duration::from_secs(60))
        )
        .await
    );
}

// ------------------------------------------------------------- timeouts

#[test]
fn wait_timeout_blocking_returns_false_after_its_timeout() {
    let event = Event::new();
    let started = Instant::now();
    assert!(!event.wait_timeout_blocking(SHORT));
    assert!(
        started.elapsed() >= SHORT,
        "returned after {:?}",
        started.elapsed()
    );
    assert_eq!(
        event.waiters(),
        0,
        "a timed-out waiter is no longer counted"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn wait_timeout_returns_false_after_its_timeout() {
    let event = Event::new();
    let started = Instant::now();
    assert!(!within("wait_timeout", event.wait_timeout(SHORT)).await);
    assert!(
        started.elapsed() >= SHORT,
        "returned after {:?}",
        started.elapsed()
    );
    assert_eq!(
        event.waiters(),
        0,
        "a timed-out waiter is no longer counted"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn wait_timeout_returns_true_when_a_thread_sets_the_flag_in_time() {
    let event = Arc::new(Event::new());
    let waiter = tokio::spawn({
        let event = Arc::clone(&event);
        async move { event.wait_timeout(LIMIT * 6).await }
    });
    eventually_async("the task waits", || event.waiters() == 1).await;
    let setter = std::thread::spawn({
        let event = Arc::clone(&event);
        move || event.set()
    });
    join_thread("setter thread", setter).await;
    assert!(within("wait_timeout woken by set()", waiter).await.unwrap());
}

#[tokio::test]
async fn wait_timeout_blocking_returns_true_when_a_task_sets_the_flag_in_time() {
    let event = Arc::new(Event::new());
    let waiter = std::thread::spawn({
        let event = Arc::clone(&event);
        move || event.wait_timeout_blocking(LIMIT * 6)
    });
    eventually_async("the thread waits", || event.waiters() == 1).await;
    tokio::spawn({
        let event = Arc::clone(&event);
        async move { event.set() }
    })
    .await
    .unwrap();
    assert!(join_thread("wait_timeout_blocking woken by set()", waiter).await);
}

// ---------------------------------------------- one object, tasks and threads

#[tokio::test]
async fn a_waiting_task_is_woken_by_a_thread() {
    let event = Arc::new(Event::new());
    let waiter = tokio::spawn({
        let event = Arc::clone(&event);
        async move { event.wait().await }
    });
    eventually_async("the task waits", || event.waiters() == 1).await;
    let setter = std::thread::spawn({
        let event = Arc::clone(&event);
        move || event.set()
    });
    join_thread("setter thread", setter).await;
    within("task woken by a thread's set()", waiter)
        .await
        .unwrap();
    assert_eq!(event.waiters(), 0);
}

#[tokio::test]
async fn a_thread_blocked_in_wait_blocking_is_woken_by_a_task() {
    let event = Arc::new(Event::new());
    let waiter = spawn_blocking_waiter(&event);
    eventually_async("the thread waits", || event.waiters() == 1).await;
    tokio::spawn({
        let event = Arc::clone(&event);
        async move { event.set() }
    })
    .await
    .unwrap();
    join_thread("thread woken by a task's set()", waiter).await;
    assert_eq!(event.waiters(), 0);
}

#[tokio::test]
async fn wait_blocking_inside_spawn_blocking_is_allowed_and_woken_by_a_task() {
    let event = Arc::new(Event::new());
    let waiter = tokio::task::spawn_blocking({
        let event = Arc::clone(&event);
        move || event.wait_blocking()
    });
    eventually_async("the spawn_blocking thread waits", || event.waiters() == 1).await;
    event.set();
    within("spawn_blocking waiter", waiter).await.unwrap();
}

#[test]
fn wait_works_on_a_non_tokio_executor() {
    let event = Arc::new(Event::new());
    let waiter = std::thread::spawn({
        let event = Arc::clone(&event);
        move || futures::executor::block_on(event.wait())
    });
    eventually("the futures-executor task waits", || event.waiters() == 1);
    event.set();
    join_within("task on futures::executor woken by set()", waiter);
}

// ------------------------------------------------ set() immediately followed by clear()

/// Starts every kind of waiter on `event`; returns the tasks and the threads.
/// Each reports whether it saw the flag set (plain waits always say `true`).
fn start_every_kind_of_waiter(
    event: &Arc<Event>,
) -> (Vec<tokio::task::JoinHandle<bool>>, Vec<JoinHandle<bool>>) {
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let event = Arc::clone(event);
        tasks.push(tokio::spawn(async move {
            event.wait().await;
            true
        }));
    }
    #[cfg(feature = "tokio")]
    for _ in 0..2 {
        let event = Arc::clone(event);
        tasks.push(tokio::spawn(
            async move { event.wait_timeout(LIMIT * 6).await },
        ));
    }
    let mut threads = Vec::new();
    for _ in 0..2 {
        let plain = Arc::clone(event);
        threads.push(std::thread::spawn(move || {
            plain.wait_blocking();
            true
        }));
        let timed = Arc::clone(event);
        threads.push(std::thread::spawn(move || {
            timed.wait_timeout_blocking(LIMIT * 6)
        }));
    }
    (tasks, threads)
}

#[tokio::test]
async fn set_then_clear_at_once_releases_every_waiting_task_and_thread() {
    let event = Arc::new(Event::new());
    let (tasks, threads) = start_every_kind_of_waiter(&event);
    let expected = tasks.len() + threads.len();
    eventually_async("all waiters registered", || event.waiters() == expected).await;

    event.set();
    event.clear();

    for (i, task) in tasks.into_iter().enumerate() {
        let saw_set = within(&format!("task waiter {i} after set+clear"), task)
            .await
            .unwrap();
        assert!(
            saw_set,
            "task waiter {i} present at set() must report the flag as set"
        );
    }
    for (i, thread) in threads.into_iter().enumerate() {
        let saw_set = join_thread(&format!("thread waiter {i} after set+clear"), thread).await;
        assert!(
            saw_set,
            "thread waiter {i} present at set() must report the flag as set"
        );
    }
    assert!(!event.is_set());
    assert_eq!(event.waiters(), 0);
}

#[test]
fn set_then_clear_releases_all_waiting_threads_over_many_rounds() {
    // Each round: the threads start waiting, the moment the last one is
    // counted by `waiters()` the flag is set and cleared, and all must
    // return. Many rounds, because a waiter that is counted before it can
    // receive the notification is lost only when set+clear hits that window.
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    let event = Arc::new(Event::new());
    let returned = Arc::new(AtomicUsize::new(0));
    // The round the threads may wait in: a released thread must not wait
    // again before `clear()`, or it would see the flag still set.
    let round_open = Arc::new(AtomicUsize::new(usize::MAX));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (event, returned) = (Arc::clone(&event), Arc::clone(&returned));
            let round_open = Arc::clone(&round_open);
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    spin_until(&format!("thread {i}: round {round} opens"), || {
                        round_open.load(Ordering::SeqCst) == round
                    });
                    if i % 2 == 0 {
                        event.wait_blocking();
                    } else {
                        assert!(event.wait_timeout_blocking(LIMIT * 6));
                    }
                    returned.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for round in 0..ROUNDS {
        round_open.store(round, Ordering::SeqCst);
        spin_until(&format!("round {round}: all threads wait"), || {
            event.waiters() == THREADS
        });
        event.set();
        event.clear();
        spin_until(
            &format!("round {round}: every waiter present at set() released"),
            || returned.load(Ordering::SeqCst) == THREADS * (round + 1),
        );
    }
    for thread in threads {
        join_within("waiter thread", thread);
    }
}

#[test]
fn a_waiter_arriving_after_set_and_clear_is_not_released() {
    let event = Arc::new(Event::new());
    event.set();
    event.clear();

    let mut late = task::spawn(event.wait());
    assert_pending!(late.poll(), "a wait after set+clear must wait");
    let started = Instant::now();
    assert!(
        !event.wait_timeout_blocking(SHORT),
        "a blocking wait after set+clear must time out"
    );
    assert!(started.elapsed() >= SHORT);
    assert_pending!(late.poll(), "still waiting");

    event.set();
    assert_ready!(late.poll(), "the next set() releases it");
}

// ------------------------------------------------------- dropped wait futures

#[tokio::test]
async fn a_dropped_pending_wait_is_no_longer_counted() {
    let event = Event::new();
    let mut waits: Vec<_> = (0..3).map(|_| task::spawn(event.wait())).collect();
    for wait in &mut waits {
        assert_pending!(wait.poll());
    }
    assert_eq!(event.waiters(), 3);
    waits.pop();
    assert_eq!(event.waiters(), 2);
    waits.clear();
    assert_eq!(event.waiters(), 0);
    // The event still works.
    event.set();
    within("wait after dropped waits", event.wait()).await;
}

#[tokio::test]
async fn a_notified_wait_dropped_before_polling_does_not_release_a_later_task() {
    let event = Event::new();
    let mut early = task::spawn(event.wait());
    assert_pending!(early.poll());
    event.set(); // notifies `early`...
    event.clear();
    let mut later = task::spawn(event.wait());
    assert_pending!(later.poll(), "arrived after set+clear");
    drop(early); // ...which is cancelled without consuming the notification
    assert_pending!(
        later.poll(),
        "the dropped waiter's notification must not release a waiter that came after clear()"
    );
    assert!(
        tokio::time::timeout(SHORT, &mut later).await.is_err(),
        "the later waiter must not be released without a new set()"
    );
    event.set();
    within("later waiter after a new set()", later).await;
}

#[test]
fn a_notified_wait_dropped_before_polling_does_not_release_a_later_thread() {
    let event = Arc::new(Event::new());
    let mut early = task::spawn(event.wait());
    assert_pending!(early.poll());
    event.set();
    event.clear();
    let later = std::thread::spawn({
        let event = Arc::clone(&event);
        move || event.wait_timeout_blocking(SHORT * 3)
    });
    // `set()` counted the early waiter out: only the later thread waits.
    eventually("the later thread waits", || event.waiters() == 1);
    drop(early);
    assert!(
        !join_within("later thread", later),
        "the dropped waiter's notification must not release a thread that came after clear()"
    );
}

// ------------------------------------------------------------ the waiter list

#[test]
fn a_wait_polled_again_with_a_new_waker_is_woken_through_the_new_one() {
    let event = Event::new();
    // Two counting wakers, not a mock task (whose every poll passes the same
    // waker): the wait is polled with one waker, then with another.
    let (first_waker, first) = new_count_waker();
    let (second_waker, second) = new_count_waker();
    let mut first_cx = Context::from_waker(&first_waker);
    let mut second_cx = Context::from_waker(&second_waker);
    let mut wait = Box::pin(event.wait());
    assert_pending!(wait.poll_unpin(&mut first_cx));
    assert_pending!(wait.poll_unpin(&mut second_cx));
    assert_eq!(event.waiters(), 1, "a second poll must not add a waiter");
    event.set();
    assert_eq!(second.get(), 1, "the latest waker is woken");
    assert_eq!(first.get(), 0, "the replaced waker is not");
    assert_ready!(wait.poll_unpin(&mut second_cx));
}

#[test]
fn waits_of_one_task_and_of_others_are_all_woken() {
    let event = Event::new();
    // One counting waker per task, each shared by several futures (a mock
    // task of tokio-test polls a single future).
    let (waker_a, task_a) = new_count_waker();
    let (waker_b, task_b) = new_count_waker();
    // Interleaved, as a task polling several futures next to another task's.
    let wakers = [&waker_a, &waker_b, &waker_a, &waker_a, &waker_b, &waker_a];
    let mut waits: Vec<_> = wakers.iter().map(|_| Box::pin(event.wait())).collect();
    for (wait, waker) in waits.iter_mut().zip(wakers) {
        assert_pending!(wait.poll_unpin(&mut Context::from_waker(waker)));
    }
    event.set();
    assert!(task_a.get() >= 1, "task a was not woken");
    assert!(task_b.get() >= 1, "task b was not woken");
    assert_eq!(event.waiters(), 0);
    for (wait, waker) in waits.iter_mut().zip(wakers) {
        assert_ready!(
            wait.poll_unpin(&mut Context::from_waker(waker)),
            "a woken wait is not ready"
        );
    }
}

#[test]
fn slots_of_dropped_waits_are_reused_and_set_wakes_exactly_the_rest() {
    let event = Event::new();
    // One counting waker shared by all the waits, as one task's.
    let (waker, counter) = new_count_waker();
    let mut cx = Context::from_waker(&waker);
    for round in 0..3 {
        let mut waits: Vec<_> = (0..10).map(|_| Some(Box::pin(event.wait()))).collect();
        for wait in waits.iter_mut().flatten() {
            assert_pending!(wait.poll_unpin(&mut cx));
        }
        // Every other wait leaves; new ones take the freed slots.
        for wait in waits.iter_mut().step_by(2) {
            *wait = None;
        }
        assert_eq!(event.waiters(), 5, "round {round}");
        let mut late: Vec<_> = (0..7).map(|_| Box::pin(event.wait())).collect();
        for wait in &mut late {
            assert_pending!(wait.poll_unpin(&mut cx));
        }
        assert_eq!(event.waiters(), 12, "round {round}");
        event.set();
        assert_eq!(
            event.waiters(),
            0,
            "round {round}: set() counts everybody out"
        );
        for wait in waits.iter_mut().flatten().chain(late.iter_mut()) {
            assert_ready!(wait.poll_unpin(&mut cx), "round {round}");
        }
        event.clear();
    }
    assert!(counter.get() >= 3);
}

#[test]
fn threads_that_time_out_leave_nothing_counted() {
    let event = Arc::new(Event::new());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let event = Arc::clone(&event);
            std::thread::spawn(move || event.wait_timeout_blocking(SHORT))
        })
        .collect();
    for thread in threads {
        assert!(!join_within("timed-out waiter", thread));
    }
    assert_eq!(event.waiters(), 0);
    // A thread waiting after them is still woken.
    let waiter = spawn_blocking_waiter(&event);
    eventually("the new thread waits", || event.waiters() == 1);
    event.set();
    join_within("waiter after timeouts", waiter);
}

#[test]
fn waiters_leaving_and_sets_racing_lose_no_wake_up() {
    // Threads wait with short timeouts while the main thread sets and clears:
    // whatever the interleaving, the count ends at zero and a final set()
    // releases every waiter still in the list.
    let event = Arc::new(Event::new());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (event, stop) = (Arc::clone(&event), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut rounds = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    let timeout = Duration::from_micros(50 * (1 + (i + rounds as u64) % 4));
                    event.wait_timeout_blocking(timeout);
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(300) {
        event.set();
        event.clear();
        std::thread::yield_now();
    }
    stop.store(true, Ordering::SeqCst);
    event.set();
    for thread in threads {
        assert!(join_within("racing waiter", thread) > 0);
    }
    assert_eq!(event.waiters(), 0);
}

// ------------------------------------------------------ blocking inside a runtime

#[cfg(feature = "tokio")]
#[tokio::test]
#[should_panic(expected = "wait_blocking")]
async fn wait_blocking_inside_a_runtime_panics_naming_the_method() {
    let event = Arc::new(Event::new());
    let _watchdog = watchdog({
        let event = Arc::clone(&event);
        move || event.set()
    });
    event.wait_blocking();
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[should_panic(expected = "wait_timeout_blocking")]
async fn wait_timeout_blocking_inside_a_runtime_panics_naming_the_method() {
    let event = Event::new();
    // If it does not panic it returns false after 10 ms: the test then fails.
    event.wait_timeout_blocking(Duration::from_millis(10));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn wait_blocking_inside_a_spawned_task_panics_naming_the_async_form() {
    let event = Arc::new(Event::new());
    let _watchdog = watchdog({
        let event = Arc::clone(&event);
        move || event.set()
    });
    let task = tokio::spawn({
        let event = Arc::clone(&event);
        async move { event.wait_blocking() }
    });
    let error = within("task calling wait_blocking", task)
        .await
        .expect_err("wait_blocking inside a task must panic, not block");
    let message = panic_message(error.into_panic());
    assert!(message.contains("wait_blocking"), "message: {message}");
    assert!(message.contains("wait("), "names the async form: {message}");
}

// ------------------------------------------------------------ traits and Debug

#[test]
fn event_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Event>();
    let event = Event::new();
    send(&event.wait());
    #[cfg(feature = "tokio")]
    send(&event.wait_timeout(SHORT));
}

#[test]
fn debug_shows_the_flag_and_the_waiters() {
    let event = Arc::new(Event::new());
    let clear = format!("{event:?}");
    assert!(clear.contains("false"), "{clear}");
    let waiter = spawn_blocking_waiter(&event);
    eventually("the thread waits", || event.waiters() == 1);
    let waiting = format!("{event:?}");
    assert!(waiting.contains("waiters: 1"), "{waiting}");
    event.set();
    join_within("waiter", waiter);
    let set = format!("{event:?}");
    assert!(set.contains("true"), "{set}");
}
