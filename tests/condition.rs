//! Integration tests of `Condition`: exact `notify(n)` / `notify_one` /
//! `notify_all` counts that reach only the waiters present at the call, the
//! lock released by a pending wait, `wait_for` re-checks, whole-call deadlines
//! of `wait_for_timeout*`, the three guard kinds (`LockGuard`, `OwnedLockGuard`,
//! `RLockGuard` with every level released and restored), tasks and threads
//! waking each other, cancel safety of notified waiters, and (feature `tokio`)
//! the panic of a `_blocking` wait inside a runtime.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ambisync::{Condition, Lock, LockGuard, RLock};
#[cfg(feature = "tokio")]
use common::panic_message;
use common::{LIMIT, eventually, eventually_async, join_thread, join_within, within};
use tokio_test::task::{self, Spawn};
use tokio_test::{assert_pending, assert_ready};

/// A short timeout for the cases where expiring is the point.
const SHORT: Duration = Duration::from_millis(50);

type Waiting<'a> = Spawn<Pin<Box<dyn Future<Output = LockGuard<'a, ()>> + 'a>>>;

/// A `wait()` on `cond` with `lock` (which must be free), polled once so that
/// it is registered and has released the lock.
fn start_waiting<'a>(lock: &'a Lock<()>, cond: &'a Condition) -> Waiting<'a> {
    let guard = lock.try_lock().expect("the lock is free");
    let mut waiting: Waiting<'a> = task::spawn(Box::pin(cond.wait(guard)));
    assert_pending!(waiting.poll(), "wait() returned without a notification");
    waiting
}

/// Polls every still-pending waiter once (dropping the guards it returns) and
/// returns the indexes of those that completed.
fn poll_all(waiters: &mut [Option<Waiting<'_>>]) -> Vec<usize> {
    let mut done = Vec::new();
    for (index, slot) in waiters.iter_mut().enumerate() {
        if let Some(waiting) = slot {
            if waiting.poll().is_ready() {
                *slot = None;
                done.push(index);
            }
        }
    }
    done
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn condition_and_wait_futures_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Condition>();
    let (lock, cond) = (Lock::new(()), Condition::new());
    assert_send(&cond.wait(lock.try_lock().unwrap()));
    let rlock = RLock::new(());
    assert_send(&cond.wait(rlock.try_lock().unwrap()));
    #[cfg(feature = "tokio")]
    assert_send(&cond.wait_for_timeout(lock.try_lock().unwrap(), SHORT, |_| true));
}

#[test]
fn a_pending_wait_has_released_the_lock_and_relocks_before_returning() {
    let (lock, cond) = (Lock::new(0), Condition::new());
    let mut waiting = task::spawn(cond.wait(lock.lock_blocking()));
    assert_pending!(waiting.poll());
    assert!(!lock.is_locked(), "a pending wait holds no lock");
    assert_eq!(cond.waiters(), 1);

    let mut guard = lock.try_lock().expect("the waiter released the lock");
    *guard = 1;
    assert_eq!(cond.notify(1), 1);
    assert_pending!(
        waiting.poll(),
        "woken, but the lock is held: it must wait to relock"
    );
    drop(guard);
    let guard = assert_ready!(waiting.poll(), "relocked once free");
    assert!(lock.is_locked(), "the returned guard holds the lock");
    assert_eq!(*guard, 1);
    assert_eq!(cond.waiters(), 0);
}

#[test]
fn notify_wakes_exactly_n_current_waiters_oldest_first_and_counts_them() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    let mut waiters: Vec<_> = (0..4).map(|_| Some(start_waiting(&lock, &cond))).collect();
    assert_eq!(cond.waiters(), 4);

    assert_eq!(cond.notify(2), 2);
    assert_eq!(poll_all(&mut waiters), [0, 1]);
    assert_eq!(
        poll_all(&mut waiters),
        [] as [usize; 0],
        "no extra wake-ups"
    );
    assert_eq!(cond.waiters(), 2);

    assert_eq!(cond.notify(5), 2, "only two were waiting");
    assert_eq!(poll_all(&mut waiters), [2, 3]);
    assert_eq!(cond.waiters(), 0);
    assert_eq!(cond.notify(1), 0);
    assert_eq!(cond.notify(0), 0);
}

#[test]
fn notify_does_not_count_a_waiter_already_notified() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    let mut waiters: Vec<_> = (0..2).map(|_| Some(start_waiting(&lock, &cond))).collect();
    assert_eq!(cond.notify(1), 1);
    // The first is notified but has not run yet: a second notify(1) wakes
    // another waiter rather than re-notifying it.
    assert_eq!(cond.notify(1), 1);
    assert_eq!(cond.notify(1), 0);
    assert_eq!(poll_all(&mut waiters), [0, 1]);
}

