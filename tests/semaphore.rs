//! `Semaphore` and `BoundedSemaphore` (Python `threading.Semaphore` and
//! `BoundedSemaphore`): every acquire form (borrowed and owned, async,
//! timeout, try, blocking), RAII permits and `forget()`, one semaphore shared
//! by tasks and threads, `release`/`release_n` (unbounded) and
//! `BoundedReleaseError` (bounded), first-come first-served hand-off (a
//! release hands its permit to the oldest waiter, newcomers cannot take one
//! while anybody is queued, back-to-back releases and permit drops serve both
//! waiters), cancel safety (a served waiter that is dropped passes its permit
//! on, an expiring `acquire_timeout` loses nothing), stress with tasks and
//! threads, `Debug`/`Send`/`Sync`, and the panic of a `_blocking` call made
//! inside a tokio runtime.
//!
//! The behaviour common to both types is written once, in `both_types!`, and
//! instantiated as the modules `semaphore` and `bounded_semaphore`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ambisync::{BoundedReleaseError, BoundedSemaphore, OwnedSemaphorePermit, Semaphore};
use common::{LIMIT, eventually, eventually_async, join_thread, join_within, within};
#[cfg(feature = "tokio")]
use common::{panic_message, watchdog};
use futures::FutureExt;
use futures_test::task::new_count_waker;
use tokio_test::{assert_pending, assert_ready, task};

/// Awaits each waiting task (failing after [`LIMIT`]) and collects what it
/// returned; `after` says what should have released them.
async fn tasks_done<T>(
    after: &str,
    waiters: impl IntoIterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut results = Vec::new();
    for (i, waiter) in waiters.into_iter().enumerate() {
        let joined = within(&format!("waiter {i} {after}"), waiter).await;
        results.push(joined.expect("waiter task panicked"));
    }
    results
}

/// [`tasks_done`] for threads.
fn threads_done<T>(after: &str, waiters: impl IntoIterator<Item = JoinHandle<T>>) -> Vec<T> {
    waiters
        .into_iter()
        .enumerate()
        .map(|(i, waiter)| join_within(&format!("waiter {i} {after}"), waiter))
        .collect()
}

/// A timeout that a test waits out on purpose (generous for a noisy CI).
const SHORT: Duration = Duration::from_millis(100);

/// Counts the holders of a permit and remembers the highest count seen.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }
    /// Must be called before the permit is given back.
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn every_public_type_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<OwnedSemaphorePermit>();
    send_sync::<ambisync::SemaphorePermit<'static>>();
    send_sync::<BoundedReleaseError>();
}

