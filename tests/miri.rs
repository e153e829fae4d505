//! A small, scaled-down test set meant for miri (`cargo +nightly miri test
//! --no-default-features --test miri`, run by `.ci/run`), which also runs in
//! the ordinary suite.
//!
//! It drives the `unsafe` code — `Lock`'s `UnsafeCell` behind `LockGuard` and
//! `OwnedLockGuard`, and the `Send`/`Sync` claims that let guards and locks
//! cross threads — from several threads and from futures on an executor, so
//! that miri checks the accesses for data races and undefined behaviour
//! under many interleavings; and it walks the waiter lists of every other
//! primitive (the semaphores' hand-off queue, `Event`'s wake-all list,
//! event-listener's lists) through hand-offs, cancellations and wake-ups, so
//! that miri checks their memory handling too. No tokio: the default-less
//! build has no timers, and miri runs plain threads and `futures::executor`
//! much faster than a tokio runtime.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ambisync::{
    Barrier, BoundedSemaphore, Condition, Event, LifoQueue, Lock, PriorityQueue, Queue, RLock,
    Semaphore,
};
use futures::executor::block_on;
use tokio_test::{assert_pending, assert_ready, assert_ready_eq, task};

/// Fewer rounds under miri, which interprets every instruction.
const ROUNDS: usize = if cfg!(miri) { 8 } else { 200 };
const THREADS: usize = 3;

