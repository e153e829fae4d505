//! Guards added after the first chaos suite: `Lock`'s mapped guards
//! (borrowed and owned, mapped twice, `try_map` refused) moved between tasks
//! and threads, and `RLock`'s `OwnedRLockGuard` handed to other tasks and
//! threads to drop while its owner re-enters. Never two holders, every
//! critical section counted once, the lock free with nobody waiting at the
//! end of every round.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::{
    Lock, LockGuard, MappedLockGuard, OwnedLockGuard, OwnedMappedLockGuard, OwnedRLockGuard, RLock,
};

use crate::harness::{
    Cancel, Hold, Rng, Round, Tally, bounded, cancellable, chaos, join_tasks, join_thread, runtime,
    yields,
};

/// A value with a part the mapped guards narrow to; `outside` is never
/// written through a mapped guard.
#[derive(Default)]
struct Data {
    inner: (u64, u64),
    outside: u64,
}

struct LockShared {
    lock: Arc<Lock<Data>>,
    holders: Arc<AtomicUsize>,
    tally: Tally,
}

/// A mapped owned guard with its holder token (dropped first), to move.
struct Moving(Hold, OwnedMappedLockGuard<Data, u64>);

async fn lock_task(shared: Arc<LockShared>, round: Round, mut rng: Rng, ops: usize) {
    let lock = &shared.lock;
    for _ in 0..ops {
        match rng.below(4) {
            0 => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "lock() to map", lock.lock(), cancel).await {
                    Some(guard) => {
                        let inner = LockGuard::map(guard, |data| &mut data.inner);
                        let mut first = MappedLockGuard::map(inner, |pair| &mut pair.0);
                        let _hold = Hold::enter(&shared.holders, 1, &round, "mapped guard");
                        *first += 1;
                        shared.tally.done();
                        yields(rng.below(2)).await;
                    }
                    None => shared.tally.cancelled(),
                }
            }
            1 => {
                if let Some(guard) = lock.lock_timeout(rng.tiny()).await {
                    let refuse = rng.one_in(2);
                    match LockGuard::try_map(guard, |data| (!refuse).then_some(&mut data.inner.0)) {
                        Ok(mut first) => {
                            let _hold = Hold::enter(&shared.holders, 1, &round, "try_map");
                            *first += 1;
                            shared.tally.done();
                        }
                        Err(mut guard) => {
                            let _hold = Hold::enter(&shared.holders, 1, &round, "try_map's Err");
                            assert!(refuse, "try_map refused a Some {round}");
                            guard.inner.0 += 1;
                            shared.tally.done();
                        }
                    }
                } else {
                    shared.tally.cancelled();
                }
            }
            2 => {
                // An owned mapped guard made here, written and dropped by
                // another task (aborted at random before or after).
                let cancel = Cancel::random(&mut rng);
                let Some(guard) =
                    cancellable(&round, "lock_owned()", lock.lock_owned(), cancel).await
                else {
                    shared.tally.cancelled();
                    continue;
                };
                let inner = OwnedLockGuard::map(guard, |data| &mut data.inner);
                let first = OwnedMappedLockGuard::map(inner, |pair| &mut pair.0);
                let moving = Moving(
                    Hold::enter(&shared.holders, 1, &round, "owned mapped"),
                    first,
                );
                let (inner, hold_yields) = (Arc::clone(&shared), rng.below(3));
                let task = tokio::spawn(async move {
                    yields(hold_yields).await;
                    let Moving(hold, mut first) = moving;
                    *first += 1;
                    inner.tally.done();
                    drop(hold);
                    drop(first);
                });
                if rng.one_in(3) {
                    task.abort();
                }
                match bounded(&round, "owned mapped guard's task", task).await {
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => shared.tally.cancelled(),
                    Ok(()) => {}
                }
            }
            _ => {
                if let Some(guard) = lock.try_lock_owned() {
                    // Mapped, then moved to a thread.
                    let first = OwnedLockGuard::map(guard, |data| &mut data.inner.0);
                    let moving = Moving(
                        Hold::enter(&shared.holders, 1, &round, "to a thread"),
                        first,
                    );
                    let inner = Arc::clone(&shared);
                    let thread = std::thread::spawn(move || {
                        let Moving(hold, mut first) = moving;
                        *first += 1;
                        inner.tally.done();
                        drop(hold);
                        drop(first);
                    });
                    crate::common::join_thread("mapped guard's thread", thread).await;
                }
            }
        }
    }
}

