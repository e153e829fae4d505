//! `RwLock`: readers, writers and upgradable readers on tasks and threads
//! (also `spawn_blocking` closures), every wait cancelled at random. A shadow
//! count checks the exclusion at every entry (a writer alone; readers with no
//! writer; one upgradable reader at most), every write is counted once (the
//! value ends at the number of completed writes), no reader sees a half-done
//! write, and the lock is free with no waiter counted at the end of each
//! round. Upgrades (every form, cancelled too), downgrades, mapped guards and
//! owned guards handed to another task or thread are part of the mix.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::{
    OwnedRwLockReadGuard, OwnedRwLockUpgradableReadGuard, OwnedRwLockWriteGuard, RwLock,
    RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};

use crate::harness::{
    Cancel, Rng, Round, Tally, bounded, cancellable, chaos, join_tasks, join_thread, runtime,
    yields,
};

/// The value: a pair a writer changes in two steps (with a yield between),
/// so a reader that overlaps a writer sees the halves differ.
#[derive(Default)]
struct Data {
    pair: [u64; 2],
    /// Not touched: mapped guards narrow to `pair`.
    spare: u64,
}

/// Who holds the lock, as the actors see it.
#[derive(Default)]
struct Shadow {
    /// Readers, upgradable ones included.
    readers: AtomicUsize,
    upgradable: AtomicUsize,
    writers: AtomicUsize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Access {
    Read,
    Upgradable,
    Write,
}

/// A holder's entry in the shadow count, checked on entry; it leaves when
/// dropped (also when its task is aborted). Declared after the guard it
/// stands for, so it is dropped first. Each side increments its own counter
/// and then reads the other's (all `SeqCst`): of two overlapping holders at
/// least one sees the other.
struct Token {
    shadow: Arc<Shadow>,
    access: Access,
}

impl Token {
    fn enter(shadow: &Arc<Shadow>, access: Access, round: &Round, what: &str) -> Token {
        match access {
            Access::Read => {
                shadow.readers.fetch_add(1, Ordering::SeqCst);
                let writers = shadow.writers.load(Ordering::SeqCst);
                assert_eq!(
                    writers, 0,
                    "{what}: a reader entered beside a writer {round}"
                );
            }
            Access::Upgradable => {
                shadow.readers.fetch_add(1, Ordering::SeqCst);
                let upgradable = shadow.upgradable.fetch_add(1, Ordering::SeqCst) + 1;
                let writers = shadow.writers.load(Ordering::SeqCst);
                assert_eq!(
                    (upgradable, writers),
                    (1, 0),
                    "{what}: (upgradable readers, writers) at an upgradable read {round}"
                );
            }
            Access::Write => {
                let writers = shadow.writers.fetch_add(1, Ordering::SeqCst) + 1;
                let readers = shadow.readers.load(Ordering::SeqCst);
                assert_eq!(
                    (writers, readers),
                    (1, 0),
                    "{what}: (writers, readers) at a write {round}"
                );
            }
        }
        Token {
            shadow: Arc::clone(shadow),
            access,
        }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        match self.access {
            Access::Read => {
                self.shadow.readers.fetch_sub(1, Ordering::SeqCst);
            }
            Access::Upgradable => {
                self.shadow.upgradable.fetch_sub(1, Ordering::SeqCst);
                self.shadow.readers.fetch_sub(1, Ordering::SeqCst);
            }
            Access::Write => {
                self.shadow.writers.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

struct Shared {
    lock: Arc<RwLock<Data>>,
    shadow: Arc<Shadow>,
    /// Completed writes (each adds one to `pair`).
    writes: AtomicUsize,
    reads: AtomicUsize,
    upgrades: AtomicUsize,
    tally: Tally,
}

impl Shared {
    fn token(&self, access: Access, round: &Round, what: &str) -> Token {
        Token::enter(&self.shadow, access, round, what)
    }

    fn check_read(&self, pair: &[u64; 2], round: &Round, what: &str) {
        assert_eq!(
            pair[0], pair[1],
            "{what}: a reader saw a half-done write {round}"
        );
        self.reads.fetch_add(1, Ordering::Relaxed);
    }
}

/// An owned guard with its token, to hand to another task or thread (the
/// token is dropped first).
struct OwnedWrite(Token, OwnedRwLockWriteGuard<Data>);
struct OwnedRead(Token, OwnedRwLockReadGuard<Data, [u64; 2]>);

async fn write_async(shared: &Shared, pair: &mut [u64; 2], rng: &mut Rng) {
    pair[0] += 1;
    yields(rng.below(2)).await;
    pair[1] = pair[0];
    shared.writes.fetch_add(1, Ordering::Relaxed);
}

fn write_sync(shared: &Shared, pair: &mut [u64; 2], rng: &mut Rng) {
    pair[0] += 1;
    if rng.one_in(4) {
        std::thread::yield_now();
    }
    pair[1] = pair[0];
    shared.writes.fetch_add(1, Ordering::Relaxed);
}

/// Holds an upgradable read, then upgrades it (in a random form, cancelled
/// at random), downgrades it or drops it.
async fn upgradable_then(
    shared: &Shared,
    round: &Round,
    rng: &mut Rng,
    guard: RwLockUpgradableReadGuard<'_, Data>,
) {
    let token = shared.token(Access::Upgradable, round, "upgradable_read");
    shared.check_read(&guard.pair, round, "upgradable_read");
    yields(rng.below(2)).await;
    drop(token);
    let writer = match rng.below(5) {
        0 => {
            let cancel = Cancel::random(rng);
            cancellable(
                round,
                "upgrade()",
                RwLockUpgradableReadGuard::upgrade(guard),
                cancel,
            )
            .await
        }
        1 => match RwLockUpgradableReadGuard::upgrade_timeout(guard, rng.tiny()).await {
            Ok(writer) => Some(writer),
            Err(guard) => {
                // Given back whole: still the upgradable reader.
                let _token = shared.token(Access::Upgradable, round, "upgrade_timeout's Err");
                shared.check_read(&guard.pair, round, "upgrade_timeout's Err");
                None
            }
        },
        2 => match RwLockUpgradableReadGuard::try_upgrade(guard) {
            Ok(writer) => Some(writer),
            Err(guard) => {
                let _token = shared.token(Access::Upgradable, round, "try_upgrade's Err");
                drop(_token);
                let reader = RwLockUpgradableReadGuard::downgrade(guard);
                let _token = shared.token(Access::Read, round, "downgraded upgradable");
                shared.check_read(&reader.pair, round, "downgraded upgradable");
                None
            }
        },
        3 => {
            let reader = RwLockUpgradableReadGuard::downgrade(guard);
            let _token = shared.token(Access::Read, round, "downgraded upgradable");
            shared.check_read(&reader.pair, round, "downgraded upgradable");
            yields(rng.below(2)).await;
            None
        }
        _ => {
            drop(guard);
            None
        }
    };
    match writer {
        Some(mut writer) => {
            shared.upgrades.fetch_add(1, Ordering::Relaxed);
            let token = shared.token(Access::Write, round, "upgraded writer");
            write_async(shared, &mut writer.pair, rng).await;
            drop(token);
            match rng.below(3) {
                0 => {
                    let reader = RwLockWriteGuard::downgrade(writer);
                    let _token = shared.token(Access::Read, round, "downgraded writer");
                    shared.check_read(&reader.pair, round, "downgraded writer");
                    yields(rng.below(2)).await;
                }
                1 => {
                    let guard = RwLockWriteGuard::downgrade_to_upgradable(writer);
                    let _token =
                        shared.token(Access::Upgradable, round, "writer downgraded to upgradable");
                    shared.check_read(&guard.pair, round, "writer downgraded to upgradable");
                    yields(rng.below(2)).await;
                }
                _ => drop(writer),
            }
        }
        None => shared.tally.cancelled(),
    }
}

async fn task_actor(shared: Arc<Shared>, round: Round, mut rng: Rng, ops: usize) {
    let lock = &shared.lock;
    for _ in 0..ops {
        match rng.below(12) {
            0 | 1 => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "read()", lock.read(), cancel).await {
                    Some(guard) => {
                        let _token = shared.token(Access::Read, &round, "read()");
                        shared.check_read(&guard.pair, &round, "read()");
                        yields(rng.below(3)).await;
                    }
                    None => shared.tally.cancelled(),
                }
            }
            2 | 3 => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "write()", lock.write(), cancel).await {
                    Some(mut guard) => {
                        let _token = shared.token(Access::Write, &round, "write()");
                        write_async(&shared, &mut guard.pair, &mut rng).await;
                        shared.tally.done();
                    }
                    None => shared.tally.cancelled(),
                }
            }
            4 => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "upgradable_read()", lock.upgradable_read(), cancel).await
                {
                    Some(guard) => upgradable_then(&shared, &round, &mut rng, guard).await,
                    None => shared.tally.cancelled(),
                }
            }
            5 => match rng.below(3) {
                0 => match lock.read_timeout(rng.tiny()).await {
                    Some(guard) => {
                        let _token = shared.token(Access::Read, &round, "read_timeout");
                        shared.check_read(&guard.pair, &round, "read_timeout");
                    }
                    None => shared.tally.cancelled(),
                },
                1 => match lock.write_timeout(rng.tiny()).await {
                    Some(mut guard) => {
                        let _token = shared.token(Access::Write, &round, "write_timeout");
                        write_async(&shared, &mut guard.pair, &mut rng).await;
                    }
                    None => shared.tally.cancelled(),
                },
                _ => match lock.upgradable_read_timeout(rng.tiny()).await {
                    Some(guard) => upgradable_then(&shared, &round, &mut rng, guard).await,
                    None => shared.tally.cancelled(),
                },
            },
            6 => match rng.below(3) {
                0 => {
                    if let Some(guard) = lock.try_read() {
                        // A mapped read guard keeps the read access.
                        let pair = RwLockReadGuard::map(guard, |data| &data.pair);
                        let _token = shared.token(Access::Read, &round, "try_read, mapped");
                        shared.check_read(&pair, &round, "try_read, mapped");
                    }
                }
                1 => {
                    if let Some(guard) = lock.try_write() {
                        let mut pair = RwLockWriteGuard::map(guard, |data| &mut data.pair);
                        let _token = shared.token(Access::Write, &round, "try_write, mapped");
                        write_async(&shared, &mut pair, &mut rng).await;
                    }
                }
                _ => {
                    if let Some(guard) = lock.try_upgradable_read() {
                        upgradable_then(&shared, &round, &mut rng, guard).await;
                    }
                }
            },
            7 => {
                // A mapped write guard (try_map: sometimes refused, giving
                // the guard back) held across yields.
                let cancel = Cancel::random(&mut rng);
                if let Some(guard) =
                    cancellable(&round, "write() to map", lock.write(), cancel).await
                {
                    let refuse = rng.one_in(3);
                    let mapped = RwLockWriteGuard::try_map(guard, |data| {
                        (!refuse).then_some(&mut data.pair)
                    });
                    // The token in each arm: the arm's binding (the
                    // guard) is dropped at the arm's end.
                    match mapped {
                        Ok(mut pair) => {
                            let _token = shared.token(Access::Write, &round, "mapped writer");
                            write_async(&shared, &mut pair, &mut rng).await;
                        }
                        Err(mut guard) => {
                            let _token = shared.token(Access::Write, &round, "try_map's Err");
                            assert!(refuse, "try_map refused a Some {round}");
                            write_async(&shared, &mut guard.pair, &mut rng).await;
                        }
                    }
                }
            }
            8 => {
                // An owned write guard taken here, handed to another task
                // that writes and drops it (or maybe aborts first).
                let cancel = Cancel::random(&mut rng);
                let taken = cancellable(&round, "write_owned()", lock.write_owned(), cancel).await;
                if let Some(guard) = taken {
                    let held =
                        OwnedWrite(shared.token(Access::Write, &round, "write_owned"), guard);
                    let (inner, round2, mut rng2) =
                        (Arc::clone(&shared), round.clone(), rng.fork());
                    let task = tokio::spawn(async move {
                        let OwnedWrite(token, mut guard) = held;
                        // Not across a yield: an abort must not leave the
                        // write half done.
                        write_sync(&inner, &mut guard.pair, &mut rng2);
                        drop(token);
                        yields(rng2.below(2)).await;
                        // Downgraded on the other task.
                        let reader = OwnedRwLockWriteGuard::downgrade(guard);
                        let _token = inner.token(Access::Read, &round2, "owned downgrade");
                        yields(rng2.below(2)).await;
                        drop(_token);
                        drop(reader);
                    });
                    yields(rng.below(3)).await;
                    if rng.one_in(3) {
                        task.abort();
                    }
                    match bounded(&round, "owned writer's task", task).await {
                        Err(error) if error.is_panic() => {
                            std::panic::resume_unwind(error.into_panic())
                        }
                        Err(_) => shared.tally.cancelled(),
                        Ok(()) => {}
                    }
                } else {
                    shared.tally.cancelled();
                }
            }
            9 => {
                // An owned upgradable reader in a task of its own, aborted at
                // random while waiting, holding or upgrading.
                let (inner, round2, mut rng2) = (Arc::clone(&shared), round.clone(), rng.fork());
                let task = tokio::spawn(async move {
                    let guard = inner.lock.upgradable_read_owned().await;
                    let token = inner.token(Access::Upgradable, &round2, "upgradable_read_owned");
                    yields(rng2.below(2)).await;
                    drop(token);
                    let mut writer = OwnedRwLockUpgradableReadGuard::upgrade(guard).await;
                    let token = inner.token(Access::Write, &round2, "owned upgrade");
                    // Not across a yield: an abort must not leave it half done.
                    writer.pair[0] += 1;
                    writer.pair[1] = writer.pair[0];
                    inner.writes.fetch_add(1, Ordering::Relaxed);
                    drop(token);
                    let guard = OwnedRwLockWriteGuard::downgrade_to_upgradable(writer);
                    let _token = inner.token(Access::Upgradable, &round2, "owned downgrade");
                    yields(rng2.below(2)).await;
                    drop(_token);
                    drop(guard);
                });
                yields(rng.below(4)).await;
                if rng.one_in(2) {
                    task.abort();
                }
                match bounded(&round, "owned upgradable task", task).await {
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => shared.tally.cancelled(),
                    Ok(()) => {}
                }
            }
            10 => {
                // A mapped owned read guard handed to a thread.
                let cancel = Cancel::random(&mut rng);
                if let Some(guard) =
                    cancellable(&round, "read_owned()", lock.read_owned(), cancel).await
                {
                    let pair = OwnedRwLockReadGuard::map(guard, |data| &data.pair);
                    let held = OwnedRead(
                        shared.token(Access::Read, &round, "read_owned, mapped"),
                        pair,
                    );
                    let (inner, round2) = (Arc::clone(&shared), round.clone());
                    let thread = std::thread::spawn(move || {
                        let OwnedRead(token, pair) = held;
                        inner.check_read(&pair, &round2, "mapped owned reader on a thread");
                        drop(token);
                    });
                    // Polled from the task: the thread does not block.
                    crate::common::join_thread("mapped owned reader's thread", thread).await;
                } else {
                    shared.tally.cancelled();
                }
            }
            _ => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "write() then downgrade", lock.write(), cancel).await {
                    Some(mut guard) => {
                        let token = shared.token(Access::Write, &round, "write() then downgrade");
                        write_async(&shared, &mut guard.pair, &mut rng).await;
                        drop(token);
                        let reader = RwLockWriteGuard::downgrade(guard);
                        let _token = shared.token(Access::Read, &round, "downgraded");
                        shared.check_read(&reader.pair, &round, "downgraded");
                        yields(rng.below(2)).await;
                    }
                    None => shared.tally.cancelled(),
                }
            }
        }
    }
}