/// A value with a heap allocation and a drop count, so that a torn or racy
/// access or a double drop shows up.
struct Tracked {
    items: Vec<String>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn lock_guards_from_threads_and_futures_never_race() {
    let drops = Arc::new(AtomicUsize::new(0));
    let lock = Arc::new(Lock::new(Tracked {
        items: Vec::new(),
        drops: Arc::clone(&drops),
    }));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    match i % 3 {
                        0 => lock.lock_blocking().items.push(format!("{t}:{i}")),
                        1 => block_on(async {
                            let mut guard = lock.lock().await;
                            guard.items.push(format!("{t}:{i}"));
                        }),
                        _ => {
                            let mut guard = lock.lock_owned_blocking();
                            // An owned guard moves to another thread and is
                            // used and dropped there.
                            std::thread::spawn(move || guard.items.push(format!("{t}:{i}")))
                                .join()
                                .unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let lock = Arc::try_unwrap(lock).ok().expect("threads ended");
    let value = lock.into_inner();
    assert_eq!(value.items.len(), THREADS * ROUNDS);
    drop(value);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the value is dropped exactly once"
    );
}

#[test]
fn a_panic_while_holding_the_guard_unlocks_and_the_value_stays_valid() {
    let lock = Arc::new(Lock::new(vec![1, 2, 3]));
    let holder = Arc::clone(&lock);
    let outcome = std::thread::spawn(move || {
        let mut guard = holder.lock_blocking();
        guard.push(4);
        panic!("while holding the guard");
    })
    .join();
    assert!(outcome.is_err());
    let mut guard = lock.try_lock().expect("unlocked by unwinding");
    guard.push(5);
    assert_eq!(*guard, [1, 2, 3, 4, 5]);
}

#[test]
fn raw_acquire_and_release_pass_the_lock_between_threads() {
    let lock = Arc::new(Lock::new(()));
    let count = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (lock, count) = (Arc::clone(&lock), Arc::clone(&count));
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    lock.acquire_blocking();
                    count.fetch_add(1, Ordering::Relaxed);
                    lock.release().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(count.load(Ordering::SeqCst), THREADS * ROUNDS);
    assert!(!lock.is_locked());
    assert_eq!(lock.waiters(), 0);
}

#[test]
fn a_lock_future_dropped_after_its_wake_up_passes_it_on() {
    let lock = Lock::new(0);
    let held = lock.try_lock().unwrap();
    let mut first = task::spawn(lock.lock());
    let mut second = task::spawn(lock.lock());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    drop(held);
    drop(first); // woken, never took the lock: the wake-up passes on
    assert!(second.is_woken(), "the wake-up did not pass on");
    *assert_ready!(second.poll(), "the second waiter did not get the lock") += 1;
    assert!(!lock.is_locked());
    assert_eq!(lock.waiters(), 0);
}

#[test]
fn condition_waits_with_borrowed_and_owned_guards_across_threads() {
    let pair = Arc::new((Lock::new(0usize), Condition::new()));
    let owned = Arc::new(Lock::new(0usize));
    let consumer = {
        let (pair, owned) = (Arc::clone(&pair), Arc::clone(&owned));
        std::thread::spawn(move || {
            let (lock, cond) = &*pair;
            for round in 1..=ROUNDS {
                let guard = cond.wait_for_blocking(lock.lock_blocking(), |n| **n >= round);
                drop(guard);
                let guard = block_on(cond.wait_for(owned.lock_owned_blocking(), |n| **n >= round));
                drop(guard);
            }
        })
    };
    let (lock, cond) = &*pair;
    for _ in 0..ROUNDS {
        *lock.lock_blocking() += 1;
        cond.notify_all();
        *owned.lock_blocking() += 1;
        cond.notify_all();
    }
    // The consumer may still wait for a last notification.
    while !consumer.is_finished() {
        cond.notify_all();
        std::thread::yield_now();
    }
    consumer.join().unwrap();
    assert_eq!(cond.waiters(), 0);
}

#[test]
fn rlock_levels_across_threads() {
    let lock = Arc::new(RLock::new(AtomicUsize::new(0)));
    let cond = Arc::new(Condition::new());
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (lock, cond) = (Arc::clone(&lock), Arc::clone(&cond));
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let outer = lock.lock_blocking();
                    let inner = lock.lock_blocking();
                    assert_eq!(lock.recursion_count(), 2);
                    inner.fetch_add(1, Ordering::Relaxed);
                    drop(inner);
                    cond.notify_all();
                    drop(outer);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(
        lock.lock_blocking().load(Ordering::SeqCst),
        THREADS * ROUNDS
    );
    assert!(!lock.is_locked());
}

#[test]
fn semaphore_hand_off_between_threads_and_a_cancelled_granted_future() {
    let sem = Arc::new(Semaphore::new(1));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (sem, in_flight) = (Arc::clone(&sem), Arc::clone(&in_flight));
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    let permit = if i % 2 == 0 {
                        sem.acquire_blocking()
                    } else {
                        block_on(sem.acquire())
                    };
                    assert_eq!(in_flight.fetch_add(1, Ordering::SeqCst), 0);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(sem.available_permits(), 1);
    // A future granted a permit and dropped before it saw it passes it on.
    let held = sem.try_acquire().unwrap();
    let mut first = task::spawn(sem.acquire());
    let mut second = task::spawn(sem.acquire());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    drop(held); // handed to `first`
    drop(first); // ... which passes it to `second`
    drop(assert_ready!(second.poll()));
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn bounded_semaphore_forget_and_release_across_threads() {
    let sem = Arc::new(BoundedSemaphore::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let sem = Arc::clone(&sem);
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    sem.acquire_owned_blocking().forget();
                    sem.release().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(sem.available_permits(), 2);
    assert!(sem.release().is_err());
}

#[test]
fn event_wakes_threads_and_futures_and_forgets_cancelled_ones() {
    for _ in 0..ROUNDS.min(20) {
        let event = Arc::new(Event::new());
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let event = Arc::clone(&event);
                std::thread::spawn(move || event.wait_blocking())
            })
            .collect();
        let mut kept = task::spawn(event.wait());
        let mut dropped = task::spawn(event.wait());
        assert_pending!(kept.poll());
        assert_pending!(dropped.poll());
        drop(dropped);
        while event.waiters() != 3 {
            std::thread::yield_now();
        }
        event.set();
        event.clear();
        assert_ready!(kept.poll());
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(event.waiters(), 0);
    }
}

#[test]
fn queues_hand_items_between_threads_exactly_once() {
    let queue = Arc::new(Queue::bounded(2));
    let producer = {
        let queue = Arc::clone(&queue);
        std::thread::spawn(move || {
            for i in 0..ROUNDS {
                queue.put_blocking(format!("item {i}")).unwrap();
            }
            queue.join_blocking();
            queue.shutdown();
        })
    };
    let mut got = Vec::new();
    while let Ok(item) = block_on(queue.get()) {
        got.push(item);
        queue.task_done().unwrap();
    }
    producer.join().unwrap();
    assert_eq!(got.len(), ROUNDS);
    assert_eq!(got[0], "item 0");

    let lifo = LifoQueue::unbounded();
    let priority = PriorityQueue::unbounded();
    for i in 0..5 {
        lifo.try_put(i).unwrap();
        priority.try_put(std::cmp::Reverse(i)).unwrap();
    }
    assert_eq!(lifo.shutdown_immediate(), [4, 3, 2, 1, 0]);
    assert_eq!(priority.try_get().unwrap().0, 4);
}

/// The bounded FIFO queue's ring (`src/queue/ring.rs`, `unsafe` slots):
/// two producers wrap it round many laps, items left in it are dropped with
/// the queue (no leak, no double drop: the items own heap memory), and a
/// drain takes exactly what is left.
#[test]
fn the_queue_ring_wraps_drains_and_drops_its_items_exactly_once() {
    let queue = Arc::new(Queue::bounded(3));
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    queue.put_blocking(format!("{p}:{i}")).unwrap();
                }
            })
        })
        .collect();
    let mut last = [None::<usize>; 2];
    for _ in 0..2 * ROUNDS {
        let item = queue.get_blocking().unwrap();
        let (p, i) = item.split_once(':').unwrap();
        let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
        // Each producer's items come out in the order it put them.
        assert!(
            last[p].is_none_or(|before| before < i),
            "{item} out of order"
        );
        last[p] = Some(i);
    }
    for producer in producers {
        producer.join().unwrap();
    }
    queue.try_put(String::from("drained")).unwrap();
    assert_eq!(queue.shutdown_immediate(), ["drained"]);
    assert!(queue.try_put(String::from("refused")).is_err());

    let kept = Queue::bounded(2);
    kept.try_put(String::from("a")).unwrap();
    assert_eq!(kept.try_get().unwrap(), "a");
    kept.try_put(String::from("b")).unwrap();
    kept.try_put(String::from("c")).unwrap(); // wrapped round once
    drop(kept); // drops "b" and "c"
}

