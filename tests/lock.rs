//! Integration tests of `Lock`: every acquiring form (guard, owned guard, raw
//! Python-style acquire/release), mutual exclusion between async tasks and OS
//! threads sharing one lock, release errors, no poisoning, `Debug`, cancel
//! safety of a woken-then-dropped lock future, and (feature `tokio`) the panic
//! of a `_blocking` call that would stall a runtime thread.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ambisync::{Lock, LockGuard, OwnedLockGuard, ReleaseError};
#[cfg(feature = "tokio")]
use common::panic_message;
use common::{LIMIT, eventually, eventually_async, join_thread, join_within, within};
use tokio_test::{assert_pending, assert_ready, task};

/// A short timeout for the cases where expiring is the point.
const SHORT: Duration = Duration::from_millis(50);

/// Takes `lock` in a plain thread and keeps it until the returned sender is
/// dropped (see [`common::hold_in_thread`]).
fn hold_in_thread<T: Send + 'static>(lock: &Arc<Lock<T>>) -> mpsc::Sender<()> {
    common::hold_in_thread(lock, |lock| Box::new(lock.lock_blocking()))
}

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_and_futures_are_send_and_sync() {
    assert_send_sync::<Lock<Vec<u8>>>();
    assert_send_sync::<LockGuard<'static, Vec<u8>>>();
    assert_send_sync::<OwnedLockGuard<Vec<u8>>>();
    assert_send_sync::<ReleaseError>();

    let lock = Arc::new(Lock::new(0u32));
    let unit = Lock::new(());
    assert_send(&lock.lock());
    assert_send(&lock.lock_owned());
    assert_send(&unit.acquire());
    #[cfg(feature = "tokio")]
    {
        assert_send(&lock.lock_timeout(SHORT));
        assert_send(&lock.lock_owned_timeout(SHORT));
        assert_send(&unit.acquire_timeout(SHORT));
    }
}

#[test]
fn new_default_and_from_create_an_unlocked_lock() {
    let lock = Lock::new(3);
    assert!(!lock.is_locked());
    assert_eq!(lock.waiters(), 0);
    assert_eq!(Lock::<u8>::default().into_inner(), 0);
    assert_eq!(Lock::from("x").into_inner(), "x");
}

#[tokio::test]
async fn lock_gives_mutable_access_and_unlocks_on_drop() {
    let lock = Lock::new(vec![1]);
    {
        let mut guard = within("lock", lock.lock()).await;
        assert!(lock.is_locked());
        guard.push(2);
        assert!(std::ptr::eq(guard.lock(), &lock));
    }
    assert!(!lock.is_locked());
    assert_eq!(*within("lock again", lock.lock()).await, [1, 2]);
}

#[test]
fn try_lock_fails_while_locked_and_succeeds_after_unlock() {
    let lock = Lock::new(0);
    let guard = lock.try_lock().expect("a free lock");
    assert!(lock.try_lock().is_none());
    drop(guard);
    assert!(lock.try_lock().is_some());
}

#[test]
fn lock_blocking_waits_for_another_thread_to_unlock() {
    let lock = Arc::new(Lock::new(0));
    let mut guard = lock.lock_blocking();
    let waiter = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let mut guard = lock.lock_blocking();
            *guard += 10;
        })
    };
    eventually("the second thread waits", || lock.waiters() == 1);
    *guard += 1;
    drop(guard);
    join_within("lock_blocking after unlock", waiter);
    assert_eq!(*lock.lock_blocking(), 11);
    assert_eq!(lock.waiters(), 0);
}

#[test]
fn lock_timeout_blocking_gives_up_after_the_timeout() {
    let lock = Arc::new(Lock::new(()));
    let _held = hold_in_thread(&lock);
    let start = Instant::now();
    assert!(lock.lock_timeout_blocking(SHORT).is_none());
    assert!(
        start.elapsed() >= SHORT,
        "gave up early: {:?}",
        start.elapsed()
    );
    assert_eq!(lock.waiters(), 0, "a timed-out waiter is no longer counted");
}

