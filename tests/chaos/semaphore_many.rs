//! Weighted permits (`acquire_many`, every form, owned too) on `Semaphore`
//! and `BoundedSemaphore`, mixed with single acquires, `forget` + raw
//! `release`, and `release_n`: never more permits held than in circulation,
//! never more free; a `BoundedSemaphore` refuses more than its bound at once
//! (`TooManyPermitsError`) and its `release` past the bound; every permit back
//! and nobody counted waiting at the end of a round. A second test puts a
//! waiter for many permits at the head of the line, smaller waiters behind
//! it, and cancels the big one: the smaller ones must get the permits that
//! are free without anybody releasing (issue 15's stranded-waiter bug).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::{
    BoundedSemaphore, Event, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TooManyPermitsError,
};

use crate::harness::{
    Cancel, Rng, Round, Tally, bounded, cancellable, chaos, eventually, join_tasks, join_thread,
    runtime, yields,
};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Many<T> = Result<T, TooManyPermitsError>;

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
    fn acquire_many(&self, n: usize) -> BoxFuture<'_, Many<SemaphorePermit<'_>>> {
        match self {
            AnySem::Plain(s) => Box::pin(s.acquire_many(n)),
            AnySem::Bounded(s) => Box::pin(s.acquire_many(n)),
        }
    }
    fn acquire_many_timeout(
        &self,
        n: usize,
        d: Duration,
    ) -> BoxFuture<'_, Many<Option<SemaphorePermit<'_>>>> {
        match self {
            AnySem::Plain(s) => Box::pin(s.acquire_many_timeout(n, d)),
            AnySem::Bounded(s) => Box::pin(s.acquire_many_timeout(n, d)),
        }
    }
    fn acquire_many_owned(&self, n: usize) -> BoxFuture<'static, Many<OwnedSemaphorePermit>> {
        match self {
            AnySem::Plain(s) => Box::pin(s.acquire_many_owned(n)),
            AnySem::Bounded(s) => Box::pin(s.acquire_many_owned(n)),
        }
    }
    fn acquire_many_owned_timeout(
        &self,
        n: usize,
        d: Duration,
    ) -> BoxFuture<'static, Many<Option<OwnedSemaphorePermit>>> {
        match self {
            AnySem::Plain(s) => Box::pin(s.acquire_many_owned_timeout(n, d)),
            AnySem::Bounded(s) => Box::pin(s.acquire_many_owned_timeout(n, d)),
        }
    }
    fn try_acquire_many(&self, n: usize) -> Many<Option<SemaphorePermit<'_>>> {
        match self {
            AnySem::Plain(s) => s.try_acquire_many(n),
            AnySem::Bounded(s) => s.try_acquire_many(n),
        }
    }
    fn try_acquire_many_owned(&self, n: usize) -> Many<Option<OwnedSemaphorePermit>> {
        match self {
            AnySem::Plain(s) => s.try_acquire_many_owned(n),
            AnySem::Bounded(s) => s.try_acquire_many_owned(n),
        }
    }
    fn acquire_many_blocking(&self, n: usize) -> Many<SemaphorePermit<'_>> {
        match self {
            AnySem::Plain(s) => s.acquire_many_blocking(n),
            AnySem::Bounded(s) => s.acquire_many_blocking(n),
        }
    }
    fn acquire_many_timeout_blocking(
        &self,
        n: usize,
        d: Duration,
    ) -> Many<Option<SemaphorePermit<'_>>> {
        match self {
            AnySem::Plain(s) => s.acquire_many_timeout_blocking(n, d),
            AnySem::Bounded(s) => s.acquire_many_timeout_blocking(n, d),
        }
    }
    fn acquire_many_owned_blocking(&self, n: usize) -> Many<OwnedSemaphorePermit> {
        match self {
            AnySem::Plain(s) => s.acquire_many_owned_blocking(n),
            AnySem::Bounded(s) => s.acquire_many_owned_blocking(n),
        }
    }
    fn acquire_many_owned_timeout_blocking(
        &self,
        n: usize,
        d: Duration,
    ) -> Many<Option<OwnedSemaphorePermit>> {
        match self {
            AnySem::Plain(s) => s.acquire_many_owned_timeout_blocking(n, d),
            AnySem::Bounded(s) => s.acquire_many_owned_timeout_blocking(n, d),
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
    fn is_bounded(&self) -> bool {
        matches!(self, AnySem::Bounded(_))
    }
    /// Gives back `n` permits taken out with `forget`: Python's raw
    /// `release`, once per permit on a bounded semaphore, `release_n` on a
    /// plain one.
    fn release_forgotten(&self, n: usize, round: &Round) {
        match self {
            AnySem::Plain(s) => s.release_n(n),
            AnySem::Bounded(s) => {
                for _ in 0..n {
                    s.release().unwrap_or_else(|e| {
                        panic!("BoundedSemaphore refused a forgotten permit: {e} {round}")
                    });
                }
            }
        }
    }
}

struct Shared {
    sem: AnySem,
    permits: usize,
    /// Permits added by `release_n` and not yet taken out again.
    extra: AtomicUsize,
    /// Permits held by the actors right now.
    held: Arc<AtomicUsize>,
    tally: Tally,
    many: AtomicUsize,
}

/// `n` permits in the shadow count; leaves it when dropped (also in an
/// aborted task). Declared after the permit, so dropped before it.
struct Held {
    held: Arc<AtomicUsize>,
    n: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.held.fetch_sub(self.n, Ordering::SeqCst);
    }
}