#[test]
fn a_waiter_that_starts_after_notify_is_not_woken_by_it() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    assert_eq!(cond.notify(3), 0, "nobody waits");
    assert!(!cond.notify_one());
    assert_eq!(cond.notify_all(), 0);
    let mut waiters = vec![Some(start_waiting(&lock, &cond))];
    assert_eq!(
        poll_all(&mut waiters),
        [] as [usize; 0],
        "notifications are not stored"
    );

    // One waiter is notified; one more starts waiting before the first runs.
    assert_eq!(cond.notify(2), 1);
    waiters.push(Some(start_waiting(&lock, &cond)));
    assert_eq!(poll_all(&mut waiters), [0], "the later waiter stays asleep");

    assert_eq!(cond.notify_all(), 1);
    waiters.push(Some(start_waiting(&lock, &cond)));
    assert_eq!(poll_all(&mut waiters), [1]);
    assert_eq!(cond.waiters(), 1);
    assert!(cond.notify_one());
    assert_eq!(poll_all(&mut waiters), [2]);
}

#[test]
fn a_dropped_waiter_is_no_longer_counted() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    let first = start_waiting(&lock, &cond);
    let mut waiters = vec![None, Some(start_waiting(&lock, &cond))];
    assert_eq!(cond.waiters(), 2);
    drop(first);
    assert_eq!(cond.waiters(), 1);
    assert_eq!(cond.notify(2), 1, "the dropped waiter is not woken");
    assert_eq!(poll_all(&mut waiters), [1]);
    assert!(!lock.is_locked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_all_wakes_every_waiting_task_and_thread_and_counts_them() {
    let pair = Arc::new((Lock::new(false), Condition::new()));
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let pair = Arc::clone(&pair);
            tokio::spawn(async move {
                let (lock, cond) = &*pair;
                drop(cond.wait_for(lock.lock().await, |go| **go).await);
            })
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let pair = Arc::clone(&pair);
            std::thread::spawn(move || {
                let (lock, cond) = &*pair;
                drop(cond.wait_for_blocking(lock.lock_blocking(), |go| **go));
            })
        })
        .collect();
    let (lock, cond) = &*pair;
    eventually_async("five waiters", || cond.waiters() == 5).await;
    let mut go = lock.lock().await;
    *go = true;
    assert_eq!(cond.notify_all(), 5);
    drop(go);
    for task in tasks {
        within("task after notify_all", task).await.unwrap();
    }
    for thread in threads {
        join_thread("thread after notify_all", thread).await;
    }
    assert_eq!(cond.waiters(), 0);
}

#[tokio::test]
async fn a_thread_in_wait_blocking_is_woken_by_a_task() {
    let pair = Arc::new((Lock::new(0), Condition::new()));
    let thread = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            let (lock, cond) = &*pair;
            let mut guard = lock.lock_blocking();
            while *guard == 0 {
                guard = cond.wait_blocking(guard);
            }
            *guard
        })
    };
    let (lock, cond) = &*pair;
    eventually_async("the thread waits", || cond.waiters() == 1).await;
    let notifier = {
        let pair = Arc::clone(&pair);
        tokio::spawn(async move {
            let (lock, cond) = &*pair;
            *lock.lock().await = 7;
            cond.notify_one()
        })
    };
    assert!(within("notifying task", notifier).await.unwrap());
    assert_eq!(join_thread("thread woken by a task", thread).await, 7);
    assert!(!lock.is_locked());
}

#[tokio::test]
async fn a_task_is_woken_by_a_thread() {
    let pair = Arc::new((Lock::new(0), Condition::new()));
    let thread = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            let (lock, cond) = &*pair;
            eventually("the task waits", || cond.waiters() == 1);
            *lock.lock_blocking() = 7;
            cond.notify_one()
        })
    };
    let (lock, cond) = &*pair;
    let mut guard = lock.lock().await;
    while *guard == 0 {
        guard = within("task woken by a thread", cond.wait(guard)).await;
    }
    assert_eq!(*guard, 7);
    drop(guard);
    assert!(join_thread("notifying thread", thread).await);
}

#[test]
fn wait_for_returns_at_once_when_the_predicate_holds() {
    let (lock, cond) = (Lock::new(3), Condition::new());
    let mut waiting = task::spawn(cond.wait_for(lock.lock_blocking(), |n| **n == 3));
    let guard = assert_ready!(waiting.poll(), "no wait when the predicate holds");
    assert_eq!(*guard, 3);
    drop(guard);
    let guard = cond.wait_for_blocking(lock.lock_blocking(), |n| **n == 3);
    assert_eq!(*guard, 3);
    assert_eq!(cond.waiters(), 0);
}

