//! `Event`: every waiter that began waiting before a `set()` wakes, even if
//! `clear()` follows at once, whether it is a task, a thread, or a task whose
//! future was kept without being polled across the `set`; cancelled waiters
//! (aborted, dropped in `select!`, polled once and dropped) are no longer
//! counted; nobody is counted waiting at the end.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use ambisync::Event;
use tokio::sync::oneshot;

use crate::harness::{Round, bounded, chaos, eventually, join_tasks, join_thread, runtime};

/// Long enough never to expire in a healthy run; a waiter that was set
/// must return before it.
const WAIT: Duration = Duration::from_secs(5);

/// What a task waiter does once it is listed.
#[derive(Clone, Copy, Debug)]
enum Plan {
    /// Awaits `wait()` to the end.
    Wait,
    /// Awaits `wait_timeout(WAIT)`; must return `true`.
    WaitTimeout,
    /// Stops polling until told to resume (after the `set`).
    KeepUnpolled,
    /// Dropped in `select!` when told to.
    SelectCancel,
    /// Its task is aborted.
    Abort,
}

async fn task_waiter(
    event: Arc<Event>,
    listed: Arc<AtomicUsize>,
    plan: Plan,
    signal: oneshot::Receiver<()>,
    round: Round,
) -> bool {
    match plan {
        Plan::Wait | Plan::Abort | Plan::SelectCancel | Plan::KeepUnpolled => {
            let mut wait = pin!(event.wait());
            assert!(
                futures::poll!(wait.as_mut()).is_pending(),
                "wait() on a clear event completed {round}"
            );
            listed.fetch_add(1, Ordering::SeqCst);
            match plan {
                Plan::SelectCancel => {
                    tokio::select! {
                        () = &mut wait => true,
                        _ = signal => false,
                    }
                }
                Plan::KeepUnpolled => {
                    // Not polled again until the set has happened.
                    let _ = bounded(&round, "resume signal", signal).await;
                    bounded(&round, "a kept-unpolled wait() after set()", wait).await;
                    true
                }
                _ => {
                    bounded(&round, "wait() after set()", wait).await;
                    true
                }
            }
        }
        Plan::WaitTimeout => {
            let mut wait = pin!(event.wait_timeout(WAIT));
            if let Poll::Ready(done) = futures::poll!(wait.as_mut()) {
                panic!("wait_timeout on a clear event returned {done} at once {round}");
            }
            listed.fetch_add(1, Ordering::SeqCst);
            let woken = wait.await;
            assert!(
                woken,
                "a wait_timeout that began before set() timed out {round}"
            );
            true
        }
    }
}

#[test]
fn event() {
    let runtime = runtime();
    chaos("event", 5, |round| {
        let mut rng = round.rng();
        let event = Arc::new(Event::new());
        let listed = Arc::new(AtomicUsize::new(0));
        let plans: Vec<Plan> = (0..2 + rng.index(6))
            .map(|_| match rng.below(5) {
                0 => Plan::Wait,
                1 => Plan::WaitTimeout,
                2 => Plan::KeepUnpolled,
                3 => Plan::SelectCancel,
                _ => Plan::Abort,
            })
            .collect();
        let mut signals: Vec<Option<oneshot::Sender<()>>> = Vec::new();
        let tasks: Vec<_> = plans
            .iter()
            .map(|&plan| {
                let (send, receive) = oneshot::channel();
                signals.push(Some(send));
                runtime.spawn(task_waiter(
                    Arc::clone(&event),
                    Arc::clone(&listed),
                    plan,
                    receive,
                    round.clone(),
                ))
            })
            .collect();
        let thread_count = 1 + rng.index(3);
        let threads: Vec<_> = (0..thread_count)
            .map(|i| {
                let event = Arc::clone(&event);
                let round = round.clone();
                std::thread::spawn(move || {
                    if i % 2 == 0 {
                        event.wait_blocking();
                    } else {
                        assert!(
                            event.wait_timeout_blocking(WAIT),
                            "a thread that began waiting before set() timed out {round}"
                        );
                    }
                })
            })
            .collect();
        // Everybody listed: the tasks say so, the threads show in the count.
        eventually(round, "every waiter listed", || {
            listed.load(Ordering::SeqCst) == plans.len()
                && event.waiters() == plans.len() + thread_count
        });
        // Cancel some: aborted tasks and dropped `select!` branches leave.
        let mut cancelled = 0;
        for (i, plan) in plans.iter().enumerate() {
            match plan {
                Plan::Abort => {
                    tasks[i].abort();
                    cancelled += 1;
                }
                Plan::SelectCancel if rng.one_in(2) => {
                    if let Some(signal) = signals[i].take() {
                        let _ = signal.send(());
                    }
                    cancelled += 1;
                }
                _ => {}
            }
        }
        let expected = plans.len() + thread_count - cancelled;
        eventually(round, "cancelled waiters no longer counted", || {
            event.waiters() == expected
        });
        // Racing newcomers: no promise for them but to end.
        let racers: Vec<_> = (0..rng.index(3))
            .map(|_| {
                let event = Arc::clone(&event);
                runtime.spawn(async move {
                    let _ = event.wait_timeout(Duration::from_millis(2)).await;
                })
            })
            .collect();
        event.set();
        if rng.one_in(2) {
            event.clear();
        }
        if rng.one_in(3) {
            event.set();
            event.clear();
        }
        // Kept-unpolled waiters resume only now.
        for (i, plan) in plans.iter().enumerate() {
            if let Plan::KeepUnpolled = plan {
                if let Some(signal) = signals[i].take() {
                    let _ = signal.send(());
                }
            }
        }
        for thread in threads {
            join_thread(round, "Event thread waiter (missed the set?)", thread);
        }
        let outcomes = runtime.block_on(async {
            let mut outcomes = Vec::new();
            for (plan, task) in plans.iter().zip(tasks) {
                match bounded(round, "Event task waiter (missed the set?)", task).await {
                    Ok(woken) => outcomes.push((*plan, woken)),
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => assert!(matches!(plan, Plan::Abort), "a task died {round}"),
                }
            }
            outcomes
        });
        for (plan, woken) in outcomes {
            if !matches!(plan, Plan::SelectCancel) {
                assert!(woken, "{plan:?} waiter not woken {round}");
            }
        }
        join_tasks(&runtime, round, "racing waiter", racers);
        eventually(round, "no waiter counted at the end", || {
            event.waiters() == 0
        });
    });
}