fn thread_upgradable(
    shared: &Shared,
    round: &Round,
    rng: &mut Rng,
    guard: RwLockUpgradableReadGuard<'_, Data>,
) {
    let token = shared.token(Access::Upgradable, round, "upgradable_read_blocking");
    shared.check_read(&guard.pair, round, "upgradable_read_blocking");
    drop(token);
    let writer = match rng.below(4) {
        0 => Some(RwLockUpgradableReadGuard::upgrade_blocking(guard)),
        1 => match RwLockUpgradableReadGuard::upgrade_timeout_blocking(
            guard,
            Duration::from_micros(rng.below(500)),
        ) {
            Ok(writer) => Some(writer),
            Err(guard) => {
                let _token =
                    shared.token(Access::Upgradable, round, "upgrade_timeout_blocking's Err");
                shared.check_read(&guard.pair, round, "upgrade_timeout_blocking's Err");
                None
            }
        },
        2 => RwLockUpgradableReadGuard::try_upgrade(guard).ok(),
        _ => {
            let reader = RwLockUpgradableReadGuard::downgrade(guard);
            let _token = shared.token(Access::Read, round, "downgraded on a thread");
            shared.check_read(&reader.pair, round, "downgraded on a thread");
            None
        }
    };
    if let Some(mut writer) = writer {
        shared.upgrades.fetch_add(1, Ordering::Relaxed);
        let token = shared.token(Access::Write, round, "upgraded on a thread");
        write_sync(shared, &mut writer.pair, rng);
        drop(token);
        if rng.one_in(2) {
            let reader = RwLockWriteGuard::downgrade(writer);
            let _token = shared.token(Access::Read, round, "downgraded on a thread");
            shared.check_read(&reader.pair, round, "downgraded on a thread");
        }
    }
}