#[test]
fn lock_timeout_blocking_succeeds_when_unlocked_in_time() {
    let lock = Arc::new(Lock::new(0));
    let guard = lock.lock_blocking();
    let waiter = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || lock.lock_timeout_blocking(LIMIT).map(|guard| *guard))
    };
    eventually("the thread waits", || lock.waiters() == 1);
    drop(guard);
    assert_eq!(join_within("lock_timeout_blocking", waiter), Some(0));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn lock_timeout_gives_up_after_the_timeout() {
    let lock = Lock::new(());
    let _held = lock.lock().await;
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
    assert_eq!(lock.waiters(), 0, "a timed-out waiter is no longer counted");
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn lock_timeout_succeeds_at_once_when_free_and_when_unlocked_in_time() {
    let lock = Arc::new(Lock::new(0));
    assert!(lock.lock_timeout(SHORT).await.is_some());

    let guard = lock.lock().await;
    let waiter = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move { lock.lock_timeout(LIMIT).await.map(|guard| *guard) })
    };
    eventually_async("the task waits", || lock.waiters() == 1).await;
    drop(guard);
    assert_eq!(within("lock_timeout", waiter).await.unwrap(), Some(0));
}

#[tokio::test]
async fn owned_guard_moves_into_a_spawned_task_and_a_thread() {
    let lock = Arc::new(Lock::new(0));

    let mut guard = within("lock_owned", lock.lock_owned()).await;
    assert!(Arc::ptr_eq(guard.lock(), &lock));
    let task = tokio::spawn(async move {
        tokio::task::yield_now().await;
        *guard += 1;
    });
    within("task with an owned guard", task).await.unwrap();
    assert!(!lock.is_locked());

    let mut guard = lock.try_lock_owned().expect("a free lock");
    assert!(lock.try_lock_owned().is_none());
    let thread = std::thread::spawn(move || *guard += 1);
    join_thread("thread with an owned guard", thread).await;
    assert_eq!(*lock.lock().await, 2);
}

#[test]
fn lock_owned_blocking_forms_wait_and_time_out() {
    let lock = Arc::new(Lock::new(0));
    let guard = lock.lock_owned_blocking();
    assert!(lock.is_locked());
    let start = Instant::now();
    assert!(lock.lock_owned_timeout_blocking(SHORT).is_none());
    assert!(start.elapsed() >= SHORT);

    let waiter = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let mut guard = lock.lock_owned_blocking();
            *guard += 1;
        })
    };
    eventually("lock_owned_blocking waits", || lock.waiters() == 1);
    drop(guard);
    join_within("lock_owned_blocking", waiter);

    let guard = lock
        .lock_owned_timeout_blocking(LIMIT)
        .expect("a free lock");
    assert_eq!(*guard, 1);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn lock_owned_timeout_gives_up_or_succeeds() {
    let lock = Arc::new(Lock::new(()));
    let guard = lock.lock_owned().await;
    let start = Instant::now();
    assert!(
        within("lock_owned_timeout", lock.lock_owned_timeout(SHORT))
            .await
            .is_none()
    );
    assert!(start.elapsed() >= SHORT);
    drop(guard);
    assert!(lock.lock_owned_timeout(SHORT).await.is_some());
}

#[tokio::test]
async fn raw_acquire_and_release() {
    let lock = Lock::new(());
    within("acquire", lock.acquire()).await;
    assert!(lock.is_locked());
    assert!(!lock.try_acquire());
    assert_eq!(lock.release(), Ok(()));
    assert!(!lock.is_locked());

    assert!(lock.try_acquire());
    assert_eq!(lock.release(), Ok(()));
}

#[test]
fn raw_blocking_acquire_forms() {
    let lock = Arc::new(Lock::new(()));
    lock.acquire_blocking();
    let start = Instant::now();
    assert!(!lock.acquire_timeout_blocking(SHORT));
    assert!(start.elapsed() >= SHORT);

    let waiter = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || lock.acquire_timeout_blocking(LIMIT))
    };
    eventually("acquire_timeout_blocking waits", || lock.waiters() == 1);
    lock.release().unwrap();
    assert!(join_within("acquire_timeout_blocking", waiter));
    assert!(lock.is_locked(), "the waiter holds it now, without a guard");

    let waiter = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || lock.acquire_blocking())
    };
    eventually("acquire_blocking waits", || lock.waiters() == 1);
    lock.release().unwrap();
    join_within("acquire_blocking", waiter);
    assert!(lock.is_locked());
    lock.release().unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn raw_acquire_timeout_gives_up_or_succeeds() {
    let lock = Lock::new(());
    assert!(lock.acquire_timeout(SHORT).await);
    let start = Instant::now();
    assert!(!within("acquire_timeout", lock.acquire_timeout(SHORT)).await);
    assert!(start.elapsed() >= SHORT);
    lock.release().unwrap();
}

