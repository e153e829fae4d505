//! `Timer`: cancel versus run has exactly one outcome per timer — either
//! `cancel()` returned `true` and the call never ran, or the call ran exactly
//! once and `cancel()` returned `false` — and the value reaches exactly one
//! join, whatever joins were cancelled before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::Timer;

use crate::harness::{Cancel, bounded, cancellable, chaos, join_tasks, runtime, yields};

#[test]
fn timer() {
    let runtime = runtime();
    chaos("timer", 3, |round| {
        let mut rng = round.rng();
        let count = 4 + rng.index(16);
        let ran: Arc<Vec<AtomicUsize>> =
            Arc::new((0..count).map(|_| AtomicUsize::new(0)).collect());
        let mut blocking_left = 3;
        let timers: Vec<Arc<Timer<usize>>> = runtime.block_on(async {
            (0..count)
                .map(|i| {
                    let delay = Duration::from_micros(rng.below(2_000));
                    let ran = Arc::clone(&ran);
                    let timer = if blocking_left > 0 && rng.one_in(4) {
                        blocking_left -= 1;
                        Timer::after_blocking(delay, move || {
                            ran[i].fetch_add(1, Ordering::SeqCst);
                            i
                        })
                    } else {
                        Timer::after(delay, async move {
                            ran[i].fetch_add(1, Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            i
                        })
                    };
                    Arc::new(timer)
                })
                .collect()
        });
        // One actor per timer: cancels at a random moment (or not), joins
        // with cancellations until a join completes.
        let actors: Vec<_> = timers
            .iter()
            .enumerate()
            .map(|(i, timer)| {
                let (timer, ran, round, mut rng) = (Arc::clone(timer), Arc::clone(&ran), round.clone(), rng.fork());
                runtime.spawn(async move {
                    let cancel_it = rng.one_in(2);
                    if rng.one_in(2) {
                        tokio::time::sleep(Duration::from_micros(rng.below(2_500))).await;
                    } else {
                        yields(rng.below(5)).await;
                    }
                    let cancelled = cancel_it && timer.cancel();
                    let joined = loop {
                        let cancel = Cancel::random(&mut rng);
                        if let Some(outcome) = cancellable(&round, "Timer::join", timer.join(), cancel).await {
                            break outcome;
                        }
                    };
                    assert!(timer.is_finished(), "timer {i}: joined but not finished {round}");
                    let runs = ran[i].load(Ordering::SeqCst);
                    if cancelled {
                        assert_eq!(runs, 0, "timer {i}: cancel() returned true but the call ran {round}");
                        assert_eq!(joined, None, "timer {i}: cancelled but join gave a value {round}");
                        assert!(timer.is_cancelled());
                    } else {
                        assert_eq!(runs, 1, "timer {i}: cancel() returned false (or was not called) but the call ran {runs} times {round}");
                        assert_eq!(joined, Some(i), "timer {i}: the first join must get the value {round}");
                        assert!(!timer.cancel(), "timer {i}: cancel after the run {round}");
                    }
                    // Later joins get nothing, and never wait.
                    assert_eq!(bounded(&round, "second join", timer.join()).await, None);
                })
            })
            .collect();
        join_tasks(&runtime, round, "timer actor", actors);
    });
}
