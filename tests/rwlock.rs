//! Integration tests of `RwLock`: every form of `read`, `write` and
//! `upgradable_read` (borrowed and owned guards), readers sharing and
//! writers excluding between async tasks and OS threads, writers not starved
//! by a stream of readers, cancellation after a wake-up passing the turn on,
//! async-lock#91 (two pending writes awaited in reverse order), upgrades and
//! downgrades, mapped guards, `Debug`, no poisoning, and the panic of a
//! `_blocking` call that would stall a runtime thread.

mod common;

use futures::FutureExt;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use ambisync::{
    OwnedRwLockMappedWriteGuard, OwnedRwLockReadGuard, OwnedRwLockUpgradableReadGuard,
    OwnedRwLockWriteGuard, RwLock, RwLockMappedWriteGuard, RwLockReadGuard,
    RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use common::{
    LIMIT, StopOnDrop, eventually, eventually_async, hold_in_thread, join_thread, join_within,
    within,
};

/// A short timeout for the cases where expiring is the point.
const SHORT: Duration = Duration::from_millis(30);

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn types_guards_and_futures_are_send_and_sync() {
    assert_send_sync::<RwLock<Vec<u8>>>();
    assert_send_sync::<RwLockReadGuard<'static, Vec<u8>>>();
    assert_send_sync::<RwLockWriteGuard<'static, Vec<u8>>>();
    assert_send_sync::<RwLockUpgradableReadGuard<'static, Vec<u8>>>();
    assert_send_sync::<RwLockMappedWriteGuard<'static, [u8]>>();
    assert_send_sync::<OwnedRwLockReadGuard<Vec<u8>, [u8]>>();
    assert_send_sync::<OwnedRwLockWriteGuard<Vec<u8>>>();
    assert_send_sync::<OwnedRwLockUpgradableReadGuard<Vec<u8>>>();
    assert_send_sync::<OwnedRwLockMappedWriteGuard<Vec<u8>, [u8]>>();

    let lock = Arc::new(RwLock::new(0u32));
    assert_send(&lock.read());
    assert_send(&lock.write());
    assert_send(&lock.upgradable_read());
    assert_send(&lock.read_owned());
    assert_send(&lock.write_owned());
    assert_send(&lock.upgradable_read_owned());
    assert_send(&RwLockUpgradableReadGuard::upgrade(
        lock.try_upgradable_read().unwrap(),
    ));
    #[cfg(feature = "tokio")]
    {
        assert_send(&lock.read_timeout(SHORT));
        assert_send(&lock.write_timeout(SHORT));
        assert_send(&lock.upgradable_read_timeout(SHORT));
        assert_send(&lock.read_owned_timeout(SHORT));
        assert_send(&lock.write_owned_timeout(SHORT));
        assert_send(&lock.upgradable_read_owned_timeout(SHORT));
    }
}

#[test]
fn new_default_from_get_mut_and_into_inner() {
    let mut lock = RwLock::new(3);
    assert!(!lock.is_locked());
    *lock.get_mut() += 1;
    assert_eq!(lock.into_inner(), 4);
    assert_eq!(RwLock::<u8>::default().into_inner(), 0);
    assert_eq!(RwLock::from("x").into_inner(), "x");
}

#[test]
fn readers_share_and_a_writer_excludes() {
    let lock = RwLock::new(1);
    let a = lock.try_read().unwrap();
    let b = lock.try_read().unwrap();
    let u = lock.try_upgradable_read().unwrap();
    assert_eq!(lock.readers(), 3);
    assert!(lock.try_write().is_none());
    assert!(
        lock.try_upgradable_read().is_none(),
        "one upgradable reader"
    );
    drop((a, b, u));
    let mut w = lock.try_write().unwrap();
    *w = 2;
    assert!(lock.is_write_locked());
    assert!(lock.try_read().is_none());
    assert!(lock.try_upgradable_read().is_none());
    assert!(lock.try_write().is_none());
    drop(w);
    assert!(!lock.is_locked());
    assert_eq!(*lock.try_read().unwrap(), 2);
}

#[test]
fn debug_shows_the_state_without_blocking() {
    let lock = RwLock::new(7);
    assert_eq!(
        format!("{lock:?}"),
        "RwLock { readers: 0, writer: false, upgradable: false, waiters: 0, value: 7 }"
    );
    let u = lock.try_upgradable_read().unwrap();
    assert_eq!(
        format!("{lock:?}"),
        "RwLock { readers: 1, writer: false, upgradable: true, waiters: 0, value: 7 }"
    );
    assert_eq!(format!("{u:?}"), "7");
    drop(u);
    let w = lock.try_write().unwrap();
    let mut waiting = Box::pin(lock.read());
    assert!((&mut waiting).now_or_never().is_none());
    assert_eq!(
        format!("{lock:?}"),
        "RwLock { readers: 0, writer: true, upgradable: false, waiters: 1, value: <locked> }"
    );
    assert_eq!(format!("{w:?}"), "7");
    drop(waiting);
    assert_eq!(lock.waiters(), 0);
}

// ---- every form ---------------------------------------------------------------

fn hold_write(lock: &Arc<RwLock<u64>>) -> std::sync::mpsc::Sender<()> {
    hold_in_thread(lock, |lock| Box::new(lock.write_blocking()))
}

fn hold_read(lock: &Arc<RwLock<u64>>) -> std::sync::mpsc::Sender<()> {
    hold_in_thread(lock, |lock| Box::new(lock.read_blocking()))
}

fn hold_upgradable(lock: &Arc<RwLock<u64>>) -> std::sync::mpsc::Sender<()> {
    hold_in_thread(lock, |lock| Box::new(lock.upgradable_read_blocking()))
}

#[test]
fn blocking_forms_wait_for_a_task_or_thread_to_release() {
    let lock = Arc::new(RwLock::new(0u64));

    let held = hold_write(&lock);
    let reader = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || *lock.read_blocking() + *lock.read_owned_blocking())
    };
    eventually("the reader waits", || lock.waiters() == 1);
    drop(held);
    assert_eq!(join_within("read_blocking", reader), 0);

    let held = hold_read(&lock);
    let writer = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            *lock.write_blocking() += 1;
            *lock.write_owned_blocking() += 1;
        })
    };
    eventually("the writer waits", || lock.waiters() == 1);
    drop(held);
    join_within("write_blocking", writer);

    let held = hold_upgradable(&lock);
    let upgrader = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let guard = lock.upgradable_read_blocking();
            *RwLockUpgradableReadGuard::upgrade_blocking(guard) += 1;
            let guard = lock.upgradable_read_owned_blocking();
            *OwnedRwLockUpgradableReadGuard::upgrade_blocking(guard) += 1;
        })
    };
    eventually("the upgradable reader waits", || lock.waiters() == 1);
    assert!(
        lock.try_read().is_none(),
        "a waiting upgradable reader holds new readers back, as a writer does"
    );
    drop(held);
    join_within("upgradable_read_blocking", upgrader);
    assert_eq!(*lock.try_read().unwrap(), 4);
    assert_eq!(lock.waiters(), 0);
}

