//! `Barrier` (Python `threading.Barrier`, Java `CyclicBarrier`): the
//! constructor's panic on 0 parties, `parties`/`n_waiting`/`is_broken`,
//! cyclic rounds whose indexes are exactly `0..parties` in arrival order, the
//! action (once per round, in the last arriver, before anyone is released,
//! a panic in it breaking the barrier), the broken state (`abort`, expired
//! `*_timeout` waits, `reset`), cancel safety (a dropped `wait()` withdraws
//! its arrival without breaking the barrier or disturbing the indexes), one
//! barrier shared by tasks and threads, `Debug`/`Send`/`Sync`, and the panic
//! of a `_blocking` call made inside a tokio runtime.

mod common;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use ambisync::{Barrier, BrokenBarrierError};
#[cfg(feature = "tokio")]
use common::watchdog;
use common::{
    LIMIT, eventually, eventually_async, join_thread, join_within, panic_message, within,
};
use futures::FutureExt;
use tokio_test::{assert_pending, assert_ready_eq, task};

/// A timeout that a test waits out on purpose (generous for a noisy CI).
const SHORT: Duration = Duration::from_millis(100);

type Outcome = Result<usize, BrokenBarrierError>;

fn spawn_task_wait(barrier: &Arc<Barrier>) -> tokio::task::JoinHandle<Outcome> {
    let barrier = Arc::clone(barrier);
    tokio::spawn(async move { barrier.wait().await })
}

fn spawn_thread_wait(barrier: &Arc<Barrier>) -> JoinHandle<Outcome> {
    let barrier = Arc::clone(barrier);
    std::thread::spawn(move || barrier.wait_blocking())
}

/// A participant of a round: a task or a thread.
enum Party {
    Task(tokio::task::JoinHandle<Outcome>),
    Thread(JoinHandle<Outcome>),
}

impl Party {
    async fn outcome(self, what: &str) -> Outcome {
        match self {
            Party::Task(task) => within(what, task).await.unwrap(),
            Party::Thread(thread) => join_thread(what, thread).await,
        }
    }
}

// ------------------------------------------------------------- construction

#[test]
#[should_panic(expected = "at least one party")]
fn new_with_zero_parties_panics_with_a_clear_message() {
    let _ = Barrier::new(0);
}

#[test]
#[should_panic(expected = "at least one party")]
fn with_action_with_zero_parties_panics_with_a_clear_message() {
    let _ = Barrier::with_action(0, || {});
}

#[test]
fn a_new_barrier_reports_its_parties_and_is_idle_and_unbroken() {
    let barrier = Barrier::new(3);
    assert_eq!(barrier.parties(), 3);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
}

#[test]
fn a_one_party_barrier_trips_at_once_in_every_form() {
    let barrier = Barrier::new(1);
    assert_eq!(futures::executor::block_on(barrier.wait()), Ok(0));
    #[cfg(feature = "tokio")]
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(barrier.wait_timeout(LIMIT * 6)), Ok(0));
    }
    assert_eq!(barrier.wait_blocking(), Ok(0));
    assert_eq!(barrier.wait_timeout_blocking(LIMIT * 6), Ok(0));
    assert!(!barrier.is_broken());
}

// ---------------------------------------------------------------- n_waiting

#[tokio::test]
async fn n_waiting_counts_the_arrivals_of_the_filling_round() {
    let barrier = Arc::new(Barrier::new(3));
    let first = spawn_task_wait(&barrier);
    eventually_async("one arrival", || barrier.n_waiting() == 1).await;
    let second = spawn_thread_wait(&barrier);
    eventually_async("two arrivals", || barrier.n_waiting() == 2).await;
    assert_eq!(within("last arrival", barrier.wait()).await, Ok(2));
    assert_eq!(within("first", first).await.unwrap(), Ok(0));
    assert_eq!(join_thread("second", second).await, Ok(1));
    assert_eq!(barrier.n_waiting(), 0, "the round tripped");
}