macro_rules! both_types {
    ($module:ident, $Sem:ident) => {
        mod $module {
            use super::*;

            type Sem = ambisync::$Sem;

            /// A task that waits for a permit and hands it back through its
            /// handle, so the permit stays taken until the test drops it.
            fn spawn_acquirer(sem: &Arc<Sem>) -> tokio::task::JoinHandle<OwnedSemaphorePermit> {
                let sem = Arc::clone(sem);
                tokio::spawn(async move { sem.acquire_owned().await })
            }

            /// The same with a thread blocked in `acquire_owned_blocking`.
            fn spawn_blocking_acquirer(sem: &Arc<Sem>) -> JoinHandle<OwnedSemaphorePermit> {
                let sem = Arc::clone(sem);
                std::thread::spawn(move || sem.acquire_owned_blocking())
            }

            // ------------------------------------------------ counting, RAII

            #[test]
            fn new_has_the_given_permits() {
                assert_eq!(Sem::new(0).available_permits(), 0);
                assert_eq!(Sem::new(3).available_permits(), 3);
                assert_eq!(Sem::new(3).waiters(), 0);
            }

            #[test]
            fn try_acquire_takes_a_permit_and_dropping_it_gives_it_back() {
                let sem = Sem::new(2);
                let first = sem.try_acquire().expect("a permit is free");
                assert_eq!(sem.available_permits(), 1);
                let second = sem.try_acquire().expect("a permit is free");
                assert_eq!(sem.available_permits(), 0);
                drop(first);
                assert_eq!(sem.available_permits(), 1);
                drop(second);
                assert_eq!(sem.available_permits(), 2);
            }

            #[test]
            fn try_acquire_fails_without_waiting_when_no_permit_is_free() {
                let sem = Sem::new(1);
                let held = sem.try_acquire().unwrap();
                assert!(sem.try_acquire().is_none());
                assert_eq!(sem.available_permits(), 0, "a failed try takes nothing");
                drop(held);
                assert!(sem.try_acquire().is_some());
            }

            #[tokio::test]
            async fn acquire_returns_at_once_when_a_permit_is_free() {
                let sem = Sem::new(1);
                let permit = within("acquire on a free semaphore", sem.acquire()).await;
                assert_eq!(sem.available_permits(), 0);
                drop(permit);
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn acquire_blocking_returns_at_once_when_a_permit_is_free() {
                let sem = Arc::new(Sem::new(1));
                let thread = std::thread::spawn({
                    let sem = Arc::clone(&sem);
                    move || {
                        let permit = sem.acquire_blocking();
                        assert_eq!(sem.available_permits(), 0);
                        drop(permit);
                    }
                });
                join_within("acquire_blocking on a free semaphore", thread);
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn forget_keeps_the_permit_taken() {
                let sem = Sem::new(2);
                sem.try_acquire().unwrap().forget();
                assert_eq!(sem.available_permits(), 1);
                sem.acquire_blocking().forget();
                assert_eq!(sem.available_permits(), 0);
                assert!(sem.try_acquire().is_none());
            }

            #[test]
            fn forget_keeps_an_owned_permit_taken() {
                let sem = Arc::new(Sem::new(1));
                sem.try_acquire_owned().unwrap().forget();
                assert_eq!(sem.available_permits(), 0);
                assert!(sem.try_acquire_owned().is_none());
            }

            // ------------------------------------------------- owned permits

            #[tokio::test]
            async fn an_owned_permit_moves_into_a_task_and_its_drop_gives_it_back() {
                let sem = Arc::new(Sem::new(1));
                let permit = within("acquire_owned", sem.acquire_owned()).await;
                assert_eq!(sem.available_permits(), 0);
                tokio::spawn(async move { drop(permit) }).await.unwrap();
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn try_acquire_owned_takes_a_permit_that_a_thread_can_give_back() {
                let sem = Arc::new(Sem::new(1));
                let permit = sem.try_acquire_owned().expect("a permit is free");
                assert!(sem.try_acquire_owned().is_none());
                join_within(
                    "thread dropping the permit",
                    std::thread::spawn(move || drop(permit)),
                );
                assert_eq!(sem.available_permits(), 1);
            }

            #[tokio::test]
            async fn acquire_owned_blocking_is_woken_by_a_task_dropping_its_permit() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let waiter = spawn_blocking_acquirer(&sem);
                eventually_async("the thread waits", || sem.waiters() == 1).await;
                tokio::spawn(async move { drop(held) }).await.unwrap();
                let permit = join_thread("acquire_owned_blocking", waiter).await;
                assert_eq!(sem.available_permits(), 0);
                drop(permit);
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn acquire_owned_timeout_blocking_returns_none_after_its_timeout() {
                let sem = Arc::new(Sem::new(1));
                let _held = sem.try_acquire_owned().unwrap();
                let started = Instant::now();
                assert!(sem.acquire_owned_timeout_blocking(SHORT).is_none());
                assert!(
                    started.elapsed() >= SHORT,
                    "returned after {:?}",
                    started.elapsed()
                );
                assert_eq!(sem.available_permits(), 0);
                assert_eq!(sem.waiters(), 0);
            }

            #[tokio::test]
            async fn acquire_owned_timeout_blocking_gets_a_permit_a_task_gives_back() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let waiter = std::thread::spawn({
                    let sem = Arc::clone(&sem);
                    move || sem.acquire_owned_timeout_blocking(LIMIT * 6)
                });
                eventually_async("the thread waits", || sem.waiters() == 1).await;
                tokio::spawn(async move { drop(held) }).await.unwrap();
                let permit = join_thread("acquire_owned_timeout_blocking", waiter).await;
                assert!(permit.is_some());
                drop(permit);
                assert_eq!(sem.available_permits(), 1);
            }

            #[cfg(feature = "tokio")]
            #[tokio::test]
            async fn acquire_owned_timeout_returns_none_after_its_timeout() {
                let sem = Arc::new(Sem::new(1));
                let _held = sem.try_acquire_owned().unwrap();
                let started = Instant::now();
                assert!(
                    within("acquire_owned_timeout", sem.acquire_owned_timeout(SHORT))
                        .await
                        .is_none()
                );
                assert!(
                    started.elapsed() >= SHORT,
                    "returned after {:?}",
                    started.elapsed()
                );
                assert_eq!(sem.available_permits(), 0);
                assert_eq!(sem.waiters(), 0);
            }

            #[cfg(feature = "tokio")]
            #[tokio::test]
            async fn acquire_owned_timeout_gets_a_permit_a_thread_gives_back() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let waiter = tokio::spawn(sem.acquire_owned_timeout(LIMIT * 6));
                eventually_async("the task waits", || sem.waiters() == 1).await;
                join_thread(
                    "thread dropping the permit",
                    std::thread::spawn(move || drop(held)),
                )
                .await;
                let permit = within("acquire_owned_timeout", waiter).await.unwrap();
                assert!(permit.is_some());
                assert_eq!(sem.available_permits(), 0);
            }

            // --------------------------------------- one object, tasks and threads

            #[tokio::test]
            async fn a_waiting_task_is_woken_by_a_thread_dropping_its_permit() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let waiter = tokio::spawn({
                    let sem = Arc::clone(&sem);
                    async move {
                        let _permit = sem.acquire().await;
                    }
                });
                eventually_async("the task waits", || sem.waiters() == 1).await;
                join_thread(
                    "thread dropping the permit",
                    std::thread::spawn(move || drop(held)),
                )
                .await;
                within("task woken by a thread", waiter).await.unwrap();
                assert_eq!(sem.available_permits(), 1);
            }

            #[tokio::test]
            async fn a_thread_in_acquire_blocking_is_woken_by_a_task_dropping_its_permit() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let waiter = std::thread::spawn({
                    let sem = Arc::clone(&sem);
                    move || {
                        let _permit = sem.acquire_blocking();
                    }
                });
                eventually_async("the thread waits", || sem.waiters() == 1).await;
                tokio::spawn(async move { drop(held) }).await.unwrap();
                join_thread("thread woken by a task", waiter).await;
                assert_eq!(sem.available_permits(), 1);
            }

            #[tokio::test]
            async fn acquire_blocking_inside_spawn_blocking_is_allowed_and_woken_by_a_task() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let waiter = tokio::task::spawn_blocking({
                    let sem = Arc::clone(&sem);
                    move || {
                        let _permit = sem.acquire_blocking();
                    }
                });
                eventually_async("the spawn_blocking thread waits", || sem.waiters() == 1).await;
                drop(held);
                within("spawn_blocking waiter", waiter).await.unwrap();
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn acquire_works_on_a_non_tokio_executor() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let waiter = std::thread::spawn({
                    let sem = Arc::clone(&sem);
                    move || {
                        futures::executor::block_on(async {
                            let _permit = sem.acquire().await;
                        })
                    }
                });
                eventually("the futures-executor task waits", || sem.waiters() == 1);
                drop(held);
                join_within("task on futures::executor", waiter);
                assert_eq!(sem.available_permits(), 1);
            }

            // ------------------------------------------------------- timeouts

            #[test]
            fn acquire_timeout_blocking_returns_none_after_its_timeout() {
                let sem = Sem::new(0);
                let started = Instant::now();
                assert!(sem.acquire_timeout_blocking(SHORT).is_none());
                assert!(
                    started.elapsed() >= SHORT,
                    "returned after {:?}",
                    started.elapsed()
                );
                assert_eq!(sem.available_permits(), 0);
                assert_eq!(sem.waiters(), 0, "a timed-out waiter is no longer counted");
            }

            #[tokio::test]
            async fn acquire_timeout_blocking_gets_a_permit_a_task_gives_back() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let waiter = std::thread::spawn({
                    let sem = Arc::clone(&sem);
                    move || {
                        sem.acquire_timeout_blocking(LIMIT * 6)
                            .map(|permit| permit.forget())
                            .is_some()
                    }
                });
                eventually_async("the thread waits", || sem.waiters() == 1).await;
                tokio::spawn(async move { drop(held) }).await.unwrap();
                assert!(join_thread("acquire_timeout_blocking", waiter).await);
                assert_eq!(
                    sem.available_permits(),
                    0,
                    "the thread took (and kept) the permit"
                );
            }

            #[cfg(feature = "tokio")]
            #[tokio::test]
            async fn acquire_timeout_returns_none_after_its_timeout() {
                let sem = Sem::new(0);
                let started = Instant::now();
                assert!(
                    within("acquire_timeout", sem.acquire_timeout(SHORT))
                        .await
                        .is_none()
                );
                assert!(
                    started.elapsed() >= SHORT,
                    "returned after {:?}",
                    started.elapsed()
                );
                assert_eq!(sem.available_permits(), 0);
                assert_eq!(sem.waiters(), 0, "a timed-out waiter is no longer counted");
            }

            #[cfg(feature = "tokio")]
            #[tokio::test]
            async fn acquire_timeout_gets_a_permit_a_thread_gives_back() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let waiter = tokio::spawn({
                    let sem = Arc::clone(&sem);
                    async move {
                        sem.acquire_timeout(LIMIT * 6)
                            .await
                            .map(|permit| permit.forget())
                            .is_some()
                    }
                });
                eventually_async("the task waits", || sem.waiters() == 1).await;
                join_thread(
                    "thread dropping the permit",
                    std::thread::spawn(move || drop(held)),
                )
                .await;
                assert!(within("acquire_timeout", waiter).await.unwrap());
                assert_eq!(
                    sem.available_permits(),
                    0,
                    "the task took (and kept) the permit"
                );
            }

            #[cfg(feature = "tokio")]
            #[tokio::test(start_paused = true)]
            async fn acquire_timeout_expiring_as_the_permit_is_released_loses_nothing() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let mut timed = task::spawn(sem.acquire_timeout(Duration::from_millis(10)));
                assert_pending!(timed.poll());
                let next = spawn_acquirer(&sem);
                eventually_async("both wait", || sem.waiters() == 2).await;

                // The deadline passes and the permit comes back before the
                // timed acquire runs again: it may take the permit or time
                // out, but the permit must end up somewhere.
                tokio::time::advance(Duration::from_millis(20)).await;
                drop(held);
                let outcome = assert_ready!(timed.poll(), "an expired acquire_timeout is ready");
                drop(outcome); // gives the permit back if it won it
                drop(timed);

                let permit = within("the next waiter gets the permit", next)
                    .await
                    .unwrap();
                assert_eq!(sem.available_permits(), 0);
                drop(permit);
                assert_eq!(sem.available_permits(), 1);
                assert_eq!(sem.waiters(), 0);
            }

            // ------------------------------------ releases wake as many as they free

            #[tokio::test]
            async fn two_permit_drops_back_to_back_wake_both_waiting_tasks() {
                let sem = Arc::new(Sem::new(2));
                let (first, second) = (
                    sem.try_acquire_owned().unwrap(),
                    sem.try_acquire_owned().unwrap(),
                );
                let waiters = [spawn_acquirer(&sem), spawn_acquirer(&sem)];
                eventually_async("both tasks wait", || sem.waiters() == 2).await;
                // No await in between: the first woken task cannot run before
                // the second permit comes back.
                drop(first);
                drop(second);
                let permits = tasks_done("after two drops", waiters).await;
                assert_eq!(sem.available_permits(), 0);
                drop(permits);
                assert_eq!(sem.available_permits(), 2);
            }

            #[test]
            fn two_permit_drops_back_to_back_wake_both_waiting_threads() {
                let sem = Arc::new(Sem::new(2));
                let (first, second) = (
                    sem.try_acquire_owned().unwrap(),
                    sem.try_acquire_owned().unwrap(),
                );
                let waiters = [spawn_blocking_acquirer(&sem), spawn_blocking_acquirer(&sem)];
                eventually("both threads wait", || sem.waiters() == 2);
                drop(first);
                drop(second);
                let permits = threads_done("after two drops", waiters);
                assert_eq!(sem.available_permits(), 0);
                drop(permits);
                assert_eq!(sem.available_permits(), 2);
            }

            // ------------------------------------------------------ cancel safety

            #[tokio::test]
            async fn a_pending_acquire_that_is_dropped_takes_nothing_and_is_no_longer_counted() {
                let sem = Sem::new(1);
                let held = sem.try_acquire().unwrap();
                let mut pending = task::spawn(sem.acquire());
                assert_pending!(pending.poll());
                assert_eq!(sem.waiters(), 1);
                drop(pending);
                assert_eq!(sem.waiters(), 0);
                drop(held);
                assert_eq!(sem.available_permits(), 1);
            }

            #[tokio::test]
            async fn a_woken_waiter_dropped_before_it_is_polled_passes_the_permit_to_a_task() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let mut first = task::spawn(sem.acquire());
                assert_pending!(first.poll());
                let next = spawn_acquirer(&sem);
                eventually_async("both wait", || sem.waiters() == 2).await;
                drop(held); // wakes one waiter: the first in line
                drop(first); // cancelled before it could take the permit
                let permit = within("the next waiter gets the passed-on permit", next)
                    .await
                    .unwrap();
                assert_eq!(sem.available_permits(), 0);
                drop(permit);
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn a_woken_waiter_dropped_before_it_is_polled_passes_the_permit_to_a_thread() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let mut first = task::spawn(sem.acquire());
                assert_pending!(first.poll());
                let next = spawn_blocking_acquirer(&sem);
                eventually("both wait", || sem.waiters() == 2);
                drop(held);
                drop(first);
                let permit = join_within("the next thread gets the passed-on permit", next);
                assert_eq!(sem.available_permits(), 0);
                drop(permit);
                assert_eq!(sem.available_permits(), 1);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cancelled_and_timed_out_acquires_racing_releases_lose_no_permit() {
                const PERMITS: usize = 2;
                const ROUNDS: u64 = 300;
                let sem = Arc::new(Sem::new(PERMITS));
                let in_flight = Arc::new(InFlight::default());
                let mut tasks = Vec::new();
                for t in 0..6u64 {
                    let (sem, in_flight) = (Arc::clone(&sem), Arc::clone(&in_flight));
                    tasks.push(tokio::spawn(async move {
                        for i in 0..ROUNDS {
                            let patience = Duration::from_micros((i * 37 + t * 11) % 300);
                            // Half the waits are cancelled from outside (as
                            // `select!` would), half time out by themselves.
                            let permit = if (i + t) % 2 == 0 {
                                tokio::time::timeout(patience, sem.acquire()).await.ok()
                            } else {
                                #[cfg(feature = "tokio")]
                                let permit = sem.acquire_timeout(patience).await;
                                #[cfg(not(feature = "tokio"))]
                                let permit =
                                    tokio::time::timeout(patience, sem.acquire()).await.ok();
                                permit
                            };
                            if let Some(permit) = permit {
                                in_flight.enter();
                                tokio::task::yield_now().await;
                                in_flight.leave();
                                drop(permit);
                            }
                        }
                    }));
                }
                let threads: Vec<_> = (0..2u64)
                    .map(|t| {
                        let (sem, in_flight) = (Arc::clone(&sem), Arc::clone(&in_flight));
                        std::thread::spawn(move || {
                            for i in 0..ROUNDS {
                                let patience = Duration::from_micros((i * 53 + t * 7) % 300);
                                if let Some(permit) = sem.acquire_timeout_blocking(patience) {
                                    in_flight.enter();
                                    std::thread::yield_now();
                                    in_flight.leave();
                                    drop(permit);
                                }
                            }
                        })
                    })
                    .collect();
                for (i, task) in tasks.into_iter().enumerate() {
                    within(&format!("task {i}"), task).await.unwrap();
                }
                for (i, thread) in threads.into_iter().enumerate() {
                    join_thread(&format!("thread {i}"), thread).await;
                }
                assert!(in_flight.max.load(Ordering::SeqCst) <= PERMITS);
                assert_eq!(
                    sem.available_permits(),
                    PERMITS,
                    "every permit came back, none was made up"
                );
                assert_eq!(sem.waiters(), 0);
                let all: Vec<_> = (0..PERMITS)
                    .map(|_| sem.try_acquire().expect("permit is free"))
                    .collect();
                assert!(sem.try_acquire().is_none());
                drop(all);
            }

            // ------------------------------------------------------------ stress

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stress_32_tasks_and_4_threads_never_exceed_4_permits() {
                const PERMITS: usize = 4;
                const ROUNDS: usize = 50;
                let sem = Arc::new(Sem::new(PERMITS));
                let in_flight = Arc::new(InFlight::default());
                let mut tasks = Vec::new();
                for t in 0..32 {
                    let (sem, in_flight) = (Arc::clone(&sem), Arc::clone(&in_flight));
                    tasks.push(tokio::spawn(async move {
                        for i in 0..ROUNDS {
                            match (i + t) % 3 {
                                0 => {
                                    let permit = sem.acquire().await;
                                    in_flight.enter();
                                    tokio::task::yield_now().await;
                                    in_flight.leave();
                                    drop(permit);
                                }
                                1 => {
                                    let permit = sem.acquire_owned().await;
                                    in_flight.enter();
                                    tokio::task::yield_now().await;
                                    in_flight.leave();
                                    drop(permit);
                                }
                                _ => {
                                    #[cfg(feature = "tokio")]
                                    let permit = sem
                                        .acquire_timeout(LIMIT * 6)
                                        .await
                                        .expect("permit within a minute");
                                    #[cfg(not(feature = "tokio"))]
                                    let permit = sem.acquire().await;
                                    in_flight.enter();
                                    tokio::task::yield_now().await;
                                    in_flight.leave();
                                    drop(permit);
                                }
                            }
                        }
                    }));
                }
                let threads: Vec<_> = (0..4)
                    .map(|t| {
                        let (sem, in_flight) = (Arc::clone(&sem), Arc::clone(&in_flight));
                        std::thread::spawn(move || {
                            for i in 0..ROUNDS {
                                match (i + t) % 3 {
                                    0 => {
                                        let permit = sem.acquire_blocking();
                                        in_flight.enter();
                                        std::thread::yield_now();
                                        in_flight.leave();
                                        drop(permit);
                                    }
                                    1 => {
                                        let permit = sem.acquire_owned_blocking();
                                        in_flight.enter();
                                        std::thread::yield_now();
                                        in_flight.leave();
                                        drop(permit);
                                    }
                                    _ => {
                                        let permit = sem
                                            .acquire_timeout_blocking(LIMIT * 6)
                                            .expect("permit within a minute");
                                        in_flight.enter();
                                        std::thread::yield_now();
                                        in_flight.leave();
                                        drop(permit);
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                for (i, task) in tasks.into_iter().enumerate() {
                    within(&format!("task {i}"), task).await.unwrap();
                }
                for (i, thread) in threads.into_iter().enumerate() {
                    join_thread(&format!("thread {i}"), thread).await;
                }
                let max = in_flight.max.load(Ordering::SeqCst);
                assert!(
                    max <= PERMITS,
                    "{max} holders at once with {PERMITS} permits"
                );
                assert!(max >= 1);
                assert_eq!(in_flight.now.load(Ordering::SeqCst), 0);
                assert_eq!(sem.available_permits(), PERMITS);
                assert_eq!(sem.waiters(), 0);
            }

            // ------------------------------------------ blocking inside a runtime

            #[cfg(feature = "tokio")]
            #[tokio::test]
            #[should_panic(expected = "acquire_blocking")]
            async fn acquire_blocking_inside_a_runtime_panics_naming_the_method() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let _watchdog = watchdog(move || drop(held));
                let _permit = sem.acquire_blocking();
            }

            #[cfg(feature = "tokio")]
            #[tokio::test]
            #[should_panic(expected = "acquire_timeout_blocking")]
            async fn acquire_timeout_blocking_inside_a_runtime_panics_naming_the_method() {
                let sem = Sem::new(0);
                // If it does not panic it returns `None` after 10 ms: the test then fails.
                let _permit = sem.acquire_timeout_blocking(Duration::from_millis(10));
            }

            #[cfg(feature = "tokio")]
            #[tokio::test]
            #[should_panic(expected = "acquire_owned_blocking")]
            async fn acquire_owned_blocking_inside_a_runtime_panics_naming_the_method() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let _watchdog = watchdog(move || drop(held));
                let _permit = sem.acquire_owned_blocking();
            }

            #[cfg(feature = "tokio")]
            #[tokio::test]
            #[should_panic(expected = "acquire_owned_timeout_blocking")]
            async fn acquire_owned_timeout_blocking_inside_a_runtime_panics_naming_the_method() {
                let sem = Arc::new(Sem::new(0));
                let _permit = sem.acquire_owned_timeout_blocking(Duration::from_millis(10));
            }

            #[cfg(feature = "tokio")]
            #[tokio::test]
            async fn acquire_blocking_inside_a_spawned_task_panics_naming_the_async_form() {
                let sem = Arc::new(Sem::new(1));
                let held = sem.try_acquire_owned().unwrap();
                let _watchdog = watchdog(move || drop(held));
                let task = tokio::spawn({
                    let sem = Arc::clone(&sem);
                    async move {
                        let _permit = sem.acquire_blocking();
                    }
                });
                let error = within("task calling acquire_blocking", task)
                    .await
                    .expect_err("acquire_blocking inside a task must panic, not block");
                let message = panic_message(error.into_panic());
                assert!(message.contains("acquire_blocking"), "message: {message}");
                assert!(
                    message.contains("acquire("),
                    "names the async form: {message}"
                );
                assert_eq!(sem.waiters(), 0);
            }

            // ------------------------------------------------------------ Debug

            #[test]
            fn debug_shows_the_free_permits() {
                let sem = Sem::new(3);
                let full = format!("{sem:?}");
                assert!(full.contains('3'), "{full}");
                let _permit = sem.try_acquire().unwrap();
                let taken = format!("{sem:?}");
                assert!(taken.contains('2'), "{taken}");
                assert!(!format!("{_permit:?}").is_empty());
            }

            #[test]
            fn futures_are_send() {
                fn send<T: Send>(_: &T) {}
                let sem = Arc::new(Sem::new(1));
                send(&sem.acquire());
                send(&sem.acquire_owned());
                #[cfg(feature = "tokio")]
                {
                    send(&sem.acquire_timeout(SHORT));
                    send(&sem.acquire_owned_timeout(SHORT));
                }
            }
        }
    };
}

both_types!(semaphore, Semaphore);
both_types!(bounded_semaphore, BoundedSemaphore);

// =================================================================== Semaphore

#[test]
fn semaphore_release_adds_a_permit_beyond_the_initial_count() {
    let sem = Semaphore::new(1);
    sem.release();
    assert_eq!(sem.available_permits(), 2);
    let held: Vec<_> = (0..2).map(|_| sem.try_acquire().unwrap()).collect();
    assert!(sem.try_acquire().is_none());
    drop(held);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn semaphore_release_n_adds_n_permits() {
    let sem = Semaphore::new(0);
    sem.release_n(0);
    assert_eq!(sem.available_permits(), 0);
    sem.release_n(3);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn semaphore_release_gives_back_a_forgotten_permit() {
    let sem = Semaphore::new(1);
    sem.try_acquire().unwrap().forget(); // Python: sem.acquire()
    assert_eq!(sem.available_permits(), 0);
    sem.release(); // Python: sem.release()
    assert_eq!(sem.available_permits(), 1);
}

#[tokio::test]
async fn semaphore_two_releases_back_to_back_wake_both_waiting_tasks() {
    let sem = Arc::new(Semaphore::new(0));
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let sem = Arc::clone(&sem);
            tokio::spawn(async move { sem.acquire_owned().await })
        })
        .collect();
    eventually_async("both tasks wait", || sem.waiters() == 2).await;
    // No await in between: the first woken task cannot take its permit
    // before the second release (async-lock's semaphore wakes only one here).
    sem.release();
    sem.release();
    let permits = tasks_done("after two releases", waiters).await;
    assert_eq!(sem.available_permits(), 0);
    drop(permits);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn semaphore_two_releases_back_to_back_wake_both_waiting_threads() {
    let sem = Arc::new(Semaphore::new(0));
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let sem = Arc::clone(&sem);
            std::thread::spawn(move || sem.acquire_owned_blocking())
        })
        .collect();
    eventually("both threads wait", || sem.waiters() == 2);
    sem.release();
    sem.release();
    let permits = threads_done("after two releases", waiters);
    assert_eq!(sem.available_permits(), 0);
    drop(permits);
}

#[tokio::test]
async fn semaphore_two_releases_back_to_back_wake_a_waiting_task_and_a_waiting_thread() {
    let sem = Arc::new(Semaphore::new(0));
    let task = tokio::spawn({
        let sem = Arc::clone(&sem);
        async move { sem.acquire_owned().await }
    });
    let thread = std::thread::spawn({
        let sem = Arc::clone(&sem);
        move || sem.acquire_owned_blocking()
    });
    eventually_async("the task and the thread wait", || sem.waiters() == 2).await;
    sem.release();
    sem.release();
    let from_task = within("task after two releases", task).await.unwrap();
    let from_thread = join_thread("thread after two releases", thread).await;
    assert_eq!(sem.available_permits(), 0);
    drop((from_task, from_thread));
    assert_eq!(sem.available_permits(), 2);
}

#[tokio::test]
async fn semaphore_release_n_3_wakes_three_waiters() {
    let sem = Arc::new(Semaphore::new(0));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let sem = Arc::clone(&sem);
            tokio::spawn(async move { sem.acquire_owned().await })
        })
        .collect();
    let thread = std::thread::spawn({
        let sem = Arc::clone(&sem);
        move || sem.acquire_owned_blocking()
    });
    eventually_async("three waiters", || sem.waiters() == 3).await;
    sem.release_n(3);
    let mut permits = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        permits.push(
            within(&format!("task {i} after release_n(3)"), task)
                .await
                .unwrap(),
        );
    }
    permits.push(join_thread("thread after release_n(3)", thread).await);
    assert_eq!(sem.available_permits(), 0);
    drop(permits);
    assert_eq!(sem.available_permits(), 3);
}