fn thread_actor(shared: &Arc<Shared>, round: &Round, mut rng: Rng, ops: usize) {
    let lock = &shared.lock;
    for _ in 0..ops {
        match rng.below(9) {
            0 => {
                let guard = lock.read_blocking();
                let _token = shared.token(Access::Read, round, "read_blocking");
                shared.check_read(&guard.pair, round, "read_blocking");
            }
            1 => {
                if let Some(guard) = lock.read_timeout_blocking(rng.tiny()) {
                    let _token = shared.token(Access::Read, round, "read_timeout_blocking");
                    shared.check_read(&guard.pair, round, "read_timeout_blocking");
                }
            }
            2 => {
                let mut guard = lock.write_blocking();
                let _token = shared.token(Access::Write, round, "write_blocking");
                write_sync(shared, &mut guard.pair, &mut rng);
                shared.tally.done();
            }
            3 => {
                let timeout = Duration::from_micros(rng.below(1_500));
                if let Some(guard) = lock.write_timeout_blocking(timeout) {
                    let mut pair = RwLockWriteGuard::map(guard, |data| &mut data.pair);
                    let _token =
                        shared.token(Access::Write, round, "write_timeout_blocking, mapped");
                    write_sync(shared, &mut pair, &mut rng);
                }
            }
            4 => {
                let guard = if rng.one_in(2) {
                    Some(lock.upgradable_read_blocking())
                } else {
                    lock.upgradable_read_timeout_blocking(rng.tiny())
                };
                if let Some(guard) = guard {
                    thread_upgradable(shared, round, &mut rng, guard);
                }
            }
            5 => {
                if let Some(mut guard) = lock.try_write() {
                    let _token = shared.token(Access::Write, round, "try_write on a thread");
                    write_sync(shared, &mut guard.pair, &mut rng);
                } else if let Some(guard) = lock.try_read() {
                    let _token = shared.token(Access::Read, round, "try_read on a thread");
                    shared.check_read(&guard.pair, round, "try_read on a thread");
                }
            }
            6 => {
                // An owned write guard taken here, written and dropped by
                // another thread.
                if let Some(guard) = lock.write_owned_timeout_blocking(Duration::from_millis(1)) {
                    let held = OwnedWrite(
                        shared.token(Access::Write, round, "write_owned_timeout_blocking"),
                        guard,
                    );
                    let (inner, mut rng2) = (Arc::clone(shared), rng.fork());
                    let thread = std::thread::spawn(move || {
                        let OwnedWrite(token, mut guard) = held;
                        write_sync(&inner, &mut guard.pair, &mut rng2);
                        drop(token);
                    });
                    join_thread(round, "owned writer's thread", thread);
                }
            }
            7 => {
                let guard = lock.upgradable_read_owned_blocking();
                let token =
                    shared.token(Access::Upgradable, round, "upgradable_read_owned_blocking");
                drop(token);
                match OwnedRwLockUpgradableReadGuard::upgrade_timeout_blocking(
                    guard,
                    Duration::from_micros(rng.below(800)),
                ) {
                    Ok(mut writer) => {
                        let _token =
                            shared.token(Access::Write, round, "owned upgrade on a thread");
                        write_sync(shared, &mut writer.pair, &mut rng);
                    }
                    Err(guard) => {
                        let reader = OwnedRwLockUpgradableReadGuard::downgrade(guard);
                        let _token =
                            shared.token(Access::Read, round, "owned downgrade on a thread");
                        shared.check_read(&reader.pair, round, "owned downgrade on a thread");
                    }
                }
            }
            _ => {
                let guard = lock.read_owned_blocking();
                let _token = shared.token(Access::Read, round, "read_owned_blocking");
                shared.check_read(&guard.pair, round, "read_owned_blocking");
                if rng.one_in(3) {
                    std::thread::yield_now();
                }
            }
        }
    }
}