// ------------------------------------------------------- indexes and rounds

#[tokio::test]
async fn indexes_follow_arrival_order_in_every_round_and_the_first_arrival_gets_zero() {
    const PARTIES: usize = 4;
    let barrier = Arc::new(Barrier::new(PARTIES));
    for round in 0..3 {
        // Arrivals alternate between tasks and threads, starting with a
        // different kind each round; each arrives only once the previous
        // one is counted, so the arrival order is known.
        let mut parties = Vec::new();
        for arrival in 0..PARTIES {
            let party = if (arrival + round) % 2 == 0 {
                Party::Task(spawn_task_wait(&barrier))
            } else {
                Party::Thread(spawn_thread_wait(&barrier))
            };
            parties.push(party);
            if arrival + 1 < PARTIES {
                eventually_async(&format!("round {round}: arrival {arrival} counted"), || {
                    barrier.n_waiting() == arrival + 1
                })
                .await;
            }
        }
        for (arrival, party) in parties.into_iter().enumerate() {
            let outcome = party
                .outcome(&format!("round {round}: arrival {arrival}"))
                .await;
            assert_eq!(
                outcome,
                Ok(arrival),
                "round {round}: arrival {arrival}'s index"
            );
        }
    }
    assert!(!barrier.is_broken());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_running_tasks_and_threads_get_indexes_0_to_parties_in_every_round() {
    const TASKS: usize = 3;
    const THREADS: usize = 2;
    const PARTIES: usize = TASKS + THREADS;
    const ROUNDS: usize = 50;
    let barrier = Arc::new(Barrier::new(PARTIES));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut indexes = Vec::new();
            for _ in 0..ROUNDS {
                indexes.push(barrier.wait().await.expect("barrier must not break"));
            }
            indexes
        }));
    }
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                (0..ROUNDS)
                    .map(|_| barrier.wait_blocking().expect("barrier must not break"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // Every party takes part in every round, so its k-th wait is round k.
    let mut per_party = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        per_party.push(within(&format!("task {i}"), task).await.unwrap());
    }
    for (i, thread) in threads.into_iter().enumerate() {
        per_party.push(join_thread(&format!("thread {i}"), thread).await);
    }
    for round in 0..ROUNDS {
        let mut indexes: Vec<_> = per_party.iter().map(|party| party[round]).collect();
        indexes.sort_unstable();
        assert_eq!(indexes, (0..PARTIES).collect::<Vec<_>>(), "round {round}");
    }
    assert!(!barrier.is_broken());
}

// ------------------------------------------------------------------ action

/// What the action of one round saw.
struct ActionRun {
    thread: ThreadId,
    task: Option<tokio::task::Id>,
    released_before: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_runs_once_per_round_in_the_last_arriver_before_anyone_is_released() {
    const PARTIES: usize = 4;
    const ROUNDS: usize = 20;
    let released = Arc::new(AtomicUsize::new(0)); // parties that returned, all rounds
    let runs = Arc::new(Mutex::new(Vec::<ActionRun>::new()));
    let barrier = Arc::new(Barrier::with_action(PARTIES, {
        let (released, runs) = (Arc::clone(&released), Arc::clone(&runs));
        move || {
            runs.lock().unwrap().push(ActionRun {
                thread: std::thread::current().id(),
                task: tokio::task::try_id(),
                released_before: released.load(Ordering::SeqCst),
            });
        }
    }));
    // Each party checks, for its rounds, that it was the action's caller
    // exactly when it got the last index.
    let check = {
        let (released, runs) = (Arc::clone(&released), Arc::clone(&runs));
        move |round: usize, index: usize| {
            let me = (std::thread::current().id(), tokio::task::try_id());
            {
                let runs = runs.lock().unwrap();
                assert!(
                    runs.len() > round,
                    "round {round}: released before the action ran"
                );
                let run = &runs[round];
                let in_me = (run.thread, run.task) == me;
                assert_eq!(
                    in_me,
                    index == PARTIES - 1,
                    "round {round}: the action runs in the last arriver (index {})",
                    PARTIES - 1
                );
            }
            released.fetch_add(1, Ordering::SeqCst);
        }
    };
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (barrier, check) = (Arc::clone(&barrier), check.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                check(round, barrier.wait().await.unwrap());
            }
        }));
    }
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (barrier, check) = (Arc::clone(&barrier), check.clone());
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    check(round, barrier.wait_blocking().unwrap());
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
    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), ROUNDS, "exactly one action run per round");
    for (round, run) in runs.iter().enumerate() {
        assert_eq!(
            run.released_before,
            round * PARTIES,
            "round {round}: nobody of the round was released before the action ran"
        );
    }
}

