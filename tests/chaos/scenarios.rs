//! The five broken promises of issue 9 §1 as chaos cases (seeded choices,
//! bounded waits), plus close variants found while writing them.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use ambisync::{
    Barrier, BrokenBarrierError, Condition, Event, Lock, MAX_PERMITS, Queue, RLock, Semaphore,
    Timer,
};
use futures::FutureExt;

use crate::harness::{
    LeakOnPanic, Round, bounded, chaos, eventually, join_thread, panic_text, runtime,
};

// ---------------------------------------------------------------------------
// §1.1: a thread (or task) starves while tasks relock in a loop.

/// Longest a starving waiter may wait (the issue: "well under 100 ms";
/// tokio's own mutex gives 1–2 ms in the same pattern).
const STARVATION_BOUND: Duration = Duration::from_millis(100);
/// A thread's single wait gives up after this: it starved.
const GIVE_UP: Duration = Duration::from_secs(1);
/// Acquisitions the measured waiter makes.
const SAMPLES: usize = 30;

type LoopFuture = Pin<Box<dyn Future<Output = u64> + Send>>;

/// One primitive under the relocking loop: how a task relocks it (no other
/// `.await` in the loop), and how a thread takes it once with a timeout.
struct Contended {
    name: &'static str,
    relock_loop: Box<dyn Fn(Arc<AtomicBool>) -> LoopFuture + Send + Sync>,
    take_blocking: Box<dyn Fn(Duration) -> bool + Send + Sync>,
    take_async: Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>,
}

fn contended(which: u64) -> Contended {
    match which {
        0 => {
            let lock = Arc::new(Lock::new(0u64));
            let (l1, l2, l3) = (Arc::clone(&lock), Arc::clone(&lock), lock);
            Contended {
                name: "Lock",
                relock_loop: Box::new(move |stop| {
                    let lock = Arc::clone(&l1);
                    Box::pin(async move {
                        let mut n = 0;
                        while !stop.load(Ordering::Relaxed) {
                            let mut guard = lock.lock().await;
                            *guard += 1;
                            drop(guard);
                            n += 1;
                        }
                        n
                    })
                }),
                take_blocking: Box::new(move |d| l2.lock_timeout_blocking(d).is_some()),
                take_async: Box::new(move || {
                    let lock = Arc::clone(&l3);
                    Box::pin(async move {
                        *lock.lock().await += 1;
                    })
                }),
            }
        }
        1 => {
            let lock = Arc::new(RLock::new(AtomicU64::new(0)));
            let (l1, l2, l3) = (Arc::clone(&lock), Arc::clone(&lock), lock);
            Contended {
                name: "RLock",
                relock_loop: Box::new(move |stop| {
                    let lock = Arc::clone(&l1);
                    Box::pin(async move {
                        let mut n = 0;
                        while !stop.load(Ordering::Relaxed) {
                            let guard = lock.lock().await;
                            guard.fetch_add(1, Ordering::Relaxed);
                            drop(guard);
                            n += 1;
                        }
                        n
                    })
                }),
                take_blocking: Box::new(move |d| l2.lock_timeout_blocking(d).is_some()),
                take_async: Box::new(move || {
                    let lock = Arc::clone(&l3);
                    Box::pin(async move {
                        lock.lock().await.fetch_add(1, Ordering::Relaxed);
                    })
                }),
            }
        }
        _ => {
            let sem = Arc::new(Semaphore::new(1));
            let (s1, s2, s3) = (Arc::clone(&sem), Arc::clone(&sem), sem);
            Contended {
                name: "Semaphore(1)",
                relock_loop: Box::new(move |stop| {
                    let sem = Arc::clone(&s1);
                    Box::pin(async move {
                        let mut n = 0;
                        while !stop.load(Ordering::Relaxed) {
                            drop(sem.acquire().await);
                            n += 1;
                        }
                        n
                    })
                }),
                take_blocking: Box::new(move |d| s2.acquire_timeout_blocking(d).is_some()),
                take_async: Box::new(move || {
                    let sem = Arc::clone(&s3);
                    Box::pin(async move {
                        drop(sem.acquire().await);
                    })
                }),
            }
        }
    }
}

