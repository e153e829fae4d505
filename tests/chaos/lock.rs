//! `Lock`: never two holders, no critical section lost, free and with no
//! waiter counted at the end of every round; the raw `acquire`/`release`
//! forms of `Lock<()>` likewise.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::Lock;

use crate::harness::{
    Cancel, Hold, Rng, Round, Tally, bounded, cancellable, chaos, join_tasks, join_thread, runtime,
    yields,
};

struct Shared {
    lock: Arc<Lock<u64>>,
    raw: Lock<()>,
    holders: Arc<AtomicUsize>,
    raw_holders: Arc<AtomicUsize>,
    tally: Tally,
    raw_done: AtomicUsize,
}

async fn task_actor(shared: Arc<Shared>, round: Round, mut rng: Rng, ops: usize) {
    let lock = &shared.lock;
    for _ in 0..ops {
        match rng.below(8) {
            0..=2 => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "lock()", lock.lock(), cancel).await {
                    Some(mut guard) => {
                        let _hold = Hold::enter(&shared.holders, 1, &round, "Lock");
                        *guard += 1;
                        shared.tally.done();
                        yields(rng.below(2)).await;
                    }
                    None => shared.tally.cancelled(),
                }
            }
            3 => match lock.lock_timeout(rng.tiny()).await {
                Some(mut guard) => {
                    let _hold = Hold::enter(&shared.holders, 1, &round, "Lock");
                    *guard += 1;
                    shared.tally.done();
                }
                None => shared.tally.cancelled(),
            },
            4 => {
                if let Some(mut guard) = lock.try_lock() {
                    let _hold = Hold::enter(&shared.holders, 1, &round, "Lock");
                    *guard += 1;
                    shared.tally.done();
                }
            }
            5 => {
                // An owned guard in a task of its own, aborted at random:
                // while waiting, or while holding the lock across a yield.
                let inner = Arc::clone(&shared);
                let (hold_yields, round2) = (rng.below(3), round.clone());
                let task = tokio::spawn(async move {
                    let mut guard = inner.lock.lock_owned().await;
                    let _hold = Hold::enter(&inner.holders, 1, &round2, "Lock (owned)");
                    *guard += 1;
                    inner.tally.done();
                    yields(hold_yields).await;
                });
                yields(rng.below(4)).await;
                if rng.one_in(2) {
                    task.abort();
                }
                match bounded(&round, "aborted lock_owned task", task).await {
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => shared.tally.cancelled(),
                    Ok(()) => {}
                }
            }
            _ => {
                let cancel = Cancel::random(&mut rng);
                if cancellable(&round, "acquire()", shared.raw.acquire(), cancel)
                    .await
                    .is_some()
                {
                    {
                        let _hold = Hold::enter(&shared.raw_holders, 1, &round, "Lock<()> raw");
                        shared.raw_done.fetch_add(1, Ordering::Relaxed);
                    }
                    shared
                        .raw
                        .release()
                        .unwrap_or_else(|e| panic!("release of a held raw lock: {e} {round}"));
                } else {
                    shared.tally.cancelled();
                }
            }
        }
    }
}

fn thread_actor(shared: &Shared, round: &Round, mut rng: Rng, ops: usize) {
    let lock = &shared.lock;
    for _ in 0..ops {
        let guard = match rng.below(5) {
            0 => lock.lock_timeout_blocking(rng.tiny()),
            1 => lock.try_lock(),
            2 => Some(lock.lock_blocking()),
            3 => lock.lock_timeout_blocking(Duration::from_millis(rng.below(3))),
            _ => {
                if shared.raw.acquire_timeout_blocking(rng.tiny()) {
                    {
                        let _hold = Hold::enter(&shared.raw_holders, 1, round, "Lock<()> raw");
                        shared.raw_done.fetch_add(1, Ordering::Relaxed);
                    }
                    shared.raw.release().expect("release of a held raw lock");
                }
                None
            }
        };
        if let Some(mut guard) = guard {
            let _hold = Hold::enter(&shared.holders, 1, round, "Lock");
            *guard += 1;
            shared.tally.done();
            if rng.one_in(4) {
                std::thread::yield_now();
            }
        }
    }
}

#[test]
fn lock() {
    let runtime = runtime();
    let mut cancels = 0;
    chaos("lock", 3, |round| {
        let mut rng = round.rng();
        let shared = Arc::new(Shared {
            lock: Arc::new(Lock::new(0)),
            raw: Lock::new(()),
            holders: Arc::default(),
            raw_holders: Arc::default(),
            tally: Tally::default(),
            raw_done: AtomicUsize::new(0),
        });
        let ops = 30 + rng.index(50);
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
        // A `spawn_blocking` closure may block too.
        let blocking = {
            let (shared, round, rng) = (Arc::clone(&shared), round.clone(), rng.fork());
            runtime.spawn_blocking(move || thread_actor(&shared, &round, rng, ops / 2))
        };
        for thread in threads {
            join_thread(round, "lock thread", thread);
        }
        join_tasks(&runtime, round, "lock task", tasks);
        join_tasks(&runtime, round, "lock spawn_blocking", vec![blocking]);
        let lock = &shared.lock;
        assert!(
            !lock.is_locked(),
            "lock still locked after every holder left {round}"
        );
        assert_eq!(lock.waiters(), 0, "a gone waiter is still counted {round}");
        assert!(!shared.raw.is_locked(), "raw lock leaked {round}");
        assert_eq!(
            shared.raw.waiters(),
            0,
            "raw lock: a gone waiter is still counted {round}"
        );
        let value = *lock.try_lock().expect("a free lock");
        assert_eq!(
            value as usize,
            shared.tally.dones(),
            "critical sections lost or doubled {round}"
        );
        assert!(shared.raw.try_acquire() && shared.raw.release().is_ok());
        cancels += shared.tally.cancels();
    });
    assert!(
        cancels > 0,
        "no wait was cancelled: the storm tested nothing"
    );
}
