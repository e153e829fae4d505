//! Bugs found by the verification work of issue 9 beyond its five scenarios:
//! one minimal reproducing test each, asserting the contract.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ambisync::{Barrier, BrokenBarrierError};
use common::join_within;

/// `Condition::wait` refuses a guard whose owner holds the `RLock` at more
/// than one level — but it counts the levels when `wait()` is *called*, and
/// releases them all at the future's *first poll*. A level taken in between
/// is released by the wait too; if the wait is then cancelled, the guard of
/// that level is left without the lock: another thread takes it, and
/// dropping the stale guard releases that thread's hold.
///
/// The contract (issue 9 §1.2): mutual exclusion is never broken, and no
/// guard can release another owner's hold, whatever is cancelled when.
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_taken_between_calling_condition_wait_and_its_first_poll_is_not_lost() {
    use ambisync::{Condition, RLock};
    use futures::FutureExt;
    use futures::future::Either;

    for timed in [false, true] {
        let lock = Arc::new(RLock::new(()));
        let cond = Condition::new();
        let first = lock.lock().await;
        // `wait()` is called here (its refusal check sees one level) ...
        let wait = if timed {
            Either::Left(
                cond.wait_timeout(first, Duration::from_secs(5))
                    .map(|(guard, _)| guard),
            )
        } else {
            Either::Right(cond.wait(first))
        };
        let mut wait = Box::pin(std::panic::AssertUnwindSafe(wait).catch_unwind());
        // ... and a second level is taken before the wait is first polled.
        let second = lock.lock().await;
        assert_eq!(lock.recursion_count(), 2);
        tokio::select! {
            _ = &mut wait => {} // refused with a panic: allowed
            () = tokio::time::sleep(Duration::from_millis(5)) => {} // cancelled while waiting
        }
        drop(wait);
        assert!(
            lock.is_owned() && lock.recursion_count() == 1,
            "timed {timed}: the task still holds `second`, so it must own one level; found {lock:?}"
        );
        let other = Arc::clone(&lock);
        let took = tokio::task::spawn_blocking(move || {
            let guard = other.try_lock();
            let took = guard.is_some();
            // Held on purpose: if it was taken, `second`'s drop must not
            // release it.
            std::mem::forget(guard);
            took
        })
        .await
        .unwrap();
        assert!(
            !took,
            "timed {timed}: another thread took the RLock while `second` is alive: {lock:?}"
        );
        drop(second);
        assert!(!lock.is_locked(), "timed {timed}: {lock:?}");
    }
}

/// `abort()` then `reset()` while the round's action runs (the action runs
/// without the barrier's lock): `reset()` turns the broken phase back to
/// filling *while the tripping round is still open*, so an arrival after the
/// reset joins the tripping round (`inside` goes to 3 for 2 parties); when
/// the action returns, that round fails and the barrier is left **broken**,
/// although `reset()` was the last call. The arrival after the reset gets
/// `BrokenBarrierError`, and so does every later wait, until another
/// `reset()`.
///
/// The contract: `reset()` breaks the current round (its waiters get
/// `BrokenBarrierError`) and makes the barrier usable again.
#[test]
fn abort_then_reset_while_the_action_runs_leaves_the_barrier_usable() {
    let (in_action, action_started) = std::sync::mpsc::channel::<()>();
    let (go, proceed) = std::sync::mpsc::channel::<()>();
    let (in_action, proceed) = (
        std::sync::Mutex::new(in_action),
        std::sync::Mutex::new(proceed),
    );
    let barrier = Arc::new(Barrier::with_action(2, move || {
        let _ = in_action.lock().unwrap().send(());
        let _ = proceed.lock().unwrap().recv_timeout(Duration::from_secs(5));
    }));
    let arrive = |barrier: &Arc<Barrier>| {
        let barrier = Arc::clone(barrier);
        std::thread::spawn(move || barrier.wait_timeout_blocking(Duration::from_secs(3)))
    };
    let first = arrive(&barrier);
    common::eventually("first arrival", || barrier.n_waiting() == 1);
    let last = arrive(&barrier); // completes the round and runs the action
    action_started
        .recv_timeout(Duration::from_secs(5))
        .expect("the action ran");
    barrier.abort();
    barrier.reset();
    // An arrival after the reset, while the aborted round's action still runs.
    let after_reset = arrive(&barrier);
    std::thread::sleep(Duration::from_millis(20));
    go.send(()).unwrap();
    assert_eq!(
        join_within("first", first),
        Err(BrokenBarrierError),
        "aborted round"
    );
    assert_eq!(
        join_within("last", last),
        Err(BrokenBarrierError),
        "aborted round"
    );
    let partner = arrive(&barrier);
    let outcomes = [
        join_within("arrival after reset", after_reset),
        join_within("its partner", partner),
    ];
    let mut indexes: Vec<usize> = outcomes.iter().filter_map(|o| o.ok()).collect();
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        [0, 1],
        "{outcomes:?}: reset() was the last call: the next round must trip; barrier now {barrier:?}"
    );
    assert!(!barrier.is_broken(), "{barrier:?}");
}