#[test]
fn release_of_an_unlocked_lock_is_an_error_and_changes_nothing() {
    let lock = Lock::new(());
    let err = lock.release().unwrap_err();
    assert_eq!(err, ReleaseError::NotLocked);
    assert_eq!(err.to_string(), "release unlocked lock");
    let _: &dyn std::error::Error = &err;
    assert!(!lock.is_locked());

    lock.acquire_blocking();
    assert_eq!(lock.release(), Ok(()));
    assert_eq!(lock.release(), Err(ReleaseError::NotLocked));
    assert!(lock.try_acquire(), "still usable after a failed release");
}

/// Python lets anybody release a held lock, so a raw `release()` may free a
/// lock that a guard holds; the guard's drop must then not corrupt the lock.
#[test]
fn a_guard_dropped_after_a_raw_release_leaves_the_lock_usable() {
    let lock = Lock::new(());
    let guard = lock.lock_blocking();
    assert_eq!(lock.release(), Ok(()), "any caller may release a held lock");
    assert!(!lock.is_locked());
    drop(guard);
    assert!(!lock.is_locked(), "{lock:?}");
    assert_eq!(lock.waiters(), 0, "{lock:?}");
    assert!(lock.try_acquire(), "the lock still works: {lock:?}");
    assert_eq!(lock.release(), Ok(()));
    assert_eq!(lock.release(), Err(ReleaseError::NotLocked));
}

#[test]
fn formatting_a_lock_never_lets_a_release_of_the_unlocked_lock_succeed() {
    let lock = Arc::new(Lock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let formatter = {
        let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                assert!(format!("{lock:?}").contains("locked: false"));
            }
        })
    };
    let start = Instant::now();
    let mut releases = 0u64;
    while start.elapsed() < Duration::from_millis(200) {
        let released = lock.release();
        releases += 1;
        if released.is_ok() {
            stop.store(true, Ordering::SeqCst);
            panic!("release #{releases} of a never-acquired lock succeeded: {lock:?}");
        }
    }
    stop.store(true, Ordering::SeqCst);
    join_within("formatter", formatter);
    assert!(!lock.is_locked());
    assert_eq!(lock.waiters(), 0);
    assert!(lock.try_acquire(), "the lock still works");
}

#[test]
fn another_thread_may_release_a_raw_acquired_lock() {
    let lock = Arc::new(Lock::new(()));
    lock.acquire_blocking();
    let releaser = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || lock.release())
    };
    assert_eq!(join_within("release from another thread", releaser), Ok(()));
    assert!(!lock.is_locked());
}

#[tokio::test]
async fn a_thread_releasing_a_task_acquired_lock_wakes_a_waiting_task() {
    let lock = Arc::new(Lock::new(()));
    lock.acquire().await;
    let waiter = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move { lock.acquire().await })
    };
    eventually_async("a task waits", || lock.waiters() == 1).await;
    let releaser = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || lock.release())
    };
    assert_eq!(join_thread("releaser", releaser).await, Ok(()));
    within("acquire woken by another thread's release", waiter)
        .await
        .unwrap();
    assert!(lock.is_locked(), "the woken task holds it");
    lock.release().unwrap();
}

#[test]
fn no_poisoning_after_a_thread_panics_holding_the_guard() {
    let lock = Arc::new(Lock::new(7));
    let panicker = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let mut guard = lock.lock_blocking();
            *guard = 8;
            panic!("deliberate panic while holding the lock");
        })
    };
    eventually("the panicking thread ends", || panicker.is_finished());
    assert!(panicker.join().is_err(), "the thread should have panicked");
    assert!(!lock.is_locked(), "unwinding released the lock");
    let guard = lock.try_lock().expect("the lock is usable after the panic");
    assert_eq!(*guard, 8);
}

#[tokio::test]
async fn no_poisoning_after_a_task_panics_holding_the_guard() {
    let lock = Arc::new(Lock::new(7));
    let task = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move {
            let _guard = lock.lock().await;
            panic!("deliberate panic while holding the lock");
        })
    };
    assert!(within("panicking task", task).await.unwrap_err().is_panic());
    assert_eq!(*within("lock after the panic", lock.lock()).await, 7);
}