impl Shared {
    /// Enters `n` held permits, checking the total against those in
    /// circulation.
    fn hold(&self, n: usize, round: &Round, what: &str) -> Held {
        // The bound moves (raw releases add permits, taking them back
        // removes them): read before and after the count, the larger is the
        // limit (see `Hold::enter_within`).
        let before = self.permits + self.extra.load(Ordering::SeqCst);
        let now = self.held.fetch_add(n, Ordering::SeqCst) + n;
        let bound = before.max(self.permits + self.extra.load(Ordering::SeqCst));
        assert!(
            now <= bound,
            "{what}: {now} permits held at once, only {bound} in circulation {round}"
        );
        if n > 1 {
            self.many.fetch_add(1, Ordering::Relaxed);
        }
        Held {
            held: Arc::clone(&self.held),
            n,
        }
    }

    fn check_free(&self, round: &Round) {
        let before = self.permits + self.extra.load(Ordering::SeqCst);
        let free = self.sem.available();
        let bound = before.max(self.permits + self.extra.load(Ordering::SeqCst));
        assert!(
            free <= bound,
            "{free} free permits, more than the {bound} in circulation {round}"
        );
    }

    /// How many permits to ask for: mostly within the count, sometimes none;
    /// on a bounded semaphore sometimes more than its bound (refused at
    /// once).
    fn count(&self, rng: &mut Rng) -> usize {
        if self.sem.is_bounded() && rng.one_in(8) {
            self.permits + 1 + rng.index(3)
        } else if rng.one_in(12) {
            // None at all: never waits.
            0
        } else {
            1 + rng.index(self.permits)
        }
    }

    /// Checks an answer to a request for `n` permits: an error exactly when
    /// a bounded semaphore was asked for more than its bound.
    fn refused<T>(&self, n: usize, answer: Many<T>, round: &Round, what: &str) -> Option<T> {
        let over = self.sem.is_bounded() && n > self.permits;
        match answer {
            Ok(value) => {
                assert!(!over, "{what}({n}): granted beyond the bound {round}");
                Some(value)
            }
            Err(error) => {
                assert!(
                    over,
                    "{what}({n}): refused within the limit: {error} {round}"
                );
                assert_eq!(
                    error,
                    TooManyPermitsError {
                        requested: n,
                        limit: self.permits
                    },
                    "{what}: the error's fields {round}"
                );
                None
            }
        }
    }
}