#[tokio::test]
async fn semaphore_release_n_wakes_only_as_many_waiters_as_permits() {
    let sem = Arc::new(Semaphore::new(0));
    let mut tasks: Vec<_> = (0..3)
        .map(|_| {
            let sem = Arc::clone(&sem);
            tokio::spawn(async move { sem.acquire_owned().await.forget() })
        })
        .collect();
    eventually_async("three waiters", || sem.waiters() == 3).await;
    sem.release_n(2);
    eventually_async("two waiters got a permit", || {
        tasks.iter().filter(|task| task.is_finished()).count() == 2
    })
    .await;
    assert_eq!(sem.waiters(), 1, "the third still waits");
    assert_eq!(sem.available_permits(), 0);
    sem.release();
    for task in tasks.drain(..) {
        within("every waiter after the third permit", task)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn semaphore_a_waiter_woken_by_release_and_dropped_passes_the_permit_on() {
    let sem = Arc::new(Semaphore::new(0));
    let mut first = task::spawn(sem.acquire());
    assert_pending!(first.poll());
    let next = tokio::spawn({
        let sem = Arc::clone(&sem);
        async move { sem.acquire_owned().await }
    });
    eventually_async("both wait", || sem.waiters() == 2).await;
    sem.release(); // wakes the first in line...
    drop(first); // ...which is cancelled before it takes the permit
    let permit = within("the next waiter gets the passed-on permit", next)
        .await
        .unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(permit);
    assert_eq!(sem.available_permits(), 1);
}

/// Boxed acquire futures of either type that keep their permit, for tests
/// that poll by hand with counting wakers.
type Acquiring<'a> = std::pin::Pin<Box<dyn Future<Output = Box<dyn Send + 'a>> + 'a>>;

fn acquiring<'a>(
    plain: &'a Semaphore,
    capped: &'a BoundedSemaphore,
    bounded: bool,
) -> Acquiring<'a> {
    if bounded {
        Box::pin(async { Box::new(capped.acquire().await) as Box<dyn Send> })
    } else {
        Box::pin(async { Box::new(plain.acquire().await) as Box<dyn Send> })
    }
}