/// Makes three changes, each once the waiter has checked the previous state
/// and waits again; the waiter's predicate holds only after the third.
async fn drive_three_changes(pair: &(Lock<u32>, Condition), checks: &AtomicUsize) {
    let (lock, cond) = pair;
    for value in 1..=3 {
        eventually_async("the waiter checked the previous state", || {
            checks.load(Ordering::SeqCst) == value as usize
        })
        .await;
        // Taking the lock proves the waiter is back in `wait` (it released it).
        let mut guard = within("lock", lock.lock()).await;
        *guard = value;
        assert_eq!(cond.notify_all(), 1, "exactly the one waiter");
    }
}

#[tokio::test]
async fn wait_for_rechecks_the_predicate_after_every_wake_up() {
    let pair = Arc::new((Lock::new(0u32), Condition::new()));
    let checks = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let (pair, checks) = (Arc::clone(&pair), Arc::clone(&checks));
        tokio::spawn(async move {
            let (lock, cond) = &*pair;
            let guard = cond
                .wait_for(lock.lock().await, |n| {
                    checks.fetch_add(1, Ordering::SeqCst);
                    **n == 3
                })
                .await;
            *guard
        })
    };
    drive_three_changes(&pair, &checks).await;
    assert_eq!(within("wait_for", waiter).await.unwrap(), 3);
    assert_eq!(checks.load(Ordering::SeqCst), 4, "one check per wake-up");
}

#[tokio::test]
async fn wait_for_blocking_rechecks_the_predicate_after_every_wake_up() {
    let pair = Arc::new((Lock::new(0u32), Condition::new()));
    let checks = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let (pair, checks) = (Arc::clone(&pair), Arc::clone(&checks));
        std::thread::spawn(move || {
            let (lock, cond) = &*pair;
            let guard = cond.wait_for_blocking(lock.lock_blocking(), |n| {
                checks.fetch_add(1, Ordering::SeqCst);
                **n == 3
            });
            *guard
        })
    };
    drive_three_changes(&pair, &checks).await;
    assert_eq!(join_thread("wait_for_blocking", waiter).await, 3);
    assert_eq!(checks.load(Ordering::SeqCst), 4, "one check per wake-up");
}

// ---- timeouts -----------------------------------------------------------------

#[cfg(feature = "tokio")]
#[tokio::test]
async fn wait_timeout_times_out_without_a_notification_and_relocks() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    let start = Instant::now();
    let (guard, notified) =
        within("wait_timeout", cond.wait_timeout(lock.lock().await, SHORT)).await;
    assert!(!notified);
    assert!(
        start.elapsed() >= SHORT,
        "gave up early: {:?}",
        start.elapsed()
    );
    assert!(lock.is_locked(), "the guard came back locked");
    drop(guard);
    assert_eq!(cond.waiters(), 0);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn wait_timeout_reports_a_notification() {
    let pair = Arc::new((Lock::new(()), Condition::new()));
    let waiter = {
        let pair = Arc::clone(&pair);
        tokio::spawn(async move {
            let (lock, cond) = &*pair;
            cond.wait_timeout(lock.lock().await, LIMIT).await.1
        })
    };
    let (_, cond) = &*pair;
    eventually_async("the task waits", || cond.waiters() == 1).await;
    assert!(cond.notify_one());
    assert!(within("wait_timeout", waiter).await.unwrap());
}

#[test]
fn wait_timeout_blocking_times_out_or_reports_a_notification() {
    let pair = Arc::new((Lock::new(()), Condition::new()));
    let (lock, cond) = &*pair;
    let start = Instant::now();
    let (guard, notified) = cond.wait_timeout_blocking(lock.lock_blocking(), SHORT);
    assert!(!notified);
    assert!(
        start.elapsed() >= SHORT,
        "gave up early: {:?}",
        start.elapsed()
    );
    assert!(lock.is_locked());
    drop(guard);

    let waiter = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            let (lock, cond) = &*pair;
            cond.wait_timeout_blocking(lock.lock_blocking(), LIMIT).1
        })
    };
    eventually("the thread waits", || cond.waiters() == 1);
    // Taking the lock proves the waiter is parked (it released the lock).
    drop(lock.lock_blocking());
    assert!(cond.notify_one());
    assert!(join_within("wait_timeout_blocking", waiter));
}