#[test]
fn a_dropped_get_future_after_its_wake_up_passes_it_on() {
    let queue = Queue::unbounded();
    let mut first = task::spawn(queue.get());
    let mut second = task::spawn(queue.get());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    queue.try_put(String::from("one")).unwrap();
    drop(first);
    assert!(second.is_woken(), "the wake-up did not pass on");
    assert_ready_eq!(
        second.poll(),
        Ok(String::from("one")),
        "the second getter got another outcome"
    );
}

#[test]
fn barrier_rounds_across_threads() {
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                (0..ROUNDS.min(10))
                    .map(|_| barrier.wait_blocking().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let per_thread: Vec<Vec<usize>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for round in 0..ROUNDS.min(10) {
        let mut indexes: Vec<usize> = per_thread.iter().map(|v| v[round]).collect();
        indexes.sort_unstable();
        assert_eq!(indexes, (0..THREADS).collect::<Vec<_>>());
    }
}

/// `Lock`'s mapped guards (`MappedLockGuard`, `OwnedMappedLockGuard`: a
/// pointer into the value, derived from the guard's `&mut T`) from several
/// threads and futures, mapped twice, refused by `try_map`, and moved to
/// another thread: miri checks the derived pointers for data races and
/// aliasing, and the drop count for a double drop.
#[test]
fn lock_mapped_guards_across_threads_never_race() {
    use ambisync::{LockGuard, MappedLockGuard, OwnedLockGuard, OwnedMappedLockGuard};

    let drops = Arc::new(AtomicUsize::new(0));
    let lock = Arc::new(Lock::new((
        Tracked {
            items: Vec::new(),
            drops: Arc::clone(&drops),
        },
        0usize,
    )));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    match i % 4 {
                        0 => {
                            let items = LockGuard::map(lock.lock_blocking(), |v| &mut v.0);
                            let mut items = MappedLockGuard::map(items, |t| &mut t.items);
                            items.push(format!("{t}:{i}"));
                        }
                        1 => block_on(async {
                            let guard = lock.lock().await;
                            // Refused: the guard comes back whole.
                            let Err(mut guard) = LockGuard::try_map(guard, |_| None::<&mut usize>)
                            else {
                                panic!("try_map with None must refuse");
                            };
                            guard.0.items.push(format!("{t}:{i}"));
                            guard.1 += 1;
                        }),
                        2 => {
                            let owned =
                                OwnedLockGuard::map(lock.lock_owned_blocking(), |v| &mut v.0);
                            let mut items = OwnedMappedLockGuard::map(owned, |t| &mut t.items);
                            // Used and dropped on another thread.
                            std::thread::spawn(move || items.push(format!("{t}:{i}")))
                                .join()
                                .unwrap();
                        }
                        _ => {
                            let mut count =
                                OwnedLockGuard::try_map(lock.lock_owned_blocking(), |v| {
                                    Some(&mut v.1)
                                })
                                .ok()
                                .expect("mapped");
                            *count += 1;
                            lock_items_len_is_readable_later(&count);
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let lock = Arc::try_unwrap(lock).ok().expect("threads ended");
    let (value, count) = lock.into_inner();
    let per_thread_items = ROUNDS.div_ceil(4) + (ROUNDS + 2) / 4 + (ROUNDS + 1) / 4;
    assert_eq!(value.items.len(), THREADS * per_thread_items);
    assert_eq!(count, THREADS * ((ROUNDS + 2) / 4 + ROUNDS / 4));
    drop(value);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the value is dropped exactly once"
    );
}

/// Reads through a shared reference to a mapped guard (its `Deref`).
fn lock_items_len_is_readable_later(
    count: &ambisync::OwnedMappedLockGuard<(Tracked, usize), usize>,
) {
    assert!(**count > 0);
}

/// `RwLock`'s guards from several threads at once — readers through plain
/// and mapped read guards, writers through plain, mapped and owned mapped
/// write guards, upgradable readers that upgrade and downgrade, owned
/// guards moved to other threads — so that miri checks the `UnsafeCell`
/// accesses behind them for data races (a reader racing a writer) and the
/// mapped pointers for aliasing.
#[test]
fn rwlock_guards_across_threads_never_race() {
    use ambisync::{
        OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard,
        RwLockUpgradableReadGuard, RwLockWriteGuard,
    };

    let drops = Arc::new(AtomicUsize::new(0));
    let lock = Arc::new(RwLock::new((
        Tracked {
            items: Vec::new(),
            drops: Arc::clone(&drops),
        },
        0usize,
    )));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || {
                let mut writes = 0;
                for i in 0..ROUNDS {
                    match i % 6 {
                        0 => {
                            let guard = lock.read_blocking();
                            assert!(guard.0.items.len() >= guard.1);
                        }
                        1 => {
                            let items = RwLockReadGuard::map(lock.read_blocking(), |v| &v.0.items);
                            assert!(items.iter().all(|s| s.contains(':')));
                        }
                        2 => {
                            let mut items =
                                RwLockWriteGuard::map(lock.write_blocking(), |v| &mut v.0);
                            items.items.push(format!("{t}:{i}"));
                            writes += 1;
                        }
                        3 => {
                            let guard = lock.upgradable_read_blocking();
                            let mut writer = RwLockUpgradableReadGuard::upgrade_blocking(guard);
                            writer.0.items.push(format!("{t}:{i}"));
                            writer.1 += 1;
                            writes += 1;
                            let reader = RwLockWriteGuard::downgrade(writer);
                            assert!(reader.1 > 0);
                        }
                        4 => block_on(async {
                            let owned = OwnedRwLockWriteGuard::map(lock.write_owned().await, |v| {
                                &mut v.0.items
                            });
                            // Written and dropped on another thread.
                            std::thread::spawn(move || {
                                let mut owned = owned;
                                owned.push(format!("{t}:{i}"));
                            })
                            .join()
                            .unwrap();
                            writes += 1;
                        }),
                        _ => {
                            let owned =
                                OwnedRwLockReadGuard::map(lock.read_owned_blocking(), |v| &v.1);
                            std::thread::spawn(move || assert!(*owned < usize::MAX))
                                .join()
                                .unwrap();
                        }
                    }
                }
                writes
            })
        })
        .collect();
    let writes: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let lock = Arc::try_unwrap(lock).ok().expect("threads ended");
    let (value, _) = lock.into_inner();
    assert_eq!(value.items.len(), writes);
    drop(value);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the value is dropped exactly once"
    );
}
