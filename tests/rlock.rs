//! Integration tests of `RLock`: re-entry by the owning thread and (feature
//! `tokio`) the owning task, other tasks and threads waiting until every level
//! is released, owner-only `release`, `recursion_count` and `is_owned` seen by
//! owner and others, shared ownership of `join!` branches, every acquiring
//! form, tasks and threads waking each other, no poisoning, `Debug`, cancel
//! safety, and the panic of a `_blocking` call that would stall a runtime.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ambisync::{RLock, RLockGuard, ReleaseError};
#[cfg(feature = "tokio")]
use common::panic_message;
use common::{LIMIT, eventually, eventually_async, join_thread, join_within, within};
use tokio_test::{assert_pending, assert_ready, task};

/// A short timeout for the cases where expiring is the point.
const SHORT: Duration = Duration::from_millis(50);

/// Takes `lock` in a plain thread (two levels) and keeps it until the returned
/// sender is dropped, at the latest after [`LIMIT`].
fn hold_in_thread<T: Send + Sync + 'static>(lock: &Arc<RLock<T>>) -> mpsc::Sender<()> {
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let lock = Arc::clone(lock);
    std::thread::spawn(move || {
        let outer = lock.lock_blocking();
        let inner = lock.lock_blocking();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(LIMIT);
        drop(inner);
        drop(outer);
    });
    held_rx
        .recv_timeout(LIMIT)
        .expect("holder thread: could not take the lock");
    release_tx
}

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_and_futures_are_send_and_sync() {
    assert_send_sync::<RLock<Vec<u8>>>();
    assert_send_sync::<RLockGuard<'static, Vec<u8>>>();

    let lock = RLock::new(());
    assert_send(&lock.lock());
    assert_send(&lock.acquire());
    #[cfg(feature = "tokio")]
    {
        assert_send(&lock.lock_timeout(SHORT));
        assert_send(&lock.acquire_timeout(SHORT));
    }
}

#[test]
fn new_default_and_from_create_an_unlocked_lock() {
    let lock = RLock::new(1);
    assert!(!lock.is_locked());
    assert!(!lock.is_owned());
    assert_eq!(lock.recursion_count(), 0);
    assert_eq!(lock.waiters(), 0);
    assert_eq!(RLock::<u8>::default().into_inner(), 0);
    assert_eq!(RLock::from("x").into_inner(), "x");
}

#[test]
fn the_owning_thread_reenters_and_must_unlock_every_level() {
    let lock = RLock::new(vec![1, 2]);
    let first = lock.lock_blocking();
    let second = lock
        .try_lock()
        .expect("the owner re-enters without waiting");
    let third = lock
        .lock_timeout_blocking(SHORT)
        .expect("the owner re-enters without waiting");
    assert_eq!(lock.recursion_count(), 3);
    assert!(lock.is_owned());
    assert_eq!(third.len(), 2, "guards give shared access to the value");
    assert!(std::ptr::eq(first.rlock(), &lock));

    drop(third);
    drop(first); // levels may be given back in any order
    assert_eq!(lock.recursion_count(), 1);
    assert!(lock.is_locked());
    drop(second);
    assert_eq!(lock.recursion_count(), 0);
    assert!(!lock.is_locked());
    assert!(!lock.is_owned());
}

#[tokio::test]
async fn async_lock_reenters_in_the_same_caller() {
    let lock = RLock::new(());
    let outer = within("lock", lock.lock()).await;
    let inner = within("lock again", lock.lock()).await;
    assert_eq!(lock.recursion_count(), 2);
    drop(inner);
    drop(outer);
    assert!(!lock.is_locked());
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owning_task_reenters_across_awaits_on_any_worker_thread() {
    let lock = Arc::new(RLock::new(()));
    let task = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move {
            let outer = lock.lock().await;
            let mut levels = vec![outer];
            for _ in 0..20 {
                // The task may resume on another worker: it is still the owner.
                tokio::task::yield_now().await;
                assert!(lock.is_owned());
                levels.push(lock.try_lock().expect("the owning task re-enters"));
                levels.push(lock.lock().await);
            }
            assert_eq!(lock.recursion_count(), 41);
            levels.truncate(1);
            assert_eq!(lock.recursion_count(), 1);
        })
    };
    within("re-entering task", task).await.unwrap();
    assert!(!lock.is_locked());
}