/// Wakes whoever waits on `pair` over and over, flipping the value between 1
/// and 2 (never 3), until `stop` is set.
fn spawn_flipper(pair: &Arc<(Lock<u32>, Condition)>, stop: &Arc<AtomicBool>) -> JoinHandle<usize> {
    let (pair, stop) = (Arc::clone(pair), Arc::clone(stop));
    std::thread::spawn(move || {
        let (lock, cond) = &*pair;
        let mut woken = 0;
        while !stop.load(Ordering::SeqCst) {
            if cond.waiters() == 0 {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            let mut value = lock.lock_blocking();
            *value = if *value == 1 { 2 } else { 1 };
            woken += cond.notify_all();
        }
        woken
    })
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_timeout_deadline_covers_the_whole_call() {
    let timeout = Duration::from_millis(200);
    let pair = Arc::new((Lock::new(0u32), Condition::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = spawn_flipper(&pair, &stop);
    let (lock, cond) = &*pair;
    let mut checks = 0;
    let start = Instant::now();
    let (guard, holds) = within(
        "wait_for_timeout under a stream of notifications",
        cond.wait_for_timeout(lock.lock().await, timeout, |n| {
            checks += 1;
            **n == 3
        }),
    )
    .await;
    let elapsed = start.elapsed();
    drop(guard);
    stop.store(true, Ordering::SeqCst);
    let woken = join_thread("flipper", flipper).await;
    assert!(!holds);
    assert!(elapsed >= timeout, "gave up early: {elapsed:?}");
    assert!(woken >= 1, "the waiter was woken during the call");
    assert!(
        checks >= 2,
        "the predicate was re-checked ({checks} checks)"
    );
}

#[test]
fn wait_for_timeout_blocking_deadline_covers_the_whole_call() {
    let timeout = Duration::from_millis(200);
    let pair = Arc::new((Lock::new(0u32), Condition::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = spawn_flipper(&pair, &stop);
    let waiter = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            let (lock, cond) = &*pair;
            let mut checks = 0;
            let start = Instant::now();
            let (_guard, holds) =
                cond.wait_for_timeout_blocking(lock.lock_blocking(), timeout, |n| {
                    checks += 1;
                    **n == 3
                });
            (holds, start.elapsed(), checks)
        })
    };
    let (holds, elapsed, checks) = join_within(
        "wait_for_timeout_blocking under a stream of notifications",
        waiter,
    );
    stop.store(true, Ordering::SeqCst);
    let woken = join_within("flipper", flipper);
    assert!(!holds);
    assert!(elapsed >= timeout, "gave up early: {elapsed:?}");
    assert!(woken >= 1, "the waiter was woken during the call");
    assert!(
        checks >= 2,
        "the predicate was re-checked ({checks} checks)"
    );
}

/// Sets the value to true under the lock, without notifying, once the waiter
/// waits: only the final re-check after the deadline can see it.
fn set_without_notifying(pair: &Arc<(Lock<bool>, Condition)>) -> JoinHandle<()> {
    let pair = Arc::clone(pair);
    std::thread::spawn(move || {
        let (lock, cond) = &*pair;
        eventually("the waiter waits", || cond.waiters() == 1);
        *lock.lock_blocking() = true;
    })
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_timeout_returns_the_predicates_last_value() {
    let pair = Arc::new((Lock::new(false), Condition::new()));
    let setter = set_without_notifying(&pair);
    let (lock, cond) = &*pair;
    let start = Instant::now();
    let (guard, holds) = within(
        "wait_for_timeout",
        cond.wait_for_timeout(lock.lock().await, SHORT, |set| **set),
    )
    .await;
    assert!(
        start.elapsed() >= SHORT,
        "nobody notified: it ran to the deadline"
    );
    assert!(*guard);
    assert!(holds, "the predicate held at the last check");
    drop(guard);
    join_thread("setter", setter).await;

    // And false when it never held.
    let (_, holds) = cond
        .wait_for_timeout(lock.lock().await, SHORT, |set| !**set)
        .await;
    assert!(!holds);
}

#[test]
fn wait_for_timeout_blocking_returns_the_predicates_last_value() {
    let pair = Arc::new((Lock::new(false), Condition::new()));
    let setter = set_without_notifying(&pair);
    let (lock, cond) = &*pair;
    let start = Instant::now();
    let (guard, holds) = cond.wait_for_timeout_blocking(lock.lock_blocking(), SHORT, |set| **set);
    assert!(
        start.elapsed() >= SHORT,
        "nobody notified: it ran to the deadline"
    );
    assert!(*guard);
    assert!(holds, "the predicate held at the last check");
    drop(guard);
    join_within("setter", setter);

    let (_, holds) = cond.wait_for_timeout_blocking(lock.lock_blocking(), SHORT, |set| !**set);
    assert!(!holds);
}

// ---- guard kinds ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_with_owned_lock_guards_in_spawned_tasks() {
    let lock = Arc::new(Lock::new(false));
    let cond = Arc::new(Condition::new());
    let waiter = {
        let (lock, cond) = (Arc::clone(&lock), Arc::clone(&cond));
        tokio::spawn(async move {
            let guard = lock.lock_owned().await;
            let guard = cond.wait_for(guard, |ready| **ready).await;
            assert!(Arc::ptr_eq(guard.lock(), &lock));
            *guard
        })
    };
    eventually_async("the task waits", || cond.waiters() == 1).await;
    let mut guard = within("lock while the task waits", lock.lock_owned()).await;
    *guard = true;
    assert!(cond.notify_one());
    drop(guard);
    assert!(within("wait with an owned guard", waiter).await.unwrap());
}

#[test]
fn owned_lock_guard_wait_blocking() {
    let lock = Arc::new(Lock::new(0));
    let cond = Arc::new(Condition::new());
    let waiter = {
        let (lock, cond) = (Arc::clone(&lock), Arc::clone(&cond));
        std::thread::spawn(move || *cond.wait_for_blocking(lock.lock_owned_blocking(), |n| **n > 0))
    };
    eventually("the thread waits", || cond.waiters() == 1);
    *lock.lock_owned_blocking() = 5;
    assert!(cond.notify_one());
    assert_eq!(
        join_within("wait_for_blocking with an owned guard", waiter),
        5
    );
}

#[test]
fn rlock_wait_blocking_releases_every_level_and_restores_them() {
    let rlock = Arc::new(RLock::new(AtomicBool::new(false)));
    let cond = Arc::new(Condition::new());
    let waiter = {
        let (rlock, cond) = (Arc::clone(&rlock), Arc::clone(&cond));
        std::thread::spawn(move || {
            let first = rlock.lock_blocking();
            let second = rlock.lock_blocking();
            let third = rlock.lock_blocking();
            assert_eq!(rlock.recursion_count(), 3);
            let third = cond.wait_for_blocking(third, |ready| ready.load(Ordering::SeqCst));
            let restored = rlock.recursion_count();
            drop((first, second, third));
            (restored, rlock.is_locked())
        })
    };
    eventually("the thread waits", || cond.waiters() == 1);
    // Another thread (this one) can take the lock while it waits: waiting
    // released all three levels.
    let guard = rlock.lock_blocking();
    assert_eq!(rlock.recursion_count(), 1);
    guard.store(true, Ordering::SeqCst);
    assert!(cond.notify_one());
    drop(guard);
    assert_eq!(
        join_within("RLock waiter", waiter),
        (3, false),
        "recursion count 3 restored; every level released at the end"
    );
}

#[test]
fn a_pending_rlock_wait_has_released_its_level() {
    let (rlock, cond) = (RLock::new(()), Condition::new());
    let only = rlock.lock_blocking();
    let mut waiting = task::spawn(cond.wait(only));
    assert_pending!(waiting.poll());
    assert!(!rlock.is_locked());
    assert_eq!(rlock.recursion_count(), 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let other = rlock.try_lock().expect("another thread can lock it");
            assert_eq!(rlock.recursion_count(), 1);
            assert!(cond.notify_one());
            drop(other);
        });
    });
    let only = assert_ready!(waiting.poll(), "notified and the lock is free");
    assert_eq!(rlock.recursion_count(), 1);
    drop(only);
    assert!(!rlock.is_locked());
}