/// Permits dropped back to back go straight to the waiters, oldest first:
/// each drop hands its permit to the next waiter in line and wakes it, and
/// neither woken waiter depends on the other running first.
#[test]
fn permits_dropped_back_to_back_are_handed_to_both_waiters_in_order() {
    for bounded in [false, true] {
        let plain = Semaphore::new(2);
        let capped = BoundedSemaphore::new(2);
        let (first_permit, second_permit) = if bounded {
            (
                Box::new(capped.try_acquire().unwrap()) as Box<dyn Send>,
                Box::new(capped.try_acquire().unwrap()) as Box<dyn Send>,
            )
        } else {
            (
                Box::new(plain.try_acquire().unwrap()) as Box<dyn Send>,
                Box::new(plain.try_acquire().unwrap()) as Box<dyn Send>,
            )
        };
        let (first_waker, first) = new_count_waker();
        let mut first_cx = Context::from_waker(&first_waker);
        let (second_waker, second) = new_count_waker();
        let mut second_cx = Context::from_waker(&second_waker);
        let (mut waiter_1, mut waiter_2) = (
            acquiring(&plain, &capped, bounded),
            acquiring(&plain, &capped, bounded),
        );
        assert!(waiter_1.poll_unpin(&mut first_cx).is_pending());
        assert!(waiter_2.poll_unpin(&mut second_cx).is_pending());
        drop(first_permit);
        assert_eq!(first.get(), 1, "bounded: {bounded}: the oldest is served");
        assert_eq!(
            second.get(),
            0,
            "bounded: {bounded}: one permit, one waiter"
        );
        drop(second_permit);
        assert_eq!(
            second.get(),
            1,
            "bounded: {bounded}: the second drop serves the second waiter directly"
        );
        assert_eq!(first.get(), 1, "bounded: {bounded}");
        // Both permits went to the waiters, none to the count.
        let (available, waiters) = if bounded {
            (capped.available_permits(), capped.waiters())
        } else {
            (plain.available_permits(), plain.waiters())
        };
        assert_eq!((available, waiters), (0, 0), "bounded: {bounded}");
        // Either may run first.
        let Poll::Ready(_kept_2) = waiter_2.poll_unpin(&mut second_cx) else {
            panic!("bounded: {bounded}: the second waiter was handed a permit");
        };
        let Poll::Ready(_kept_1) = waiter_1.poll_unpin(&mut first_cx) else {
            panic!("bounded: {bounded}: the first waiter was handed a permit");
        };
    }
}