#[test]
fn timeout_blocking_forms_give_up_or_succeed() {
    let lock = Arc::new(RwLock::new(0u64));
    let held = hold_write(&lock);
    assert!(lock.read_timeout_blocking(SHORT).is_none());
    assert!(lock.read_owned_timeout_blocking(SHORT).is_none());
    assert!(lock.write_timeout_blocking(SHORT).is_none());
    assert!(lock.write_owned_timeout_blocking(SHORT).is_none());
    assert!(lock.upgradable_read_timeout_blocking(SHORT).is_none());
    assert!(lock.upgradable_read_owned_timeout_blocking(SHORT).is_none());
    assert_eq!(lock.waiters(), 0, "timed-out waiters are no longer counted");
    drop(held);
    eventually("the holder released", || !lock.is_locked());
    assert!(lock.read_timeout_blocking(LIMIT).is_some());
    assert!(lock.read_owned_timeout_blocking(LIMIT).is_some());
    assert!(lock.write_timeout_blocking(LIMIT).is_some());
    assert!(lock.write_owned_timeout_blocking(LIMIT).is_some());
    assert!(lock.upgradable_read_timeout_blocking(LIMIT).is_some());
    assert!(lock.upgradable_read_owned_timeout_blocking(LIMIT).is_some());
}

