//! `Barrier`: the indexes of every round are exactly `0..parties` — also
//! when arrivals were withdrawn (their futures dropped by `select!` or by an
//! abort) and when a waiter's future is kept without being polled while the
//! next round fills (issue 9 §1.5) — the action runs once per round, and
//! `abort`/`reset` rounds fail their waiters and leave the barrier usable.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::{Barrier, BrokenBarrierError};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::harness::{Rng, Round, bounded, chaos, eventually, join_thread, runtime};

/// Never expires in a healthy run (an expiry breaks the barrier and fails
/// the round with a clear message).
const WAIT: Duration = Duration::from_secs(5);

type Outcome = Result<usize, BrokenBarrierError>;

enum Party {
    Task(tokio::task::JoinHandle<Outcome>),
    Thread(std::thread::JoinHandle<Outcome>),
    /// Arrived, then not polled until the sender fires.
    Kept(tokio::task::JoinHandle<Outcome>, oneshot::Sender<()>),
}

fn spawn_party(
    runtime: &Runtime,
    barrier: &Arc<Barrier>,
    rng: &mut Rng,
    may_keep: bool,
    round: &Round,
) -> Party {
    let barrier = Arc::clone(barrier);
    match rng.below(if may_keep { 5 } else { 4 }) {
        0 => Party::Task(runtime.spawn(async move { barrier.wait().await })),
        1 => Party::Task(runtime.spawn(async move { barrier.wait_timeout(WAIT).await })),
        2 => Party::Thread(std::thread::spawn(move || barrier.wait_blocking())),
        3 => Party::Thread(std::thread::spawn(move || {
            barrier.wait_timeout_blocking(WAIT)
        })),
        _ => {
            let (resume, resumed) = oneshot::channel();
            let round = round.clone();
            let task = runtime.spawn(async move {
                let mut wait = pin!(barrier.wait());
                if let std::task::Poll::Ready(outcome) = futures::poll!(wait.as_mut()) {
                    return outcome;
                }
                let _ = bounded(&round, "resume signal", resumed).await;
                bounded(&round, "a kept-unpolled barrier wait", wait).await
            });
            Party::Kept(task, resume)
        }
    }
}

/// A task that arrives, then withdraws when told (dropped in `select!`, or
/// its task aborted).
fn spawn_withdrawer(
    runtime: &Runtime,
    barrier: &Arc<Barrier>,
) -> (tokio::task::JoinHandle<()>, oneshot::Sender<()>) {
    let barrier = Arc::clone(barrier);
    let (go, told) = oneshot::channel::<()>();
    let task = runtime.spawn(async move {
        tokio::select! {
            outcome = barrier.wait() => panic!("a withdrawing arrival was released: {outcome:?}"),
            _ = told => {}
        }
    });
    (task, go)
}

fn outcome_of(runtime: &Runtime, round: &Round, party: Party) -> Outcome {
    match party {
        Party::Task(task) | Party::Kept(task, _) => runtime
            .block_on(bounded(round, "barrier task", task))
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
        Party::Thread(thread) => join_thread(round, "barrier thread", thread),
    }
}

fn check_indexes(mut indexes: Vec<usize>, parties: usize, what: &str, round: &Round) {
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        (0..parties).collect::<Vec<_>>(),
        "barrier {what}: the indexes of a round must be exactly 0..{parties} {round}"
    );
}

/// Withdrawals, abort and reset rounds; every waiter is polled.
#[test]
fn barrier() {
    storm("barrier", false);
}

/// The same with waiters kept without being polled while the next round
/// fills (issue 9 §1.5).
#[test]
fn barrier_with_kept_unpolled_waiters() {
    storm("barrier_with_kept_unpolled_waiters", true);
}