/// Grants follow the order in which waiters queued up, whatever order they
/// are polled in afterwards.
#[test]
fn waiters_get_permits_in_the_order_they_queued() {
    for bounded in [false, true] {
        let plain = Semaphore::new(1);
        let capped = BoundedSemaphore::new(1);
        let mut held = Some(if bounded {
            Box::new(capped.try_acquire().unwrap()) as Box<dyn Send>
        } else {
            Box::new(plain.try_acquire().unwrap()) as Box<dyn Send>
        });
        let (wakers, counts): (Vec<_>, Vec<_>) = (0..3).map(|_| new_count_waker()).unzip();
        let mut cxs: Vec<_> = wakers.iter().map(Context::from_waker).collect();
        let mut waiters: Vec<_> = (0..3)
            .map(|_| acquiring(&plain, &capped, bounded))
            .collect();
        for (waiter, cx) in waiters.iter_mut().zip(&mut cxs) {
            assert!(waiter.poll_unpin(cx).is_pending());
        }
        for turn in 0..3 {
            // Later waiters polled again (a spurious poll) stay behind.
            for later in turn + 1..3 {
                assert!(waiters[later].poll_unpin(&mut cxs[later]).is_pending());
            }
            drop(held.take());
            for (i, count) in counts.iter().enumerate() {
                let expected = usize::from(i <= turn);
                assert_eq!(
                    count.get(),
                    expected,
                    "bounded: {bounded}: turn {turn}: waiter {i}"
                );
            }
            let Poll::Ready(permit) = waiters[turn].poll_unpin(&mut cxs[turn]) else {
                panic!("bounded: {bounded}: waiter {turn} was handed the permit");
            };
            held = Some(permit);
        }
        drop(held);
        let available = if bounded {
            capped.available_permits()
        } else {
            plain.available_permits()
        };
        assert_eq!(available, 1, "bounded: {bounded}");
    }
}

