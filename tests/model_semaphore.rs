//! Property tests: `Semaphore` and `BoundedSemaphore` counts against a
//! sequential model over random sequences of acquires (every form, with
//! `Duration::ZERO`, a millisecond on a paused tokio clock, and
//! `Duration::MAX` where the call completes at once), permit drops, `forget`, `release` and `release_n`, from edge
//! starting counts (0, 1, a few, `MAX_PERMITS - 1`, `MAX_PERMITS`).
//!
//! What the model says at the top of the range (issue 9 §1.3, as decided):
//! - a permit's drop that would take the count above `MAX_PERMITS`
//!   saturates at `MAX_PERMITS`: it never wraps and never panics;
//! - a raw `release`/`release_n` that would exceed `MAX_PERMITS` panics with
//!   a message about the permit count, and changes nothing;
//! - a `BoundedSemaphore`'s count plus its permits out (guards and
//!   forgotten ones) is always its bound; `release` returns an error unless a
//!   forgotten permit is out.
#![cfg(all(feature = "tokio", not(miri)))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use ambisync::{BoundedSemaphore, MAX_PERMITS, OwnedSemaphorePermit, Semaphore, SemaphorePermit};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    TryAcquire,
    TryAcquireOwned,
    AcquireTimeout(bool),
    AcquireOwnedTimeout(bool),
    AcquireTimeoutBlocking(bool),
    AcquireBlocking,
    Acquire,
    Drop(usize),
    Forget(usize),
    Release,
    ReleaseN(ReleaseN),
}

/// How many permits a `release_n` adds.
#[derive(Debug, Clone, Copy)]
enum ReleaseN {
    Zero,
    Few(usize),
    /// Exactly up to `MAX_PERMITS`.
    ToMax,
    /// One beyond `MAX_PERMITS`.
    PastMax,
    Max,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::TryAcquire),
        2 => Just(Op::TryAcquireOwned),
        2 => any::<bool>().prop_map(Op::AcquireTimeout),
        1 => any::<bool>().prop_map(Op::AcquireOwnedTimeout),
        2 => any::<bool>().prop_map(Op::AcquireTimeoutBlocking),
        1 => Just(Op::AcquireBlocking),
        1 => Just(Op::Acquire),
        5 => any::<usize>().prop_map(Op::Drop),
        2 => any::<usize>().prop_map(Op::Forget),
        3 => Just(Op::Release),
        2 => prop_oneof![
            Just(ReleaseN::Zero),
            (1usize..4).prop_map(ReleaseN::Few),
            Just(ReleaseN::ToMax),
            Just(ReleaseN::PastMax),
            Just(ReleaseN::Max),
        ]
        .prop_map(Op::ReleaseN),
    ]
}

fn start() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0),
        Just(1),
        2usize..5,
        Just(MAX_PERMITS - 1),
        Just(MAX_PERMITS)
    ]
}

fn timeout(max: bool) -> Duration {
    if max { Duration::MAX } else { Duration::ZERO }
}

/// An async timeout: `Duration::MAX` where the call completes without
/// waiting (tokio's paused clock never reaches a `Duration::MAX` deadline:
/// `tokio::time::timeout(Duration::MAX, pending())` hangs there), else zero
/// or a millisecond, which the paused clock reaches at once.
fn async_timeout(max: bool, completes: bool) -> Duration {
    match (max, completes) {
        (true, true) => Duration::MAX,
        (true, false) => Duration::from_millis(1),
        (false, _) => Duration::ZERO,
    }
}

enum Held<'a> {
    Borrowed(SemaphorePermit<'a>),
    Owned(OwnedSemaphorePermit),
}

impl Held<'_> {
    fn forget(self) {
        match self {
            Held::Borrowed(p) => p.forget(),
            Held::Owned(p) => p.forget(),
        }
    }
}

/// Either semaphore behind one face.
enum Sem {
    Plain(Arc<Semaphore>),
    Bounded(Arc<BoundedSemaphore>),
}

impl Sem {
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

fn must_panic_about_permits(outcome: std::thread::Result<()>, form: &str) {
    let panic = match outcome {
        Ok(()) => panic!("{form}: a release beyond MAX_PERMITS must panic"),
        Err(panic) => panic,
    };
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        text.contains("permit"),
        "{form}: unclear panic message {text:?}"
    );
}