#[test]
fn get_mut_and_into_inner_need_no_locking() {
    let mut lock = Lock::new(String::from("a"));
    lock.get_mut().push('b');
    assert_eq!(lock.into_inner(), "ab");
}

#[test]
fn debug_shows_the_locked_state_and_the_waiters() {
    let lock = Arc::new(Lock::new(5));
    let free = format!("{lock:?}");
    assert!(free.contains("locked: false"), "{free}");
    assert!(free.contains("waiters: 0"), "{free}");
    assert!(free.contains('5'), "a free lock shows its value: {free}");

    let guard = lock.lock_blocking();
    let waiter = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || drop(lock.lock_blocking()))
    };
    eventually("a thread waits", || lock.waiters() == 1);
    let held = format!("{lock:?}");
    assert!(held.contains("locked: true"), "{held}");
    assert!(held.contains("waiters: 1"), "{held}");
    assert_eq!(format!("{guard:?}"), "5", "a guard shows the value");
    drop(guard);
    join_within("waiter", waiter);
}

#[tokio::test]
async fn a_thread_in_lock_blocking_is_woken_by_a_task_unlocking() {
    let lock = Arc::new(Lock::new(0));
    let mut guard = lock.lock().await;
    let thread = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || *lock.lock_blocking())
    };
    eventually_async("the thread waits", || lock.waiters() == 1).await;
    *guard = 42;
    drop(guard);
    assert_eq!(join_thread("thread woken by a task", thread).await, 42);
}

#[tokio::test]
async fn a_task_is_woken_by_a_thread_unlocking() {
    let lock = Arc::new(Lock::new(0));
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let thread = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let mut guard = lock.lock_blocking();
            locked_tx.send(()).unwrap();
            eventually("the task waits", || lock.waiters() == 1);
            *guard = 42;
        })
    };
    within("thread took the lock", locked_rx).await.unwrap();
    assert_eq!(*within("task woken by a thread", lock.lock()).await, 42);
    join_thread("thread", thread).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_and_threads_exclude_each_other_under_load() {
    const TASKS: u64 = 6;
    const THREADS: u64 = 3;
    const ROUNDS: u64 = 300;
    let lock = Arc::new(Lock::new(0u64));
    // Set for the duration of every critical section: two holders at once
    // would find it already set.
    let inside = Arc::new(AtomicBool::new(false));

    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let mut guard = match (t + round) % 3 {
                        0 => lock.lock_blocking(),
                        1 => lock
                            .lock_timeout_blocking(LIMIT)
                            .expect("lock_timeout_blocking gave up under load"),
                        _ => match lock.try_lock() {
                            Some(guard) => guard,
                            None => lock.lock_blocking(),
                        },
                    };
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                    let seen = *guard;
                    std::thread::yield_now();
                    *guard = seen + 1;
                    inside.store(false, Ordering::SeqCst);
                }
            })
        })
        .collect();

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    match (t + round) % 3 {
                        0 => {
                            let mut guard = lock.lock().await;
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                            let seen = *guard;
                            tokio::task::yield_now().await; // held across an await
                            *guard = seen + 1;
                            inside.store(false, Ordering::SeqCst);
                        }
                        1 => {
                            let mut guard = lock.lock_owned().await;
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                            let seen = *guard;
                            tokio::task::yield_now().await;
                            *guard = seen + 1;
                            inside.store(false, Ordering::SeqCst);
                        }
                        _ => {
                            #[cfg(feature = "tokio")]
                            let mut guard = lock
                                .lock_timeout(LIMIT)
                                .await
                                .expect("lock_timeout gave up under load");
                            #[cfg(not(feature = "tokio"))]
                            let mut guard = lock.lock().await;
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                            let seen = *guard;
                            tokio::task::yield_now().await;
                            *guard = seen + 1;
                            inside.store(false, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();

    for task in tasks {
        within("incrementing task", task).await.unwrap();
    }
    for thread in threads {
        join_thread("incrementing thread", thread).await;
    }
    assert_eq!(*lock.lock().await, (TASKS + THREADS) * ROUNDS);
    assert!(!lock.is_locked());
    assert_eq!(lock.waiters(), 0);
}

// ---- cancel safety ----------------------------------------------------------

#[test]
fn a_dropped_lock_future_is_no_longer_counted_as_a_waiter() {
    let lock = Lock::new(());
    let guard = lock.lock_blocking();
    let mut waiting = task::spawn(lock.lock());
    assert_pending!(waiting.poll());
    assert_eq!(lock.waiters(), 1);
    drop(waiting);
    assert_eq!(lock.waiters(), 0);
    drop(guard);
    assert!(lock.try_lock().is_some());
}

#[test]
fn a_woken_then_dropped_lock_future_passes_the_wake_up_to_the_next_future() {
    let lock = Lock::new(());
    let guard = lock.lock_blocking();
    let mut first = task::spawn(lock.lock());
    let mut second = task::spawn(lock.lock());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    assert_eq!(lock.waiters(), 2);

    drop(guard); // wakes the oldest waiter: `first`
    drop(first); // woken, never polled again
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
    let lock = Arc::new(Lock::new(()));
    let guard = lock.lock_blocking();
    let mut task_side = task::spawn(lock.lock());
    assert_pending!(task_side.poll());
    let thread = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || drop(lock.lock_blocking()))
    };
    eventually("future and thread wait", || lock.waiters() == 2);

    drop(guard); // wakes the oldest waiter: the future
    drop(task_side);
    join_within("thread after the woken future was dropped", thread);
}