#[test]
fn other_threads_wait_until_every_level_is_released() {
    let lock = Arc::new(RLock::new(()));
    let outer = lock.lock_blocking();
    let inner = lock.lock_blocking();
    let waiter = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let _guard = lock.lock_blocking();
            assert_eq!(lock.recursion_count(), 1, "a new owner starts at one level");
        })
    };
    eventually("the other thread waits", || lock.waiters() == 1);

    drop(inner);
    assert!(lock.is_locked(), "one level is still held");
    std::thread::scope(|s| {
        s.spawn(|| assert!(lock.try_lock().is_none(), "still owned by the main thread"));
    });
    assert_eq!(lock.waiters(), 1, "the waiter is still waiting");

    drop(outer);
    join_within("waiter after the last level", waiter);
    assert!(!lock.is_locked());
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn other_tasks_wait_until_every_level_is_released() {
    let lock = Arc::new(RLock::new(()));
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let (release_one_tx, release_one_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_all_tx, release_all_rx) = tokio::sync::oneshot::channel::<()>();
    let owner = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move {
            let outer = lock.lock().await;
            let inner = lock.lock().await;
            held_tx.send(()).unwrap();
            release_one_rx.await.unwrap();
            drop(inner);
            release_all_rx.await.unwrap();
            drop(outer);
        })
    };
    within("owner locked twice", held_rx).await.unwrap();
    let other = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move {
            assert!(lock.try_lock().is_none(), "another task cannot enter");
            let _guard = lock.lock().await;
            assert_eq!(lock.recursion_count(), 1);
        })
    };
    eventually_async("the other task waits", || lock.waiters() == 1).await;

    release_one_tx.send(()).unwrap();
    eventually_async("the owner released one level", || {
        // The owner is a task; from here the test body sees the count only
        // through Debug.
        format!("{lock:?}").contains("count: 1")
    })
    .await;
    assert_eq!(
        lock.waiters(),
        1,
        "one level left: the other task still waits"
    );
    assert!(!other.is_finished());

    release_all_tx.send(()).unwrap();
    within("owner", owner).await.unwrap();
    within("other task after the last level", other)
        .await
        .unwrap();
    assert!(!lock.is_locked());
}

#[test]
fn release_by_anyone_but_the_owner_is_an_error_and_changes_nothing() {
    let lock = Arc::new(RLock::new(()));
    let err = lock.release().unwrap_err();
    assert_eq!(err, ReleaseError::NotOwner, "releasing a free RLock");
    assert_eq!(err.to_string(), "cannot release un-acquired lock");

    lock.acquire_blocking();
    lock.acquire_blocking();
    let other = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || lock.release())
    };
    assert_eq!(
        join_within("release from another thread", other),
        Err(ReleaseError::NotOwner)
    );
    assert_eq!(
        lock.recursion_count(),
        2,
        "a refused release changes nothing"
    );

    assert_eq!(lock.release(), Ok(()));
    assert_eq!(lock.release(), Ok(()));
    assert!(!lock.is_locked());
    assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
}