fn lock_thread(shared: &LockShared, round: &Round, mut rng: Rng, ops: usize) {
    let lock = &shared.lock;
    for _ in 0..ops {
        if rng.one_in(2) {
            let guard = lock.lock_blocking();
            let mut first = LockGuard::map(guard, |data| &mut data.inner.0);
            let _hold = Hold::enter(&shared.holders, 1, round, "mapped on a thread");
            *first += 1;
            shared.tally.done();
        } else if let Some(guard) = lock.lock_owned_timeout_blocking(rng.tiny()) {
            let mut first = OwnedLockGuard::map(guard, |data| &mut data.inner.0);
            let _hold = Hold::enter(&shared.holders, 1, round, "owned mapped on a thread");
            *first += 1;
            shared.tally.done();
            if rng.one_in(4) {
                std::thread::yield_now();
            }
        }
    }
}

#[test]
fn lock_mapped_guards() {
    let runtime = runtime();
    let mut cancels = 0;
    chaos("lock_mapped_guards", 3, |round| {
        let mut rng = round.rng();
        let shared = Arc::new(LockShared {
            lock: Arc::new(Lock::new(Data::default())),
            holders: Arc::default(),
            tally: Tally::default(),
        });
        let ops = 20 + rng.index(40);
        let tasks: Vec<_> = (0..2 + rng.index(4))
            .map(|_| {
                runtime.spawn(lock_task(
                    Arc::clone(&shared),
                    round.clone(),
                    rng.fork(),
                    ops,
                ))
            })
            .collect();
        let threads: Vec<_> = (0..1 + rng.index(2))
            .map(|_| {
                let (shared, round, rng) = (Arc::clone(&shared), round.clone(), rng.fork());
                std::thread::spawn(move || lock_thread(&shared, &round, rng, ops))
            })
            .collect();
        for thread in threads {
            join_thread(round, "mapped guards thread", thread);
        }
        join_tasks(&runtime, round, "mapped guards task", tasks);
        let lock = &shared.lock;
        assert!(
            !lock.is_locked(),
            "lock still locked after every holder left {round}"
        );
        assert_eq!(lock.waiters(), 0, "a gone waiter is still counted {round}");
        let data = lock.try_lock().expect("a free lock");
        assert_eq!(
            data.inner.0 as usize,
            shared.tally.dones(),
            "critical sections lost or doubled {round}"
        );
        assert_eq!(
            (data.inner.1, data.outside),
            (0, 0),
            "a mapped guard wrote outside its part {round}"
        );
        cancels += shared.tally.cancels();
    });
    assert!(
        cancels > 0,
        "no wait was cancelled: the storm tested nothing"
    );
}

struct RShared {
    lock: Arc<RLock<()>>,
    /// The actor that owns the lock, as the actors see it (0: nobody).
    owner: AtomicU64,
    tally: Tally,
}

