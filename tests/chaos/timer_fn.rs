//! `Timer::after_fn` (the call on tokio's blocking pool) raced by several
//! cancellers (tasks and threads) and observed through every `outcome` form
//! (awaited with cancellation, timed, `try_`, blocking) at once: at most one
//! `cancel()` returns `true`; if one did, the call never ran and every
//! outcome is `Cancelled`; otherwise the call ran exactly once, exactly one
//! observer got `Finished` with its value and every other `AlreadyJoined`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::{Timer, TimerOutcome};

use crate::harness::{
    Cancel, Rng, Round, cancellable, chaos, join_tasks, join_thread, runtime, yields,
};

struct One {
    timer: Timer<usize>,
    ran: Arc<AtomicUsize>,
    /// `cancel()` calls that returned `true`.
    cancelled: AtomicUsize,
}

/// Waits for the outcome in a random async form, retrying cancelled waits.
async fn observe_async(one: &One, round: &Round, rng: &mut Rng) -> TimerOutcome<usize> {
    loop {
        let outcome = match rng.below(3) {
            0 => {
                let cancel = Cancel::random(rng);
                cancellable(round, "outcome()", one.timer.outcome(), cancel).await
            }
            1 => one.timer.outcome_timeout(rng.tiny()).await,
            _ => {
                let now = one.timer.try_outcome();
                if now.is_none() {
                    yields(1).await;
                }
                now
            }
        };
        if let Some(outcome) = outcome {
            return outcome;
        }
    }
}

fn observe_blocking(one: &One, rng: &mut Rng) -> TimerOutcome<usize> {
    if rng.one_in(2) {
        return one.timer.outcome_blocking();
    }
    loop {
        if let Some(outcome) = one
            .timer
            .outcome_timeout_blocking(Duration::from_micros(rng.below(500)))
        {
            return outcome;
        }
    }
}

#[test]
fn timer_after_fn_cancel_races() {
    let runtime = runtime();
    let (mut cancelled, mut finished) = (0, 0);
    chaos("timer_after_fn_cancel_races", 3, |round| {
        let mut rng = round.rng();
        let count = 2 + rng.index(8);
        let timers: Vec<Arc<One>> = runtime.block_on(async {
            (0..count)
                .map(|i| {
                    let ran = Arc::new(AtomicUsize::new(0));
                    let (ran2, pause) = (Arc::clone(&ran), rng.one_in(3));
                    let delay = Duration::from_micros(rng.below(1_500));
                    let timer = Timer::after_fn(delay, move || {
                        ran2.fetch_add(1, Ordering::SeqCst);
                        if pause {
                            // It may block: it runs on the blocking pool.
                            std::thread::sleep(Duration::from_micros(100));
                        }
                        i
                    });
                    Arc::new(One {
                        timer,
                        ran,
                        cancelled: AtomicUsize::new(0),
                    })
                })
                .collect()
        });
        let mut tasks = Vec::new();
        let mut threads = Vec::new();
        for (i, one) in timers.iter().enumerate() {
            // Zero to two cancellers, on tasks or threads, at random moments.
            for _ in 0..rng.below(3) {
                let (one, mut rng) = (Arc::clone(one), rng.fork());
                if rng.one_in(2) {
                    tasks.push(runtime.spawn(async move {
                        if rng.one_in(2) {
                            tokio::time::sleep(Duration::from_micros(rng.below(2_000))).await;
                        } else {
                            yields(rng.below(4)).await;
                        }
                        if one.timer.cancel() {
                            one.cancelled.fetch_add(1, Ordering::SeqCst);
                        }
                        None
                    }));
                } else {
                    threads.push(std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_micros(rng.below(2_000)));
                        if one.timer.cancel() {
                            one.cancelled.fetch_add(1, Ordering::SeqCst);
                        }
                        None
                    }));
                }
            }
            // One to three observers.
            for _ in 0..1 + rng.below(3) {
                let (one, round2, mut rng) = (Arc::clone(one), round.clone(), rng.fork());
                if rng.one_in(3) {
                    threads.push(std::thread::spawn(move || {
                        Some((i, observe_blocking(&one, &mut rng)))
                    }));
                } else {
                    tasks.push(runtime.spawn(async move {
                        Some((i, observe_async(&one, &round2, &mut rng).await))
                    }));
                }
            }
        }
        let mut outcomes: Vec<(usize, TimerOutcome<usize>)> = Vec::new();
        for thread in threads {
            outcomes.extend(join_thread(round, "timer thread", thread));
        }
        outcomes.extend(
            join_tasks(&runtime, round, "timer task", tasks)
                .into_iter()
                .flatten(),
        );
        for (i, one) in timers.iter().enumerate() {
            let runs = one.ran.load(Ordering::SeqCst);
            let cancels = one.cancelled.load(Ordering::SeqCst);
            assert!(
                cancels <= 1,
                "timer {i}: {cancels} cancel() calls returned true {round}"
            );
            assert!(
                one.timer.is_finished(),
                "timer {i}: observed but not finished {round}"
            );
            if cancels == 1 {
                assert_eq!(runs, 0, "timer {i}: cancelled, but the call ran {round}");
                assert!(one.timer.is_cancelled());
                assert_eq!(
                    one.timer.try_outcome(),
                    Some(TimerOutcome::Cancelled),
                    "{round}"
                );
                cancelled += 1;
            } else {
                assert_eq!(
                    runs, 1,
                    "timer {i}: not cancelled, but the call ran {runs} times {round}"
                );
                assert_eq!(
                    one.timer.try_outcome(),
                    Some(TimerOutcome::AlreadyJoined),
                    "{round}"
                );
                finished += 1;
            }
        }
        for (i, one) in timers.iter().enumerate() {
            let seen: Vec<TimerOutcome<usize>> = outcomes
                .iter()
                .filter(|(j, _)| *j == i)
                .map(|(_, outcome)| *outcome)
                .collect();
            if one.cancelled.load(Ordering::SeqCst) == 1 {
                assert!(
                    seen.iter().all(|o| *o == TimerOutcome::Cancelled),
                    "timer {i}: cancelled, but observed {seen:?} {round}"
                );
            } else {
                let values = seen
                    .iter()
                    .filter(|o| **o == TimerOutcome::Finished(i))
                    .count();
                let joined = seen
                    .iter()
                    .filter(|o| **o == TimerOutcome::AlreadyJoined)
                    .count();
                assert_eq!(
                    (values, joined),
                    (1, seen.len() - 1),
                    "timer {i}: one Finished, the rest AlreadyJoined; observed {seen:?} {round}"
                );
            }
        }
    });
    assert!(
        cancelled > 0 && finished > 0,
        "cancelled {cancelled}, finished {finished}: the storm tested one side only"
    );
}