#[tokio::test]
async fn a_panicking_action_breaks_the_barrier_and_the_panic_continues_in_the_last_thread() {
    let barrier = Arc::new(Barrier::with_action(3, || panic!("the action failed")));
    let task = spawn_task_wait(&barrier);
    eventually_async("the task waits", || barrier.n_waiting() == 1).await;
    let thread = spawn_thread_wait(&barrier);
    eventually_async("the thread waits", || barrier.n_waiting() == 2).await;
    let last = std::thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || catch_unwind(AssertUnwindSafe(|| barrier.wait_blocking()))
    });
    let payload = join_thread("last arriver", last)
        .await
        .expect_err("the action's panic must continue in the last caller");
    assert!(panic_message(payload).contains("the action failed"));
    assert_eq!(
        within("waiting task", task).await.unwrap(),
        Err(BrokenBarrierError)
    );
    assert_eq!(
        join_thread("waiting thread", thread).await,
        Err(BrokenBarrierError)
    );
    assert!(barrier.is_broken());
}

#[tokio::test]
async fn a_panicking_action_breaks_the_barrier_and_the_panic_continues_in_the_last_task() {
    let barrier = Arc::new(Barrier::with_action(2, || panic!("the action failed")));
    let thread = spawn_thread_wait(&barrier);
    eventually_async("the thread waits", || barrier.n_waiting() == 1).await;
    let payload = within(
        "last arriver",
        AssertUnwindSafe(barrier.wait()).catch_unwind(),
    )
    .await
    .expect_err("the action's panic must continue in the last caller");
    assert!(panic_message(payload).contains("the action failed"));
    assert_eq!(
        join_thread("waiting thread", thread).await,
        Err(BrokenBarrierError)
    );
    assert!(barrier.is_broken());
    assert_eq!(
        within("a later wait", barrier.wait()).await,
        Err(BrokenBarrierError)
    );
}

// ------------------------------------------------------------------ timeouts

#[tokio::test]
async fn an_expired_wait_timeout_blocking_breaks_the_barrier_for_everyone() {
    let barrier = Arc::new(Barrier::new(3));
    let task = spawn_task_wait(&barrier);
    eventually_async("the task waits", || barrier.n_waiting() == 1).await;
    let timed = std::thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || {
            let started = Instant::now();
            (barrier.wait_timeout_blocking(SHORT), started.elapsed())
        }
    });
    let (outcome, elapsed) = join_thread("timed thread", timed).await;
    assert_eq!(outcome, Err(BrokenBarrierError));
    assert!(elapsed >= SHORT, "gave up after {elapsed:?}");
    assert_eq!(
        within("the other waiter", task).await.unwrap(),
        Err(BrokenBarrierError)
    );
    assert!(barrier.is_broken());
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn an_expired_wait_timeout_breaks_the_barrier_for_everyone() {
    let barrier = Arc::new(Barrier::new(3));
    let thread = spawn_thread_wait(&barrier);
    eventually_async("the thread waits", || barrier.n_waiting() == 1).await;
    let started = Instant::now();
    assert_eq!(
        within("wait_timeout", barrier.wait_timeout(SHORT)).await,
        Err(BrokenBarrierError)
    );
    assert!(
        started.elapsed() >= SHORT,
        "gave up after {:?}",
        started.elapsed()
    );
    assert_eq!(
        join_thread("the other waiter", thread).await,
        Err(BrokenBarrierError)
    );
    assert!(barrier.is_broken());
}