async fn task_actor(shared: Arc<Shared>, round: Round, mut rng: Rng, ops: usize) {
    let sem = &shared.sem;
    for _ in 0..ops {
        let n = shared.count(&mut rng);
        match rng.below(9) {
            0..=2 => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "acquire_many()", sem.acquire_many(n), cancel).await {
                    Some(answer) => {
                        if let Some(permit) = shared.refused(n, answer, &round, "acquire_many") {
                            assert_eq!(permit.num_permits(), n);
                            let _held = shared.hold(n, &round, "acquire_many");
                            shared.tally.done();
                            yields(rng.below(3)).await;
                        }
                    }
                    None => shared.tally.cancelled(),
                }
            }
            3 => {
                let answer = sem.acquire_many_timeout(n, rng.tiny()).await;
                match shared.refused(n, answer, &round, "acquire_many_timeout") {
                    Some(Some(permit)) => {
                        let _held = shared.hold(n, &round, "acquire_many_timeout");
                        yields(rng.below(2)).await;
                        drop(_held);
                        drop(permit);
                    }
                    Some(None) => shared.tally.cancelled(),
                    None => {}
                }
            }
            4 => {
                if let Some(Some(permit)) =
                    shared.refused(n, sem.try_acquire_many(n), &round, "try_acquire_many")
                {
                    let _held = shared.hold(n, &round, "try_acquire_many");
                    drop(_held);
                    drop(permit);
                }
            }
            5 => {
                // Owned permits in a task of their own, aborted at random
                // (waiting or holding); or taken here and dropped by another
                // task.
                let (inner, round2, hold_yields) =
                    (Arc::clone(&shared), round.clone(), rng.below(3));
                let task = if rng.one_in(2) {
                    tokio::spawn(async move {
                        let answer = inner.sem.acquire_many_owned(n).await;
                        if let Some(permit) =
                            inner.refused(n, answer, &round2, "acquire_many_owned")
                        {
                            let _held = inner.hold(n, &round2, "acquire_many_owned");
                            yields(hold_yields).await;
                            drop(_held);
                            drop(permit);
                        }
                    })
                } else {
                    let answer = sem.acquire_many_owned_timeout(n, rng.tiny()).await;
                    let Some(Some(permit)) =
                        shared.refused(n, answer, &round, "acquire_many_owned_timeout")
                    else {
                        continue;
                    };
                    let held = shared.hold(n, &round, "acquire_many_owned_timeout");
                    tokio::spawn(async move {
                        yields(hold_yields).await;
                        drop(held);
                        drop(permit);
                    })
                };
                yields(rng.below(4)).await;
                if rng.one_in(2) {
                    task.abort();
                }
                match bounded(&round, "acquire_many_owned task", task).await {
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => shared.tally.cancelled(),
                    Ok(()) => {}
                }
            }
            6 => {
                // Python style: take many, forget them, give them back raw.
                let n = n.min(shared.permits);
                let answer = bounded(&round, "acquire_many() to forget", sem.acquire_many(n)).await;
                let permit = answer.expect("within the bound");
                let held = shared.hold(n, &round, "forgotten permits");
                permit.forget();
                yields(rng.below(3)).await;
                drop(held);
                sem.release_forgotten(n, &round);
            }
            7 => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "acquire()", sem.acquire(), cancel).await {
                    Some(permit) => {
                        let _held = shared.hold(1, &round, "acquire");
                        yields(rng.below(2)).await;
                        drop(_held);
                        drop(permit);
                    }
                    None => shared.tally.cancelled(),
                }
            }
            _ => {
                if let AnySem::Plain(plain) = sem {
                    // Extra permits, taken out again (as one weighted
                    // acquire) afterwards.
                    let extra = 1 + rng.index(3);
                    shared.extra.fetch_add(extra, Ordering::SeqCst);
                    plain.release_n(extra);
                    yields(rng.below(3)).await;
                    bounded(
                        &round,
                        "taking extra permits back",
                        plain.acquire_many(extra),
                    )
                    .await
                    .expect("within MAX_PERMITS")
                    .forget();
                    shared.extra.fetch_sub(extra, Ordering::SeqCst);
                } else {
                    shared.check_free(&round);
                }
            }
        }
    }
}

