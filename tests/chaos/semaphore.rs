//! `Semaphore` and `BoundedSemaphore`: never more holders than permits in
//! circulation, never more free permits than that (a `BoundedSemaphore` never
//! above its bound), every permit back and nobody counted waiting at the end
//! of a round; at `MAX_PERMITS` the count never wraps and a give-back beyond
//! it is handled as documented (issue 9 §1.3).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::{BoundedSemaphore, MAX_PERMITS, OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use crate::harness::{
    Cancel, Hold, Rng, Round, Tally, bounded, cancellable, chaos, join_tasks, join_thread,
    panic_text, runtime, yields,
};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Either semaphore type, so one storm drives both.
#[derive(Clone)]
enum AnySem {
    Plain(Arc<Semaphore>),
    Bounded(Arc<BoundedSemaphore>),
}

impl AnySem {
    fn acquire(&self) -> BoxFuture<'_, SemaphorePermit<'_>> {
        match self {
            AnySem::Plain(s) => Box::pin(s.acquire()),
            AnySem::Bounded(s) => Box::pin(s.acquire()),
        }
    }
    fn acquire_timeout(&self, d: Duration) -> BoxFuture<'_, Option<SemaphorePermit<'_>>> {
        match self {
            AnySem::Plain(s) => Box::pin(s.acquire_timeout(d)),
            AnySem::Bounded(s) => Box::pin(s.acquire_timeout(d)),
        }
    }
    fn acquire_owned(&self) -> BoxFuture<'static, OwnedSemaphorePermit> {
        match self {
            AnySem::Plain(s) => Box::pin(s.acquire_owned()),
            AnySem::Bounded(s) => Box::pin(s.acquire_owned()),
        }
    }
    fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        match self {
            AnySem::Plain(s) => s.try_acquire(),
            AnySem::Bounded(s) => s.try_acquire(),
        }
    }
    fn acquire_blocking(&self) -> SemaphorePermit<'_> {
        match self {
            AnySem::Plain(s) => s.acquire_blocking(),
            AnySem::Bounded(s) => s.acquire_blocking(),
        }
    }
    fn acquire_timeout_blocking(&self, d: Duration) -> Option<SemaphorePermit<'_>> {
        match self {
            AnySem::Plain(s) => s.acquire_timeout_blocking(d),
            AnySem::Bounded(s) => s.acquire_timeout_blocking(d),
        }
    }
    fn acquire_owned_timeout_blocking(&self, d: Duration) -> Option<OwnedSemaphorePermit> {
        match self {
            AnySem::Plain(s) => s.acquire_owned_timeout_blocking(d),
            AnySem::Bounded(s) => s.acquire_owned_timeout_blocking(d),
        }
    }
    fn available(&self) -> usize {
        match self {
            AnySem::Plain(s) => s.available_permits(),
            AnySem::Bounded(s) => s.available_permits(),
        }
    }
    fn waiters(&self) -> usize {
        match self {
            AnySem::Plain(s) => s.waiters(),
            AnySem::Bounded(s) => s.waiters(),
        }
    }
    /// Gives back a permit taken out with `forget`.
    fn release_forgotten(&self, round: &Round) {
        match self {
            AnySem::Plain(s) => s.release(),
            AnySem::Bounded(s) => s.release().unwrap_or_else(|e| {
                panic!("BoundedSemaphore refused a forgotten permit: {e} {round}")
            }),
        }
    }
}

struct Shared {
    sem: AnySem,
    permits: usize,
    /// Permits added by `release_n` and not yet taken out again.
    extra: AtomicUsize,
    holders: Arc<AtomicUsize>,
    tally: Tally,
}

impl Shared {
    fn hold(&self, round: &Round) -> Hold {
        let bound = || self.permits + self.extra.load(Ordering::SeqCst);
        Hold::enter_within(&self.holders, bound, round, "semaphore")
    }

    fn check_bound(&self, round: &Round) {
        // Before and after: the bound moves (see `Hold::enter_within`).
        let before = self.permits + self.extra.load(Ordering::SeqCst);
        let free = self.sem.available();
        let bound = before.max(self.permits + self.extra.load(Ordering::SeqCst));
        assert!(
            free <= bound,
            "{free} free permits, more than the {bound} in circulation {round}"
        );
    }
}