/// The level comes back to the caller that relocks: a wait that began on one
/// thread and completes on another (a task of a multi-threaded executor
/// without task identity) leaves that thread the owner, as `RLock::lock` does.
#[test]
fn an_rlock_level_is_restored_to_the_thread_that_completes_the_wait() {
    let (rlock, cond) = (RLock::new(()), Condition::new());
    let mut waiting = std::thread::scope(|s| {
        s.spawn(|| {
            let only = rlock.lock_blocking();
            let mut waiting = task::spawn(cond.wait(only));
            assert_pending!(waiting.poll());
            waiting
        })
        .join()
        .unwrap()
    });
    assert!(!rlock.is_locked());
    assert!(cond.notify_one());
    let only = assert_ready!(waiting.poll(), "notified and the lock is free");
    assert!(rlock.is_owned(), "the thread that relocked owns the level");
    assert_eq!(rlock.recursion_count(), 1);
    drop(only);
    assert!(!rlock.is_locked());
}

#[tokio::test]
async fn rlock_wait_in_a_task_releases_its_level_and_restores_it() {
    let rlock = Arc::new(RLock::new(AtomicBool::new(false)));
    let cond = Arc::new(Condition::new());
    let waiter = {
        let (rlock, cond) = (Arc::clone(&rlock), Arc::clone(&cond));
        tokio::spawn(async move {
            let mut only = rlock.lock().await;
            while !only.load(Ordering::SeqCst) {
                only = cond.wait(only).await;
            }
            let restored = rlock.recursion_count();
            drop(only);
            (restored, rlock.is_locked())
        })
    };
    eventually_async("the task waits", || cond.waiters() == 1).await;
    assert!(!rlock.is_locked(), "waiting released the level");
    let thread = {
        let (rlock, cond) = (Arc::clone(&rlock), Arc::clone(&cond));
        std::thread::spawn(move || {
            let guard = rlock.lock_blocking();
            guard.store(true, Ordering::SeqCst);
            cond.notify_one()
        })
    };
    assert!(join_thread("thread locking while the task waits", thread).await);
    assert_eq!(
        within("RLock waiter task", waiter).await.unwrap(),
        (1, false)
    );
}