fn thread_actor(shared: &Arc<Shared>, round: &Round, mut rng: Rng, ops: usize) {
    let sem = &shared.sem;
    for _ in 0..ops {
        let n = shared.count(&mut rng);
        match rng.below(5) {
            0 => {
                if let Some(permit) = shared.refused(
                    n,
                    sem.acquire_many_blocking(n),
                    round,
                    "acquire_many_blocking",
                ) {
                    let _held = shared.hold(n, round, "acquire_many_blocking");
                    shared.tally.done();
                    drop(_held);
                    drop(permit);
                }
            }
            1 => {
                let answer = sem.acquire_many_timeout_blocking(n, rng.tiny());
                if let Some(Some(permit)) =
                    shared.refused(n, answer, round, "acquire_many_timeout_blocking")
                {
                    let _held = shared.hold(n, round, "acquire_many_timeout_blocking");
                    if rng.one_in(3) {
                        std::thread::yield_now();
                    }
                    drop(_held);
                    drop(permit);
                }
            }
            2 => {
                // Owned permits dropped by another thread.
                let answer = if rng.one_in(2) {
                    sem.acquire_many_owned_blocking(n).map(Some)
                } else {
                    sem.acquire_many_owned_timeout_blocking(
                        n,
                        Duration::from_micros(rng.below(800)),
                    )
                };
                if let Some(Some(permit)) =
                    shared.refused(n, answer, round, "acquire_many_owned_blocking")
                {
                    let held = shared.hold(n, round, "acquire_many_owned_blocking");
                    let thread = std::thread::spawn(move || {
                        drop(held);
                        drop(permit);
                    });
                    join_thread(round, "owned permits' thread", thread);
                }
            }
            3 => {
                let answer = sem.try_acquire_many_owned(n);
                if let Some(Some(permit)) =
                    shared.refused(n, answer, round, "try_acquire_many_owned")
                {
                    let _held = shared.hold(n, round, "try_acquire_many_owned");
                    drop(_held);
                    permit.forget();
                    sem.release_forgotten(n, round);
                }
            }
            _ => {
                let n = n.min(shared.permits);
                let permit = sem.acquire_many_blocking(n).expect("within the bound");
                let held = shared.hold(n, round, "forgotten permits (thread)");
                permit.forget();
                drop(held);
                sem.release_forgotten(n, round);
            }
        }
    }
}

fn new_sem(rng: &mut Rng, permits: usize) -> AnySem {
    if rng.one_in(2) {
        AnySem::Plain(Arc::new(Semaphore::new(permits)))
    } else {
        AnySem::Bounded(Arc::new(BoundedSemaphore::new(permits)))
    }
}