/// Two tasks relock on a two-worker runtime; a thread takes the lock
/// `SAMPLES` times, measuring each wait.
fn thread_vs_relocking_tasks(round: &Round, which: u64) {
    let runtime = runtime();
    let contended = Arc::new(contended(which));
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = (0..2)
        .map(|_| runtime.spawn((contended.relock_loop)(Arc::clone(&stop))))
        .collect();
    let mut rng = round.rng();
    let mut worst = Duration::ZERO;
    let mut starved = None;
    for sample in 0..SAMPLES {
        // Let the loop run hot first.
        std::thread::sleep(Duration::from_micros(500 + rng.below(1_500)));
        let start = Instant::now();
        let got = (contended.take_blocking)(GIVE_UP);
        let waited = start.elapsed();
        worst = worst.max(waited);
        if !got {
            starved = Some(sample);
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let rounds: Vec<u64> = runtime.block_on(async {
        let mut out = Vec::new();
        for task in loops {
            out.push(
                bounded(round, "relocking task", task)
                    .await
                    .expect("relocking task"),
            );
        }
        out
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    println!(
        "{}: worst thread wait {worst:?} over {SAMPLES} acquisitions; relock loops ran {rounds:?}",
        contended.name
    );
    if let Some(sample) = starved {
        panic!(
            "{}: a thread starved: lock_timeout_blocking({GIVE_UP:?}) gave up at acquisition {sample} while two tasks relocked ({rounds:?} relocks) {round}",
            contended.name
        );
    }
    assert!(
        worst < STARVATION_BOUND,
        "{}: worst thread wait {worst:?} (bound {STARVATION_BOUND:?}) while two tasks relocked {round}",
        contended.name
    );
}

/// Two tasks relock; a third task takes the lock `SAMPLES` times.
fn task_vs_relocking_tasks(round: &Round, which: u64) {
    let runtime = runtime();
    let contended = Arc::new(contended(which));
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = (0..2)
        .map(|_| runtime.spawn((contended.relock_loop)(Arc::clone(&stop))))
        .collect();
    let measured = {
        let contended = Arc::clone(&contended);
        let mut rng = round.rng();
        runtime.spawn(async move {
            let mut worst = Duration::ZERO;
            for _ in 0..SAMPLES {
                tokio::time::sleep(Duration::from_micros(500 + rng.below(1_500))).await;
                let start = Instant::now();
                (contended.take_async)().await;
                worst = worst.max(start.elapsed());
            }
            worst
        })
    };
    // The measured task may never be polled if the loops hog both workers:
    // wait for it from this thread, bounded.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !measured.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let finished = measured.is_finished();
    stop.store(true, Ordering::SeqCst);
    let worst = runtime.block_on(async {
        for task in loops {
            bounded(round, "relocking task", task)
                .await
                .expect("relocking task");
        }
        bounded(round, "measured task", measured)
            .await
            .expect("measured task")
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    println!(
        "{}: worst task wait {worst:?} over {SAMPLES} acquisitions",
        contended.name
    );
    assert!(
        finished,
        "{}: a task could not take the lock {SAMPLES} times within 5 s while two tasks relocked (worst wait {worst:?}) {round}",
        contended.name
    );
    assert!(
        worst < STARVATION_BOUND,
        "{}: worst task wait {worst:?} (bound {STARVATION_BOUND:?}) while two tasks relocked {round}",
        contended.name
    );
}

#[test]
fn starvation_thread_vs_relocking_tasks_lock() {
    chaos("starvation_thread_vs_relocking_tasks_lock", 1, |round| {
        thread_vs_relocking_tasks(round, 0)
    });
}

#[test]
fn starvation_thread_vs_relocking_tasks_rlock() {
    chaos("starvation_thread_vs_relocking_tasks_rlock", 1, |round| {
        thread_vs_relocking_tasks(round, 1)
    });
}

#[test]
fn starvation_thread_vs_relocking_tasks_semaphore() {
    chaos(
        "starvation_thread_vs_relocking_tasks_semaphore",
        1,
        |round| thread_vs_relocking_tasks(round, 2),
    );
}

#[test]
fn starvation_task_vs_relocking_tasks_lock() {
    chaos("starvation_task_vs_relocking_tasks_lock", 1, |round| {
        task_vs_relocking_tasks(round, 0)
    });
}

#[test]
fn starvation_task_vs_relocking_tasks_rlock() {
    chaos("starvation_task_vs_relocking_tasks_rlock", 1, |round| {
        task_vs_relocking_tasks(round, 1)
    });
}

#[test]
fn starvation_task_vs_relocking_tasks_semaphore() {
    chaos("starvation_task_vs_relocking_tasks_semaphore", 1, |round| {
        task_vs_relocking_tasks(round, 2)
    });
}

// ---------------------------------------------------------------------------
// §1.2: a condition wait on a nested RLock guard, cancelled while the outer
// level is held.

/// How the nested wait ends without returning its guard.
#[derive(Clone, Copy, Debug)]
enum NestedEnd {
    /// `wait_timeout` times out (the future completes; the guard comes back).
    TimesOut,
    /// `wait` dropped by `select!` while waiting.
    Dropped,
    /// Notified, then dropped while another thread holds the lock, so it
    /// could not relock yet.
    NotifiedThenDropped,
}

#[test]
fn condition_wait_on_nested_rlock_guard_cancelled() {
    let runtime = runtime();
    chaos(
        "condition_wait_on_nested_rlock_guard_cancelled",
        3,
        |round| {
            let mut rng = round.rng();
            let end = match rng.below(3) {
                0 => NestedEnd::TimesOut,
                1 => NestedEnd::Dropped,
                _ => NestedEnd::NotifiedThenDropped,
            };
            let depth = 2 + rng.index(2);
            let lock = Arc::new(RLock::new(()));
            let cond = Arc::new(Condition::new());
            let round2 = round.clone();
            let task = {
                let (lock, cond) = (Arc::clone(&lock), Arc::clone(&cond));
                runtime.spawn(async move {
                let round = round2;
                let mut guards = LeakOnPanic::new(Vec::new());
                for _ in 0..depth {
                    guards.push(lock.lock().await);
                }
                let inner = guards.pop().expect("inner guard");
                let outcome = std::panic::AssertUnwindSafe(async {
                    match end {
                        NestedEnd::TimesOut => {
                            let (guard, notified) = cond.wait_timeout(inner, Duration::from_millis(2)).await;
                            assert!(!notified);
                            drop(guard);
                        }
                        NestedEnd::Dropped => {
                            tokio::select! {
                                _ = cond.wait(inner) => panic!("nobody notifies"),
                                () = tokio::time::sleep(Duration::from_millis(2)) => {}
                            }
                        }
                        NestedEnd::NotifiedThenDropped => {
                            let mut wait = Box::pin(cond.wait(inner));
                            assert!(futures::poll!(wait.as_mut()).is_pending());
                            // A thread takes the released lock and holds it
                            // across the notify, so the wait cannot relock.
                            let (taken_tx, taken_rx) = std::sync::mpsc::channel();
                            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
                            let holder = {
                                let lock = Arc::clone(&lock);
                                std::thread::spawn(move || {
                                    if let Some(guard) = lock.lock_timeout_blocking(Duration::from_millis(200)) {
                                        taken_tx.send(true).unwrap();
                                        let _ = release_rx.recv_timeout(Duration::from_secs(5));
                                        drop(guard);
                                    } else {
                                        taken_tx.send(false).unwrap();
                                    }
                                })
                            };
                            let taken = tokio::task::block_in_place(|| taken_rx.recv().unwrap());
                            cond.notify(1);
                            if taken {
                                assert!(futures::poll!(wait.as_mut()).is_pending());
                            }
                            drop(wait);
                            let _ = release_tx.send(());
                            tokio::task::block_in_place(|| holder.join().unwrap());
                        }
                    }
                })
                .catch_unwind()
                .await;
                let refused = outcome.is_err();
                // The outer levels are still held by `guards`.
                let levels = guards.len();
                assert!(
                    lock.is_owned() && lock.recursion_count() == levels,
                    "{end:?} (refused with a panic: {refused}): with {levels} outer level(s) still held the task must own the RLock at {levels} level(s), found {lock:?} (is_owned {}) {round}",
                    lock.is_owned()
                );
                // Nobody else may take it while the outer guards live.
                let other = {
                    let lock = Arc::clone(&lock);
                    tokio::task::spawn_blocking(move || lock.try_lock().is_some())
                };
                assert!(
                    !bounded(&round, "try_lock from another thread", other).await.unwrap(),
                    "{end:?}: another thread took the RLock while the task still holds {levels} level(s) {round}"
                );
                drop(guards);
                assert!(!lock.is_locked(), "{end:?}: the RLock is still locked after the last guard {round}");
            })
            };
            runtime
                .block_on(bounded(round, "nested-guard condition task", task))
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            assert!(
                !lock.is_locked(),
                "{end:?}: RLock left locked {lock:?} {round}"
            );
            let guard = lock.try_lock().expect("a free RLock");
            assert_eq!(lock.recursion_count(), 1);
            drop(guard);
        },
    );
}

// ---------------------------------------------------------------------------
// §1.3: a permit drop at MAX_PERMITS must not wrap the count.

#[test]
fn semaphore_permit_drop_at_max_permits() {
    chaos("semaphore_permit_drop_at_max_permits", 1, |round| {
        // Borrowed permit, raw release back to the maximum, then the drop.
        let sem = Semaphore::new(MAX_PERMITS);
        let permit = sem.try_acquire().expect("a permit");
        sem.release();
        assert_eq!(sem.available_permits(), MAX_PERMITS);
        drop(permit);
        assert_eq!(
            sem.available_permits(),
            MAX_PERMITS,
            "a permit dropped at MAX_PERMITS must saturate, not wrap {round}"
        );
        assert!(
            sem.try_acquire().is_some(),
            "a semaphore at MAX_PERMITS gave no permit {round}"
        );

        // Owned permit and release_n.
        let sem = Arc::new(Semaphore::new(MAX_PERMITS));
        let permits: Vec<_> = (0..3)
            .map(|_| sem.try_acquire_owned().expect("a permit"))
            .collect();
        sem.release_n(3);
        drop(permits);
        assert_eq!(
            sem.available_permits(),
            MAX_PERMITS,
            "owned permits dropped at MAX_PERMITS must saturate {round}"
        );

        // A raw release beyond the maximum panics clearly and changes nothing.
        for n in [1, 2, MAX_PERMITS] {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release_n(n)));
            let panic = outcome.expect_err("release_n beyond MAX_PERMITS must panic");
            let text = panic_text(&*panic);
            assert!(
                text.contains("permit"),
                "unclear panic message: {text:?} {round}"
            );
            assert_eq!(
                sem.available_permits(),
                MAX_PERMITS,
                "a refused release changed the count {round}"
            );
        }
        let sem2 = Semaphore::new(MAX_PERMITS - 1);
        assert!(
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem2.release_n(2))).is_err()
        );
        assert_eq!(sem2.available_permits(), MAX_PERMITS - 1);
        sem2.release();
        assert_eq!(sem2.available_permits(), MAX_PERMITS);
    });
}

// ---------------------------------------------------------------------------
// §1.4: the "blocking inside a runtime" verdict after an allowed call.

/// A `_blocking` call that would wait for `d` (nothing will wake it), on a
/// fresh fixture; the name is what the panic message must mention.
type BlockingCall = (&'static str, Box<dyn Fn(Duration) + Send + Sync>);

fn blocking_calls() -> Vec<BlockingCall> {
    let held = Arc::new(Lock::new(()));
    std::mem::forget(held.try_lock().expect("free"));
    let rlock = Arc::new(RLock::new(()));
    {
        let rlock = Arc::clone(&rlock);
        // Owned by a thread that ended: nobody else can take it.
        std::thread::spawn(move || std::mem::forget(rlock.lock_blocking()))
            .join()
            .unwrap();
    }
    let sem = Arc::new(Semaphore::new(0));
    let event = Arc::new(Event::new());
    let queue = Arc::new(Queue::<u32>::unbounded());
    let unfinished = Arc::new(Queue::<u32>::unbounded());
    unfinished.try_put(1).unwrap();
    let cond_lock = Arc::new(Lock::new(()));
    let cond = Arc::new(Condition::new());
    fn call(name: &'static str, f: impl Fn(Duration) + Send + Sync + 'static) -> BlockingCall {
        (name, Box::new(f))
    }
    vec![
        call("lock_timeout_blocking", move |d| {
            assert!(held.lock_timeout_blocking(d).is_none())
        }),
        call("lock_timeout_blocking", move |d| {
            assert!(rlock.lock_timeout_blocking(d).is_none())
        }),
        call("acquire_timeout_blocking", move |d| {
            assert!(sem.acquire_timeout_blocking(d).is_none())
        }),
        call("wait_timeout_blocking", move |d| {
            assert!(!event.wait_timeout_blocking(d))
        }),
        call("get_timeout_blocking", move |d| {
            assert!(queue.get_timeout_blocking(d).is_err())
        }),
        call("join_timeout_blocking", move |d| {
            assert!(!unfinished.join_timeout_blocking(d))
        }),
        call("wait_timeout_blocking", move |d| {
            let guard = cond_lock.try_lock().expect("free");
            let (_guard, notified) = cond.wait_timeout_blocking(guard, d);
            assert!(!notified);
        }),
    ]
}

/// Runs a call that must panic (blocking inside a runtime); fails if it
/// returns instead (it then blocked for `d`).
fn must_panic(call: &BlockingCall, context: &str, round: &Round) {
    let (name, call) = call;
    let start = Instant::now();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        call(Duration::from_millis(300))
    })) {
        Err(panic) => {
            let text = panic_text(&*panic);
            assert!(
                text.contains(name),
                "{context}: the panic must name `{name}`, got {text:?} {round}"
            );
        }
        Ok(()) => panic!(
            "{context}: `{name}` blocked the runtime thread for {:?} instead of panicking {round}",
            start.elapsed()
        ),
    }
}