#[test]
fn is_owned_and_recursion_count_answer_for_the_caller() {
    let lock = Arc::new(RLock::new(()));
    let _a = lock.lock_blocking();
    let _b = lock.lock_blocking();
    assert!(lock.is_owned());
    assert_eq!(lock.recursion_count(), 2);
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(lock.is_locked());
            assert!(!lock.is_owned(), "another thread does not own it");
            assert_eq!(lock.recursion_count(), 0, "0 for a non-owner");
        });
    });
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn is_owned_tells_tasks_apart() {
    let lock = Arc::new(RLock::new(()));
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let owner = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move {
            let _guard = lock.lock().await;
            assert!(lock.is_owned());
            held_tx.send(()).unwrap();
            done_rx.await.unwrap();
        })
    };
    within("owner task locked", held_rx).await.unwrap();
    let other = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move { (lock.is_owned(), lock.recursion_count()) })
    };
    assert_eq!(within("other task", other).await.unwrap(), (false, 0));
    // The test body runs outside any task: it is a thread, not the owner.
    assert!(!lock.is_owned());
    // A spawn_blocking closure is a task of its own.
    let blocking = {
        let lock = Arc::clone(&lock);
        tokio::task::spawn_blocking(move || (lock.is_owned(), lock.try_lock().is_some()))
    };
    assert_eq!(
        within("spawn_blocking", blocking).await.unwrap(),
        (false, false)
    );
    done_tx.send(()).unwrap();
    within("owner", owner).await.unwrap();
}

/// Documents a consequence of task identity: the branches of one task's
/// `join!` are the same owner, so a branch enters a lock that a sibling
/// branch holds, without waiting.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn branches_of_one_task_in_join_share_ownership() {
    let lock = Arc::new(RLock::new(()));
    let task = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move {
            let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            let holder = async {
                let _guard = lock.lock().await;
                held_tx.send(()).unwrap();
                done_rx.await.unwrap(); // holds the lock across this await
            };
            let sibling = async {
                held_rx.await.unwrap();
                assert!(lock.is_owned(), "the sibling branch is the owner too");
                let _guard = lock
                    .try_lock()
                    .expect("a sibling branch enters without waiting");
                assert_eq!(lock.recursion_count(), 2);
                done_tx.send(()).unwrap();
            };
            tokio::join!(holder, sibling);
        })
    };
    within("join! branches", task).await.unwrap();
    assert!(!lock.is_locked());
}

/// Without the `tokio` feature the owner is always the OS thread, so futures
/// polled on one thread share ownership, even those of different tasks.
#[cfg(not(feature = "tokio"))]
#[test]
fn without_the_tokio_feature_the_owner_is_the_thread() {
    let lock = RLock::new(());
    futures::executor::block_on(async {
        let _outer = lock.lock().await;
        let _inner = lock.lock_blocking(); // same thread: re-entry, no wait
        assert_eq!(lock.recursion_count(), 2);
    });
    assert!(!lock.is_locked());

    // Two tasks of one single-threaded executor: the second enters the lock
    // the first holds.
    use futures::task::LocalSpawnExt;
    let lock = std::rc::Rc::new(lock);
    let (held_tx, held_rx) = futures::channel::oneshot::channel::<()>();
    let (done_tx, done_rx) = futures::channel::oneshot::channel::<bool>();
    let mut pool = futures::executor::LocalPool::new();
    let first = std::rc::Rc::clone(&lock);
    pool.spawner()
        .spawn_local(async move {
            let _guard = first.lock().await;
            held_tx.send(()).unwrap();
            let _ = done_rx.await;
        })
        .unwrap();
    let second = std::rc::Rc::clone(&lock);
    let entered = pool.run_until(async move {
        held_rx.await.unwrap();
        let entered = second.try_lock().is_some();
        done_tx.send(entered).unwrap();
        entered
    });
    pool.run();
    assert!(entered, "one thread is one owner without task identity");
    assert!(!lock.is_locked());
}

/// The owner is the caller at the moment the lock is taken: a lock future
/// that started waiting on one thread and completes on another (as a task of a
/// multi-threaded executor may, without task identity) belongs to the thread
/// that completed it, which can then re-enter.
#[test]
fn a_lock_future_completed_on_another_thread_belongs_to_that_thread() {
    let lock = Arc::new(RLock::new(()));
    let held = hold_in_thread(&lock);
    let mut waiting = task::spawn(lock.lock());
    std::thread::scope(|s| {
        s.spawn(|| assert_pending!(waiting.poll(), "the lock is held"));
    });
    drop(held);
    eventually("the holder released", || !lock.is_locked());
    let guard = assert_ready!(waiting.poll(), "the lock is free");
    assert!(lock.is_owned(), "the thread that took the lock owns it");
    assert_eq!(lock.recursion_count(), 1);
    let again = lock
        .try_lock()
        .expect("the owner re-enters without waiting");
    drop((again, guard));
    assert!(!lock.is_locked());
}

