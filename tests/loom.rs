//! loom model tests of `Event`'s wake-all protocol (the state word, the
//! generation counter and the waiter list): every interleaving of a few
//! threads is explored, so a lost wake-up or a miscounted waiter shows up as a
//! deadlock or a failed assertion.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg ambisync_loom" cargo test --release --no-default-features --test loom
//! ```
#![cfg(ambisync_loom)]

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use ambisync::Event;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// Polls `event.wait()` once and raises `listed` if it is waiting, then
/// waits it out.
async fn wait_and_report(event: &Event, listed: &AtomicBool) {
    let mut wait = pin!(event.wait());
    let mut first = true;
    poll_fn(|cx| {
        let poll = wait.as_mut().poll(cx);
        if std::mem::take(&mut first) && poll.is_pending() {
            listed.store(true, Ordering::SeqCst);
        }
        poll
    })
    .await
}

/// A thread that waits with `wait_blocking`.
fn blocked_thread(event: &Arc<Event>) -> thread::JoinHandle<()> {
    let event = Arc::clone(event);
    thread::spawn(move || event.wait_blocking())
}

/// A thread that runs a task awaiting `wait()`.
fn waiting_task(event: &Arc<Event>) -> thread::JoinHandle<()> {
    let event = Arc::clone(event);
    thread::spawn(move || loom::future::block_on(event.wait()))
}

/// Sets the event, joins the waiters, and checks nobody is counted any more.
fn set_and_join(event: &Event, waiters: Vec<thread::JoinHandle<()>>) {
    event.set();
    for waiter in waiters {
        waiter.join().unwrap();
    }
    assert_eq!(event.waiters(), 0);
}

#[test]
fn set_releases_a_blocked_thread() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        set_and_join(&event, vec![blocked_thread(&event)]);
    });
}

#[test]
fn set_releases_a_waiting_task() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        set_and_join(&event, vec![waiting_task(&event)]);
    });
}

#[test]
fn set_releases_a_thread_and_a_task_entering_together() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiters = vec![blocked_thread(&event), waiting_task(&event)];
        set_and_join(&event, waiters);
    });
}

#[test]
fn set_then_clear_releases_a_listed_waiter() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let listed = Arc::new(AtomicBool::new(false));
        let waiter = thread::spawn({
            let (event, listed) = (Arc::clone(&event), Arc::clone(&listed));
            move || loom::future::block_on(wait_and_report(&event, &listed))
        });
        while !listed.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        event.set();
        event.clear();
        waiter.join().unwrap();
        assert!(!event.is_set());
        assert_eq!(event.waiters(), 0);
    });
}

#[test]
fn set_then_clear_releases_a_counted_thread_not_yet_listed() {
    // `waiters()` counts a waiter before it is in the list: a `set()` that
    // sees the count must release it even if `clear()` follows before the
    // waiter takes the list's lock (the generation check).
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiter = blocked_thread(&event);
        while event.waiters() == 0 {
            thread::yield_now();
        }
        event.set();
        event.clear();
        waiter.join().unwrap();
        assert_eq!(event.waiters(), 0);
    });
}

#[test]
fn a_wait_dropped_while_set_runs_leaves_a_consistent_list() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let leaver = thread::spawn({
            let event = Arc::clone(&event);
            move || {
                let mut wait = Box::pin(event.wait());
                let waker = futures::task::noop_waker();
                let _ = wait
                    .as_mut()
                    .poll(&mut std::task::Context::from_waker(&waker));
                drop(wait);
            }
        });
        event.set();
        leaver.join().unwrap();
        assert_eq!(event.waiters(), 0);
        // The list still works: a new waiter is listed, then released.
        event.clear();
        let mut wait = Box::pin(event.wait());
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(event.waiters(), 1);
        event.set();
        assert_eq!(event.waiters(), 0);
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(()));
    });
}