/// Runs a call that is allowed (a plain thread, `spawn_blocking`,
/// `block_in_place`): it times out after a moment.
fn must_block(call: &BlockingCall, context: &str, round: &Round) {
    let (name, call) = call;
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        call(Duration::from_millis(1))
    })) {
        panic!(
            "{context}: `{name}` panicked where blocking is allowed: {} {round}",
            panic_text(&*panic)
        );
    }
}

/// (i) In one task, alternating `block_in_place` (allowed) and direct calls
/// on the worker (must panic), in a seeded order over every primitive.
#[test]
fn blocking_check_after_block_in_place() {
    let runtime = runtime();
    chaos("blocking_check_after_block_in_place", 2, |outer| {
        let round = outer.clone();
        let task = runtime.spawn(async move {
            let calls = blocking_calls();
            let mut rng = round.rng();
            // Start with an allowed call: that is what used to poison the verdict.
            let first = &calls[rng.index(calls.len())];
            tokio::task::block_in_place(|| must_block(first, "block_in_place", &round));
            for step in 0..12 {
                let call = &calls[rng.index(calls.len())];
                if rng.one_in(2) {
                    tokio::task::block_in_place(|| must_block(call, "block_in_place", &round));
                } else {
                    must_panic(
                        call,
                        &format!("step {step}: directly on a worker after block_in_place"),
                        &round,
                    );
                }
                tokio::task::yield_now().await;
            }
        });
        runtime
            .block_on(bounded(outer, "block_in_place task", task))
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    });
}

