//! Players meeting at a `Barrier` before each race: Python's
//! `threading.Barrier` lesson, with a broken round and a reset.
//!
//! Python lesson: the `threading.Barrier` tutorials' players who all wait at
//! the start line (`Barrier(n, action=...)`, `wait(timeout)`,
//! `BrokenBarrierError`, `reset()`).
//!
//! Four players — Alice and Carol are async tasks, Bob and Dave OS threads —
//! warm up for a while, then wait at a barrier built with
//! `Barrier::with_action`: when the fourth arrives, the action prints
//! "ready, set, go!" once, and all four are released together, each with its
//! arrival index (0 for the first, 3 for the last). Rounds 1 to 3 go so.
//!
//! Round 4 breaks: Dave sits it out, and Bob, who will only wait 100 ms
//! (`wait_timeout_blocking`), gives up. As in Python, a wait that times out
//! breaks the barrier for everyone: all three present players get
//! `BrokenBarrierError`, and no race is run. The host (the main thread)
//! collects their reports, calls `reset()`, and announces a rematch: round 5,
//! where all four meet again, and race.
//!
//! What to look for in the output: in each round that runs, the action's
//! "ready, set, go!" line comes before any player's "off!", and the arrival
//! indexes are 0, 1, 2 and 3 in some order (the first to arrive gets 0); round
//! 4 has no "go!" line, only three `BrokenBarrierError`s; after `reset()`,
//! round 5 runs (the 4th race, as round 4 ran none).
//!
//! Exits with status 1 if a round's indexes are not exactly 0..4, or the
//! broken round did not fail for all three.
//!
//! ```text
//! cargo run --example barrier_race
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ambisync::{Barrier, BrokenBarrierError, Event, Queue};

const PLAYERS: usize = 4;
const GOOD_ROUNDS: usize = 3;
const BROKEN_ROUND: usize = GOOD_ROUNDS + 1;
const REMATCH: usize = GOOD_ROUNDS + 2;
/// How long Bob waits in the broken round before giving up.
const BOBS_PATIENCE: Duration = Duration::from_millis(100);

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Timestamped tutorial-style logging.
fn log(who: &str, what: impl std::fmt::Display) {
    println!("{:>8.3}s  {who:<8} {what}", START.elapsed().as_secs_f64());
}

/// CI must never hang on an example: give up loudly if it takes far too long.
fn start_watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("error: still running after {limit:?}, something is stuck");
        std::process::exit(2);
    });
}

struct Game {
    barrier: Barrier,
    /// What the present players got in the broken round, for the host.
    broken_round_reports: Queue<Result<usize, BrokenBarrierError>>,
    /// Set by the host once the barrier is reset.
    rematch: Event,
    /// The round being played: every player stores its round before
    /// waiting, so the action (run by the last to arrive, before anyone
    /// leaves) knows which round it starts.
    round: Arc<AtomicUsize>,
    races: Arc<AtomicUsize>,
}

impl Game {
    /// Says which round this player is waiting for, for the barrier's action.
    fn entering(&self, round: usize) {
        self.round.fetch_max(round, Ordering::SeqCst);
    }
}

/// A player's warm-up before each round; varies so the arrival order does.
fn warm_up(player: usize, round: usize) -> Duration {
    Duration::from_millis(((player * 3 + round * 5) % 7) as u64)
}

/// Logs a player's result for a round; keeps (round, index) for the summary.
fn record(
    name: &str,
    round: usize,
    outcome: Result<usize, BrokenBarrierError>,
    scores: &mut Vec<(usize, usize)>,
) {
    match outcome {
        Ok(index) => {
            log(name, format!("round {round}: off! arrival index {index}"));
            scores.push((round, index));
        }
        Err(error) => log(name, format!("round {round}: {error}")),
    }
}

/// Alice and Carol: patient async players.
async fn task_player(game: Arc<Game>, player: usize, name: &'static str) -> Vec<(usize, usize)> {
    let mut scores = Vec::new();
    for round in 1..=BROKEN_ROUND {
        tokio::time::sleep(warm_up(player, round)).await;
        game.entering(round);
        let outcome = game.barrier.wait().await;
        if round == BROKEN_ROUND {
            log(
                name,
                format!("round {round}: wait() -> {outcome:?}, no race"),
            );
            game.broken_round_reports
                .put(outcome)
                .await
                .expect("reports stay open");
        } else {
            record(name, round, outcome, &mut scores);
        }
    }
    game.rematch.wait().await;
    game.entering(REMATCH);
    record(name, REMATCH, game.barrier.wait().await, &mut scores);
    scores
}

