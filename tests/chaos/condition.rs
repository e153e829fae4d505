//! `Condition` with `Lock` guards (borrowed and owned): producers add tokens
//! under the lock and notify; consumers wait for a token in every form and
//! are cancelled at random. No wake-up may be lost: a consumer left asleep
//! while a token waits for it hangs the round (bounded, so it fails). At the
//! end every token was consumed exactly once and nobody is counted waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::{Condition, Lock};

use crate::harness::{
    Cancel, Rng, Round, Tally, cancellable, chaos, join_tasks, join_thread, runtime, yields,
};

#[derive(Default)]
struct Tokens {
    available: usize,
    consumed: usize,
}

struct Shared {
    lock: Arc<Lock<Tokens>>,
    cond: Condition,
    tally: Tally,
    notified: AtomicUsize,
}

fn take_one(tokens: &mut Tokens) {
    tokens.available -= 1;
    tokens.consumed += 1;
}

async fn task_consumer(shared: Arc<Shared>, round: Round, mut rng: Rng, want: usize) {
    let (lock, cond) = (&shared.lock, &shared.cond);
    let mut got = 0;
    while got < want {
        let cancel = Cancel::random(&mut rng);
        let outcome = match rng.below(5) {
            0 => {
                let wait = async {
                    let guard = lock.lock().await;
                    cond.wait_for(guard, |t| t.available > 0).await
                };
                cancellable(&round, "wait_for", wait, cancel)
                    .await
                    .map(|mut g| {
                        take_one(&mut g);
                    })
            }
            1 => {
                let wait = async {
                    let mut guard = lock.lock().await;
                    while guard.available == 0 {
                        guard = cond.wait(guard).await;
                    }
                    take_one(&mut guard);
                };
                cancellable(&round, "wait loop", wait, cancel).await
            }
            2 => {
                let guard = lock.lock().await;
                let timeout = rng.tiny();
                let (mut guard, ok) = cond
                    .wait_for_timeout(guard, timeout, |t| t.available > 0)
                    .await;
                if ok {
                    take_one(&mut guard);
                    Some(())
                } else {
                    None
                }
            }
            3 => {
                // Owned guard, plain timeout.
                let guard = lock.lock_owned().await;
                let (mut guard, _) = cond.wait_timeout(guard, rng.tiny()).await;
                if guard.available > 0 {
                    take_one(&mut guard);
                    Some(())
                } else {
                    None
                }
            }
            _ => {
                // In a task of its own, aborted at random.
                let inner = Arc::clone(&shared);
                let task = tokio::spawn(async move {
                    let guard = inner.lock.lock_owned().await;
                    let mut guard = inner.cond.wait_for(guard, |t| t.available > 0).await;
                    take_one(&mut guard);
                });
                yields(rng.below(4)).await;
                if rng.one_in(2) {
                    task.abort();
                }
                match crate::harness::bounded(&round, "aborted wait_for task", task).await {
                    Ok(()) => Some(()),
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => None,
                }
            }
        };
        match outcome {
            Some(()) => got += 1,
            None => shared.tally.cancelled(),
        }
    }
}

fn thread_consumer(shared: &Shared, mut rng: Rng, want: usize) {
    let (lock, cond) = (&shared.lock, &shared.cond);
    let mut got = 0;
    while got < want {
        match rng.below(3) {
            0 => {
                let mut guard = cond.wait_for_blocking(lock.lock_blocking(), |t| t.available > 0);
                take_one(&mut guard);
                got += 1;
            }
            1 => {
                let (mut guard, ok) =
                    cond.wait_for_timeout_blocking(lock.lock_blocking(), rng.tiny(), |t| {
                        t.available > 0
                    });
                if ok {
                    take_one(&mut guard);
                    got += 1;
                }
            }
            _ => {
                let (mut guard, _) = cond.wait_timeout_blocking(lock.lock_blocking(), rng.tiny());
                if guard.available > 0 {
                    take_one(&mut guard);
                    got += 1;
                }
            }
        }
    }
}