/// (ii) In one `spawn_blocking` closure, alternating allowed calls and calls
/// inside a nested current-thread runtime's `block_on` (must panic).
#[test]
fn blocking_check_in_nested_runtime_after_spawn_blocking() {
    let runtime = runtime();
    chaos(
        "blocking_check_in_nested_runtime_after_spawn_blocking",
        2,
        |outer| {
            let round = outer.clone();
            let job = runtime.spawn_blocking(move || {
                let calls = blocking_calls();
                let mut rng = round.rng();
                let nested = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("nested runtime");
                let first = &calls[rng.index(calls.len())];
                must_block(first, "spawn_blocking", &round);
                for step in 0..12 {
                    let call = &calls[rng.index(calls.len())];
                    if rng.one_in(2) {
                        must_block(call, "spawn_blocking", &round);
                    } else {
                        nested.block_on(async {
                            must_panic(
                                call,
                                &format!("step {step}: in a nested block_on after spawn_blocking"),
                                &round,
                            );
                        });
                    }
                }
            });
            runtime
                .block_on(bounded(outer, "spawn_blocking job", job))
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        },
    );
}

/// The same verdicts on plain threads: allowed on the thread, refused in a
/// runtime's `block_on` on that thread, in a seeded order.
#[test]
fn blocking_check_on_a_plain_thread_with_block_on() {
    chaos(
        "blocking_check_on_a_plain_thread_with_block_on",
        2,
        |round| {
            let calls = blocking_calls();
            let mut rng = round.rng();
            let local = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            for step in 0..12 {
                let call = &calls[rng.index(calls.len())];
                if rng.one_in(2) {
                    must_block(call, "plain thread", round);
                } else {
                    local.block_on(async {
                        must_panic(
                            call,
                            &format!("step {step}: in block_on on a plain thread"),
                            round,
                        );
                    });
                }
            }
        },
    );
}