#[tokio::test]
async fn raw_acquire_and_release_count_levels() {
    let lock = RLock::new(());
    within("acquire", lock.acquire()).await;
    assert!(lock.try_acquire());
    #[cfg(feature = "tokio")]
    assert!(lock.acquire_timeout(SHORT).await);
    let levels = if cfg!(feature = "tokio") { 3 } else { 2 };
    assert_eq!(lock.recursion_count(), levels);
    for _ in 0..levels {
        assert!(lock.is_locked());
        assert_eq!(lock.release(), Ok(()));
    }
    assert!(!lock.is_locked());
    assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
}

#[test]
fn raw_blocking_acquire_forms_count_levels() {
    let lock = RLock::new(());
    lock.acquire_blocking();
    lock.acquire_blocking(); // re-entry never waits
    assert!(lock.acquire_timeout_blocking(SHORT));
    assert!(lock.try_acquire());
    assert_eq!(lock.recursion_count(), 4);
    for _ in 0..4 {
        assert_eq!(lock.release(), Ok(()));
    }
    assert!(!lock.is_locked());
    assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
}

#[test]
fn acquiring_forms_fail_or_time_out_while_another_thread_owns_it() {
    let lock = Arc::new(RLock::new(()));
    let _held = hold_in_thread(&lock);
    assert!(lock.try_lock().is_none());
    assert!(!lock.try_acquire());
    let start = Instant::now();
    assert!(lock.lock_timeout_blocking(SHORT).is_none());
    assert!(
        start.elapsed() >= SHORT,
        "gave up early: {:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert!(!lock.acquire_timeout_blocking(SHORT));
    assert!(
        start.elapsed() >= SHORT,
        "gave up early: {:?}",
        start.elapsed()
    );
    assert_eq!(lock.waiters(), 0, "timed-out waiters are no longer counted");
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn async_timeouts_give_up_while_another_thread_owns_it() {
    let lock = Arc::new(RLock::new(()));
    let held = hold_in_thread(&lock);
    let start = Instant::now();
    assert!(
        within("lock_timeout", lock.lock_timeout(SHORT))
            .await
            .is_none()
    );
    assert!(
        start.elapsed() >= SHORT,
        "gave up early: {:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert!(!within("acquire_timeout", lock.acquire_timeout(SHORT)).await);
    assert!(
        start.elapsed() >= SHORT,
        "gave up early: {:?}",
        start.elapsed()
    );

    let waiter = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move { lock.lock_timeout(LIMIT).await.is_some() })
    };
    eventually_async("the task waits", || lock.waiters() == 1).await;
    drop(held);
    assert!(within("lock_timeout after release", waiter).await.unwrap());
}

#[test]
fn get_mut_and_into_inner_need_no_locking() {
    let mut lock = RLock::new(String::from("a"));
    lock.get_mut().push('b');
    assert_eq!(&*lock.lock_blocking(), "ab");
    assert_eq!(lock.into_inner(), "ab");
}

#[test]
fn debug_shows_owner_count_and_waiters() {
    let lock = Arc::new(RLock::new(5));
    let free = format!("{lock:?}");
    assert!(free.contains("nobody"), "{free}");
    assert!(free.contains("count: 0"), "{free}");

    let outer = lock.lock_blocking();
    let inner = lock.lock_blocking();
    let waiter = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || drop(lock.lock_blocking()))
    };
    eventually("a thread waits", || lock.waiters() == 1);
    let held = format!("{lock:?}");
    assert!(held.contains("thread"), "the owner is a thread: {held}");
    assert!(held.contains("count: 2"), "{held}");
    assert!(held.contains("waiters: 1"), "{held}");
    assert!(held.contains('5'), "{held}");
    drop((outer, inner));
    join_within("waiter", waiter);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn debug_shows_an_owning_task() {
    let lock = Arc::new(RLock::new(()));
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let owner = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move {
            let _guard = lock.lock().await;
            held_tx.send(()).unwrap();
            done_rx.await.unwrap();
        })
    };
    within("owner locked", held_rx).await.unwrap();
    let shown = format!("{lock:?}");
    assert!(shown.contains("task"), "the owner is a task: {shown}");
    done_tx.send(()).unwrap();
    within("owner", owner).await.unwrap();
}

