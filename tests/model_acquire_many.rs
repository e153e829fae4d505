//! Property tests: weighted permits (`acquire_many` and its forms, owned
//! too) on `Semaphore` and `BoundedSemaphore` against a sequential model of
//! the documented line: first come, first served with hand-off.
//!
//! - `try_acquire_many(n)` (and a zero timeout) takes `n` permits only if
//!   they are free and nobody is in line;
//! - a waiting `acquire_many(n)` future joins the line at its first poll
//!   unless it could take them so; a release (a guard's drop, `release`,
//!   `release_n`) hands permits to the oldest waiters while the oldest has
//!   enough — nobody overtakes it, even for fewer permits;
//! - a waiter that leaves the line lets the next one be served from the
//!   permits already free; one dropped after its grant gives the permits
//!   back (to the line first);
//! - `n` beyond a bounded semaphore's bound is refused at once with
//!   `TooManyPermitsError`; `n == 0` takes nothing and never waits (it
//!   used to join the line and could be left there: tests/found.rs);
//! - a `BoundedSemaphore`'s free + held + granted + forgotten permits are
//!   always its bound, and `release` succeeds only for a forgotten permit.
#![cfg(not(miri))]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ambisync::{
    BoundedSemaphore, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TooManyPermitsError,
};
use futures::task::noop_waker_ref;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// `try_acquire_many(n)`, owned or not.
    Try(usize, bool),
    /// `acquire_many_timeout_blocking(n, ZERO)`.
    TimeoutBlockingZero(usize),
    /// An `acquire_many(n)` future (owned or not), polled once and kept.
    Pend(usize, bool),
    Repoll(usize),
    DropPending(usize),
    Drop(usize),
    Forget(usize),
    /// A raw `release` (bounded) or `release_n(k)` (plain).
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..8, any::<bool>()).prop_map(|(n, owned)| Op::Try(n, owned)),
        2 => (0usize..8).prop_map(Op::TimeoutBlockingZero),
        4 => (0usize..8, any::<bool>()).prop_map(|(n, owned)| Op::Pend(n, owned)),
        3 => any::<usize>().prop_map(Op::Repoll),
        2 => any::<usize>().prop_map(Op::DropPending),
        4 => any::<usize>().prop_map(Op::Drop),
        2 => any::<usize>().prop_map(Op::Forget),
        3 => (0usize..4).prop_map(Op::Release),
    ]
}

enum Held<'a> {
    Borrowed(SemaphorePermit<'a>),
    Owned(OwnedSemaphorePermit),
}

impl Held<'_> {
    fn num_permits(&self) -> usize {
        match self {
            Held::Borrowed(p) => p.num_permits(),
            Held::Owned(p) => p.num_permits(),
        }
    }
    fn forget(self) {
        match self {
            Held::Borrowed(p) => p.forget(),
            Held::Owned(p) => p.forget(),
        }
    }
}

type Many<T> = Result<T, TooManyPermitsError>;

/// Either semaphore behind one face.
enum Sem {
    Plain(Arc<Semaphore>),
    Bounded(Arc<BoundedSemaphore>),
}

impl Sem {
    fn try_many(&self, n: usize, owned: bool) -> Many<Option<Held<'_>>> {
        match (self, owned) {
            (Sem::Plain(s), false) => s.try_acquire_many(n).map(|p| p.map(Held::Borrowed)),
            (Sem::Bounded(s), false) => s.try_acquire_many(n).map(|p| p.map(Held::Borrowed)),
            (Sem::Plain(s), true) => s.try_acquire_many_owned(n).map(|p| p.map(Held::Owned)),
            (Sem::Bounded(s), true) => s.try_acquire_many_owned(n).map(|p| p.map(Held::Owned)),
        }
    }
    fn timeout_zero(&self, n: usize) -> Many<Option<Held<'_>>> {
        match self {
            Sem::Plain(s) => s
                .acquire_many_timeout_blocking(n, Duration::ZERO)
                .map(|p| p.map(Held::Borrowed)),
            Sem::Bounded(s) => s
                .acquire_many_timeout_blocking(n, Duration::ZERO)
                .map(|p| p.map(Held::Borrowed)),
        }
    }
    fn pend(&self, n: usize, owned: bool) -> Pin<Box<dyn Future<Output = Many<Held<'_>>> + '_>> {
        match (self, owned) {
            (Sem::Plain(s), false) => {
                Box::pin(async move { s.acquire_many(n).await.map(Held::Borrowed) })
            }
            (Sem::Bounded(s), false) => {
                Box::pin(async move { s.acquire_many(n).await.map(Held::Borrowed) })
            }
            (Sem::Plain(s), true) => {
                let fut = s.acquire_many_owned(n);
                Box::pin(async move { fut.await.map(Held::Owned) })
            }
            (Sem::Bounded(s), true) => {
                let fut = s.acquire_many_owned(n);
                Box::pin(async move { fut.await.map(Held::Owned) })
            }
        }
    }
    fn available(&self) -> usize {
        match self {
            Sem::Plain(s) => s.available_permits(),
            Sem::Bounded(s) => s.available_permits(),
        }
    }
    fn waiters(&self) -> usize {
        match self {
            Sem::Plain(s) => s.waiters(),
            Sem::Bounded(s) => s.waiters(),
        }
    }
}