#[tokio::test]
async fn async_forms_wait_for_a_thread_to_release() {
    let lock = Arc::new(RwLock::new(0u64));
    let held = hold_write(&lock);
    let mut read = Box::pin(lock.read());
    let mut read_owned = Box::pin(lock.read_owned());
    assert!((&mut read).now_or_never().is_none());
    assert!((&mut read_owned).now_or_never().is_none());
    drop(held);
    assert_eq!(*within("read", read).await, 0);
    assert_eq!(*within("read_owned", read_owned).await, 0);

    let held = hold_read(&lock);
    let mut write = Box::pin(lock.write());
    assert!((&mut write).now_or_never().is_none());
    drop(held);
    *within("write", write).await += 1;
    let held = hold_read(&lock);
    let mut write_owned = Box::pin(lock.write_owned());
    assert!((&mut write_owned).now_or_never().is_none());
    drop(held);
    *within("write_owned", write_owned).await += 1;

    let held = hold_upgradable(&lock);
    let mut upgradable = Box::pin(lock.upgradable_read());
    assert!((&mut upgradable).now_or_never().is_none());
    drop(held);
    let guard = within("upgradable_read", upgradable).await;
    *within("upgrade", RwLockUpgradableReadGuard::upgrade(guard)).await += 1;
    let held = hold_upgradable(&lock);
    let mut upgradable_owned = Box::pin(lock.upgradable_read_owned());
    assert!((&mut upgradable_owned).now_or_never().is_none());
    drop(held);
    let guard = within("upgradable_read_owned", upgradable_owned).await;
    *within(
        "owned upgrade",
        OwnedRwLockUpgradableReadGuard::upgrade(guard),
    )
    .await += 1;
    assert_eq!(*lock.read().await, 4);
    assert_eq!(lock.waiters(), 0);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn timeout_forms_give_up_or_succeed() {
    let lock = Arc::new(RwLock::new(0u64));
    let held = hold_write(&lock);
    assert!(lock.read_timeout(SHORT).await.is_none());
    assert!(lock.read_owned_timeout(SHORT).await.is_none());
    assert!(lock.write_timeout(SHORT).await.is_none());
    assert!(lock.write_owned_timeout(SHORT).await.is_none());
    assert!(lock.upgradable_read_timeout(SHORT).await.is_none());
    assert!(lock.upgradable_read_owned_timeout(SHORT).await.is_none());
    assert_eq!(lock.waiters(), 0, "timed-out waiters are no longer counted");
    drop(held);
    eventually_async("the holder released", || !lock.is_locked()).await;
    assert!(lock.read_timeout(LIMIT).await.is_some());
    assert!(lock.read_owned_timeout(LIMIT).await.is_some());
    assert!(lock.write_timeout(LIMIT).await.is_some());
    assert!(lock.write_owned_timeout(LIMIT).await.is_some());
    assert!(lock.upgradable_read_timeout(LIMIT).await.is_some());
    assert!(lock.upgradable_read_owned_timeout(LIMIT).await.is_some());
}

#[test]
fn try_forms_never_wait() {
    let lock = Arc::new(RwLock::new(0u64));
    let read = lock.try_read_owned().unwrap();
    assert!(lock.try_read_owned().is_some());
    assert!(lock.try_write_owned().is_none());
    let upgradable = lock.try_upgradable_read_owned().unwrap();
    assert!(lock.try_upgradable_read_owned().is_none());
    drop((read, upgradable));
    let write = lock.try_write_owned().unwrap();
    assert!(lock.try_read_owned().is_none());
    drop(write);
    assert!(!lock.is_locked());
}

// ---- tasks and threads together ------------------------------------------------

/// Readers in tasks and writers on threads, then the other way round: every
/// reader sees a consistent pair (the writers keep both halves equal), and no
/// write is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_and_writers_on_tasks_and_threads_exclude_each_other() {
    const ROUNDS: u64 = 300;
    let lock = Arc::new(RwLock::new((0u64, 0u64)));
    let check = |pair: &(u64, u64)| assert_eq!(pair.0, pair.1, "a reader saw a half write");

    let reader_tasks: Vec<_> = (0..3)
        .map(|_| {
            let lock = Arc::clone(&lock);
            tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    check(&*lock.read().await);
                    let owned = lock.read_owned().await;
                    tokio::task::yield_now().await;
                    check(&owned);
                }
            })
        })
        .collect();
    let writer_threads: Vec<_> = (0..2)
        .map(|_| {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let mut pair = lock.write_blocking();
                    pair.0 += 1;
                    std::hint::spin_loop();
                    pair.1 += 1;
                }
            })
        })
        .collect();
    let writer_tasks: Vec<_> = (0..2)
        .map(|_| {
            let lock = Arc::clone(&lock);
            tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let mut pair = lock.write_owned().await;
                    pair.0 += 1;
                    tokio::task::yield_now().await;
                    pair.1 += 1;
                }
            })
        })
        .collect();
    let reader_threads: Vec<_> = (0..2)
        .map(|_| {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    check(&lock.read_blocking());
                    let guard = lock.upgradable_read_blocking();
                    check(&guard);
                    if guard.0 % 7 == 0 {
                        let mut pair = RwLockUpgradableReadGuard::upgrade_blocking(guard);
                        pair.0 += 1;
                        pair.1 += 1;
                        check(&RwLockWriteGuard::downgrade(pair));
                    }
                }
            })
        })
        .collect();
    for task in reader_tasks.into_iter().chain(writer_tasks) {
        within("task", task).await.unwrap();
    }
    for thread in writer_threads.into_iter().chain(reader_threads) {
        join_thread("thread", thread).await;
    }
    let pair = *lock.read().await;
    check(&pair);
    assert!(pair.0 >= 4 * ROUNDS, "lost writes: {pair:?}");
    assert_eq!(lock.waiters(), 0);
    assert!(!lock.is_locked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_guards_move_across_tasks_and_threads() {
    let lock = Arc::new(RwLock::new(vec![1]));
    let guard = lock.write_owned().await;
    let guard = std::thread::spawn(move || {
        let mut guard = guard;
        guard.push(2);
        guard
    })
    .join()
    .unwrap();
    let read = tokio::spawn(async move { OwnedRwLockWriteGuard::downgrade(guard) })
        .await
        .unwrap();
    let first = OwnedRwLockReadGuard::map(read, |v| &v[0]);
    let first = std::thread::spawn(move || {
        assert_eq!(*first, 1);
        first
    })
    .join()
    .unwrap();
    drop(first);
    assert_eq!(*lock.read().await, [1, 2]);
}

// ---- writers are not starved -------------------------------------------------

/// A waiting writer holds new readers back: observable at once on the state.
#[test]
fn a_waiting_writer_holds_new_readers_back() {
    let lock = Arc::new(RwLock::new(0u64));
    let reader = lock.read_blocking();
    let writer = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || *lock.write_blocking() += 1)
    };
    eventually("the writer waits", || lock.waiters() == 1);
    assert!(
        lock.try_read().is_none(),
        "a new reader passed a waiting writer"
    );
    assert!(lock.try_upgradable_read().is_none());
    let mut late_reader = Box::pin(lock.read());
    assert!((&mut late_reader).now_or_never().is_none());
    drop(reader);
    join_within("the writer after the last reader left", writer);
    assert_eq!(
        (&mut late_reader).now_or_never().map(|guard| *guard),
        Some(1),
        "the late reader enters after the writer"
    );
}