#[tokio::test]
async fn a_thread_in_lock_blocking_is_woken_by_a_task_unlocking() {
    let lock = Arc::new(RLock::new(AtomicU64::new(0)));
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move {
            let outer = lock.lock().await;
            let inner = lock.lock().await;
            held_tx.send(()).unwrap();
            release_rx.await.unwrap();
            inner.store(42, Ordering::SeqCst);
            drop(inner);
            drop(outer);
        })
    };
    within("task locked", held_rx).await.unwrap();
    let thread = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || lock.lock_blocking().load(Ordering::SeqCst))
    };
    eventually_async("the thread waits", || lock.waiters() == 1).await;
    release_tx.send(()).unwrap();
    within("task", task).await.unwrap();
    assert_eq!(join_thread("thread woken by a task", thread).await, 42);
}

#[tokio::test]
async fn a_task_is_woken_by_a_thread_unlocking() {
    let lock = Arc::new(RLock::new(AtomicU64::new(0)));
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let thread = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let outer = lock.lock_blocking();
            let inner = lock.lock_blocking();
            held_tx.send(()).unwrap();
            eventually("the task waits", || lock.waiters() == 1);
            inner.store(42, Ordering::SeqCst);
            drop(inner);
            drop(outer);
        })
    };
    within("thread locked", held_rx).await.unwrap();
    let task = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move { lock.lock().await.load(Ordering::SeqCst) })
    };
    assert_eq!(within("task woken by a thread", task).await.unwrap(), 42);
    join_thread("thread", thread).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_and_threads_exclude_each_other_under_load() {
    // Without the `tokio` feature the owner is the OS thread, so tasks that
    // share a worker thread are one owner and do not exclude each other
    // (see `without_the_tokio_feature_the_owner_is_the_thread`): one task then.
    const TASKS: u64 = if cfg!(feature = "tokio") { 4 } else { 1 };
    const THREADS: u64 = 3;
    const ROUNDS: u64 = 200;
    let lock = Arc::new(RLock::new(AtomicU64::new(0)));
    let inside = Arc::new(AtomicBool::new(false));

    // A non-atomic increment (load, then store) under two levels of the lock:
    // any overlap of two owners loses updates or trips `inside`.
    fn increment(outer: &RLockGuard<'_, AtomicU64>, inner: &RLockGuard<'_, AtomicU64>) {
        let seen = outer.load(Ordering::Relaxed);
        inner.store(seen + 1, Ordering::Relaxed);
    }

    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let outer = lock.lock_blocking();
                    let inner = lock.lock_blocking();
                    assert!(!inside.swap(true, Ordering::SeqCst), "two owners");
                    std::thread::yield_now();
                    increment(&outer, &inner);
                    inside.store(false, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let outer = lock.lock().await;
                    let inner = lock.lock().await;
                    assert!(!inside.swap(true, Ordering::SeqCst), "two owners");
                    tokio::task::yield_now().await;
                    increment(&outer, &inner);
                    inside.store(false, Ordering::SeqCst);
                }
            })
        })
        .collect();

    for task in tasks {
        within("task", task).await.unwrap();
    }
    for thread in threads {
        join_thread("thread", thread).await;
    }
    assert_eq!(
        lock.lock().await.load(Ordering::SeqCst),
        (TASKS + THREADS) * ROUNDS
    );
    assert!(!lock.is_locked());
}