/// Adds `count` tokens, notifying in a random way that covers them.
fn produce<'s>(
    shared: &'s Shared,
    rng: &mut Rng,
    count: usize,
    guard: &mut Tokens,
) -> impl FnOnce() + 's {
    guard.available += count;
    let how = rng.below(3);
    move || {
        let woke = match how {
            0 => shared.cond.notify(count),
            1 => (0..count)
                .map(|_| usize::from(shared.cond.notify_one()))
                .sum(),
            _ => shared.cond.notify_all(),
        };
        if how != 2 {
            assert!(woke <= count, "notify({count}) woke {woke} waiters");
        }
        shared.notified.fetch_add(woke, Ordering::Relaxed);
    }
}

#[test]
fn condition() {
    let runtime = runtime();
    let mut cancels = 0;
    chaos("condition", 3, |round| {
        let mut rng = round.rng();
        let shared = Arc::new(Shared {
            lock: Arc::new(Lock::new(Tokens::default())),
            cond: Condition::new(),
            tally: Tally::default(),
            notified: AtomicUsize::new(0),
        });
        let want = 5 + rng.index(20);
        let task_consumers = 2 + rng.index(3);
        let thread_consumers = 1 + rng.index(2);
        let total = want * (task_consumers + thread_consumers);
        let consumers: Vec<_> = (0..task_consumers)
            .map(|_| {
                runtime.spawn(task_consumer(
                    Arc::clone(&shared),
                    round.clone(),
                    rng.fork(),
                    want,
                ))
            })
            .collect();
        let threads: Vec<_> = (0..thread_consumers)
            .map(|_| {
                let (shared, rng) = (Arc::clone(&shared), rng.fork());
                std::thread::spawn(move || thread_consumer(&shared, rng, want))
            })
            .collect();
        // Producers: a task and a thread share the tokens to make.
        let from_task = total / 2;
        let producer_task = {
            let (shared, mut rng) = (Arc::clone(&shared), rng.fork());
            runtime.spawn(async move {
                let mut left = from_task;
                while left > 0 {
                    let count = (1 + rng.index(3)).min(left);
                    let notify = {
                        let mut guard = shared.lock.lock().await;
                        produce(&shared, &mut rng, count, &mut guard)
                    };
                    notify();
                    left -= count;
                    yields(rng.below(3)).await;
                }
            })
        };
        let producer_thread = {
            let (shared, mut rng) = (Arc::clone(&shared), rng.fork());
            std::thread::spawn(move || {
                let mut left = total - from_task;
                while left > 0 {
                    let count = (1 + rng.index(3)).min(left);
                    let notify = {
                        let mut guard = shared.lock.lock_blocking();
                        produce(&shared, &mut rng, count, &mut guard)
                    };
                    notify();
                    left -= count;
                    if rng.one_in(3) {
                        std::thread::sleep(Duration::from_micros(rng.below(100)));
                    }
                }
            })
        };
        join_thread(round, "producer thread", producer_thread);
        join_tasks(&runtime, round, "producer task", vec![producer_task]);
        for thread in threads {
            join_thread(round, "consumer thread (lost wake-up?)", thread);
        }
        join_tasks(&runtime, round, "consumer task (lost wake-up?)", consumers);
        let tokens = shared.lock.try_lock().expect("a free lock");
        assert_eq!(tokens.available, 0, "tokens left over {round}");
        assert_eq!(tokens.consumed, total, "tokens consumed {round}");
        drop(tokens);
        assert_eq!(
            shared.cond.waiters(),
            0,
            "a gone waiter is still counted {round}"
        );
        assert_eq!(
            shared.lock.waiters(),
            0,
            "lock: a gone waiter is still counted {round}"
        );
        assert_eq!(
            shared.cond.notify_all(),
            0,
            "nobody waits, nobody is woken {round}"
        );
        cancels += shared.tally.cancels();
    });
    assert!(
        cancels > 0,
        "no wait was cancelled: the storm tested nothing"
    );
}