/// Four reader tasks keep the lock read-locked without a break (each holds
/// its guard across a yield, so that their holds overlap); a writer on a
/// thread, and one in a task, still get in, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_gets_in_under_a_storm_of_readers() {
    let lock = Arc::new(RwLock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(Arc::clone(&stop));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (lock, stop, reads) = (Arc::clone(&lock), Arc::clone(&stop), Arc::clone(&reads));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let guard = lock.read().await;
                    tokio::task::yield_now().await;
                    drop(guard);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    eventually_async("the readers run", || reads.load(Ordering::Relaxed) > 1000).await;
    let writer = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            (0..20).all(|_| {
                lock.write_timeout_blocking(LIMIT)
                    .map(|mut value| *value += 1)
                    .is_some()
            })
        })
    };
    for _ in 0..20 {
        *within("a writer task among the readers", lock.write()).await += 1;
    }
    assert!(
        join_thread("the writer thread among the readers", writer).await,
        "the writer thread was starved (timed out)"
    );
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        within("reader", reader).await.unwrap();
    }
    assert_eq!(*lock.read().await, 40);
}

// ---- cancellation -------------------------------------------------------------

/// The writer was next in line and woken by the last reader; dropped before
/// it looked, it must not leave the readers it held back blocked.
#[test]
fn a_woken_writer_dropped_before_it_looked_lets_the_held_back_readers_in() {
    let lock = Arc::new(RwLock::new(0u64));
    let reader = lock.read_blocking();
    let mut writer = Box::pin(lock.write());
    assert!((&mut writer).now_or_never().is_none());
    let mut task_reader = Box::pin(lock.read());
    assert!((&mut task_reader).now_or_never().is_none());
    let thread_reader = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || *lock.read_blocking())
    };
    eventually("the writer and two readers wait", || lock.waiters() == 3);
    drop(reader); // the last reader: wakes the writer
    drop(writer); // woken, never polled again
    assert!(
        (&mut task_reader).now_or_never().is_some(),
        "the task reader stayed held back"
    );
    assert_eq!(
        join_within(
            "the thread reader after the writer was dropped",
            thread_reader
        ),
        0
    );
    drop(task_reader);
    assert_eq!(lock.waiters(), 0);
    assert!(lock.try_write().is_some());
}