/// Issue 9, scenario 2: an async wait cannot give back outer levels it had
/// released if its future is cancelled, so it refuses them up front (Python
/// raises `RuntimeError` for misuse too), before anything is released: the
/// caller still owns every level it held, minus the guard it gave away.
#[test]
fn an_async_wait_on_a_nested_rlock_guard_is_refused_up_front() {
    let (rlock, cond) = (RLock::new(()), Condition::new());
    let outer = rlock.lock_blocking();
    let inner = rlock.lock_blocking();
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(cond.wait(inner));
    }))
    .expect_err("an async wait with outer levels held must be refused");
    let message = common::panic_message(refused);
    assert!(
        message.contains("wait_blocking") && message.contains("2 levels"),
        "unclear message: {message}"
    );
    assert!(rlock.is_owned());
    assert_eq!(rlock.recursion_count(), 1, "only the inner guard is gone");
    assert_eq!(cond.waiters(), 0);
    drop(outer);
    assert!(!rlock.is_locked());
}

/// Issue 9, scenario 2, as reported: a task holds two levels and its
/// `wait_timeout` would time out (or be cancelled by `select!`); the outer
/// level must stay the task's, and no other caller may get in meanwhile.
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_rlock_wait_never_hands_the_outer_level_to_another_caller() {
    use futures::FutureExt;
    let rlock = Arc::new(RLock::new(()));
    let cond = Condition::new();
    let outer = rlock.lock().await;
    let inner = rlock.lock().await;
    let refused = std::panic::AssertUnwindSafe(async { cond.wait_timeout(inner, SHORT).await })
        .catch_unwind()
        .await;
    assert!(refused.is_err(), "the nested async wait was not refused");
    assert!(rlock.is_owned());
    assert_eq!(rlock.recursion_count(), 1);
    let other = {
        let rlock = Arc::clone(&rlock);
        std::thread::spawn(move || rlock.try_lock().is_some())
    };
    assert!(
        !join_thread("thread trying the lock", other).await,
        "another caller got into the lock while the task still holds its outer level"
    );
    drop(outer);
    assert!(!rlock.is_locked());
}

/// The blocking forms cannot be cancelled half-way, so they keep Python's
/// semantics: every level is released while waiting and restored after.
#[test]
fn a_nested_rlock_wait_blocking_releases_and_restores_every_level() {
    let pair = Arc::new((RLock::new(AtomicBool::new(false)), Condition::new()));
    let waiter = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            let (rlock, cond) = &*pair;
            let outer = rlock.lock_blocking();
            let mut inner = rlock.lock_blocking();
            while !inner.load(Ordering::SeqCst) {
                inner = cond.wait_blocking(inner);
            }
            let restored = rlock.recursion_count();
            drop(inner);
            let after_inner = rlock.recursion_count();
            drop(outer);
            (restored, after_inner, rlock.is_locked())
        })
    };
    let (rlock, cond) = &*pair;
    eventually("the thread waits", || cond.waiters() == 1);
    {
        let guard = rlock.lock_blocking();
        assert_eq!(rlock.recursion_count(), 1, "both levels were released");
        guard.store(true, Ordering::SeqCst);
        assert!(cond.notify_one());
    }
    assert_eq!(join_within("nested waiter", waiter), (2, 1, false));
}

/// A raw `release()` gives back only levels taken with `acquire`: releasing
/// a guard's level would leave a guard that, when it drops, gives back a
/// level of whoever holds the lock by then.
#[test]
fn a_raw_release_never_takes_a_guards_level() {
    let rlock = RLock::new(());
    let guard = rlock.lock_blocking();
    assert_eq!(rlock.release(), Err(ambisync::ReleaseError::NotOwner));
    assert_eq!(rlock.recursion_count(), 1, "the guard keeps its level");
    rlock.acquire_blocking();
    assert_eq!(rlock.recursion_count(), 2);
    assert_eq!(rlock.release(), Ok(()), "the acquired level goes");
    assert_eq!(rlock.release(), Err(ambisync::ReleaseError::NotOwner));
    assert!(rlock.is_owned());
    drop(guard);
    assert!(!rlock.is_locked());
}

// ---- cancel safety ----------------------------------------------------------------

#[test]
fn a_notified_waiter_dropped_before_it_runs_passes_the_wake_up_on() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    let first = start_waiting(&lock, &cond);
    let mut waiters = vec![None, Some(start_waiting(&lock, &cond))];
    assert_eq!(cond.notify(1), 1); // the oldest: `first`
    drop(first); // notified, never polled again
    assert!(
        waiters[1].as_ref().is_some_and(Spawn::is_woken),
        "the wake-up was not passed on"
    );
    assert_eq!(poll_all(&mut waiters), [1], "the wake-up was lost");
    assert_eq!(cond.waiters(), 0);
}