/// Bob and Dave: OS threads; Bob gives up in the broken round, Dave skips it.
fn thread_player(game: Arc<Game>, player: usize, name: &'static str) -> Vec<(usize, usize)> {
    let mut scores = Vec::new();
    for round in 1..=GOOD_ROUNDS {
        std::thread::sleep(warm_up(player, round));
        game.entering(round);
        record(name, round, game.barrier.wait_blocking(), &mut scores);
    }
    if name == "Bob" {
        // Bob warms up longest, so he usually finds the others waiting.
        std::thread::sleep(Duration::from_millis(15));
        log(
            name,
            format!(
                "round {BROKEN_ROUND}: {} waiting, I wait {BOBS_PATIENCE:?} at most",
                game.barrier.n_waiting()
            ),
        );
        game.entering(BROKEN_ROUND);
        let outcome = game.barrier.wait_timeout_blocking(BOBS_PATIENCE);
        log(
            name,
            format!("round {BROKEN_ROUND}: gave up, wait_timeout_blocking() -> {outcome:?}"),
        );
        game.broken_round_reports
            .put_blocking(outcome)
            .expect("reports stay open");
    } else {
        log(name, format!("round {BROKEN_ROUND}: sitting this one out"));
    }
    game.rematch.wait_blocking();
    game.entering(REMATCH);
    record(name, REMATCH, game.barrier.wait_blocking(), &mut scores);
    scores
}

fn main() {
    LazyLock::force(&START);
    start_watchdog(Duration::from_secs(20));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let races = Arc::new(AtomicUsize::new(0));
    let round = Arc::new(AtomicUsize::new(0));
    let game = Arc::new(Game {
        barrier: Barrier::with_action(PLAYERS, {
            let (races, round) = (Arc::clone(&races), Arc::clone(&round));
            move || {
                races.fetch_add(1, Ordering::SeqCst);
                let round = round.load(Ordering::SeqCst);
                log(
                    "barrier",
                    format!("round {round}: all {PLAYERS} here: ready, set, go!"),
                );
            }
        }),
        broken_round_reports: Queue::unbounded(),
        rematch: Event::new(),
        round,
        races,
    });

    let tasks = [(0, "Alice"), (2, "Carol")]
        .map(|(player, name)| runtime.spawn(task_player(Arc::clone(&game), player, name)));
    let threads = [(1, "Bob"), (3, "Dave")].map(|(player, name)| {
        let game = Arc::clone(&game);
        std::thread::spawn(move || thread_player(game, player, name))
    });

    // The host waits for the three present players of the broken round.
    let broken_reports = (0..PLAYERS - 1)
        .map(|_| {
            game.broken_round_reports
                .get_timeout_blocking(Duration::from_secs(5))
                .expect("a player never reported")
        })
        .filter(Result::is_err)
        .count();
    log(
        "host",
        format!(
            "{broken_reports} players report a broken barrier; is_broken() = {}",
            game.barrier.is_broken()
        ),
    );
    game.barrier.reset();
    log(
        "host",
        format!(
            "reset(): is_broken() = {}; rematch in round {REMATCH}!",
            game.barrier.is_broken()
        ),
    );
    game.rematch.set();

    let mut scores: Vec<(usize, usize)> = threads
        .into_iter()
        .flat_map(|thread| thread.join().expect("player thread panicked"))
        .collect();
    runtime.block_on(async {
        for task in tasks {
            scores.extend(task.await.expect("player task panicked"));
        }
    });

    let mut ok = broken_reports == PLAYERS - 1;
    for round in (1..=GOOD_ROUNDS).chain([REMATCH]) {
        let mut indexes: Vec<usize> = scores
            .iter()
            .filter(|(r, _)| *r == round)
            .map(|(_, index)| *index)
            .collect();
        indexes.sort_unstable();
        ok &= indexes == (0..PLAYERS).collect::<Vec<_>>();
    }
    let races = game.races.load(Ordering::SeqCst);
    ok &= races == GOOD_ROUNDS + 1;
    println!();
    println!(
        "== {races} races run (rounds 1-{GOOD_ROUNDS} and {REMATCH}), each with indexes 0..{PLAYERS}; \
         round {BROKEN_ROUND} broke for {broken_reports} players and ran no race"
    );
    if !ok {
        eprintln!(
            "error: a round's indexes were not 0..{PLAYERS}, or the broken round did not fail for everyone"
        );
        std::process::exit(1);
    }
}