fn run(bounded: bool, start: usize, ops: Vec<Op>) {
    let sem = if bounded {
        Sem::Bounded(Arc::new(BoundedSemaphore::new(start)))
    } else {
        Sem::Plain(Arc::new(Semaphore::new(start)))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    // The model: free permits, permits out as guards (`held`), forgotten.
    let mut count = start;
    let mut forgotten = 0usize;
    let mut held: Vec<Held<'_>> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        let form = format!(
            "step {step}: {op:?} (model: {count} free, {} held, {forgotten} forgotten)",
            held.len()
        );
        let acquired: Option<Option<Held<'_>>> = match (&sem, &op) {
            (Sem::Plain(s), Op::TryAcquire) => Some(s.try_acquire().map(Held::Borrowed)),
            (Sem::Bounded(s), Op::TryAcquire) => Some(s.try_acquire().map(Held::Borrowed)),
            (Sem::Plain(s), Op::TryAcquireOwned) => Some(s.try_acquire_owned().map(Held::Owned)),
            (Sem::Bounded(s), Op::TryAcquireOwned) => Some(s.try_acquire_owned().map(Held::Owned)),
            (Sem::Plain(s), Op::AcquireTimeout(max)) => Some(
                runtime
                    .block_on(s.acquire_timeout(async_timeout(*max, count > 0)))
                    .map(Held::Borrowed),
            ),
            (Sem::Bounded(s), Op::AcquireTimeout(max)) => Some(
                runtime
                    .block_on(s.acquire_timeout(async_timeout(*max, count > 0)))
                    .map(Held::Borrowed),
            ),
            (Sem::Plain(s), Op::AcquireOwnedTimeout(max)) => Some(
                runtime
                    .block_on(s.acquire_owned_timeout(async_timeout(*max, count > 0)))
                    .map(Held::Owned),
            ),
            (Sem::Bounded(s), Op::AcquireOwnedTimeout(max)) => Some(
                runtime
                    .block_on(s.acquire_owned_timeout(async_timeout(*max, count > 0)))
                    .map(Held::Owned),
            ),
            // `Duration::MAX` blocking waits and untimed waits only where a
            // permit is free: nothing else would ever release one.
            (Sem::Plain(s), Op::AcquireTimeoutBlocking(max)) => Some(
                s.acquire_timeout_blocking(timeout(*max && count > 0))
                    .map(Held::Borrowed),
            ),
            (Sem::Bounded(s), Op::AcquireTimeoutBlocking(max)) => Some(
                s.acquire_timeout_blocking(timeout(*max && count > 0))
                    .map(Held::Borrowed),
            ),
            (Sem::Plain(s), Op::AcquireBlocking) if count > 0 => {
                Some(Some(Held::Borrowed(s.acquire_blocking())))
            }
            (Sem::Bounded(s), Op::AcquireBlocking) if count > 0 => {
                Some(Some(Held::Owned(s.acquire_owned_blocking())))
            }
            (Sem::Plain(s), Op::Acquire) if count > 0 => {
                Some(Some(Held::Borrowed(runtime.block_on(s.acquire()))))
            }
            (Sem::Bounded(s), Op::Acquire) if count > 0 => {
                Some(Some(Held::Owned(runtime.block_on(s.acquire_owned()))))
            }
            _ => None,
        };
        if let Some(acquired) = acquired {
            assert_eq!(acquired.is_some(), count > 0, "{form}: acquire result");
            if let Some(permit) = acquired {
                count -= 1;
                held.push(permit);
            }
        }
        match op {
            Op::Drop(i) if !held.is_empty() => {
                drop(held.swap_remove(i % held.len()));
                // Saturates at MAX_PERMITS (only a plain semaphore can get
                // there with permits out).
                count = count.saturating_add(1).min(MAX_PERMITS);
            }
            Op::Forget(i) if !held.is_empty() => {
                held.swap_remove(i % held.len()).forget();
                if bounded {
                    forgotten += 1;
                }
            }
            Op::Release => match &sem {
                Sem::Plain(s) => {
                    let outcome = catch_unwind(AssertUnwindSafe(|| s.release()));
                    if count == MAX_PERMITS {
                        must_panic_about_permits(outcome, &form);
                    } else {
                        assert!(
                            outcome.is_ok(),
                            "{form}: release panicked below MAX_PERMITS"
                        );
                        count += 1;
                    }
                }
                Sem::Bounded(s) => {
                    let outcome = s.release();
                    if forgotten > 0 {
                        assert_eq!(outcome, Ok(()), "{form}: releasing a forgotten permit");
                        forgotten -= 1;
                        count += 1;
                    } else {
                        assert!(
                            outcome.is_err(),
                            "{form}: BoundedSemaphore released above its bound"
                        );
                    }
                }
            },
            Op::ReleaseN(how) => {
                if let Sem::Plain(s) = &sem {
                    let n = match how {
                        ReleaseN::Zero => 0,
                        ReleaseN::Few(n) => n,
                        ReleaseN::ToMax => MAX_PERMITS - count,
                        ReleaseN::PastMax => MAX_PERMITS - count + 1,
                        ReleaseN::Max => MAX_PERMITS,
                    };
                    let outcome = catch_unwind(AssertUnwindSafe(|| s.release_n(n)));
                    if n > MAX_PERMITS - count {
                        must_panic_about_permits(outcome, &form);
                    } else {
                        assert!(
                            outcome.is_ok(),
                            "{form}: release_n({n}) panicked within MAX_PERMITS"
                        );
                        count += n;
                    }
                }
            }
            _ => {}
        }
        assert_eq!(sem.available(), count, "{form}: available_permits");
        assert_eq!(
            sem.waiters(),
            0,
            "{form}: a finished acquire is still counted waiting"
        );
        if bounded {
            assert_eq!(
                count + held.len() + forgotten,
                start,
                "{form}: a BoundedSemaphore's permits add up to its bound"
            );
        }
    }
    drop(held);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn semaphore_matches_the_model(start in start(), ops in prop::collection::vec(op(), 1..60)) {
        run(false, start, ops);
    }

    #[test]
    fn bounded_semaphore_matches_the_model(start in start(), ops in prop::collection::vec(op(), 1..60)) {
        run(true, start, ops);
    }
}

#[test]
#[should_panic(expected = "permit")]
fn a_semaphore_above_max_permits_is_refused() {
    let _ = Semaphore::new(MAX_PERMITS + 1);
}

#[test]
#[should_panic(expected = "permit")]
fn a_bounded_semaphore_above_max_permits_is_refused() {
    let _ = BoundedSemaphore::new(MAX_PERMITS + 1);
}