/// A waiting future and what the model knows of it.
struct Waiter<'a> {
    id: usize,
    n: usize,
    fut: Pin<Box<dyn Future<Output = Many<Held<'a>>> + 'a>>,
}

/// The model: free permits, the line (oldest first, by id and count), and
/// the waiters granted their permits but not polled since.
#[derive(Debug, Default)]
struct Model {
    free: usize,
    line: VecDeque<(usize, usize)>,
    granted: Vec<usize>,
    forgotten: usize,
}

impl Model {
    /// Hands permits to the oldest waiters while the oldest has enough.
    fn hand_off(&mut self) {
        while let Some(&(id, n)) = self.line.front() {
            if self.free < n {
                break;
            }
            self.free -= n;
            self.line.pop_front();
            self.granted.push(id);
        }
    }

    fn give(&mut self, n: usize) {
        self.free += n;
        self.hand_off();
    }

    /// Whether `n` permits are taken at once: free and nobody in line; zero
    /// permits always (a request for none never waits).
    fn may_take(&self, n: usize) -> bool {
        n == 0 || (self.line.is_empty() && self.free >= n)
    }
}

fn poll_once<T>(fut: Pin<&mut (dyn Future<Output = T> + '_)>) -> Poll<T> {
    fut.poll(&mut Context::from_waker(noop_waker_ref()))
}

fn run(bounded: bool, start: usize, ops: Vec<Op>) {
    let sem = if bounded {
        Sem::Bounded(Arc::new(BoundedSemaphore::new(start)))
    } else {
        Sem::Plain(Arc::new(Semaphore::new(start)))
    };
    let limit = if bounded {
        start
    } else {
        ambisync::MAX_PERMITS
    };
    let mut model = Model {
        free: start,
        ..Model::default()
    };
    let mut held: Vec<Held<'_>> = Vec::new();
    let mut waiting: Vec<Waiter<'_>> = Vec::new();
    let mut next_id = 0;
    for (step, op) in ops.into_iter().enumerate() {
        let at = format!("step {step}: {op:?}; model before: {model:?}");
        match op {
            Op::Try(n, _) | Op::TimeoutBlockingZero(n) => {
                let got = match op {
                    Op::Try(_, owned) => sem.try_many(n, owned),
                    _ => sem.timeout_zero(n),
                };
                match got {
                    Err(error) => {
                        assert!(n > limit, "{at}: refused within the limit");
                        assert_eq!(
                            error,
                            TooManyPermitsError {
                                requested: n,
                                limit
                            },
                            "{at}"
                        );
                    }
                    Ok(got) => {
                        assert!(n <= limit, "{at}: {n} beyond the bound {limit} not refused");
                        assert_eq!(got.is_some(), model.may_take(n), "{at}: taken?");
                        if let Some(permit) = got {
                            assert_eq!(permit.num_permits(), n, "{at}");
                            model.free -= n;
                            held.push(permit);
                        }
                    }
                }
            }
            Op::Pend(n, owned) => {
                let mut fut = sem.pend(n, owned);
                match poll_once(fut.as_mut()) {
                    Poll::Ready(Err(error)) => {
                        assert!(n > limit, "{at}: refused within the limit");
                        assert_eq!(
                            error,
                            TooManyPermitsError {
                                requested: n,
                                limit
                            },
                            "{at}"
                        );
                    }
                    Poll::Ready(Ok(permit)) => {
                        assert!(
                            n <= limit && model.may_take(n),
                            "{at}: taken at the first poll"
                        );
                        assert_eq!(permit.num_permits(), n, "{at}");
                        model.free -= n;
                        held.push(permit);
                    }
                    Poll::Pending => {
                        assert!(
                            n <= limit && !model.may_take(n),
                            "{at}: waits at the first poll"
                        );
                        model.line.push_back((next_id, n));
                        waiting.push(Waiter {
                            id: next_id,
                            n,
                            fut,
                        });
                        next_id += 1;
                    }
                }
            }
            Op::Repoll(i) => {
                if waiting.is_empty() {
                    continue;
                }
                let i = i % waiting.len();
                let id = waiting[i].id;
                let granted = model.granted.contains(&id);
                match poll_once(waiting[i].fut.as_mut()) {
                    Poll::Ready(got) => {
                        assert!(granted, "{at}: waiter {id} ready without a grant");
                        let permit = got.expect("within the limit");
                        assert_eq!(permit.num_permits(), waiting[i].n, "{at}");
                        model.granted.retain(|g| *g != id);
                        waiting.swap_remove(i);
                        held.push(permit);
                    }
                    Poll::Pending => assert!(!granted, "{at}: waiter {id} granted but pending"),
                }
            }
            Op::DropPending(i) => {
                if waiting.is_empty() {
                    continue;
                }
                let waiter = waiting.swap_remove(i % waiting.len());
                drop(waiter.fut);
                if model.granted.contains(&waiter.id) {
                    // Granted, never seen: the permits go on.
                    model.granted.retain(|g| *g != waiter.id);
                    model.give(waiter.n);
                } else {
                    // Left the line: the next may be served from the free
                    // permits.
                    model.line.retain(|(id, _)| *id != waiter.id);
                    model.hand_off();
                }
            }
            Op::Drop(i) => {
                if !held.is_empty() {
                    let permit = held.swap_remove(i % held.len());
                    let n = permit.num_permits();
                    drop(permit);
                    model.give(n);
                }
            }
            Op::Forget(i) => {
                if !held.is_empty() {
                    let permit = held.swap_remove(i % held.len());
                    model.forgotten += permit.num_permits();
                    permit.forget();
                }
            }
            Op::Release(k) => match &sem {
                Sem::Bounded(s) => {
                    let ok = s.release().is_ok();
                    assert_eq!(ok, model.forgotten > 0, "{at}: release accepted?");
                    if ok {
                        model.forgotten -= 1;
                        model.give(1);
                    }
                }
                Sem::Plain(s) => {
                    s.release_n(k);
                    model.give(k);
                }
            },
        }
        assert_eq!(sem.available(), model.free, "{at}: available_permits()");
        assert_eq!(sem.waiters(), model.line.len(), "{at}: waiters()");
        if bounded {
            let out: usize = held.iter().map(Held::num_permits).sum::<usize>()
                + waiting
                    .iter()
                    .filter(|w| model.granted.contains(&w.id))
                    .map(|w| w.n)
                    .sum::<usize>();
            assert_eq!(
                model.free + out + model.forgotten,
                start,
                "{at}: the bounded semaphore's permits"
            );
        }
    }
    // Everything given back: every permit free but the forgotten ones,
    // nobody in line.
    let granted: usize = waiting
        .iter()
        .filter(|w| model.granted.contains(&w.id))
        .map(|w| w.n)
        .sum();
    let out: usize = held.iter().map(Held::num_permits).sum();
    drop(waiting);
    drop(held);
    assert_eq!(sem.waiters(), 0, "nobody in line at the end");
    assert_eq!(
        sem.available(),
        model.free + granted + out,
        "every permit back at the end"
    );
    if bounded {
        assert_eq!(sem.available() + model.forgotten, start);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn acquire_many_matches_the_model(start in 0usize..6, ops in prop::collection::vec(op(), 1..50)) {
        run(false, start, ops);
    }

    #[test]
    fn bounded_acquire_many_matches_the_model(start in 0usize..6, ops in prop::collection::vec(op(), 1..50)) {
        run(true, start, ops);
    }
}