/// Two writers wait; the first is woken by the release and dropped: the
/// wake-up goes to the second (a thread).
#[test]
fn a_woken_writer_dropped_passes_its_wake_up_to_the_next_writer() {
    let lock = Arc::new(RwLock::new(0u64));
    let holder = lock.write_blocking();
    let mut first = Box::pin(lock.write());
    assert!((&mut first).now_or_never().is_none());
    let second = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || *lock.write_blocking() += 1)
    };
    eventually("two writers wait", || lock.waiters() == 2);
    drop(holder); // wakes the oldest writer: `first`
    drop(first);
    join_within("the second writer after the first was dropped", second);
    assert_eq!(*lock.try_read().unwrap(), 1);
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_timeout_expiring_as_the_readers_leave_loses_nothing() {
    let lock = Arc::new(RwLock::new(0u64));
    for round in 0..60u64 {
        let reader = lock.read_owned().await;
        let timed = {
            let lock = Arc::clone(&lock);
            let timeout = Duration::from_micros(100 * (round % 20));
            tokio::spawn(async move { lock.write_timeout(timeout).await.is_some() })
        };
        let late_reader = {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || drop(lock.read_blocking()))
        };
        drop(reader);
        within("timed writer", timed).await.unwrap();
        join_thread("the late reader", late_reader).await;
        eventually_async("all gone", || !lock.is_locked() && lock.waiters() == 0).await;
    }
}

#[tokio::test]
async fn a_dropped_read_future_is_no_longer_counted() {
    let lock = RwLock::new(0);
    let writer = lock.write().await;
    let mut reader = Box::pin(lock.read());
    assert!((&mut reader).now_or_never().is_none());
    assert_eq!(lock.waiters(), 1);
    drop(reader);
    assert_eq!(lock.waiters(), 0);
    drop(writer);
    assert!(lock.try_write().is_some());
}

/// async-lock#91: two `write()` futures polled in reverse order while a reader
/// holds the lock; the reader leaves (waking the one polled first) and the
/// task awaits the other one. It must get the lock: a woken future that is
/// not polled holds nothing.
#[tokio::test]
async fn two_pending_writes_awaited_in_reverse_order_do_not_hang() {
    let lock = RwLock::new(0);
    let reader = lock.read().await;
    let mut write_a = Box::pin(lock.write());
    let mut write_b = Box::pin(lock.write());
    std::future::poll_fn(|cx| {
        assert!(write_b.as_mut().poll(cx).is_pending());
        assert!(write_a.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    drop(reader);
    *within("the write awaited second", write_a).await += 1;
    *within("the write awaited last", write_b).await += 1;
    assert_eq!(*lock.read().await, 2);

    // The same with upgradable readers and a writer.
    let reader = lock.read().await;
    let mut upgradable = Box::pin(lock.upgradable_read());
    let mut write = Box::pin(lock.write());
    std::future::poll_fn(|cx| {
        assert!(write.as_mut().poll(cx).is_pending());
        assert!(upgradable.as_mut().poll(cx).is_ready());
        Poll::Ready(())
    })
    .await;
    drop(reader);
    drop(upgradable);
    *within("the write after the upgradable read", write).await += 1;
}

// ---- upgrade and downgrade ------------------------------------------------------

#[test]
fn an_upgrade_waits_for_the_readers_and_holds_new_ones_back() {
    let lock = Arc::new(RwLock::new(0u64));
    let reader = lock.read_blocking();
    let upgrader = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let guard = lock.upgradable_read_blocking();
            let mut writer = RwLockUpgradableReadGuard::upgrade_blocking(guard);
            *writer += 1;
        })
    };
    eventually("the upgrade waits", || {
        lock.waiters() == 1 && lock.readers() == 2
    });
    assert!(lock.try_read().is_none(), "a reader passed an upgrade");
    drop(reader);
    join_within("the upgrade after the reader left", upgrader);
    assert_eq!(*lock.try_read().unwrap(), 1);
}

