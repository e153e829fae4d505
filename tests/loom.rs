//! loom model tests of `Event`'s wake-all protocol (the state word, the
//! generation counter and the waiter list) and of the semaphores' FIFO
//! hand-off (the state word, the grant counter and the queue): the
//! interleavings of a few threads are explored (CI bounds them to 3 forced
//! thread switches each), so a lost wake-up, a lost or made-up permit, or a
//! miscounted waiter shows up as a deadlock or a failed assertion.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg ambisync_loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test --release --no-default-features --test loom
//! ```
#![cfg(ambisync_loom)]

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use ambisync::{Event, Semaphore};
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

// ================================================================= Semaphore

// Owned permits need std's `Arc` (loom's only adds leak tracking).
use std::sync::Arc as StdArc;

/// `loom::model` with at most `preemptions` forced thread switches per
/// execution: models with three threads and two locks are too large to
/// explore in full, and bugs needing more preemptions than that are rare
/// (loom's own advice).
fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(f);
}

/// Polls `sem.acquire()` once with a no-op waker and drops it: a waiter that
/// queues up (if no permit is free) and then gives up.
fn acquire_and_cancel(sem: &Semaphore) {
    let mut acquire = Box::pin(sem.acquire());
    let waker = futures::task::noop_waker();
    let _ = acquire
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&waker));
    drop(acquire);
}

/// Runs `f` on the semaphore in a new thread.
fn on_thread(
    sem: &StdArc<Semaphore>,
    f: impl FnOnce(&Semaphore) + Send + 'static,
) -> thread::JoinHandle<()> {
    let sem = StdArc::clone(sem);
    thread::spawn(move || f(&sem))
}

/// A thread that takes a permit with `acquire_blocking` and keeps it.
fn keeping_thread(sem: &StdArc<Semaphore>) -> thread::JoinHandle<()> {
    on_thread(sem, |sem| sem.acquire_blocking().forget())
}

/// A thread running a task that takes a permit with `acquire()` and keeps it.
fn keeping_task(sem: &StdArc<Semaphore>) -> thread::JoinHandle<()> {
    on_thread(sem, |sem| loom::future::block_on(sem.acquire()).forget())
}

/// Joins the threads, then checks that `available` permits are free and
/// nobody is left queued.
fn join_and_check(sem: &Semaphore, threads: Vec<thread::JoinHandle<()>>, available: usize) {
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(sem.available_permits(), available);
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn a_release_reaches_a_thread_queueing_up_at_the_same_time() {
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(0));
        let waiter = keeping_thread(&sem);
        sem.release();
        join_and_check(&sem, vec![waiter], 0);
    });
}

#[test]
fn a_permit_drop_reaches_a_task_queueing_up_at_the_same_time() {
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned().unwrap();
        let waiter = keeping_task(&sem);
        drop(held);
        join_and_check(&sem, vec![waiter], 0);
    });
}

#[test]
fn two_releases_reach_two_waiters_queueing_up_at_the_same_time() {
    model_bounded(3, || {
        let sem = StdArc::new(Semaphore::new(0));
        let waiters = vec![keeping_thread(&sem), keeping_task(&sem)];
        sem.release();
        sem.release();
        join_and_check(&sem, waiters, 0);
    });
}

#[test]
fn a_waiter_cancelled_as_the_permit_is_handed_to_it_loses_nothing() {
    // The cancelled waiter either leaves the line before the grant (the
    // permit goes back to the count) or is granted first (its drop gives the
    // permit back): either way the permit ends up free.
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned().unwrap();
        let leaver = on_thread(&sem, acquire_and_cancel);
        drop(held);
        join_and_check(&sem, vec![leaver], 1);
    });
}

#[test]
fn a_permit_granted_to_a_cancelled_waiter_moves_on_to_the_next() {
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned().unwrap();
        let leaver = on_thread(&sem, acquire_and_cancel);
        let patient = keeping_thread(&sem);
        drop(held);
        // 0 free: the patient waiter kept it.
        join_and_check(&sem, vec![leaver, patient], 0);
    });
}

// ==================================================================== RwLock
// (issue 12) The state word (readers, writer, waiting writers, upgrading),
// the readers' and writers' lines and the upgrade line: a reader or writer
// joining a line while the holder leaves is woken or sees the lock free; a
// writer woken and dropped lets in the readers it held back.