#[tokio::test]
async fn wait_timeout_blocking_returns_the_index_when_the_round_fills_in_time() {
    let barrier = Arc::new(Barrier::new(2));
    let timed = std::thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || barrier.wait_timeout_blocking(LIMIT * 6)
    });
    eventually_async("the thread waits", || barrier.n_waiting() == 1).await;
    assert_eq!(within("last arrival", barrier.wait()).await, Ok(1));
    assert_eq!(join_thread("timed thread", timed).await, Ok(0));
    assert!(!barrier.is_broken());
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn wait_timeout_returns_the_index_when_the_round_fills_in_time() {
    let barrier = Arc::new(Barrier::new(2));
    let timed = tokio::spawn({
        let barrier = Arc::clone(&barrier);
        async move { barrier.wait_timeout(LIMIT * 6).await }
    });
    eventually_async("the task waits", || barrier.n_waiting() == 1).await;
    let last = spawn_thread_wait(&barrier);
    assert_eq!(join_thread("last arrival", last).await, Ok(1));
    assert_eq!(within("timed task", timed).await.unwrap(), Ok(0));
    assert!(!barrier.is_broken());
}

#[test]
fn a_tripped_round_keeps_its_outcome_when_a_later_arrivals_timeout_breaks_the_barrier() {
    let barrier = Arc::new(Barrier::new(2));
    let mut first = task::spawn(barrier.wait());
    assert_pending!(first.poll());
    assert_eq!(barrier.wait_blocking(), Ok(1), "the round trips");
    // `first` has not looked yet; a caller of the next round times out
    // (it could not even join while the tripped round drains).
    let late = std::thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || barrier.wait_timeout_blocking(Duration::from_millis(20))
    });
    assert_eq!(join_within("late caller", late), Err(BrokenBarrierError));
    assert!(barrier.is_broken());
    assert_ready_eq!(
        first.poll(),
        Ok(0),
        "a round that tripped gives every party its index, not a mix of Ok and Err"
    );
}

// ---------------------------------------------------------- abort and reset

#[test]
fn a_tripped_round_keeps_its_outcome_when_abort_follows_the_trip() {
    let barrier = Barrier::new(2);
    let mut first = task::spawn(barrier.wait());
    assert_pending!(first.poll());
    assert_eq!(barrier.wait_blocking(), Ok(1), "the round trips");
    barrier.abort();
    assert_ready_eq!(first.poll(), Ok(0), "the abort came after the trip");
    assert!(barrier.is_broken());
    assert_eq!(barrier.wait_blocking(), Err(BrokenBarrierError));
}

#[tokio::test]
async fn abort_breaks_the_waiting_round_and_the_barrier_stays_broken() {
    let barrier = Arc::new(Barrier::new(3));
    let task = spawn_task_wait(&barrier);
    let thread = spawn_thread_wait(&barrier);
    eventually_async("two waiters", || barrier.n_waiting() == 2).await;
    barrier.abort();
    assert_eq!(
        within("waiting task", task).await.unwrap(),
        Err(BrokenBarrierError)
    );
    assert_eq!(
        join_thread("waiting thread", thread).await,
        Err(BrokenBarrierError)
    );
    assert!(barrier.is_broken());
    assert_eq!(
        within("a later wait", barrier.wait()).await,
        Err(BrokenBarrierError)
    );
    assert!(barrier.is_broken(), "still broken until reset()");
}