#[test]
fn semaphore_acquire_many() {
    let runtime = runtime();
    let (mut cancels, mut many) = (0, 0);
    chaos("semaphore_acquire_many", 4, |round| {
        let mut rng = round.rng();
        let permits = 1 + rng.index(6);
        let shared = Arc::new(Shared {
            sem: new_sem(&mut rng, permits),
            permits,
            extra: AtomicUsize::new(0),
            held: Arc::default(),
            tally: Tally::default(),
            many: AtomicUsize::new(0),
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
            join_thread(round, "semaphore thread", thread);
        }
        join_tasks(&runtime, round, "semaphore task", tasks);
        join_tasks(&runtime, round, "semaphore spawn_blocking", vec![blocking]);
        let sem = &shared.sem;
        assert_eq!(
            sem.available(),
            permits,
            "permits lost or created: {} free of {permits} {round}",
            sem.available()
        );
        assert_eq!(sem.waiters(), 0, "a gone waiter is still counted {round}");
        assert_eq!(
            shared.held.load(Ordering::SeqCst),
            0,
            "shadow permits left {round}"
        );
        if let AnySem::Bounded(bounded) = sem {
            assert!(
                bounded.release().is_err(),
                "a release above the bound {round}"
            );
            assert_eq!(bounded.available_permits(), permits);
        }
        // All of them at once, again.
        let all = sem.try_acquire_many(permits).expect("within the bound");
        assert!(all.is_some(), "every permit free at the end {round}");
        cancels += shared.tally.cancels();
        many += shared.many.load(Ordering::SeqCst);
    });
    assert!(
        cancels > 0,
        "no wait was cancelled: the storm tested nothing"
    );
    assert!(
        many > 0,
        "no weighted acquire held: the storm tested nothing"
    );
}

/// How the big waiter at the head of the line goes away.
#[derive(Clone, Copy, Debug)]
enum Leave {
    /// A task of its own, aborted.
    Abort,
    /// `select!` against a signal: the other branch wins.
    Select,
    /// Polled once (joining the line), kept unpolled, then dropped.
    DropUnpolled,
    /// A thread's `acquire_many_timeout_blocking` that expires.
    ThreadTimeout,
}

#[test]
fn semaphore_big_waiter_at_the_head_cancelled() {
    let runtime = runtime();
    chaos("semaphore_big_waiter_at_the_head_cancelled", 4, |round| {
        let mut rng = round.rng();
        let permits = 2 + rng.index(5);
        let sem = new_sem(&mut rng, permits);
        // `taken` held by the test; the rest is free (at least one), but
        // fewer than the big waiter wants.
        let taken = 1 + rng.index(permits - 1);
        let free = permits - taken;
        let holding = sem
            .try_acquire_many(taken)
            .expect("within the bound")
            .expect("free at the start");
        let big = free + 1 + rng.index(taken);
        let leave = match rng.below(4) {
            0 => Leave::Abort,
            1 => Leave::Select,
            2 => Leave::DropUnpolled,
            _ => Leave::ThreadTimeout,
        };
        // Tells the big waiter to go (Select, DropUnpolled).
        let go = Arc::new(Event::new());
        // The big waiter, first in line.
        let mut big_waiter = None;
        let mut big_thread = None;
        if let Leave::ThreadTimeout = leave {
            let (sem2, round2) = (sem.clone(), round.clone());
            big_thread = Some(std::thread::spawn(move || {
                let got = sem2
                    .acquire_many_timeout_blocking(big, Duration::from_millis(30))
                    .expect("within the bound");
                assert!(
                    got.is_none(),
                    "the big waiter got {big} of {free} free {round2}"
                );
            }));
        } else {
            let (sem2, go2) = (sem.clone(), Arc::clone(&go));
            big_waiter = Some(runtime.spawn(async move {
                let mut fut = sem2.acquire_many(big);
                match leave {
                    Leave::Select => {
                        tokio::select! {
                            _ = &mut fut => panic!("the big waiter got its permits"),
                            () = go2.wait() => {}
                        }
                    }
                    Leave::DropUnpolled => {
                        assert!(futures::poll!(fut.as_mut()).is_pending());
                        go2.wait().await;
                    }
                    _ => {
                        let _ = fut.await;
                        panic!("the big waiter got its permits");
                    }
                }
            }));
        }
        eventually(round, "the big waiter in line", || sem.waiters() == 1);
        // Smaller waiters behind it: tasks and threads, each for at most
        // the free permits.
        let smalls = 1 + rng.index(4);
        let mut small_tasks = Vec::new();
        let mut small_threads = Vec::new();
        for _ in 0..smalls {
            let n = 1 + rng.index(free);
            let sem2 = sem.clone();
            if rng.one_in(2) {
                small_tasks.push(runtime.spawn(async move {
                    let permit = sem2.acquire_many(n).await.expect("within the bound");
                    drop(permit);
                }));
            } else {
                small_threads.push(std::thread::spawn(move || {
                    drop(sem2.acquire_many_blocking(n).expect("within the bound"));
                }));
            }
        }
        let queued = 1 + small_tasks.len() + small_threads.len();
        // The thread's timeout may already have expired: then the small ones
        // just go ahead; otherwise they line up behind the big one.
        if !matches!(leave, Leave::ThreadTimeout) {
            eventually(round, "the small waiters in line", || {
                sem.waiters() == queued
            });
            assert_eq!(
                sem.available(),
                free,
                "nobody overtook the big waiter {round}"
            );
        }
        // The big one leaves.
        match leave {
            Leave::Abort => big_waiter.as_ref().expect("a task").abort(),
            Leave::Select | Leave::DropUnpolled => go.set(),
            Leave::ThreadTimeout => {}
        }
        // Every small one is served from the free permits, while the test
        // still holds its own.
        for thread in small_threads {
            join_thread(
                round,
                "small waiter thread (stranded behind a cancelled big one?)",
                thread,
            );
        }
        join_tasks(
            &runtime,
            round,
            "small waiter task (stranded behind a cancelled big one?)",
            small_tasks,
        );
        if let Some(task) = big_waiter {
            runtime.block_on(async {
                match bounded(round, "big waiter task", task).await {
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    _ => {}
                }
            });
        }
        if let Some(thread) = big_thread {
            join_thread(round, "big waiter thread", thread);
        }
        drop(holding);
        assert_eq!(sem.available(), permits, "permits lost or created {round}");
        assert_eq!(sem.waiters(), 0, "a gone waiter is still counted {round}");
    });
}