async fn task_actor(shared: Arc<Shared>, round: Round, mut rng: Rng, ops: usize) {
    let sem = &shared.sem;
    for _ in 0..ops {
        match rng.below(9) {
            0..=2 => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "acquire()", sem.acquire(), cancel).await {
                    Some(permit) => {
                        let _hold = shared.hold(&round);
                        shared.tally.done();
                        yields(rng.below(3)).await;
                        drop(_hold);
                        drop(permit);
                    }
                    None => shared.tally.cancelled(),
                }
            }
            3 => match sem.acquire_timeout(rng.tiny()).await {
                Some(permit) => {
                    let _hold = shared.hold(&round);
                    yields(rng.below(2)).await;
                    drop(_hold);
                    drop(permit);
                }
                None => shared.tally.cancelled(),
            },
            4 => {
                if let Some(permit) = sem.try_acquire() {
                    let _hold = shared.hold(&round);
                    drop(_hold);
                    drop(permit);
                }
            }
            5 => {
                // An owned permit in a task of its own, aborted at random.
                let (inner, round2, hold_yields) =
                    (Arc::clone(&shared), round.clone(), rng.below(3));
                let task = tokio::spawn(async move {
                    let permit = inner.sem.acquire_owned().await;
                    let _hold = inner.hold(&round2);
                    yields(hold_yields).await;
                    drop(_hold);
                    drop(permit);
                });
                yields(rng.below(4)).await;
                if rng.one_in(2) {
                    task.abort();
                }
                match bounded(&round, "aborted acquire_owned task", task).await {
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => shared.tally.cancelled(),
                    Ok(()) => {}
                }
            }
            6 => {
                // Python style: acquire without a guard, release later.
                let permit = bounded(&round, "acquire() to forget", sem.acquire()).await;
                let hold = shared.hold(&round);
                permit.forget();
                yields(rng.below(3)).await;
                drop(hold);
                sem.release_forgotten(&round);
            }
            7 => {
                if let AnySem::Plain(plain) = sem {
                    // Extra permits, taken out again afterwards.
                    let n = 1 + rng.index(3);
                    shared.extra.fetch_add(n, Ordering::SeqCst);
                    plain.release_n(n);
                    yields(rng.below(3)).await;
                    for _ in 0..n {
                        bounded(&round, "taking extra permits back", plain.acquire())
                            .await
                            .forget();
                    }
                    shared.extra.fetch_sub(n, Ordering::SeqCst);
                }
            }
            _ => shared.check_bound(&round),
        }
    }
}

fn thread_actor(shared: &Shared, round: &Round, mut rng: Rng, ops: usize) {
    let sem = &shared.sem;
    for _ in 0..ops {
        match rng.below(5) {
            0 => {
                if let Some(permit) = sem.acquire_timeout_blocking(rng.tiny()) {
                    let _hold = shared.hold(round);
                    drop(_hold);
                    drop(permit);
                }
            }
            1 => {
                let permit = sem.acquire_blocking();
                let _hold = shared.hold(round);
                if rng.one_in(3) {
                    std::thread::yield_now();
                }
                drop(_hold);
                drop(permit);
            }
            2 => {
                if let Some(permit) =
                    sem.acquire_owned_timeout_blocking(Duration::from_millis(rng.below(3)))
                {
                    let _hold = shared.hold(round);
                    drop(_hold);
                    drop(permit);
                }
            }
            3 => {
                if let Some(permit) = sem.try_acquire() {
                    permit.forget();
                    sem.release_forgotten(round);
                }
            }
            _ => shared.check_bound(round),
        }
    }
}