/// A newcomer never takes a permit while anybody is queued for one, not even
/// one that was just given back: it went to the oldest waiter.
#[test]
fn a_newcomer_cannot_take_a_just_released_permit_while_waiters_are_queued() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let (waker, woken) = new_count_waker();
    let mut cx = Context::from_waker(&waker);
    let mut queued = Box::pin(sem.acquire());
    assert_pending!(queued.poll_unpin(&mut cx));
    drop(held);
    assert_eq!(woken.get(), 1);
    assert!(sem.try_acquire().is_none(), "the permit was handed over");
    assert!(sem.try_acquire_owned().is_none());
    assert!(
        sem.acquire_timeout_blocking(Duration::ZERO).is_none(),
        "a zero timeout does not jump the queue either"
    );
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.waiters(), 0, "the served waiter is no longer queued");
    let Poll::Ready(permit) = queued.poll_unpin(&mut cx) else {
        panic!("the queued waiter was handed the permit");
    };
    drop(permit);
    assert!(sem.try_acquire().is_some());

    // Permits released while a waiter is queued serve it first, and only
    // the rest are free for newcomers.
    let sem = Semaphore::new(0);
    let mut queued = Box::pin(sem.acquire());
    assert_pending!(queued.poll_unpin(&mut cx));
    sem.release();
    assert!(sem.try_acquire().is_none());
    sem.release();
    let newcomer = sem.try_acquire().expect("nobody is queued any more");
    drop(assert_ready!(queued.poll_unpin(&mut cx)));
    drop(newcomer);
}

/// A future that was handed a permit and dropped before it saw it passes the
/// permit to the next waiter in line (or back to the count), never loses it.
#[test]
fn a_granted_future_that_is_dropped_passes_the_permit_to_the_next_waiter() {
    for bounded in [false, true] {
        let plain = Semaphore::new(1);
        let capped = BoundedSemaphore::new(1);
        let held = if bounded {
            Box::new(capped.try_acquire().unwrap()) as Box<dyn Send>
        } else {
            Box::new(plain.try_acquire().unwrap()) as Box<dyn Send>
        };
        let (first_waker, first) = new_count_waker();
        let mut first_cx = Context::from_waker(&first_waker);
        let (second_waker, second) = new_count_waker();
        let mut second_cx = Context::from_waker(&second_waker);
        let mut waiter_1 = acquiring(&plain, &capped, bounded);
        let mut waiter_2 = acquiring(&plain, &capped, bounded);
        assert!(waiter_1.poll_unpin(&mut first_cx).is_pending());
        assert!(waiter_2.poll_unpin(&mut second_cx).is_pending());
        drop(held);
        assert_eq!((first.get(), second.get()), (1, 0), "bounded: {bounded}");
        drop(waiter_1); // granted, never polled again
        assert_eq!(second.get(), 1, "bounded: {bounded}: the permit moved on");
        let Poll::Ready(permit) = waiter_2.poll_unpin(&mut second_cx) else {
            panic!("bounded: {bounded}: the next waiter got the passed-on permit");
        };
        let available = || {
            if bounded {
                capped.available_permits()
            } else {
                plain.available_permits()
            }
        };
        assert_eq!(available(), 0, "bounded: {bounded}");
        drop(permit);
        assert_eq!(available(), 1, "bounded: {bounded}");

        // With nobody else waiting, a dropped granted future gives the
        // permit back to the count.
        let held = if bounded {
            Box::new(capped.try_acquire().unwrap()) as Box<dyn Send>
        } else {
            Box::new(plain.try_acquire().unwrap()) as Box<dyn Send>
        };
        let mut waiter = acquiring(&plain, &capped, bounded);
        assert!(waiter.poll_unpin(&mut first_cx).is_pending());
        drop(held);
        assert_eq!(available(), 0, "bounded: {bounded}: handed to the waiter");
        drop(waiter);
        assert_eq!(available(), 1, "bounded: {bounded}: back in the count");
    }
}

/// `release_n(3)` with two waiters queued serves both and leaves one permit
/// in the count.
#[test]
fn release_n_serves_the_waiters_and_counts_the_rest() {
    let sem = Semaphore::new(0);
    let (first_waker, first) = new_count_waker();
    let mut first_cx = Context::from_waker(&first_waker);
    let (second_waker, second) = new_count_waker();
    let mut second_cx = Context::from_waker(&second_waker);
    let mut waiter_1 = Box::pin(sem.acquire());
    let mut waiter_2 = Box::pin(sem.acquire());
    assert_pending!(waiter_1.poll_unpin(&mut first_cx));
    assert_pending!(waiter_2.poll_unpin(&mut second_cx));
    assert_eq!(sem.waiters(), 2);
    sem.release_n(3);
    assert_eq!((first.get(), second.get()), (1, 1));
    assert_eq!(sem.waiters(), 0);
    assert_eq!(sem.available_permits(), 1, "the third permit is free");
    let Poll::Ready(permit_1) = waiter_1.poll_unpin(&mut first_cx) else {
        panic!("the first waiter was served");
    };
    let Poll::Ready(permit_2) = waiter_2.poll_unpin(&mut second_cx) else {
        panic!("the second waiter was served");
    };
    let permit_3 = sem.try_acquire().expect("the free permit");
    assert!(sem.try_acquire().is_none());
    drop((permit_1, permit_2, permit_3));
    assert_eq!(sem.available_permits(), 3);
}

/// A blocking wait whose timeout expires as a release hands it the permit
/// either returns the permit or leaves the line without it: the permit is
/// never stranded with a waiter that gave up.
#[test]
fn a_blocking_timeout_racing_a_grant_strands_no_permit() {
    for bounded in [false, true] {
        for round in 0..200u64 {
            let plain = Arc::new(Semaphore::new(1));
            let capped = Arc::new(BoundedSemaphore::new(1));
            let held = if bounded {
                capped.try_acquire_owned().unwrap()
            } else {
                plain.try_acquire_owned().unwrap()
            };
            let patience = Duration::from_micros(round % 7 * 40);
            let timed = std::thread::spawn({
                let (plain, capped) = (Arc::clone(&plain), Arc::clone(&capped));
                move || {
                    let permit = if bounded {
                        capped.acquire_owned_timeout_blocking(patience)
                    } else {
                        plain.acquire_owned_timeout_blocking(patience)
                    };
                    permit.is_some()
                }
            });
            // A second, patient waiter: whatever the timed one does not keep
            // must reach it.
            let patient = std::thread::spawn({
                let (plain, capped) = (Arc::clone(&plain), Arc::clone(&capped));
                move || {
                    if bounded {
                        drop(capped.acquire_owned_blocking());
                    } else {
                        drop(plain.acquire_owned_blocking());
                    }
                }
            });
            std::thread::sleep(Duration::from_micros(round % 5 * 50));
            drop(held);
            join_within(&format!("bounded: {bounded}: round {round}: timed"), timed);
            join_within(
                &format!("bounded: {bounded}: round {round}: patient"),
                patient,
            );
            let (available, waiters) = if bounded {
                (capped.available_permits(), capped.waiters())
            } else {
                (plain.available_permits(), plain.waiters())
            };
            assert_eq!(
                (available, waiters),
                (1, 0),
                "bounded: {bounded}: round {round}"
            );
        }
    }
}

#[test]
fn threads_woken_by_back_to_back_drops_all_get_a_permit() {
    let sem = Arc::new(Semaphore::new(3));
    for round in 0..50 {
        let held: Vec<_> = (0..3).map(|_| sem.try_acquire_owned().unwrap()).collect();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let sem = Arc::clone(&sem);
                std::thread::spawn(move || drop(sem.acquire_blocking()))
            })
            .collect();
        eventually("three threads wait", || sem.waiters() == 3);
        drop(held);
        for waiter in waiters {
            join_within(&format!("round {round}: waiter"), waiter);
        }
        assert_eq!(sem.available_permits(), 3);
    }
}

// ============================================================ BoundedSemaphore

#[test]
fn bounded_semaphore_bound_is_the_initial_count() {
    assert_eq!(BoundedSemaphore::new(3).bound(), 3);
    assert_eq!(BoundedSemaphore::new(0).bound(), 0);
}