#[test]
fn a_notified_waiter_dropped_before_it_runs_passes_the_wake_up_to_a_thread() {
    let pair = Arc::new((Lock::new(()), Condition::new()));
    let (lock, cond) = &*pair;
    let first = start_waiting(lock, cond);
    let thread = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            let (lock, cond) = &*pair;
            drop(cond.wait_blocking(lock.lock_blocking()));
        })
    };
    eventually("future and thread wait", || cond.waiters() == 2);
    // Taking the lock proves the thread is parked (it released the lock).
    drop(lock.lock_blocking());
    assert_eq!(cond.notify(1), 1);
    drop(first);
    join_within("thread after the notified future was dropped", thread);
    assert_eq!(cond.waiters(), 0);
}

#[test]
fn a_notified_waiter_dropped_while_it_relocks_passes_the_wake_up_on() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    let mut first = start_waiting(&lock, &cond);
    let mut waiters = vec![None, Some(start_waiting(&lock, &cond))];
    let notifier = lock.try_lock().expect("both waiters released the lock");
    assert_eq!(cond.notify(1), 1);
    assert_pending!(
        first.poll(),
        "it took the notification but cannot relock: the notifier holds the lock"
    );
    assert_eq!(
        cond.waiters(),
        1,
        "only the second still waits for a notification"
    );
    drop(first);
    drop(notifier);
    assert!(
        waiters[1].as_ref().is_some_and(Spawn::is_woken),
        "the wake-up was not passed on"
    );
    assert_eq!(poll_all(&mut waiters), [1], "the wake-up was lost");
}

#[tokio::test]
async fn a_waiter_cancelled_by_select_after_its_notification_passes_it_on() {
    let pair = Arc::new((Lock::new(()), Condition::new()));
    let (lock, cond) = &*pair;
    let mut first = start_waiting(lock, cond);
    let second = {
        let pair = Arc::clone(&pair);
        tokio::spawn(async move {
            let (lock, cond) = &*pair;
            drop(cond.wait(lock.lock().await).await);
        })
    };
    eventually_async("two waiters", || cond.waiters() == 2).await;
    let notifier = lock.lock().await;
    assert_eq!(cond.notify(1), 1);
    // One poll consumes the notification; the relock then has to wait.
    assert_pending!(first.poll());
    // `select!` drops it for a branch that is ready at once.
    tokio::select! {
        biased;
        () = std::future::ready(()) => {}
        _ = &mut first => panic!("the biased branch goes first"),
    }
    drop(first);
    drop(notifier);
    within("the other waiter after the cancellation", second)
        .await
        .unwrap();
}

/// The waiter with a timeout is the oldest, so a `notify(1)` near its deadline
/// goes to it; whether it reports the notification or a timeout, the second
/// waiter must be woken exactly when the first did not take it.
fn check_race_outcome(cond: &Condition, timed_out_took_it: bool, second_done: impl Fn() -> bool) {
    if timed_out_took_it {
        assert_eq!(
            cond.notify(1),
            1,
            "the first reported the notification, so the second must still wait un-notified"
        );
    }
    eventually("the second waiter is woken", second_done);
}

