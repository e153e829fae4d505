//! Cross-cutting cancel safety under load: tasks on a two-worker runtime race
//! every wait against a few `yield_now`s in `select!` (so futures are dropped
//! at arbitrary points, also just after they were woken), while threads use
//! the blocking forms with short timeouts. Afterwards nothing may be lost or
//! leaked: the lock counts every completed critical section and is free, the
//! semaphore has all its permits back and was never over-subscribed, and the
//! queue delivered every item exactly once.
#![cfg(feature = "tokio")]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::{GetError, Lock, PutError, Queue, Semaphore};
use common::{join_within, within};

const TASKS: usize = 6;
const THREADS: usize = 2;
const ROUNDS: usize = 400;

/// A small deterministic generator, so a failing run can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// Yields `n` times: a cancellation point that needs no timer.
async fn yields(n: u64) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn lock_loses_no_section_and_ends_free() {
    let runtime = runtime();
    let lock = Arc::new(Lock::new(0usize));
    let done = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|seed| {
            let (lock, done, cancelled) =
                (Arc::clone(&lock), Arc::clone(&done), Arc::clone(&cancelled));
            runtime.spawn(async move {
                let mut rng = XorShift(seed as u64 * 7919 + 1);
                for _ in 0..ROUNDS {
                    tokio::select! {
                        mut guard = lock.lock() => {
                            *guard += 1;
                            if rng.next(4) == 0 {
                                tokio::task::yield_now().await; // hold it across an await
                            }
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        () = yields(rng.next(3)) => {
                            cancelled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (lock, done) = (Arc::clone(&lock), Arc::clone(&done));
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    if let Some(mut guard) = lock.lock_timeout_blocking(Duration::from_micros(50)) {
                        *guard += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        join_within("lock thread", thread);
    }
    runtime.block_on(async {
        for task in tasks {
            within("lock task", task).await.unwrap();
        }
    });
    assert!(!lock.is_locked(), "a cancelled waiter leaked the lock");
    assert_eq!(lock.waiters(), 0, "a cancelled waiter is still counted");
    assert_eq!(*lock.try_lock().unwrap(), done.load(Ordering::Relaxed));
    assert!(
        cancelled.load(Ordering::Relaxed) > 0,
        "no lock() was cancelled: the storm tested nothing"
    );
}

#[test]
fn semaphore_leaks_no_permit_and_never_oversubscribes() {
    const PERMITS: usize = 3;
    let runtime = runtime();
    let sem = Arc::new(Semaphore::new(PERMITS));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let enter = |in_flight: &AtomicUsize, most: &AtomicUsize| {
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
    };
    let tasks: Vec<_> = (0..TASKS)
        .map(|seed| {
            let (sem, in_flight, most) =
                (Arc::clone(&sem), Arc::clone(&in_flight), Arc::clone(&most));
            let cancelled = Arc::clone(&cancelled);
            runtime.spawn(async move {
                let mut rng = XorShift(seed as u64 * 104_729 + 3);
                for _ in 0..ROUNDS {
                    tokio::select! {
                        permit = sem.acquire() => {
                            enter(&in_flight, &most);
                            yields(rng.next(2)).await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            drop(permit);
                        }
                        () = yields(rng.next(3)) => {
                            cancelled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (sem, in_flight, most) =
                (Arc::clone(&sem), Arc::clone(&in_flight), Arc::clone(&most));
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    if let Some(permit) = sem.acquire_timeout_blocking(Duration::from_micros(50)) {
                        enter(&in_flight, &most);
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        join_within("semaphore thread", thread);
    }
    runtime.block_on(async {
        for task in tasks {
            within("semaphore task", task).await.unwrap();
        }
    });
    assert!(
        most.load(Ordering::SeqCst) <= PERMITS,
        "more holders than permits"
    );
    assert_eq!(
        sem.available_permits(),
        PERMITS,
        "a cancelled waiter leaked a permit"
    );
    assert_eq!(sem.waiters(), 0, "a cancelled waiter is still counted");
    assert!(
        cancelled.load(Ordering::Relaxed) > 0,
        "no acquire() was cancelled: the storm tested nothing"
    );
}

#[test]
fn queue_delivers_every_item_exactly_once_through_cancellations() {
    const ITEMS_PER_PRODUCER: usize = 300;
    let runtime = runtime();
    let queue = Arc::new(Queue::bounded(4));
    let received = Arc::new(Lock::new(Vec::new()));
    let cancelled = Arc::new(AtomicUsize::new(0));
    // Producers: tasks whose `put` is cancelled at random points and retried
    // with the item a timed-out `put_timeout` hands back, plus a thread.
    let producers: Vec<_> = (0..TASKS / 2)
        .map(|p| {
            let queue = Arc::clone(&queue);
            runtime.spawn(async move {
                let mut rng = XorShift(p as u64 * 31 + 5);
                for i in 0..ITEMS_PER_PRODUCER {
                    let mut item = p * ITEMS_PER_PRODUCER + i;
                    loop {
                        if rng.next(2) == 0 {
                            match queue.put_timeout(item, Duration::from_micros(20)).await {
                                Ok(()) => break,
                                Err(PutError::Timeout(back)) => item = back,
                                Err(other) => panic!("unexpected put error: {other}"),
                            }
                        } else {
                            // A cancelled `put` drops its item: only cancel
                            // before it could deliver, by trying first.
                            match queue.try_put(item) {
                                Ok(()) => break,
                                Err(PutError::Full(back)) => item = back,
                                Err(other) => panic!("unexpected put error: {other}"),
                            }
                            yields(rng.next(3)).await;
                        }
                    }
                }
            })
        })
        .collect();
    let thread_producer = {
        let queue = Arc::clone(&queue);
        std::thread::spawn(move || {
            let base = TASKS / 2 * ITEMS_PER_PRODUCER;
            for i in 0..ITEMS_PER_PRODUCER {
                let mut item = base + i;
                loop {
                    match queue.put_timeout_blocking(item, Duration::from_micros(30)) {
                        Ok(()) => break,
                        Err(PutError::Timeout(back)) => item = back,
                        Err(other) => panic!("unexpected put error: {other}"),
                    }
                }
            }
        })
    };
    // Consumers: tasks whose `get` is cancelled at random points, and a
    // thread with short blocking timeouts.
    let consumers: Vec<_> = (0..TASKS / 2)
        .map(|c| {
            let (queue, received) = (Arc::clone(&queue), Arc::clone(&received));
            let cancelled = Arc::clone(&cancelled);
            runtime.spawn(async move {
                let mut rng = XorShift(c as u64 * 977 + 11);
                loop {
                    tokio::select! {
                        got = queue.get() => match got {
                            Ok(item) => received.lock().await.push(item),
                            Err(GetError::ShutDown) => break,
                            Err(other) => panic!("unexpected get error: {other}"),
                        },
                        () = yields(rng.next(3)) => {
                            cancelled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let thread_consumer = {
        let (queue, received) = (Arc::clone(&queue), Arc::clone(&received));
        std::thread::spawn(move || {
            loop {
                match queue.get_timeout_blocking(Duration::from_micros(40)) {
                    Ok(item) => received.lock_blocking().push(item),
                    Err(GetError::Timeout) => {}
                    Err(GetError::ShutDown) => break,
                    Err(other) => panic!("unexpected get error: {other}"),
                }
            }
        })
    };
    join_within("producer thread", thread_producer);
    runtime.block_on(async {
        for producer in producers {
            within("producer task", producer).await.unwrap();
        }
    });
    queue.shutdown();
    join_within("consumer thread", thread_consumer);
    runtime.block_on(async {
        for consumer in consumers {
            within("consumer task", consumer).await.unwrap();
        }
    });
    let received = received.try_lock().unwrap();
    let total = (TASKS / 2 + 1) * ITEMS_PER_PRODUCER;
    let distinct: HashSet<_> = received.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        received.len(),
        "an item was delivered twice"
    );
    assert_eq!(received.len(), total, "an item was lost");
    assert!(queue.is_empty());
    assert_eq!(queue.waiting_getters() + queue.waiting_putters(), 0);
    assert!(
        cancelled.load(Ordering::Relaxed) > 0,
        "no get() was cancelled: the storm tested nothing"
    );
}