#[test]
fn while_broken_every_wait_form_fails_at_once() {
    let barrier = Arc::new(Barrier::new(2));
    barrier.abort();
    let forms = std::thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            vec![
                ("wait_blocking", barrier.wait_blocking()),
                (
                    "wait_timeout_blocking",
                    barrier.wait_timeout_blocking(LIMIT * 6),
                ),
                ("wait", runtime.block_on(barrier.wait())),
                #[cfg(feature = "tokio")]
                (
                    "wait_timeout",
                    runtime.block_on(barrier.wait_timeout(LIMIT * 6)),
                ),
            ]
        }
    });
    for (form, outcome) in join_within("every wait form on a broken barrier", forms) {
        assert_eq!(outcome, Err(BrokenBarrierError), "{form}");
    }
    assert_eq!(barrier.n_waiting(), 0);
    assert!(barrier.is_broken());
}

#[tokio::test]
async fn reset_breaks_the_waiting_round_and_makes_the_barrier_usable_again() {
    let barrier = Arc::new(Barrier::new(3));
    let task = spawn_task_wait(&barrier);
    let thread = spawn_thread_wait(&barrier);
    eventually_async("two waiters", || barrier.n_waiting() == 2).await;
    barrier.reset();
    assert_eq!(
        within("waiting task", task).await.unwrap(),
        Err(BrokenBarrierError)
    );
    assert_eq!(
        join_thread("waiting thread", thread).await,
        Err(BrokenBarrierError)
    );
    assert!(!barrier.is_broken(), "reset leaves the barrier usable");
    let parties = [spawn_task_wait(&barrier), spawn_task_wait(&barrier)];
    eventually_async("a new round fills", || barrier.n_waiting() == 2).await;
    let mut indexes = BTreeSet::from([within("last arrival", barrier.wait()).await.unwrap()]);
    for party in parties {
        indexes.insert(within("new round", party).await.unwrap().unwrap());
    }
    assert_eq!(
        indexes,
        BTreeSet::from([0, 1, 2]),
        "a full new round with fresh indexes"
    );
}

#[tokio::test]
async fn reset_after_abort_makes_the_barrier_usable_again() {
    let barrier = Arc::new(Barrier::new(2));
    barrier.abort();
    assert!(barrier.is_broken());
    barrier.reset();
    assert!(!barrier.is_broken());
    let thread = spawn_thread_wait(&barrier);
    eventually_async("the thread waits", || barrier.n_waiting() == 1).await;
    assert_eq!(within("last arrival", barrier.wait()).await, Ok(1));
    assert_eq!(join_thread("first arrival", thread).await, Ok(0));
}

#[tokio::test]
async fn reset_after_a_timeout_makes_the_barrier_usable_again() {
    let barrier = Arc::new(Barrier::new(2));
    let timed = std::thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || barrier.wait_timeout_blocking(Duration::from_millis(1))
    });
    assert_eq!(
        join_thread("timed thread", timed).await,
        Err(BrokenBarrierError)
    );
    assert!(barrier.is_broken());
    barrier.reset();
    let task = spawn_task_wait(&barrier);
    eventually_async("the task waits", || barrier.n_waiting() == 1).await;
    let thread = spawn_thread_wait(&barrier);
    assert_eq!(join_thread("last arrival", thread).await, Ok(1));
    assert_eq!(within("first arrival", task).await.unwrap(), Ok(0));
}

// ------------------------------------------------------------ cancel safety

