//! Bugs found by the verification work of issue 9 beyond its five scenarios:
//! one minimal reproducing test each, asserting the contract.
#![cfg(feature = "tokio")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use ambisync::{Condition, RLock};
use futures::FutureExt;
use futures::future::Either;

/// `Condition::wait` refuses a guard whose owner holds the `RLock` at more
/// than one level — but it counts the levels when `wait()` is *called*, and
/// releases them all at the future's *first poll*. A level taken in between
/// is released by the wait too; if the wait is then cancelled, the guard of
/// that level is left without the lock: another thread takes it, and
/// dropping the stale guard releases that thread's hold.
///
/// The contract (issue 9 §1.2): mutual exclusion is never broken, and no
/// guard can release another owner's hold, whatever is cancelled when.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_taken_between_calling_condition_wait_and_its_first_poll_is_not_lost() {
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