#[tokio::test]
async fn a_lock_future_cancelled_by_select_after_its_wake_up_passes_it_on() {
    let lock = Arc::new(Lock::new(()));
    let guard = lock.lock().await;
    let mut first = task::spawn(lock.lock());
    assert_pending!(first.poll());
    let second = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move { drop(lock.lock().await) })
    };
    eventually_async("two waiters", || lock.waiters() == 2).await;

    drop(guard);
    // `select!` cancels `first` in favour of a branch that is ready at once.
    tokio::select! {
        biased;
        () = std::future::ready(()) => {}
        _ = &mut first => panic!("the biased branch goes first"),
    }
    drop(first);
    within("second waiter after the first was cancelled", second)
        .await
        .unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_timeout_expiring_as_the_lock_is_released_loses_no_wake_up() {
    let lock = Arc::new(Lock::new(()));
    for round in 0..100u64 {
        let guard = lock.lock_owned().await;
        // The oldest waiter: a task with a timeout near the release.
        let timed = {
            let lock = Arc::clone(&lock);
            let timeout = Duration::from_micros(100 * (round % 20));
            tokio::spawn(async move { lock.lock_timeout(timeout).await.is_some() })
        };
        eventually_async("the timed waiter waits or gave up", || {
            lock.waiters() == 1 || timed.is_finished()
        })
        .await;
        let thread = {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || drop(lock.lock_blocking()))
        };
        eventually_async("the thread waits", || {
            lock.waiters() == 2 || (timed.is_finished() && lock.waiters() == 1)
        })
        .await;
        drop(guard);
        within("timed waiter", timed).await.unwrap();
        join_thread(
            "the thread, whether or not the timed waiter took the lock first",
            thread,
        )
        .await;
        assert_eq!(lock.waiters(), 0);
        assert!(!lock.is_locked());
    }
}

// ---- `_blocking` inside a runtime ---------------------------------------------