// ---------------------------------------------------------------------------
// §1.5: a kept-but-unpolled barrier waiter must not stall later rounds.

/// The kept waiter's task: arrives (one poll), then is not polled until
/// told; then reports its outcome.
fn kept_waiter(
    runtime: &tokio::runtime::Runtime,
    barrier: &Arc<Barrier>,
    round: &Round,
) -> (
    tokio::task::JoinHandle<Result<usize, BrokenBarrierError>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (resume, resumed) = tokio::sync::oneshot::channel::<()>();
    let (barrier, round) = (Arc::clone(barrier), round.clone());
    let task = runtime.spawn(async move {
        let mut wait = pin!(barrier.wait());
        if let Poll::Ready(outcome) = futures::poll!(wait.as_mut()) {
            return outcome;
        }
        let _ = bounded(&round, "resume", resumed).await;
        bounded(&round, "kept waiter", wait).await
    });
    (task, resume)
}

/// A full round of threads with `wait_timeout_blocking`; their indexes.
fn thread_round(barrier: &Arc<Barrier>, parties: usize, round: &Round, what: &str) -> Vec<usize> {
    let threads: Vec<_> = (0..parties)
        .map(|_| {
            let barrier = Arc::clone(barrier);
            std::thread::spawn(move || barrier.wait_timeout_blocking(Duration::from_secs(2)))
        })
        .collect();
    let mut indexes: Vec<usize> = threads
        .into_iter()
        .map(|t| {
            join_thread(round, what, t)
                .unwrap_or_else(|e| panic!("{what}: a full round of threads got {e} (stalled by an unpolled waiter?) {round}"))
        })
        .collect();
    indexes.sort_unstable();
    indexes
}