#[test]
fn rwlock() {
    let runtime = runtime();
    let (mut cancels, mut upgrades) = (0, 0);
    chaos("rwlock", 3, |round| {
        let mut rng = round.rng();
        let shared = Arc::new(Shared {
            lock: Arc::new(RwLock::new(Data::default())),
            shadow: Arc::default(),
            writes: AtomicUsize::new(0),
            reads: AtomicUsize::new(0),
            upgrades: AtomicUsize::new(0),
            tally: Tally::default(),
        });
        let ops = 20 + rng.index(40);
        let tasks: Vec<_> = (0..2 + rng.index(4))
            .map(|_| {
                runtime.spawn(task_actor(
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
                std::thread::spawn(move || thread_actor(&shared, &round, rng, ops))
            })
            .collect();
        let blocking = {
            let (shared, round, rng) = (Arc::clone(&shared), round.clone(), rng.fork());
            runtime.spawn_blocking(move || thread_actor(&shared, &round, rng, ops / 2))
        };
        for thread in threads {
            join_thread(round, "rwlock thread", thread);
        }
        join_tasks(&runtime, round, "rwlock task", tasks);
        join_tasks(&runtime, round, "rwlock spawn_blocking", vec![blocking]);
        let lock = &shared.lock;
        assert!(
            !lock.is_locked(),
            "rwlock still locked after every holder left {round}"
        );
        assert_eq!(
            lock.readers(),
            0,
            "readers counted after every holder left {round}"
        );
        assert_eq!(lock.waiters(), 0, "a gone waiter is still counted {round}");
        let shadow = &shared.shadow;
        assert_eq!(
            (
                shadow.readers.load(Ordering::SeqCst),
                shadow.upgradable.load(Ordering::SeqCst),
                shadow.writers.load(Ordering::SeqCst)
            ),
            (0, 0, 0),
            "shadow tokens left {round}"
        );
        {
            let guard = lock.try_write().expect("a free lock");
            assert_eq!(
                guard.pair[0], guard.pair[1],
                "a half-done write at the end {round}"
            );
            assert_eq!(
                guard.pair[0] as usize,
                shared.writes.load(Ordering::SeqCst),
                "writes lost or doubled {round}"
            );
            assert_eq!(
                guard.spare, 0,
                "a mapped guard wrote outside its part {round}"
            );
        }
        // Every kind of access is still possible.
        assert!(lock.try_upgradable_read().is_some() && lock.try_read().is_some());
        cancels += shared.tally.cancels();
        upgrades += shared.upgrades.load(Ordering::SeqCst);
    });
    assert!(
        cancels > 0,
        "no wait was cancelled: the storm tested nothing"
    );
    assert!(
        upgrades > 0,
        "no upgrade happened: the storm tested nothing"
    );
}