fn storm(test: &'static str, bounded_kind: bool) {
    let runtime = runtime();
    let mut cancels = 0;
    chaos(test, 3, |round| {
        let mut rng = round.rng();
        let permits = 1 + rng.index(3);
        let sem = if bounded_kind {
            AnySem::Bounded(Arc::new(BoundedSemaphore::new(permits)))
        } else {
            AnySem::Plain(Arc::new(Semaphore::new(permits)))
        };
        let shared = Arc::new(Shared {
            sem,
            permits,
            extra: AtomicUsize::new(0),
            holders: Arc::default(),
            tally: Tally::default(),
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
        let blocking = {
            let (shared, round, rng) = (Arc::clone(&shared), round.clone(), rng.fork());
            runtime.spawn_blocking(move || thread_actor(&shared, &round, rng, ops / 2))
        };
        for thread in threads {
            join_thread(round, "semaphore thread", thread);
        }
        join_tasks(&runtime, round, "semaphore task", tasks);
        join_tasks(&runtime, round, "semaphore spawn_blocking", vec![blocking]);
        let sem = &shared.sem;
        assert_eq!(
            sem.available(),
            permits,
            "permits leaked or made up {round}"
        );
        assert_eq!(sem.waiters(), 0, "a gone waiter is still counted {round}");
        let all: Vec<_> = (0..permits).map(|_| sem.try_acquire()).collect();
        assert!(
            all.iter().all(Option::is_some),
            "a free permit could not be taken {round}"
        );
        assert!(sem.try_acquire().is_none(), "one permit too many {round}");
        drop(all);
        if let AnySem::Bounded(b) = sem {
            assert!(
                b.release().is_err(),
                "BoundedSemaphore went above its bound {round}"
            );
            assert_eq!(b.available_permits(), permits);
        }
        cancels += shared.tally.cancels();
    });
    assert!(
        cancels > 0,
        "no wait was cancelled: the storm tested nothing"
    );
}

#[test]
fn semaphore() {
    storm("semaphore", false);
}

#[test]
fn bounded_semaphore() {
    storm("bounded_semaphore", true);
}

/// Issue 9 §1.3 under chaos: a semaphore near `MAX_PERMITS`, permits taken
/// and dropped by tasks and threads while raw releases push the count to the
/// maximum (and beyond, which must panic and change nothing). The count may
/// never wrap: the final count is `min(MAX_PERMITS, start + accepted
/// releases)`, and at every moment at least `start - holders` are free.
#[test]
fn semaphore_at_max_permits() {
    let runtime = runtime();
    chaos("semaphore_at_max_permits", 3, |round| {
        let mut rng = round.rng();
        let start = MAX_PERMITS - rng.index(4);
        let sem = Arc::new(Semaphore::new(start));
        let accepted = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        const ACTORS: usize = 4;
        let low_water = start - 2 * ACTORS;
        let check = move |sem: &Semaphore, what: &str, round: &Round| {
            let free = sem.available_permits();
            assert!(
                (low_water..=MAX_PERMITS).contains(&free),
                "{what}: {free} permits free; a semaphore that started at {start} with at most {} out must have {low_water}..={MAX_PERMITS} (the count wrapped?) {round}",
                2 * ACTORS
            );
        };
        let release = move |sem: &Semaphore,
                            n: usize,
                            accepted: &AtomicUsize,
                            refused: &AtomicUsize,
                            round: &Round| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if n == 1 {
                    sem.release();
                } else {
                    sem.release_n(n);
                }
            }));
            match outcome {
                Ok(()) => {
                    accepted.fetch_add(n, Ordering::SeqCst);
                }
                Err(panic) => {
                    let text = panic_text(&*panic);
                    assert!(
                        text.contains("permit") || text.contains("MAX_PERMITS"),
                        "a release beyond MAX_PERMITS must panic with a clear message, got {text:?} {round}"
                    );
                    refused.fetch_add(1, Ordering::SeqCst);
                }
            }
        };
        let ops = 20 + rng.index(40);
        let tasks: Vec<_> = (0..ACTORS / 2)
            .map(|_| {
                let (sem, accepted, refused, round, mut rng) = (
                    Arc::clone(&sem),
                    Arc::clone(&accepted),
                    Arc::clone(&refused),
                    round.clone(),
                    rng.fork(),
                );
                runtime.spawn(async move {
                    for _ in 0..ops {
                        let cancel = Cancel::random(&mut rng);
                        match rng.below(4) {
                            0 => {
                                if let Some(permit) =
                                    cancellable(&round, "acquire()", sem.acquire(), cancel).await
                                {
                                    yields(rng.below(2)).await;
                                    drop(permit);
                                }
                            }
                            1 => {
                                let permit = sem.acquire_owned().await;
                                if rng.one_in(2) {
                                    release(&sem, 1 + rng.index(2), &accepted, &refused, &round);
                                }
                                drop(permit);
                            }
                            2 => release(&sem, 1 + rng.index(3), &accepted, &refused, &round),
                            _ => {
                                let a = sem.try_acquire();
                                let b = sem.try_acquire();
                                release(&sem, 1, &accepted, &refused, &round);
                                drop((a, b));
                            }
                        }
                        check(&sem, "task", &round);
                    }
                })
            })
            .collect();
        let threads: Vec<_> = (0..ACTORS / 2)
            .map(|_| {
                let (sem, accepted, refused, round, mut rng) = (
                    Arc::clone(&sem),
                    Arc::clone(&accepted),
                    Arc::clone(&refused),
                    round.clone(),
                    rng.fork(),
                );
                std::thread::spawn(move || {
                    for _ in 0..ops {
                        match rng.below(3) {
                            0 => {
                                let permit = sem.acquire_blocking();
                                release(&sem, 1, &accepted, &refused, &round);
                                drop(permit);
                            }
                            1 => {
                                if let Some(permit) = sem.acquire_timeout_blocking(rng.tiny()) {
                                    drop(permit);
                                }
                            }
                            _ => release(&sem, 1 + rng.index(2), &accepted, &refused, &round),
                        }
                        check(&sem, "thread", &round);
                    }
                })
            })
            .collect();
        for thread in threads {
            join_thread(round, "thread at MAX_PERMITS", thread);
        }
        join_tasks(&runtime, round, "task at MAX_PERMITS", tasks);
        let expected = start
            .saturating_add(accepted.load(Ordering::SeqCst))
            .min(MAX_PERMITS);
        assert_eq!(
            sem.available_permits(),
            expected,
            "final count: started at {start}, {} permits released and accepted, {} releases refused {round}",
            accepted.load(Ordering::SeqCst),
            refused.load(Ordering::SeqCst)
        );
        assert_eq!(sem.waiters(), 0);
        assert!(
            sem.try_acquire().is_some(),
            "a semaphore at {expected} gave no permit {round}"
        );
    });
}