#[test]
fn bounded_release_error_says_released_too_many_times() {
    fn error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
    error(&BoundedReleaseError);
    assert_eq!(
        BoundedReleaseError.to_string(),
        "semaphore released too many times"
    );
    assert_eq!(BoundedReleaseError, BoundedReleaseError);
}

#[test]
fn bounded_release_with_every_permit_free_fails_and_changes_nothing() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(), Err(BoundedReleaseError));
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(BoundedSemaphore::new(0).release(), Err(BoundedReleaseError));
}

#[test]
fn bounded_release_counts_permits_out_as_guards_and_changes_nothing() {
    let sem = BoundedSemaphore::new(2);
    let guard = sem.try_acquire().unwrap();
    // One free and one out as a guard: a release would make three.
    assert_eq!(sem.release(), Err(BoundedReleaseError));
    assert_eq!(sem.available_permits(), 1);
    let owned_sem = Arc::new(BoundedSemaphore::new(1));
    let owned = owned_sem.try_acquire_owned().unwrap();
    assert_eq!(owned_sem.release(), Err(BoundedReleaseError));
    assert_eq!(owned_sem.available_permits(), 0);
    // The guards still give their permits back.
    drop(guard);
    drop(owned);
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(owned_sem.available_permits(), 1);
}

#[test]
fn bounded_release_gives_back_a_forgotten_permit_once() {
    let sem = BoundedSemaphore::new(2);
    sem.try_acquire().unwrap().forget(); // Python: sem.acquire()
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.release(), Ok(())); // Python: sem.release()
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(sem.release(), Err(BoundedReleaseError), "one too many");
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn bounded_release_gives_back_a_forgotten_owned_permit() {
    let sem = Arc::new(BoundedSemaphore::new(1));
    sem.try_acquire_owned().unwrap().forget();
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.release(), Ok(()));
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.release(), Err(BoundedReleaseError));
}

#[test]
fn bounded_semaphore_never_holds_more_than_its_bound_and_permit_drops_never_fail() {
    let sem = Arc::new(BoundedSemaphore::new(2));
    let check = |sem: &BoundedSemaphore| assert!(sem.available_permits() <= sem.bound());
    let a = sem.try_acquire_owned().unwrap();
    sem.try_acquire().unwrap().forget();
    check(&sem);
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.release(), Ok(()));
    check(&sem);
    assert_eq!(
        sem.release(),
        Err(BoundedReleaseError),
        "the other permit is out as a guard"
    );
    drop(a); // the guard's drop succeeds and restores the bound
    check(&sem);
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(sem.release(), Err(BoundedReleaseError));
    check(&sem);
}

#[tokio::test]
async fn bounded_two_releases_back_to_back_wake_both_waiting_tasks() {
    let sem = Arc::new(BoundedSemaphore::new(2));
    sem.try_acquire().unwrap().forget();
    sem.try_acquire().unwrap().forget();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let sem = Arc::clone(&sem);
            tokio::spawn(async move { sem.acquire_owned().await })
        })
        .collect();
    eventually_async("both tasks wait", || sem.waiters() == 2).await;
    sem.release().unwrap();
    sem.release().unwrap();
    let permits = tasks_done("after two releases", waiters).await;
    drop(permits);
    assert_eq!(sem.available_permits(), 2);
}

#[tokio::test]
async fn bounded_release_wakes_a_thread_and_the_thread_release_wakes_a_task() {
    let sem = Arc::new(BoundedSemaphore::new(1));
    sem.try_acquire().unwrap().forget();
    // A thread waits; a task releases.
    let thread = std::thread::spawn({
        let sem = Arc::clone(&sem);
        move || sem.acquire_blocking().forget()
    });
    eventually_async("the thread waits", || sem.waiters() == 1).await;
    tokio::spawn({
        let sem = Arc::clone(&sem);
        async move { sem.release() }
    })
    .await
    .unwrap()
    .unwrap();
    join_thread("thread woken by a task's release", thread).await;
    // A task waits; a thread releases.
    let task = tokio::spawn({
        let sem = Arc::clone(&sem);
        async move { sem.acquire().await.forget() }
    });
    eventually_async("the task waits", || sem.waiters() == 1).await;
    let releaser = std::thread::spawn({
        let sem = Arc::clone(&sem);
        move || sem.release()
    });
    join_thread("releasing thread", releaser).await.unwrap();
    within("task woken by a thread's release", task)
        .await
        .unwrap();
    assert_eq!(sem.available_permits(), 0);
}

/// Waiters are served in order and newcomers queue behind them: under a storm
/// of 16 tasks (2 workers) and 2 threads over 2 permits, every acquisition
/// completes and no single wait comes near the test's limit.
#[test]
fn no_waiter_starves_under_a_storm() {
    const ROUNDS: usize = 200;
    let sem = Arc::new(Semaphore::new(2));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let sem = Arc::clone(&sem);
            runtime.spawn(async move {
                let mut longest = Duration::ZERO;
                for _ in 0..ROUNDS {
                    let start = Instant::now();
                    let permit = sem.acquire().await;
                    longest = longest.max(start.elapsed());
                    tokio::task::yield_now().await;
                    drop(permit);
                }
                longest
            })
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let sem = Arc::clone(&sem);
            std::thread::spawn(move || {
                let mut longest = Duration::ZERO;
                for _ in 0..ROUNDS {
                    let start = Instant::now();
                    let permit = sem.acquire_blocking();
                    longest = longest.max(start.elapsed());
                    drop(permit);
                }
                longest
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    for thread in threads {
        worst = worst.max(join_within("thread in the storm", thread));
    }
    for task in tasks {
        let longest = runtime
            .block_on(async { within("task in the storm", task).await })
            .unwrap();
        worst = worst.max(longest);
    }
    assert_eq!(sem.available_permits(), 2);
    assert!(
        worst < LIMIT / 4,
        "a waiter waited {worst:?} for a permit: starved by newcomers"
    );
}

/// Issue 9, scenario 1, on the semaphores: tasks taking and giving back the
/// only permit in a loop must not starve a thread.
#[cfg(feature = "tokio")]
#[test]
fn a_thread_gets_its_turn_while_tasks_reacquire_in_a_loop() {
    let worst = common::worst_wait_beside_relocking_tasks(
        Arc::new(Semaphore::new(1)),
        |sem| {
            Box::pin(async move {
                let _permit = sem.acquire().await;
                common::busy_work(&mut 0);
            })
        },
        50,
        |sem| {
            sem.acquire_timeout_blocking(Duration::from_secs(5))
                .is_some()
        },
    );
    assert!(
        worst < Duration::from_millis(100),
        "the thread waited {worst:?} for one permit"
    );
    let worst = common::worst_wait_beside_relocking_tasks(
        Arc::new(BoundedSemaphore::new(1)),
        |sem| {
            Box::pin(async move {
                let _permit = sem.acquire().await;
                common::busy_work(&mut 0);
            })
        },
        50,
        |sem| {
            sem.acquire_timeout_blocking(Duration::from_secs(5))
                .is_some()
        },
    );
    assert!(
        worst < Duration::from_millis(100),
        "the thread waited {worst:?} for one bounded permit"
    );
}

/// Issue 9, scenario 3: a permit dropped when raw releases already filled
/// the count to `MAX_PERMITS` must not wrap the count to 0; it saturates.
#[test]
fn a_permit_dropped_at_max_permits_saturates_instead_of_wrapping() {
    let sem = Semaphore::new(ambisync::MAX_PERMITS);
    let permit = sem.try_acquire().unwrap();
    sem.release();
    assert_eq!(sem.available_permits(), ambisync::MAX_PERMITS);
    drop(permit);
    assert_eq!(sem.available_permits(), ambisync::MAX_PERMITS);
    assert!(
        sem.try_acquire().is_some(),
        "the semaphore still hands out permits"
    );

    let sem = Arc::new(Semaphore::new(ambisync::MAX_PERMITS));
    let permit = sem.try_acquire_owned().unwrap();
    sem.release_n(1);
    drop(permit);
    assert_eq!(sem.available_permits(), ambisync::MAX_PERMITS);
}

/// A raw release beyond `MAX_PERMITS` panics and changes nothing.
#[test]
fn a_raw_release_beyond_max_permits_panics_and_changes_nothing() {
    let sem = Semaphore::new(ambisync::MAX_PERMITS - 1);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release_n(2)))
        .expect_err("releasing beyond MAX_PERMITS must panic");
    assert!(common::panic_message(panic).contains("overflow"));
    assert_eq!(sem.available_permits(), ambisync::MAX_PERMITS - 1);
}