/// Three arrivals for a 4-party round, where arrival `withdrawn` is a
/// `wait()` future that is dropped after all three arrived; then two more
/// arrive. The round must trip only with the last of them (not one arrival
/// early, as if the dropped wait still counted), nothing breaks, and the
/// parties that stayed get exactly `0..4` in their arrival order.
async fn a_withdrawn_arrival_leaves_the_round_intact(withdrawn: usize) {
    const PARTIES: usize = 4;
    let barrier = Arc::new(Barrier::new(PARTIES));
    let mut staying = Vec::new();
    let mut dropped = None;
    for arrival in 0..3 {
        if arrival == withdrawn {
            let mut wait = task::spawn(barrier.wait());
            assert_pending!(wait.poll());
            dropped = Some(wait);
        } else if arrival % 2 == 0 {
            staying.push(Party::Task(spawn_task_wait(&barrier)));
        } else {
            staying.push(Party::Thread(spawn_thread_wait(&barrier)));
        }
        eventually_async(&format!("arrival {arrival} counted"), || {
            barrier.n_waiting() == arrival + 1
        })
        .await;
    }
    drop(dropped);
    assert_eq!(
        barrier.n_waiting(),
        2,
        "the dropped wait withdrew its arrival"
    );
    assert!(
        !barrier.is_broken(),
        "withdrawing does not break the barrier"
    );

    // With the dropped wait counted, this arrival would trip the round.
    staying.push(Party::Task(spawn_task_wait(&barrier)));
    eventually_async("the round has three of its four parties", || {
        barrier.n_waiting() == 3
    })
    .await;
    for party in &staying {
        let finished = match party {
            Party::Task(task) => task.is_finished(),
            Party::Thread(thread) => thread.is_finished(),
        };
        assert!(!finished, "the round must not trip without its last party");
    }

    staying.push(Party::Thread(spawn_thread_wait(&barrier)));
    for (index, party) in staying.into_iter().enumerate() {
        let outcome = party.outcome(&format!("staying arrival {index}")).await;
        assert_eq!(
            outcome,
            Ok(index),
            "indexes are 0..parties in arrival order"
        );
    }
    assert!(!barrier.is_broken());
}

#[tokio::test]
async fn dropping_the_first_arrivals_wait_withdraws_it_and_the_indexes_stay_0_to_parties() {
    a_withdrawn_arrival_leaves_the_round_intact(0).await;
}

#[tokio::test]
async fn dropping_a_middle_arrivals_wait_withdraws_it_and_the_indexes_stay_0_to_parties() {
    a_withdrawn_arrival_leaves_the_round_intact(1).await;
}

#[tokio::test]
async fn dropping_the_latest_arrivals_wait_withdraws_it_and_the_indexes_stay_0_to_parties() {
    a_withdrawn_arrival_leaves_the_round_intact(2).await;
}

#[tokio::test]
async fn a_wait_cancelled_by_select_withdraws_without_breaking_the_barrier() {
    let barrier = Arc::new(Barrier::new(2));
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let barrier = Arc::clone(&barrier);
        async move {
            tokio::select! {
                outcome = barrier.wait() => Some(outcome),
                _ = cancelled => None,
            }
        }
    });
    eventually_async("the task waits", || barrier.n_waiting() == 1).await;
    cancel.send(()).unwrap();
    assert_eq!(within("cancelled task", task).await.unwrap(), None);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.is_broken());
    let thread = spawn_thread_wait(&barrier);
    eventually_async("a new first arrival", || barrier.n_waiting() == 1).await;
    assert_eq!(within("second arrival", barrier.wait()).await, Ok(1));
    assert_eq!(join_thread("first arrival", thread).await, Ok(0));
}

#[tokio::test]
async fn dropping_a_released_wait_before_it_is_polled_does_not_hold_up_the_next_round() {
    let barrier = Arc::new(Barrier::new(2));
    let mut released = task::spawn(barrier.wait());
    assert_pending!(released.poll());
    assert_eq!(within("last arrival", barrier.wait()).await, Ok(1));
    drop(released); // the round tripped; this party leaves without looking
    assert!(!barrier.is_broken());
    let task = spawn_task_wait(&barrier);
    eventually_async("next round's first arrival", || barrier.n_waiting() == 1).await;
    let thread = spawn_thread_wait(&barrier);
    assert_eq!(
        join_thread("next round's last arrival", thread).await,
        Ok(1)
    );
    assert_eq!(
        within("next round's first arrival", task).await.unwrap(),
        Ok(0)
    );
}

// ----------------------------------------------- one object, tasks and threads