#[test]
fn no_poisoning_after_a_thread_panics_holding_levels() {
    let lock = Arc::new(RLock::new(7));
    let panicker = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let _outer = lock.lock_blocking();
            let _inner = lock.lock_blocking();
            panic!("deliberate panic while holding the lock");
        })
    };
    eventually("the panicking thread ends", || panicker.is_finished());
    assert!(panicker.join().is_err(), "the thread should have panicked");
    assert!(!lock.is_locked(), "unwinding released every level");
    assert_eq!(*lock.try_lock().expect("usable after the panic"), 7);
}

// ---- cancel safety ----------------------------------------------------------

#[test]
fn a_woken_then_dropped_lock_future_passes_the_wake_up_on() {
    let lock = Arc::new(RLock::new(()));
    let held = hold_in_thread(&lock);
    let mut first = task::spawn(lock.lock());
    let mut second = task::spawn(lock.lock());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    assert_eq!(lock.waiters(), 2);

    drop(held);
    eventually("the holder thread released", || !lock.is_locked());
    drop(first); // woken by the release, never polled again
    assert!(
        second.is_woken(),
        "the wake-up of the dropped future was not passed on"
    );
    drop(assert_ready!(
        second.poll(),
        "the wake-up of the dropped future was lost"
    ));
}

#[test]
fn a_woken_then_dropped_lock_future_passes_the_wake_up_to_a_waiting_thread() {
    let lock = Arc::new(RLock::new(()));
    let held = hold_in_thread(&lock);
    let mut first = task::spawn(lock.lock());
    assert_pending!(first.poll());
    let thread = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || drop(lock.lock_blocking()))
    };
    eventually("future and thread wait", || lock.waiters() == 2);

    drop(held);
    eventually("the holder thread released", || {
        !lock.is_locked() || thread.is_finished()
    });
    drop(first);
    join_within("thread after the woken future was dropped", thread);
    assert_eq!(lock.waiters(), 0);
}