/// Runs `call` in a spawned tokio task while `lock` is held elsewhere and
/// returns the message it panicked with.
#[cfg(feature = "tokio")]
async fn panic_of_blocking_call_in_task(
    lock: &Arc<Lock<()>>,
    call: impl FnOnce(&Lock<()>) + Send + 'static,
) -> String {
    let _held = hold_in_thread(lock);
    let lock = Arc::clone(lock);
    let task = tokio::spawn(async move { call(&lock) });
    let err = within("blocking call in a task", task)
        .await
        .expect_err("a `_blocking` call that has to wait inside a task must panic");
    assert!(err.is_panic());
    panic_message(err.into_panic())
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_forms_that_must_wait_inside_a_task_panic_naming_the_async_form() {
    let lock = Arc::new(Lock::new(()));
    type Call = fn(&Lock<()>);
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
        let message = panic_of_blocking_call_in_task(&lock, call).await;
        assert!(message.contains(method), "{method}: {message}");
        assert!(message.contains(async_form), "{method}: {message}");
        eventually_async("holder released", || !lock.is_locked()).await;
    }

    let _held = hold_in_thread(&lock);
    let owned = Arc::clone(&lock);
    let err = within(
        "lock_owned_blocking in a task",
        tokio::spawn(async move { drop(owned.lock_owned_blocking()) }),
    )
    .await
    .expect_err("lock_owned_blocking must panic inside a task");
    let message = panic_message(err.into_panic());
    assert!(message.contains("lock_owned_blocking"), "{message}");
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[should_panic(expected = "lock_blocking")]
async fn lock_blocking_in_block_on_panics() {
    let lock = Arc::new(Lock::new(()));
    let _held = hold_in_thread(&lock);
    drop(lock.lock_blocking());
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn spawn_blocking_closures_may_block() {
    let lock = Arc::new(Lock::new(0));
    let guard = lock.lock().await;
    let blocking = {
        let lock = Arc::clone(&lock);
        tokio::task::spawn_blocking(move || {
            *lock.lock_blocking() += 1;
            lock.lock_timeout_blocking(LIMIT).is_some()
        })
    };
    eventually_async("spawn_blocking waits", || lock.waiters() == 1).await;
    drop(guard);
    assert!(within("spawn_blocking", blocking).await.unwrap());
    assert_eq!(*lock.lock().await, 1);
}

/// Debug builds check every `_blocking` call, so misuse inside a runtime fails
/// in testing even when the lock happens to be free.
#[cfg(all(feature = "tokio", debug_assertions))]
#[tokio::test]
#[should_panic(expected = "lock_blocking")]
async fn debug_builds_refuse_lock_blocking_inside_a_task_even_when_free() {
    let lock = Lock::new(());
    drop(lock.lock_blocking());
}

/// Newcomers may barge past woken waiters, but a waiter that waited too long
/// claims its turn: under a storm of 6 tasks (2 workers) and 2 threads that
/// re-lock at once, every participant keeps making progress, and no single
/// wait comes near the test's limit.
#[test]
fn no_waiter_starves_under_a_barging_storm() {
    const ROUNDS: usize = 300;
    let lock = Arc::new(Lock::new(0usize));
    let worst_wait = Arc::new(Lock::new(Duration::ZERO));
    let record = |worst: &Lock<Duration>, waited: Duration| {
        let mut worst = worst.lock_blocking();
        *worst = (*worst).max(waited);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let lock = Arc::clone(&lock);
            runtime.spawn(async move {
                let mut longest = Duration::ZERO;
                for _ in 0..ROUNDS {
                    let start = Instant::now();
                    let mut guard = lock.lock().await;
                    longest = longest.max(start.elapsed());
                    *guard += 1;
                    std::hint::black_box(&mut *guard);
                }
                longest
            })
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (lock, worst) = (Arc::clone(&lock), Arc::clone(&worst_wait));
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let start = Instant::now();
                    *lock.lock_blocking() += 1;
                    record(&worst, start.elapsed());
                }
            })
        })
        .collect();
    for thread in threads {
        join_within("thread in the storm", thread);
    }
    for task in tasks {
        let longest = runtime
            .block_on(async { within("task in the storm", task).await })
            .unwrap();
        record(&worst_wait, longest);
    }
    assert_eq!(*lock.lock_blocking(), 8 * ROUNDS);
    let worst = *worst_wait.lock_blocking();
    assert!(
        worst < LIMIT / 4,
        "a waiter waited {worst:?} for its turn: starved by barging newcomers"
    );
}

/// Python's `TIMEOUT_MAX`: a timeout too large to add to "now" means waiting
/// as long as it takes, in every form, never an overflow panic.
#[test]
fn huge_timeouts_mean_wait_as_long_as_it_takes() {
    let lock = Arc::new(Lock::new(()));
    assert!(lock.lock_timeout_blocking(Duration::MAX).is_some());
    let held = lock.lock_blocking();
    let waiter = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || lock.lock_timeout_blocking(Duration::MAX).is_some())
    };
    eventually("the thread waits", || lock.waiters() == 1);
    drop(held);
    assert!(join_within("waiter with Duration::MAX", waiter));
    #[cfg(feature = "tokio")]
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let _held = within("lock_timeout(MAX)", lock.lock_timeout(Duration::MAX))
            .await
            .expect("a free lock is taken");
    });
}