#[test]
fn barrier_next_round_with_kept_unpolled_waiter_after_withdrawal() {
    let runtime = runtime();
    chaos(
        "barrier_next_round_with_kept_unpolled_waiter_after_withdrawal",
        2,
        |round| {
            let mut rng = round.rng();
            let parties = 3 + rng.index(2);
            let barrier = Arc::new(Barrier::new(parties));
            // Round 1: the kept waiter arrives, an arrival is withdrawn, the
            // others fill the round.
            let (kept, resume) = kept_waiter(&runtime, &barrier, round);
            eventually(round, "kept waiter arrived", || barrier.n_waiting() == 1);
            let withdrawn = {
                let barrier = Arc::clone(&barrier);
                runtime.spawn(async move {
                    let mut wait = pin!(barrier.wait());
                    assert!(futures::poll!(wait.as_mut()).is_pending());
                })
            };
            runtime
                .block_on(bounded(round, "withdrawn arrival", withdrawn))
                .unwrap();
            assert_eq!(barrier.n_waiting(), 1, "the withdrawn arrival left {round}");
            let mut first = thread_round_partial(&barrier, parties - 1, round);
            // Round 2 while the kept waiter of round 1 has not been polled.
            let second = thread_round(&barrier, parties, round, "round 2");
            assert_eq!(
                second,
                (0..parties).collect::<Vec<_>>(),
                "round 2 indexes {round}"
            );
            let _ = resume.send(());
            let index = runtime
                .block_on(bounded(round, "kept waiter", kept))
                .unwrap()
                .unwrap_or_else(|e| panic!("the kept waiter of a tripped round got {e} {round}"));
            first.push(index);
            first.sort_unstable();
            assert_eq!(
                first,
                (0..parties).collect::<Vec<_>>(),
                "round 1 indexes {round}"
            );
        },
    );
}