/// An upgrade waiting for `reader` to leave (polled once), and a reader
/// thread it holds back.
fn upgrade_holding_a_reader_back(
    lock: &Arc<RwLock<u64>>,
) -> (
    RwLockReadGuard<'_, u64>,
    std::pin::Pin<Box<impl Future<Output = RwLockWriteGuard<'_, u64>>>>,
    std::thread::JoinHandle<u64>,
) {
    let reader = lock.read_blocking();
    let guard = lock.upgradable_read_blocking();
    let mut upgrade = Box::pin(RwLockUpgradableReadGuard::upgrade(guard));
    assert!((&mut upgrade).now_or_never().is_none());
    let held_back = {
        let lock = Arc::clone(lock);
        std::thread::spawn(move || *lock.read_blocking())
    };
    eventually("a reader is held back", || lock.waiters() == 2);
    (reader, upgrade, held_back)
}

/// Readers held back by an upgrade enter once the upgraded writer leaves
/// (found by `examples/config_cache.rs`: the upgrade forgot that readers were
/// parked).
#[test]
fn readers_held_back_by_an_upgrade_enter_after_the_upgraded_writer() {
    let lock = Arc::new(RwLock::new(0u64));
    let (reader, mut upgrade, held_back) = upgrade_holding_a_reader_back(&lock);
    drop(reader);
    let mut writer = (&mut upgrade)
        .now_or_never()
        .expect("the last other reader left");
    *writer = 3;
    drop(writer);
    assert_eq!(join_within("the held-back reader", held_back), 3);
}

#[test]
fn try_upgrade_and_upgrade_timeout_give_the_guard_back() {
    let lock = RwLock::new(0);
    let guard = lock.upgradable_read_blocking();
    let reader = lock.read_blocking();
    let guard = RwLockUpgradableReadGuard::try_upgrade(guard).unwrap_err();
    let guard = RwLockUpgradableReadGuard::upgrade_timeout_blocking(guard, SHORT).unwrap_err();
    assert!(
        lock.try_read().is_some(),
        "a timed-out upgrade no longer holds readers back"
    );
    drop(reader);
    let mut writer = RwLockUpgradableReadGuard::upgrade_timeout_blocking(guard, LIMIT).unwrap();
    *writer = 5;
    let upgradable = RwLockWriteGuard::downgrade_to_upgradable(writer);
    assert!(lock.try_read().is_some());
    assert!(lock.try_upgradable_read().is_none());
    let read = RwLockUpgradableReadGuard::downgrade(upgradable);
    assert!(lock.try_upgradable_read().is_some());
    assert_eq!(*read, 5);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn owned_upgrade_forms() {
    let lock = Arc::new(RwLock::new(0u64));
    let reader = lock.read_owned().await;
    let guard = lock.upgradable_read_owned().await;
    let guard = OwnedRwLockUpgradableReadGuard::try_upgrade(guard).unwrap_err();
    let guard = OwnedRwLockUpgradableReadGuard::upgrade_timeout(guard, SHORT)
        .await
        .unwrap_err();
    let mut upgrade = Box::pin(OwnedRwLockUpgradableReadGuard::upgrade_timeout(
        guard, LIMIT,
    ));
    assert!((&mut upgrade).now_or_never().is_none());
    drop(reader);
    let writer = within("owned upgrade", upgrade).await.unwrap();
    let guard = OwnedRwLockWriteGuard::downgrade_to_upgradable(writer);
    let read = OwnedRwLockUpgradableReadGuard::downgrade(guard);
    assert!(lock.try_upgradable_read().is_some());
    drop(read);
}

/// Dropping an upgrade future gives the upgradable access back and lets the
/// readers it held back in.
#[test]
fn a_dropped_upgrade_releases_the_access_and_the_held_back_readers() {
    let lock = Arc::new(RwLock::new(0u64));
    let (reader, upgrade, held_back) = upgrade_holding_a_reader_back(&lock);
    drop(reader); // wakes the upgrade
    drop(upgrade);
    assert_eq!(join_within("the held-back reader", held_back), 0);
    assert!(
        lock.try_write().is_some(),
        "the upgradable access was given back"
    );
}

#[test]
fn a_write_downgrade_lets_waiting_readers_in_but_no_writer() {
    let lock = Arc::new(RwLock::new(0u64));
    let mut writer = lock.write_blocking();
    let reader = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || *lock.read_blocking())
    };
    eventually("the reader waits", || lock.waiters() == 1);
    *writer = 9;
    let read = RwLockWriteGuard::downgrade(writer);
    assert_eq!(join_within("the reader after the downgrade", reader), 9);
    assert!(lock.try_write().is_none());
    drop(read);
    assert!(lock.try_write().is_some());
}