#[tokio::test]
async fn threads_blocked_in_wait_blocking_are_released_by_a_task() {
    let barrier = Arc::new(Barrier::new(3));
    let first = spawn_thread_wait(&barrier);
    eventually_async("first thread waits", || barrier.n_waiting() == 1).await;
    let second = spawn_thread_wait(&barrier);
    eventually_async("second thread waits", || barrier.n_waiting() == 2).await;
    let task = spawn_task_wait(&barrier);
    assert_eq!(within("the task, last", task).await.unwrap(), Ok(2));
    assert_eq!(join_thread("first thread", first).await, Ok(0));
    assert_eq!(join_thread("second thread", second).await, Ok(1));
}

#[tokio::test]
async fn waiting_tasks_are_released_by_a_thread() {
    let barrier = Arc::new(Barrier::new(3));
    let first = spawn_task_wait(&barrier);
    eventually_async("first task waits", || barrier.n_waiting() == 1).await;
    let second = spawn_task_wait(&barrier);
    eventually_async("second task waits", || barrier.n_waiting() == 2).await;
    let thread = spawn_thread_wait(&barrier);
    assert_eq!(join_thread("the thread, last", thread).await, Ok(2));
    assert_eq!(within("first task", first).await.unwrap(), Ok(0));
    assert_eq!(within("second task", second).await.unwrap(), Ok(1));
}

#[tokio::test]
async fn wait_blocking_inside_spawn_blocking_is_allowed_and_released_by_a_task() {
    let barrier = Arc::new(Barrier::new(2));
    let blocking = tokio::task::spawn_blocking({
        let barrier = Arc::clone(&barrier);
        move || barrier.wait_blocking()
    });
    eventually_async("the spawn_blocking thread waits", || {
        barrier.n_waiting() == 1
    })
    .await;
    assert_eq!(within("task, last", barrier.wait()).await, Ok(1));
    assert_eq!(
        within("spawn_blocking waiter", blocking).await.unwrap(),
        Ok(0)
    );
}

#[test]
fn wait_works_on_a_non_tokio_executor() {
    let barrier = Arc::new(Barrier::new(2));
    let task = std::thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || futures::executor::block_on(barrier.wait())
    });
    eventually("the futures-executor task waits", || {
        barrier.n_waiting() == 1
    });
    assert_eq!(barrier.wait_blocking(), Ok(1));
    assert_eq!(join_within("task on futures::executor", task), Ok(0));
}

// ------------------------------------------------------ blocking inside a runtime