/// An actor's hold on the `RLock`: owned guards, some sent elsewhere to be
/// dropped. It marks the owner on the first level and clears the mark
/// before the last level goes (the last guard is dropped here, never sent).
async fn rlock_task(shared: Arc<RShared>, round: Round, mut rng: Rng, me: u64, ops: usize) {
    let lock = &shared.lock;
    for _ in 0..ops {
        let cancel = Cancel::random(&mut rng);
        let first = match rng.below(3) {
            0 => cancellable(&round, "lock_owned()", lock.lock_owned(), cancel).await,
            1 => lock.lock_owned_timeout(rng.tiny()).await,
            _ => lock.try_lock_owned(),
        };
        let Some(first) = first else {
            shared.tally.cancelled();
            continue;
        };
        if let Err(other) = shared
            .owner
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst)
        {
            panic!("RLock: actor {me} owns the lock while actor {other} does (two owners) {round}");
        }
        // More levels, then hand some to other tasks or threads to drop
        // (racing this task's own re-entries).
        let mut levels: Vec<OwnedRLockGuard<()>> = Vec::new();
        let mut away = Vec::new();
        let mut threads = Vec::new();
        for _ in 0..rng.below(4) {
            let guard = bounded(&round, "re-entry", lock.lock_owned()).await;
            match rng.below(3) {
                0 => levels.push(guard),
                1 => away.push(tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    drop(guard);
                })),
                _ => threads.push(std::thread::spawn(move || drop(guard))),
            }
            assert_eq!(
                shared.owner.load(Ordering::SeqCst),
                me,
                "owner changed under a level {round}"
            );
        }
        assert!(
            lock.is_owned(),
            "the owner lost the lock while holding a level {round}"
        );
        yields(rng.below(2)).await;
        for task in away {
            bounded(&round, "a level dropped on another task", task)
                .await
                .expect("drops a guard");
        }
        for thread in threads {
            crate::common::join_thread("a level dropped on a thread", thread).await;
        }
        assert_eq!(
            lock.recursion_count(),
            1 + levels.len(),
            "levels held by actor {me} {round}"
        );
        drop(levels);
        shared.tally.done();
        shared.owner.store(0, Ordering::SeqCst);
        drop(first);
    }
}

fn rlock_thread(shared: &RShared, round: &Round, mut rng: Rng, me: u64, ops: usize) {
    let lock = &shared.lock;
    for _ in 0..ops {
        let first = if rng.one_in(2) {
            Some(lock.lock_owned_blocking())
        } else {
            lock.lock_owned_timeout_blocking(Duration::from_micros(rng.below(800)))
        };
        let Some(first) = first else { continue };
        if let Err(other) = shared
            .owner
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst)
        {
            panic!(
                "RLock: thread {me} owns the lock while actor {other} does (two owners) {round}"
            );
        }
        // A level dropped by another thread while this one re-enters.
        let second = lock.lock_owned_blocking();
        let dropper = std::thread::spawn(move || drop(second));
        let third = lock.try_lock_owned().expect("re-entry never waits");
        join_thread(round, "a level dropped on another thread", dropper);
        assert_eq!(
            lock.recursion_count(),
            2,
            "levels held by thread {me} {round}"
        );
        drop(third);
        shared.tally.done();
        shared.owner.store(0, Ordering::SeqCst);
        drop(first);
    }
}

#[test]
fn rlock_owned_guards_across_tasks() {
    let runtime = runtime();
    chaos("rlock_owned_guards_across_tasks", 3, |round| {
        let mut rng = round.rng();
        let shared = Arc::new(RShared {
            lock: Arc::new(RLock::new(())),
            owner: AtomicU64::new(0),
            tally: Tally::default(),
        });
        let ops = 10 + rng.index(30);
        let tasks: Vec<_> = (0..2 + rng.index(3))
            .map(|i| {
                runtime.spawn(rlock_task(
                    Arc::clone(&shared),
                    round.clone(),
                    rng.fork(),
                    1 + i as u64,
                    ops,
                ))
            })
            .collect();
        let threads: Vec<_> = (0..1 + rng.index(2))
            .map(|i| {
                let (shared, round, rng) = (Arc::clone(&shared), round.clone(), rng.fork());
                std::thread::spawn(move || rlock_thread(&shared, &round, rng, 100 + i as u64, ops))
            })
            .collect();
        for thread in threads {
            join_thread(round, "rlock thread", thread);
        }
        join_tasks(&runtime, round, "rlock task", tasks);
        let lock = &shared.lock;
        assert!(
            !lock.is_locked(),
            "RLock still locked after every owner left {round}"
        );
        assert_eq!(lock.waiters(), 0, "a gone waiter is still counted {round}");
        assert!(lock.try_lock_owned().is_some());
    });
}