fn storm(test: &'static str, keep: bool) {
    let runtime = runtime();
    chaos(test, 3, |round| {
        let mut rng = round.rng();
        let parties = 2 + rng.index(4);
        let trips = Arc::new(AtomicUsize::new(0));
        let barrier = {
            let trips = Arc::clone(&trips);
            Arc::new(Barrier::with_action(parties, move || {
                trips.fetch_add(1, Ordering::SeqCst);
            }))
        };
        let mut tripped = 0;
        // Kept-unpolled parties of the previous round and that round's
        // indexes so far.
        let mut kept: Vec<Party> = Vec::new();
        let mut previous: Vec<usize> = Vec::new();
        for cycle in 0..3 + rng.below(6) {
            let what = format!("cycle {cycle}");
            let breaking = rng.one_in(6);
            let early = if breaking {
                1 + rng.index(parties)
            } else {
                rng.index(parties)
            };
            let early = early.min(parties - 1).max(usize::from(breaking));
            // Withdrawers never fill the round: at most `parties - 1` inside.
            let withdrawers = if breaking {
                0
            } else {
                rng.index(3).min(parties - 1 - early)
            };
            let mut arrivals: Vec<Party> = Vec::new();
            let mut keeps_this_round = false;
            let mut leaving = Vec::new();
            for _ in 0..early {
                let may_keep = keep && !breaking && !keeps_this_round && kept.is_empty();
                let party = spawn_party(&runtime, &barrier, &mut rng, may_keep, round);
                keeps_this_round |= matches!(party, Party::Kept(..));
                arrivals.push(party);
                // Interleave withdrawers with the arrivals.
                if leaving.len() < withdrawers && rng.one_in(2) {
                    leaving.push(spawn_withdrawer(&runtime, &barrier));
                }
            }
            while leaving.len() < withdrawers {
                leaving.push(spawn_withdrawer(&runtime, &barrier));
            }
            let arrived = early + withdrawers;
            eventually(
                round,
                &format!(
                    "{what}: {arrived} arrivals inside the barrier (a previous round still draining?)"
                ),
                || barrier.n_waiting() == arrived,
            );
            for (task, go) in leaving {
                if rng.one_in(2) {
                    task.abort();
                } else {
                    let _ = go.send(());
                }
                match runtime.block_on(bounded(round, "withdrawer", task)) {
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    _ => {}
                }
            }
            eventually(round, &format!("{what}: withdrawn arrivals gone"), || {
                barrier.n_waiting() == early
            });
            if breaking {
                let aborted = rng.one_in(2);
                if aborted {
                    barrier.abort();
                    assert!(barrier.is_broken());
                } else {
                    barrier.reset();
                }
                for party in arrivals {
                    assert_eq!(
                        outcome_of(&runtime, round, party),
                        Err(BrokenBarrierError),
                        "{what}: a waiter of a {} round {round}",
                        if aborted { "aborted" } else { "reset" }
                    );
                }
                barrier.reset();
                assert!(
                    !barrier.is_broken(),
                    "reset leaves the barrier usable {round}"
                );
                // A kept waiter of the round before still gets its index.
                for party in kept.drain(..) {
                    previous.push(resume_and_collect(&runtime, round, party));
                }
                if !previous.is_empty() {
                    check_indexes(
                        std::mem::take(&mut previous),
                        parties,
                        &format!("{what} (round before)"),
                        round,
                    );
                }
                continue;
            }
            for _ in early..parties {
                arrivals.push(spawn_party(&runtime, &barrier, &mut rng, false, round));
            }
            // This round's non-kept outcomes.
            let mut indexes = Vec::new();
            let mut kept_now = Vec::new();
            for party in arrivals {
                if let Party::Kept(..) = party {
                    kept_now.push(party);
                    continue;
                }
                let outcome = outcome_of(&runtime, round, party);
                indexes.push(
                    outcome.unwrap_or_else(|e| panic!("{what}: {e} in a healthy round {round}")),
                );
            }
            tripped += 1;
            // The round before is complete now that its kept waiters resume.
            for party in kept.drain(..) {
                previous.push(resume_and_collect(&runtime, round, party));
            }
            if !previous.is_empty() {
                check_indexes(
                    std::mem::take(&mut previous),
                    parties,
                    &format!("{what} (round before)"),
                    round,
                );
            }
            if kept_now.is_empty() {
                check_indexes(indexes, parties, &what, round);
            } else {
                previous = indexes;
                kept = kept_now;
            }
            assert_eq!(
                trips.load(Ordering::SeqCst),
                tripped,
                "the action runs once per round {round}"
            );
        }
        for party in kept.drain(..) {
            previous.push(resume_and_collect(&runtime, round, party));
        }
        if !previous.is_empty() {
            check_indexes(previous, parties, "last round", round);
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

fn resume_and_collect(runtime: &Runtime, round: &Round, party: Party) -> usize {
    let Party::Kept(task, resume) = party else {
        unreachable!("only kept parties wait for a resume")
    };
    let _ = resume.send(());
    runtime
        .block_on(bounded(round, "kept-unpolled barrier waiter", task))
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        .unwrap_or_else(|e| panic!("a kept-unpolled waiter of a tripped round got {e} {round}"))
}