#[cfg(feature = "tokio")]
#[tokio::test]
#[should_panic(expected = "wait_blocking")]
async fn wait_blocking_inside_a_runtime_panics_naming_the_method() {
    let barrier = Arc::new(Barrier::new(2));
    let _watchdog = watchdog({
        let barrier = Arc::clone(&barrier);
        move || barrier.abort()
    });
    let _ = barrier.wait_blocking();
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[should_panic(expected = "wait_timeout_blocking")]
async fn wait_timeout_blocking_inside_a_runtime_panics_naming_the_method() {
    let barrier = Barrier::new(2);
    // If it does not panic it times out after 10 ms: the test then fails.
    let _ = barrier.wait_timeout_blocking(Duration::from_millis(10));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn wait_blocking_inside_a_spawned_task_panics_naming_the_async_form() {
    let barrier = Arc::new(Barrier::new(2));
    let _watchdog = watchdog({
        let barrier = Arc::clone(&barrier);
        move || barrier.abort()
    });
    let task = tokio::spawn({
        let barrier = Arc::clone(&barrier);
        async move { barrier.wait_blocking() }
    });
    let error = within("task calling wait_blocking", task)
        .await
        .expect_err("wait_blocking inside a task must panic, not block");
    let message = panic_message(error.into_panic());
    assert!(message.contains("wait_blocking"), "message: {message}");
    assert!(message.contains("wait("), "names the async form: {message}");
    assert_eq!(barrier.n_waiting(), 0, "the refused call did not arrive");
    assert!(!barrier.is_broken());
}

// ------------------------------------------------------------ traits and Debug

#[test]
fn barrier_its_futures_and_its_error_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    send_sync::<Barrier>();
    send_sync::<BrokenBarrierError>();
    error::<BrokenBarrierError>();
    let barrier = Barrier::new(2);
    send(&barrier.wait());
    #[cfg(feature = "tokio")]
    send(&barrier.wait_timeout(SHORT));
    assert!(!BrokenBarrierError.to_string().is_empty());
}

#[test]
fn debug_shows_the_parties_and_the_broken_state() {
    let barrier = Barrier::new(3);
    let fresh = format!("{barrier:?}");
    assert!(fresh.contains('3'), "{fresh}");
    barrier.abort();
    let broken = format!("{barrier:?}");
    assert!(broken.to_lowercase().contains("broken"), "{broken}");
}

/// A round with a withdrawn arrival keeps its tickets until its slow waiters
/// have left; an `abort` and `reset` meanwhile neither change the round's
/// outcome nor leave the barrier stuck.
#[test]
fn abort_and_reset_while_a_round_with_a_withdrawal_drains() {
    let barrier = Barrier::new(3);
    let mut first = task::spawn(barrier.wait());
    assert_pending!(first.poll(), "first arrival waits");
    {
        let mut withdrawn = task::spawn(barrier.wait());
        assert_pending!(withdrawn.poll(), "second arrival waits");
    } // dropped: withdrawn
    let mut third = task::spawn(barrier.wait());
    assert_pending!(third.poll(), "third arrival waits");
    assert_eq!(barrier.n_waiting(), 2);
    // The fourth arrival completes the round as index 2.
    assert_eq!(barrier.wait_blocking(), Ok(2));
    barrier.abort();
    assert!(barrier.is_broken());
    barrier.reset();
    // The slow waiters still get their indexes from the tripped round.
    assert_ready_eq!(first.poll(), Ok(0));
    assert_ready_eq!(third.poll(), Ok(1));
    drop((first, third));
    assert!(!barrier.is_broken());
    // And the barrier works again.
    std::thread::scope(|s| {
        let others: Vec<_> = (0..2)
            .map(|_| s.spawn(|| barrier.wait_timeout_blocking(LIMIT)))
            .collect();
        let mut indexes = vec![barrier.wait_timeout_blocking(LIMIT).unwrap()];
        indexes.extend(others.into_iter().map(|t| t.join().unwrap().unwrap()));
        indexes.sort();
        assert_eq!(indexes, [0, 1, 2]);
    });
}

/// Issue 9, scenario 5: a round that had a withdrawn arrival trips while one
/// of its waiters is kept but not polled. The next round must fill and
/// release without waiting for that waiter; the kept waiter still gets its
/// index of the old round when it is polled at last.
#[test]
fn a_kept_unpolled_waiter_of_a_round_with_a_withdrawal_does_not_stall_the_next_round() {
    let barrier = Arc::new(Barrier::new(3));
    let mut kept = task::spawn(barrier.wait());
    assert_pending!(kept.poll(), "arrival 0 waits");
    let mut withdrawn = task::spawn(barrier.wait());
    assert_pending!(withdrawn.poll(), "arrival 1 waits");
    drop(withdrawn);
    let mut second = task::spawn(barrier.wait());
    assert_pending!(second.poll(), "arrival 2 takes index 1");
    let mut third = task::spawn(barrier.wait());
    assert_ready_eq!(third.poll(), Ok(2), "the last arrival trips");
    assert_ready_eq!(second.poll(), Ok(1));
    // `kept` is not polled: the next round must not wait for it.
    let next: Vec<_> = (0..3)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || barrier.wait_timeout_blocking(LIMIT))
        })
        .collect();
    let mut indexes: Vec<usize> = next
        .into_iter()
        .map(|thread| join_within("next round", thread).expect("next round broke"))
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1, 2]);
    assert!(!barrier.is_broken());
    assert_ready_eq!(kept.poll(), Ok(0), "the old round's index");
}