/// A release on one thread can miss the first waiter queued on another: the
/// waiter allocates the semaphore's hand-off queue (a `OnceBox`), counts
/// itself in with an `Acquire`-only CAS on the state word and parks; the
/// releaser's `Release`-only CAS (`give`/`give_back`) reads that count but
/// does not synchronize with the waiter, so its `queue.get()` may still see
/// no queue, skip the hand-off, and leave the permit in the count while the
/// waiter sleeps forever. x86 hides it; miri's weak-memory emulation finds it
/// (`MIRIFLAGS=-Zmiri-many-seeds=0..64 cargo +nightly miri test
/// --no-default-features --test found`, and `--test miri` with seed 2).
/// Making the state word's count-in `AcqRel` and the give-backs `AcqRel`
/// removes it in every seed tried.
#[test]
fn a_release_reaches_the_first_waiter_queued_on_another_thread() {
    for _ in 0..if cfg!(miri) { 4 } else { 100 } {
        let sem = Arc::new(ambisync::Semaphore::new(0));
        let waiter = {
            let sem = Arc::clone(&sem);
            std::thread::spawn(move || drop(sem.acquire_blocking()))
        };
        common::eventually("the waiter is queued", || sem.waiters() == 1);
        sem.release();
        join_within("a waiter the release had to reach", waiter);
        assert_eq!(sem.available_permits(), 1);
    }
}

/// Found by the `acquire_many` property test (`tests/model_acquire_many.rs`):
/// a request for zero permits made while others wait joins the line; when
/// the waiter ahead of it is handed the last free permits, the hand-off stops
/// ("no permits left") without looking at the zero-permit waiter behind,
/// which then waits for the next release — forever if the permits are never
/// released, although it needs none. The contract (a waiter is never left
/// waiting for permits already free, as with the big head waiter fixed
/// before): a request for zero permits never waits.
#[test]
fn a_request_for_zero_permits_is_never_stranded_behind_a_served_waiter() {
    use futures::FutureExt;
    use futures::future::BoxFuture;

    type Many<'a> = Result<ambisync::SemaphorePermit<'a>, ambisync::TooManyPermitsError>;

    fn check<'a>(
        kind: &str,
        one: ambisync::SemaphorePermit<'a>,
        mut head: BoxFuture<'a, Many<'a>>,
        mut zero: BoxFuture<'a, Many<'a>>,
    ) {
        assert!(
            (&mut head).now_or_never().is_none(),
            "no permit free: waits"
        );
        // Its first poll, behind the waiting head.
        let first_look = (&mut zero).now_or_never();
        // The head is handed the only permit.
        drop(one);
        let head_permit = (&mut head)
            .now_or_never()
            .expect("handed the permit")
            .unwrap();
        let zero_permit = first_look
            .or_else(|| (&mut zero).now_or_never())
            .unwrap_or_else(|| {
                panic!("{kind}: a request for 0 permits waits while the head holds the only one")
            })
            .unwrap();
        assert_eq!(zero_permit.num_permits(), 0);
        drop((head_permit, zero_permit));
    }

    let sem = ambisync::Semaphore::new(1);
    check(
        "Semaphore",
        sem.try_acquire().unwrap(),
        sem.acquire_many(1).boxed(),
        sem.acquire_many(0).boxed(),
    );
    assert_eq!((sem.available_permits(), sem.waiters()), (1, 0));
    let sem = ambisync::BoundedSemaphore::new(1);
    check(
        "BoundedSemaphore",
        sem.try_acquire().unwrap(),
        sem.acquire_many(1).boxed(),
        sem.acquire_many(0).boxed(),
    );
    assert_eq!((sem.available_permits(), sem.waiters()), (1, 0));
}