#[test]
fn a_wait_timeout_blocking_expiring_as_it_is_notified_loses_nothing() {
    let pair = Arc::new((Lock::new(()), Condition::new()));
    let (lock, cond) = &*pair;
    for round in 0..100u64 {
        let ready = Arc::new(AtomicBool::new(false));
        let timed = {
            let (pair, ready) = (Arc::clone(&pair), Arc::clone(&ready));
            let timeout = Duration::from_micros(100 * (round % 20));
            std::thread::spawn(move || {
                let (lock, cond) = &*pair;
                let guard = lock.lock_blocking();
                ready.store(true, Ordering::SeqCst);
                cond.wait_timeout_blocking(guard, timeout).1
            })
        };
        // Once we can lock, the timed waiter has registered (or given up).
        eventually("the timed waiter started", || ready.load(Ordering::SeqCst));
        drop(lock.lock_blocking());
        let ready = Arc::new(AtomicBool::new(false));
        let second = {
            let (pair, ready) = (Arc::clone(&pair), Arc::clone(&ready));
            std::thread::spawn(move || {
                let (lock, cond) = &*pair;
                let guard = lock.lock_blocking();
                ready.store(true, Ordering::SeqCst);
                drop(cond.wait_blocking(guard));
            })
        };
        eventually("the second waiter started", || ready.load(Ordering::SeqCst));
        drop(lock.lock_blocking());

        assert_eq!(cond.notify(1), 1, "the second waiter at least was waiting");
        let notified = join_within("timed waiter", timed);
        check_race_outcome(cond, notified, || second.is_finished());
        join_within("second waiter", second);
        assert_eq!(cond.waiters(), 0, "round {round}");
    }
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_timeout_expiring_as_it_is_notified_loses_nothing() {
    let pair = Arc::new((Lock::new(()), Condition::new()));
    let (lock, cond) = &*pair;
    for round in 0..100u64 {
        let ready = Arc::new(AtomicBool::new(false));
        let timed = {
            let (pair, ready) = (Arc::clone(&pair), Arc::clone(&ready));
            let timeout = Duration::from_micros(100 * (round % 20));
            tokio::spawn(async move {
                let (lock, cond) = &*pair;
                let guard = lock.lock().await;
                ready.store(true, Ordering::SeqCst);
                cond.wait_timeout(guard, timeout).await.1
            })
        };
        eventually_async("the timed waiter started", || ready.load(Ordering::SeqCst)).await;
        drop(within("lock", lock.lock()).await);
        let ready = Arc::new(AtomicBool::new(false));
        let second = {
            let (pair, ready) = (Arc::clone(&pair), Arc::clone(&ready));
            std::thread::spawn(move || {
                let (lock, cond) = &*pair;
                let guard = lock.lock_blocking();
                ready.store(true, Ordering::SeqCst);
                drop(cond.wait_blocking(guard));
            })
        };
        eventually_async("the second waiter started", || ready.load(Ordering::SeqCst)).await;
        drop(within("lock", lock.lock()).await);

        assert_eq!(cond.notify(1), 1, "the second waiter at least was waiting");
        let notified = within("timed waiter", timed).await.unwrap();
        if notified {
            assert_eq!(
                cond.notify(1),
                1,
                "the first reported the notification, so the second must still wait un-notified"
            );
        }
        join_thread("second waiter", second).await;
        assert_eq!(cond.waiters(), 0, "round {round}");
    }
}

// ---- `_blocking` inside a runtime ---------------------------------------------

/// Notifies `cond` repeatedly from a thread once [`LIMIT`] has passed without
/// the returned sender being dropped, so that a `_blocking` wait that wrongly
/// did not panic still ends (and its test fails instead of hanging).
#[cfg(feature = "tokio")]
fn wake_after_limit(cond: &Arc<Condition>) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let cond = Arc::clone(cond);
    std::thread::spawn(move || {
        if rx.recv_timeout(LIMIT) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            while Arc::strong_count(&cond) > 1 {
                cond.notify_all();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
    tx
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_waits_inside_a_task_panic_naming_the_async_form() {
    type Call = fn(&Condition, LockGuard<'_, ()>);
    let cases: [(&str, &str, Call); 4] = [
        ("wait_blocking", "wait(", |cond, guard| {
            drop(cond.wait_blocking(guard))
        }),
        ("wait_timeout_blocking", "wait_timeout(", |cond, guard| {
            drop(cond.wait_timeout_blocking(guard, LIMIT))
        }),
        ("wait_for_blocking", "wait_for(", |cond, guard| {
            drop(cond.wait_for_blocking(guard, |_| false))
        }),
        (
            "wait_for_timeout_blocking",
            "wait_for_timeout(",
            |cond, guard| drop(cond.wait_for_timeout_blocking(guard, LIMIT, |_| false)),
        ),
    ];
    let lock = Arc::new(Lock::new(()));
    let cond = Arc::new(Condition::new());
    for (method, async_form, call) in cases {
        let _watchdog = wake_after_limit(&cond);
        let task = {
            let (lock, cond) = (Arc::clone(&lock), Arc::clone(&cond));
            tokio::spawn(async move { call(&cond, lock.lock().await) })
        };
        let err = within(method, task)
            .await
            .expect_err("a `_blocking` wait inside a task must panic");
        let message = panic_message(err.into_panic());
        assert!(message.contains(method), "{method}: {message}");
        assert!(message.contains(async_form), "{method}: {message}");
        assert!(
            !lock.is_locked(),
            "{method}: the guard was released by unwinding"
        );
        assert_eq!(cond.waiters(), 0, "{method}");
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[should_panic(expected = "wait_blocking")]
async fn wait_blocking_in_block_on_panics() {
    let lock = Lock::new(());
    let cond = Arc::new(Condition::new());
    let _watchdog = wake_after_limit(&cond);
    drop(cond.wait_blocking(lock.lock().await));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn spawn_blocking_closures_may_wait() {
    let pair = Arc::new((Lock::new(false), Condition::new()));
    let blocking = {
        let pair = Arc::clone(&pair);
        tokio::task::spawn_blocking(move || {
            let (lock, cond) = &*pair;
            *cond.wait_for_blocking(lock.lock_blocking(), |ready| **ready)
        })
    };
    let (lock, cond) = &*pair;
    eventually_async("spawn_blocking waits", || cond.waiters() == 1).await;
    *lock.lock().await = true;
    assert!(cond.notify_one());
    assert!(within("spawn_blocking", blocking).await.unwrap());
}

#[test]
fn debug_shows_the_waiters() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    assert!(format!("{cond:?}").contains("waiters: 0"));
    let waiting = start_waiting(&lock, &cond);
    let shown = format!("{cond:?}");
    assert!(shown.contains("waiters: 1"), "{shown}");
    drop(waiting);
}