// ---- mapped guards -------------------------------------------------------------

#[test]
fn mapped_guards_narrow_and_keep_the_access() {
    let lock = Arc::new(RwLock::new((vec![1, 2], String::from("a"))));
    let mut text = RwLockWriteGuard::map(lock.write_blocking(), |pair| &mut pair.1);
    text.push('b');
    assert!(
        lock.try_read().is_none(),
        "a mapped write guard keeps the lock"
    );
    drop(text);
    let list = RwLockWriteGuard::map(lock.write_blocking(), |pair| &mut pair.0);
    let list = RwLockMappedWriteGuard::try_map(list, |v| v.get_mut(5)).unwrap_err();
    let mut first = RwLockMappedWriteGuard::map(list, |v| &mut v[0]);
    *first = 10;
    drop(first);

    let read = RwLockReadGuard::map(lock.read_blocking(), |pair| &pair.0[..]);
    assert_eq!(*read, [10, 2]);
    let read = RwLockReadGuard::try_map(read, |v| v.get(5)).unwrap_err();
    let second = RwLockReadGuard::try_map(read, |v| v.get(1)).unwrap();
    assert_eq!(*second, 2);
    assert!(
        lock.try_write().is_none(),
        "a mapped read guard keeps the lock"
    );
    drop(second);

    let owned = OwnedRwLockWriteGuard::map(lock.write_owned_blocking(), |pair| &mut pair.1);
    let mut owned = OwnedRwLockMappedWriteGuard::try_map(owned, |s| s.get_mut(0..1)).unwrap();
    owned.make_ascii_uppercase();
    drop(owned);
    let owned = OwnedRwLockReadGuard::map(lock.read_owned_blocking(), |pair| pair.1.as_str());
    assert_eq!(&*owned, "Ab");
    drop(owned);
    assert!(!lock.is_locked());
}

#[test]
fn a_panic_in_map_releases_the_lock() {
    let lock = RwLock::new(0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        RwLockWriteGuard::map(lock.write_blocking(), |_| -> &mut i32 { panic!("in map") })
    }));
    assert!(result.is_err());
    assert!(
        !lock.is_locked(),
        "the guard released the lock while unwinding"
    );
}

// ---- no poisoning, blocking inside a runtime ----------------------------------

#[test]
fn no_poisoning_after_a_thread_panics_holding_a_guard() {
    let lock = Arc::new(RwLock::new(0));
    let writer = {
        let lock = Arc::clone(&lock);
        std::thread::spawn(move || {
            let _guard = lock.write_blocking();
            panic!("holding the write guard");
        })
    };
    assert!(writer.join().is_err());
    assert!(!lock.is_locked());
    *lock.write_blocking() += 1;
    assert_eq!(*lock.read_blocking(), 1);
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_forms_that_must_wait_inside_a_task_panic_naming_the_async_form() {
    let lock = Arc::new(RwLock::new(0u64));
    type Call = fn(&RwLock<u64>);
    let cases: [(&str, &str, Call); 3] = [
        ("read_blocking", "read(", |lock| drop(lock.read_blocking())),
        ("write_timeout_blocking", "write_timeout(", |lock| {
            drop(lock.write_timeout_blocking(LIMIT))
        }),
        ("upgradable_read_blocking", "upgradable_read(", |lock| {
            drop(lock.upgradable_read_blocking())
        }),
    ];
    for (method, async_form, call) in cases {
        let held = hold_write(&lock);
        let message = common::panic_of_blocking_call_in_task(method, &lock, call).await;
        assert!(message.contains(method), "{method}: {message}");
        assert!(message.contains(async_form), "{method}: {message}");
        drop(held);
        eventually_async("holder released", || !lock.is_locked()).await;
    }
}