/// Issue 9, scenario 1: two tasks relocking in a loop (no other `.await`)
/// never yield unless the lock spends tokio's cooperative budget, and a
/// thread that is never woken never gets to claim its turn.
#[cfg(feature = "tokio")]
#[test]
fn a_thread_gets_its_turn_while_tasks_relock_in_a_loop() {
    let worst = common::worst_wait_beside_relocking_tasks(
        Arc::new(Lock::new(0u64)),
        |lock| Box::pin(async move { common::busy_work(&mut *lock.lock().await) }),
        50,
        |lock| {
            lock.lock_timeout_blocking(Duration::from_secs(5))
                .map(|mut guard| *guard += 1)
                .is_some()
        },
    );
    assert!(
        worst < Duration::from_millis(100),
        "the thread waited {worst:?} for one turn"
    );
}

/// The same loop, with a third task instead of a thread waiting its turn.
#[cfg(feature = "tokio")]
#[test]
fn a_task_gets_its_turn_while_tasks_relock_in_a_loop() {
    let lock = Arc::new(Lock::new(0u64));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_exit = common::StopOnDrop(Arc::clone(&stop));
    let loops: Vec<_> = (0..2)
        .map(|_| {
            let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
            runtime.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    common::busy_work(&mut *lock.lock().await);
                }
            })
        })
        .collect();
    let worst = runtime.block_on(async {
        let lock = Arc::clone(&lock);
        within(
            "the waiting task",
            tokio::spawn(async move {
                let mut worst = Duration::ZERO;
                for _ in 0..50 {
                    let start = Instant::now();
                    *lock
                        .lock_timeout(Duration::from_secs(5))
                        .await
                        .expect("the task was starved for 5 s") += 1;
                    worst = worst.max(start.elapsed());
                }
                worst
            }),
        )
        .await
        .unwrap()
    });
    stop.store(true, Ordering::Relaxed);
    for task in loops {
        runtime
            .block_on(async { within("relocking task", task).await })
            .unwrap();
    }
    assert!(
        worst < Duration::from_millis(100),
        "the task waited {worst:?} for one turn"
    );
}

/// Issue 9, scenario 4 (i): a `_blocking` call allowed inside
/// `block_in_place` must not make the check wave through a later call made
/// directly on the worker by the same task.
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_check_is_right_again_after_block_in_place() {
    let lock = Arc::new(Lock::new(()));
    let _held = hold_in_thread(&lock);
    let allowed = tokio::task::block_in_place(|| {
        lock.lock_timeout_blocking(Duration::from_millis(1))
            .is_none()
    });
    assert!(allowed, "block_in_place may block (and the lock is held)");
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lock.lock_timeout_blocking(Duration::from_millis(1))
    }))
    .map(drop)
    .expect_err("a blocking wait directly on the worker must panic");
    assert!(panic_message(refused).contains("lock_timeout(..)"));
}

/// Issue 9, scenario 4 (ii): inside `spawn_blocking`, after one allowed
/// call, a nested current-thread runtime's `block_on` must still be refused
/// (it would wait out its whole timeout: the task that could wake it cannot
/// run).
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_check_refuses_a_nested_runtime_after_an_allowed_call() {
    let lock = Arc::new(Lock::new(()));
    let _held = hold_in_thread(&lock);
    let verdicts = tokio::task::spawn_blocking(move || {
        let allowed = lock
            .lock_timeout_blocking(Duration::from_millis(1))
            .is_none();
        let nested = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            nested.block_on(async { lock.lock_timeout_blocking(Duration::from_secs(5)) })
        }))
        .map(drop)
        .is_err();
        (allowed, refused)
    });
    assert_eq!(
        within("spawn_blocking closure", verdicts).await.unwrap(),
        (true, true)
    );
}

// ---- mapped guards --------------------------------------------------------------

#[test]
fn mapped_guards_are_send_and_sync_like_tokios() {
    use ambisync::{MappedLockGuard, OwnedMappedLockGuard};
    assert_send_sync::<MappedLockGuard<'static, [u8]>>();
    assert_send_sync::<OwnedMappedLockGuard<Vec<u8>, [u8]>>();
}