// ---- `_blocking` inside a runtime ---------------------------------------------

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_forms_that_must_wait_inside_a_task_panic_naming_the_async_form() {
    let lock = Arc::new(RLock::new(()));
    type Call = fn(&RLock<()>);
    let cases: [(&str, &str, Call); 4] = [
        ("lock_blocking", "lock(", |lock| drop(lock.lock_blocking())),
        ("lock_timeout_blocking", "lock_timeout(", |lock| {
            drop(lock.lock_timeout_blocking(LIMIT))
        }),
        ("acquire_blocking", "acquire(", |lock| {
            lock.acquire_blocking()
        }),
        ("acquire_timeout_blocking", "acquire_timeout(", |lock| {
            let _ = lock.acquire_timeout_blocking(LIMIT);
        }),
    ];
    for (method, async_form, call) in cases {
        let held = hold_in_thread(&lock);
        let task = {
            let lock = Arc::clone(&lock);
            tokio::spawn(async move { call(&lock) })
        };
        let err = within(method, task)
            .await
            .expect_err("a `_blocking` call that has to wait inside a task must panic");
        let message = panic_message(err.into_panic());
        assert!(message.contains(method), "{method}: {message}");
        assert!(message.contains(async_form), "{method}: {message}");
        drop(held);
        eventually_async("holder released", || !lock.is_locked()).await;
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[should_panic(expected = "lock_blocking")]
async fn lock_blocking_in_block_on_panics() {
    let lock = Arc::new(RLock::new(()));
    let _held = hold_in_thread(&lock);
    drop(lock.lock_blocking());
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn spawn_blocking_closures_may_block() {
    let lock = Arc::new(RLock::new(()));
    let held = hold_in_thread(&lock);
    let blocking = {
        let lock = Arc::clone(&lock);
        tokio::task::spawn_blocking(move || {
            let _a = lock.lock_blocking();
            let _b = lock.lock_blocking();
            lock.recursion_count()
        })
    };
    eventually_async("spawn_blocking waits", || lock.waiters() == 1).await;
    drop(held);
    assert_eq!(within("spawn_blocking", blocking).await.unwrap(), 2);
}

/// Issue 9, scenario 1, on an `RLock`: tasks relocking in a loop must not
/// starve a thread.
#[cfg(feature = "tokio")]
#[test]
fn a_thread_gets_its_turn_while_tasks_relock_in_a_loop() {
    let worst = common::worst_wait_beside_relocking_tasks(
        Arc::new(RLock::new(AtomicU64::new(0))),
        |lock| {
            Box::pin(async move {
                let guard = lock.lock().await;
                let mut counter = guard.load(Ordering::Relaxed);
                common::busy_work(&mut counter);
                guard.store(counter, Ordering::Relaxed);
            })
        },
        50,
        |lock| {
            lock.lock_timeout_blocking(Duration::from_secs(5))
                .map(|guard| guard.fetch_add(1, Ordering::Relaxed))
                .is_some()
        },
    );
    assert!(
        worst < Duration::from_millis(100),
        "the thread waited {worst:?} for one turn"
    );
}

// ---- mutable data, owned guards -------------------------------------------

/// Python keeps its data under an `RLock` and mutates it in nested calls: a
/// `RefCell` inside works, shared by tasks of a multi-threaded runtime.
/// (Tasks own the lock with the `tokio` feature only; without it the owner
/// is the thread, and a task resumed on another worker is not the owner.)
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refcell_inside_is_shared_by_spawned_tasks() {
    use std::cell::RefCell;
    let shared = Arc::new(RLock::new(RefCell::new(Vec::new())));
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                for _ in 0..50 {
                    let outer = shared.lock().await;
                    let inner = shared.lock().await; // re-entered by the task
                    inner.borrow_mut().push(i);
                    tokio::task::yield_now().await;
                    drop(inner);
                    outer.borrow_mut().push(i);
                }
            })
        })
        .collect();
    for task in tasks {
        within("task pushing under the RLock", task).await.unwrap();
    }
    assert_eq!(shared.lock().await.borrow().len(), 400);
}

/// A guard moved to another thread can be dropped there (its level goes),
/// but not used: only the owner may reach the value.
#[test]
fn a_guard_used_by_a_thread_that_does_not_own_the_lock_panics() {
    let lock = Arc::new(RLock::new(5));
    let guard = lock.try_lock_owned().unwrap();
    let (used, dropped) = std::thread::scope(|s| {
        s.spawn(move || {
            let used = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *guard));
            drop(guard);
            (used.is_err(), true)
        })
        .join()
        .unwrap()
    });
    assert!(used, "a non-owner read the value");
    assert!(dropped);
    assert!(!lock.is_locked(), "dropping it there gave its level back");
    assert_eq!(format!("{:?}", lock.try_lock().unwrap()), "5");
}

#[tokio::test]
async fn owned_guards_in_every_form() {
    let lock = Arc::new(RLock::new(()));
    let a = lock.lock_owned().await;
    let b = lock.try_lock_owned().unwrap();
    assert_eq!(lock.recursion_count(), 2);
    #[cfg(feature = "tokio")]
    let c = lock.lock_owned_timeout(SHORT).await.unwrap();
    drop((a, b));
    #[cfg(feature = "tokio")]
    drop(c);
    assert!(!lock.is_locked());
    let held = hold_in_thread(&lock);
    #[cfg(feature = "tokio")]
    assert!(lock.lock_owned_timeout(SHORT).await.is_none());
    assert!(lock.try_lock_owned().is_none());
    let blocked = {
        let lock = Arc::clone(&lock);
        tokio::task::spawn_blocking(move || lock.lock_owned_timeout_blocking(SHORT).is_none())
    };
    assert!(within("blocking form", blocked).await.unwrap());
    drop(held);
    let thread = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || drop(lock.lock_owned_blocking()))
    };
    join_thread("thread taking the owned guard", thread).await;
    assert_eq!(lock.waiters(), 0);
}