// ---- acquire_many (weighted permits) --------------------------------------

/// A waiter for many permits keeps its place: a later waiter for one does
/// not overtake it, even while single permits come back one by one.
#[test]
fn a_waiter_for_many_permits_is_not_overtaken_by_later_waiters_for_one() {
    let sem = Semaphore::new(0);
    let (many_waker, flag_many) = new_count_waker();
    let mut many_cx = Context::from_waker(&many_waker);
    let (one_waker, flag_one) = new_count_waker();
    let mut one_cx = Context::from_waker(&one_waker);
    let mut many = Box::pin(sem.acquire_many(3));
    let mut one = Box::pin(sem.acquire());
    assert_pending!(many.poll_unpin(&mut many_cx));
    assert_pending!(one.poll_unpin(&mut one_cx));
    sem.release();
    sem.release();
    assert_pending!(one.poll_unpin(&mut one_cx), "overtook the head");
    assert_eq!(sem.available_permits(), 2, "the permits wait for the head");
    sem.release();
    assert_eq!(flag_many.get(), 1);
    let Poll::Ready(Ok(permits)) = many.poll_unpin(&mut many_cx) else {
        panic!("the head got its three permits");
    };
    assert_eq!(permits.num_permits(), 3);
    assert_eq!(flag_one.get(), 0);
    drop(permits);
    assert_eq!(flag_one.get(), 1, "the next in line is served");
    let Poll::Ready(one) = one.poll_unpin(&mut one_cx) else {
        panic!("the next in line got its permit");
    };
    assert_eq!(sem.available_permits(), 2);
    drop(one);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn more_permits_than_can_ever_be_free_is_an_immediate_error() {
    let bounded = BoundedSemaphore::new(2);
    let err = bounded.try_acquire_many(3).unwrap_err();
    assert_eq!((err.requested, err.limit), (3, 2));
    assert_eq!(
        futures::executor::block_on(bounded.acquire_many(3)).unwrap_err(),
        err
    );
    assert!(bounded.acquire_many_blocking(3).is_err());
    assert!(
        bounded
            .acquire_many_timeout_blocking(3, Duration::MAX)
            .is_err()
    );
    let sem = Semaphore::new(0);
    assert!(sem.try_acquire_many(ambisync::MAX_PERMITS + 1).is_err());
    assert!(
        sem.try_acquire_many(ambisync::MAX_PERMITS)
            .unwrap()
            .is_none(),
        "MAX_PERMITS may become free"
    );
    assert_eq!(bounded.waiters() + sem.waiters(), 0, "nobody queued");
}

#[test]
fn many_permits_dropped_after_their_grant_go_on_to_the_next_waiter() {
    let sem = Semaphore::new(0);
    let (waker, flag) = new_count_waker();
    let mut cx = Context::from_waker(&waker);
    let mut first = Box::pin(sem.acquire_many(2));
    let mut second = Box::pin(sem.acquire_many(2));
    assert_pending!(first.poll_unpin(&mut cx));
    assert_pending!(second.poll_unpin(&mut cx));
    sem.release_n(2);
    assert!(flag.get() >= 1);
    drop(first); // granted two permits, never saw them
    let Poll::Ready(Ok(permits)) = second.poll_unpin(&mut cx) else {
        panic!("the two permits went on to the second waiter");
    };
    assert_eq!(permits.num_permits(), 2);
    drop(permits);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn a_bounded_semaphore_keeps_its_bound_exact_with_many_permits() {
    let sem = BoundedSemaphore::new(4);
    let three = sem.try_acquire_many(3).unwrap().unwrap();
    three.forget();
    assert_eq!(sem.available_permits(), 1);
    for _ in 0..3 {
        sem.release().unwrap();
    }
    assert!(sem.release().is_err(), "never above the bound");
    assert_eq!(sem.available_permits(), 4);
    let owned = Arc::new(BoundedSemaphore::new(2));
    let both = owned.try_acquire_many_owned(2).unwrap().unwrap();
    assert!(owned.release().is_err());
    drop(both);
    assert_eq!(owned.available_permits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_and_threads_asking_for_many_permits_never_exceed_the_count() {
    const PERMITS: usize = 5;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let held = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let take = |n: usize, held: &AtomicUsize, most: &AtomicUsize| {
        let now = held.fetch_add(n, Ordering::SeqCst) + n;
        most.fetch_max(now, Ordering::SeqCst);
        std::hint::spin_loop();
        held.fetch_sub(n, Ordering::SeqCst);
    };
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (sem, held, most) = (Arc::clone(&sem), Arc::clone(&held), Arc::clone(&most));
            tokio::spawn(async move {
                for round in 0..300 {
                    let n = 1 + (i + round) % 3;
                    let permits = sem.acquire_many(n).await.unwrap();
                    take(n, &held, &most);
                    drop(permits);
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (sem, held, most) = (Arc::clone(&sem), Arc::clone(&held), Arc::clone(&most));
            std::thread::spawn(move || {
                for round in 0..300 {
                    let n = 1 + (i + round) % PERMITS;
                    let permits = sem.acquire_many_blocking(n).unwrap();
                    take(n, &held, &most);
                    drop(permits);
                }
            })
        })
        .collect();
    tasks_done("after 300 rounds", tasks).await;
    for thread in threads {
        join_thread("thread taking many permits", thread).await;
    }
    assert!(most.load(Ordering::SeqCst) <= PERMITS);
    assert_eq!(sem.available_permits(), PERMITS);
    assert_eq!(sem.waiters(), 0);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn acquire_many_timeout_gives_up_and_leaves_the_line() {
    let sem = Arc::new(Semaphore::new(1));
    assert!(sem.acquire_many_timeout(2, SHORT).await.unwrap().is_none());
    assert!(
        sem.acquire_many_owned_timeout(2, SHORT)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(sem.waiters(), 0);
    assert_eq!(sem.available_permits(), 1);
    let one = sem.acquire_many_owned(1).await.unwrap();
    assert_eq!(one.num_permits(), 1);
}

/// The head of the line wants five permits; three are free; it gives up.
/// The next waiter, who wants one, must get it at once.
#[test]
fn a_head_waiter_for_many_leaving_lets_the_next_one_take_free_permits() {
    let sem = Semaphore::new(0);
    let mut many = tokio_test::task::spawn(sem.acquire_many(5));
    let mut one = tokio_test::task::spawn(sem.acquire());
    assert!(many.poll().is_pending());
    assert!(one.poll().is_pending());
    sem.release_n(3);
    assert!(one.poll().is_pending(), "behind the head");
    drop(many);
    assert!(one.is_woken(), "the head left: the next in line is served");
    assert!(one.poll().is_ready());
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(sem.waiters(), 0);
}