#[test]
fn a_mapped_guard_keeps_the_lock_until_dropped() {
    use ambisync::MappedLockGuard;
    let lock = Lock::new((vec![1, 2], String::from("a")));
    let mut text = LockGuard::map(lock.lock_blocking(), |pair| &mut pair.1);
    text.push('b');
    assert!(lock.is_locked());
    assert!(lock.try_lock().is_none());
    assert_eq!(format!("{text:?}"), "\"ab\"");
    drop(text);
    assert!(!lock.is_locked());

    let list = LockGuard::map(lock.lock_blocking(), |pair| &mut pair.0);
    let list = MappedLockGuard::try_map(list, |v| v.get_mut(9)).unwrap_err();
    let mut slice = MappedLockGuard::map(list, |v| &mut v[..]);
    slice[1] = 20;
    drop(slice);
    let guard = LockGuard::try_map(lock.lock_blocking(), |pair| pair.0.get_mut(9)).unwrap_err();
    assert_eq!(guard.0, [1, 20], "try_map gives the whole guard back");
    drop(guard);
    assert!(!lock.is_locked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_mapped_guard_wakes_a_waiting_task_and_thread() {
    let lock = Arc::new(Lock::new((0u32, 0u32)));
    let mut first = LockGuard::map(lock.lock().await, |pair| &mut pair.0);
    let task = {
        let lock = Arc::clone(&lock);
        tokio::spawn(async move { lock.lock().await.0 })
    };
    let thread = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || lock.lock_blocking().0)
    };
    eventually_async("a task and a thread wait", || lock.waiters() == 2).await;
    *first = 7;
    drop(first);
    assert_eq!(
        within("task after the mapped guard", task).await.unwrap(),
        7
    );
    assert_eq!(
        join_thread("thread after the mapped guard", thread).await,
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_mapped_guards_move_across_tasks_and_threads() {
    use ambisync::OwnedMappedLockGuard;
    let lock = Arc::new(Lock::new((vec![0u8], 0u8)));
    let list = OwnedLockGuard::map(lock.lock_owned().await, |pair| &mut pair.0);
    let list = std::thread::spawn(move || {
        let mut list = list;
        list.push(1);
        list
    })
    .join()
    .unwrap();
    let list = OwnedMappedLockGuard::try_map(list, |v| v.get_mut(5)).unwrap_err();
    let mut last = OwnedMappedLockGuard::map(list, |v| v.last_mut().unwrap());
    let value = tokio::spawn(async move {
        *last += 1;
        *last
    })
    .await
    .unwrap();
    assert_eq!(value, 2);
    assert!(!lock.is_locked(), "dropped in the task: unlocked");
    let guard = OwnedLockGuard::try_map(lock.lock_owned().await, |pair| pair.0.get_mut(7));
    assert!(guard.is_err());
    drop(guard);
    assert_eq!(lock.lock().await.0, [0, 2]);
}

#[test]
fn a_panic_inside_map_unlocks() {
    let lock = Lock::new(0);
    let mapped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        LockGuard::map(lock.lock_blocking(), |_| -> &mut i32 {
            panic!("inside map")
        })
    }));
    assert!(mapped.is_err());
    assert!(!lock.is_locked(), "the guard unlocked while unwinding");
    let owned = Arc::new(Lock::new(0));
    let mapped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        OwnedLockGuard::map(owned.lock_owned_blocking(), |_| -> &mut i32 {
            panic!("inside map")
        })
    }));
    assert!(mapped.is_err());
    assert!(!owned.is_locked());
}

/// async-lock#91: two waiting futures polled by one task, in reverse order;
/// the unlock's wake-up goes to the one that is then never polled again. The
/// other, polled when the task wakes, must still take the free lock.
#[test]
fn a_wake_up_left_with_an_unpolled_future_of_the_same_task_does_not_strand_another() {
    futures::executor::block_on(async {
        let lock = Lock::new(());
        let held = lock.lock().await;
        let mut first = Box::pin(lock.lock());
        let mut second = Box::pin(lock.lock());
        std::future::poll_fn(|cx| {
            assert!(first.as_mut().poll(cx).is_pending());
            assert!(second.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        drop(held); // wakes `first`, which is never polled again
        let guard = within_blocking_executor(second).await;
        drop(guard);
        drop(first);
        assert!(!lock.is_locked());
        assert_eq!(lock.waiters(), 0);
    });
}

/// Awaits `fut`, failing (instead of hanging) after [`LIMIT`] on any executor.
async fn within_blocking_executor<F: Future + Unpin>(fut: F) -> F::Output {
    let deadline = Instant::now() + LIMIT;
    let mut fut = fut;
    std::future::poll_fn(move |cx| {
        if let std::task::Poll::Ready(out) = std::pin::Pin::new(&mut fut).poll(cx) {
            return std::task::Poll::Ready(out);
        }
        assert!(
            Instant::now() < deadline,
            "still waiting after {LIMIT:?}: stranded"
        );
        // Look again soon: a stranded future is never woken.
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}