/// `n` threads that complete a round others already arrived in.
fn thread_round_partial(barrier: &Arc<Barrier>, n: usize, round: &Round) -> Vec<usize> {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = Arc::clone(barrier);
            std::thread::spawn(move || barrier.wait_timeout_blocking(Duration::from_secs(2)))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| {
            join_thread(round, "round 1 thread", t)
                .unwrap_or_else(|e| panic!("round 1: {e} {round}"))
        })
        .collect()
}

/// The same stall through `reset()` or `abort()` + `reset()`: a waiter of
/// the broken round kept without being polled must not keep the next round
/// from filling.
#[test]
fn barrier_next_round_with_kept_unpolled_waiter_after_reset() {
    let runtime = runtime();
    chaos(
        "barrier_next_round_with_kept_unpolled_waiter_after_reset",
        2,
        |round| {
            let mut rng = round.rng();
            let parties = 2 + rng.index(3);
            let barrier = Arc::new(Barrier::new(parties));
            let (kept, resume) = kept_waiter(&runtime, &barrier, round);
            eventually(round, "kept waiter arrived", || barrier.n_waiting() == 1);
            let aborted = rng.one_in(2);
            if aborted {
                barrier.abort();
            }
            barrier.reset();
            let next = thread_round(
                &barrier,
                parties,
                round,
                if aborted {
                    "round after abort + reset"
                } else {
                    "round after reset"
                },
            );
            assert_eq!(next, (0..parties).collect::<Vec<_>>());
            let _ = resume.send(());
            let outcome = runtime
                .block_on(bounded(round, "kept waiter", kept))
                .unwrap();
            assert_eq!(
                outcome,
                Err(BrokenBarrierError),
                "a waiter of a reset round {round}"
            );
        },
    );
}

// ---------------------------------------------------------------------------
// Timer: cancel racing the start of the call (also covered by the `timer`
// storm); kept here as the sharpest race.

#[test]
fn timer_cancel_races_the_start() {
    let runtime = runtime();
    chaos("timer_cancel_races_the_start", 3, |round| {
        let mut rng = round.rng();
        let ran = Arc::new(AtomicU64::new(0));
        let outcomes: Vec<(bool, Option<u64>)> = runtime.block_on(async {
            let mut out = Vec::new();
            for i in 0..20 {
                let ran = Arc::clone(&ran);
                let timer = Timer::after(Duration::ZERO, async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                    i
                });
                for _ in 0..rng.below(3) {
                    tokio::task::yield_now().await;
                }
                let cancelled = timer.cancel();
                out.push((cancelled, bounded(round, "timer join", timer.join()).await));
            }
            out
        });
        let ran_count = outcomes.iter().filter(|(cancelled, _)| !cancelled).count() as u64;
        for (i, (cancelled, joined)) in outcomes.iter().enumerate() {
            assert_eq!(
                joined.is_some(),
                !cancelled,
                "timer {i}: cancel {cancelled} but join {joined:?} {round}"
            );
        }
        assert_eq!(
            ran.load(Ordering::SeqCst),
            ran_count,
            "calls that ran vs cancels {round}"
        );
    });
}