use ambisync::{RwLock, RwLockUpgradableReadGuard};

/// Runs `f` on the lock in a new thread.
fn on_rwlock_thread(
    lock: &StdArc<RwLock<u32>>,
    f: impl FnOnce(&RwLock<u32>) + Send + 'static,
) -> thread::JoinHandle<()> {
    let lock = StdArc::clone(lock);
    thread::spawn(move || f(&lock))
}

/// Polls `future` once with a no-op waker and drops it: a waiter that
/// counts itself in or joins a line, may be woken, and gives up.
fn poll_once_then_drop(future: impl Future) {
    let mut future = Box::pin(future);
    let waker = futures::task::noop_waker();
    let _ = future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&waker));
}

/// Joins the threads, then checks the lock is free, holds `value`, and
/// nobody is left waiting.
fn join_and_check_rwlock(lock: &RwLock<u32>, threads: Vec<thread::JoinHandle<()>>, value: u32) {
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(!lock.is_locked());
    assert_eq!(lock.waiters(), 0);
    assert_eq!(*lock.try_write().expect("free at the end"), value);
}

#[test]
fn rwlock_a_reader_and_a_writer_racing_both_finish() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let writer = on_rwlock_thread(&lock, |lock| *lock.write_blocking() += 1);
        assert!(*lock.read_blocking() <= 1);
        join_and_check_rwlock(&lock, vec![writer], 1);
    });
}

#[test]
fn rwlock_the_last_reader_leaving_reaches_a_writer_counting_in() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let reader = lock.try_read_owned().unwrap();
        let writer = on_rwlock_thread(&lock, |lock| *lock.write_blocking() += 1);
        drop(reader);
        join_and_check_rwlock(&lock, vec![writer], 1);
    });
}

#[test]
fn rwlock_a_writer_leaving_reaches_a_reader_task_joining_the_line() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let writer = lock.try_write_owned().unwrap();
        let reader = on_rwlock_thread(&lock, |lock| {
            assert_eq!(*loom::future::block_on(lock.read()), 0);
        });
        drop(writer);
        join_and_check_rwlock(&lock, vec![reader], 0);
    });
}

#[test]
fn rwlock_a_woken_writer_dropped_lets_the_held_back_reader_in() {
    // The writer is counted (holding readers back), may be woken by the
    // reader leaving, and is dropped without looking again: the late reader
    // must get in either way.
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let reader = lock.try_read_owned().unwrap();
        let leaver = on_rwlock_thread(&lock, |lock| poll_once_then_drop(lock.write()));
        let late = on_rwlock_thread(&lock, |lock| drop(lock.read_blocking()));
        drop(reader);
        join_and_check_rwlock(&lock, vec![leaver, late], 0);
    });
}

#[test]
fn rwlock_an_upgrade_is_reached_by_the_last_other_reader_leaving() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let reader = lock.try_read_owned().unwrap();
        let upgrader = on_rwlock_thread(&lock, |lock| {
            let guard = lock.upgradable_read_blocking();
            *RwLockUpgradableReadGuard::upgrade_blocking(guard) += 1;
        });
        drop(reader);
        join_and_check_rwlock(&lock, vec![upgrader], 1);
    });
}

#[test]
fn rwlock_a_woken_writer_dropped_passes_the_turn_to_the_next_writer() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let writer = lock.try_write_owned().unwrap();
        let leaver = on_rwlock_thread(&lock, |lock| poll_once_then_drop(lock.write()));
        let patient = on_rwlock_thread(&lock, |lock| *lock.write_blocking() += 1);
        drop(writer);
        join_and_check_rwlock(&lock, vec![leaver, patient], 1);
    });
}

#[test]
fn rwlock_a_reader_held_back_by_an_upgrade_enters_after_the_upgraded_writer() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let reader = lock.try_read_owned().unwrap();
        let upgrader = on_rwlock_thread(&lock, |lock| {
            let guard = lock.upgradable_read_blocking();
            *RwLockUpgradableReadGuard::upgrade_blocking(guard) += 1;
        });
        let late = on_rwlock_thread(&lock, |lock| assert!(*lock.read_blocking() <= 1));
        drop(reader);
        join_and_check_rwlock(&lock, vec![upgrader, late], 1);
    });
}
