//! Seeds, rounds, cancellation modes and bounded waits for the chaos suite.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::LIMIT;

/// splitmix64: small, fast, and every seed (also 0) gives a good stream.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `0..n` as `usize`.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// An independent generator for an actor, derived from this one.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }

    /// A short timeout: zero, a few microseconds, or up to a millisecond.
    pub fn tiny(&mut self) -> Duration {
        match self.below(4) {
            0 => Duration::ZERO,
            1 => Duration::from_micros(self.below(20)),
            2 => Duration::from_micros(self.below(200)),
            _ => Duration::from_micros(self.below(1_000)),
        }
    }
}

fn hash_name(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn parse_u64(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// `CHAOS_SEED`, or a fresh seed from the clock.
fn base_seed() -> u64 {
    match std::env::var("CHAOS_SEED") {
        Ok(text) => parse_u64(&text)
            .unwrap_or_else(|| panic!("CHAOS_SEED={text:?} is not a number (decimal or 0x-hex)")),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            Rng::new(nanos ^ u64::from(std::process::id())).next_u64()
        }
    }
}

/// How long each chaos test runs: `CHAOS_SECS`, else a short CI run.
fn budget() -> Duration {
    match std::env::var("CHAOS_SECS") {
        Ok(text) => Duration::from_secs_f64(
            text.trim()
                .parse()
                .unwrap_or_else(|_| panic!("CHAOS_SECS={text:?} is not a number of seconds")),
        ),
        Err(_) => Duration::from_millis(1_200),
    }
}

/// One round of a chaos test: its seed and how to replay it.
#[derive(Clone, Debug)]
pub struct Round {
    pub test: &'static str,
    pub base: u64,
    pub index: u64,
    pub seed: u64,
}

impl Round {
    pub fn rng(&self) -> Rng {
        Rng::new(self.seed)
    }
}

impl fmt::Display for Round {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{} round {}; replay: CHAOS_SEED={:#x} CHAOS_ROUND={} cargo test --test chaos {}]",
            self.test, self.index, self.base, self.index, self.test
        )
    }
}

/// Prints the seed when the test fails (the panic unwinds through it).
struct SeedReport {
    test: &'static str,
    base: u64,
    round: Arc<AtomicUsize>,
}

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let round = self.round.load(Ordering::SeqCst);
            eprintln!(
                "chaos test `{}` FAILED in round {round}: replay with CHAOS_SEED={:#x} CHAOS_ROUND={round} cargo test --test chaos {}",
                self.test, self.base, self.test
            );
        }
    }
}

/// Runs `body` for round after round (at least `min_rounds`) until the time
/// budget is spent, each round with a seed derived from the base seed.
pub fn chaos(test: &'static str, min_rounds: u64, mut body: impl FnMut(&Round)) {
    let base = base_seed();
    let only = std::env::var("CHAOS_ROUND")
        .ok()
        .map(|text| parse_u64(&text).expect("CHAOS_ROUND is not a number"));
    let current = Arc::new(AtomicUsize::new(0));
    let _report = SeedReport {
        test,
        base,
        round: Arc::clone(&current),
    };
    println!("chaos `{test}`: CHAOS_SEED={base:#x}");
    let budget = budget();
    let start = Instant::now();
    let mut index = only.unwrap_or(0);
    let mut rounds = 0;
    loop {
        current.store(index as usize, Ordering::SeqCst);
        let seed = Rng::new(base ^ hash_name(test) ^ index.wrapping_mul(0x9E37_79B9)).next_u64();
        body(&Round {
            test,
            base,
            index,
            seed,
        });
        rounds += 1;
        index += 1;
        if only.is_some() || (rounds >= min_rounds && start.elapsed() >= budget) {
            break;
        }
    }
    println!("chaos `{test}`: {rounds} rounds in {:.1?}", start.elapsed());
}

/// A tokio runtime with two workers, as in the scenarios.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Yields `n` times: a cancellation point that needs no timer.
pub async fn yields(n: u64) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// How a waiting future is cancelled (or not).
#[derive(Clone, Copy, Debug)]
pub enum Cancel {
    /// Awaited to the end.
    Never,
    /// Raced against a tokio timeout.
    Timeout(Duration),
    /// Raced in `select!` against a few yields.
    Select(u64),
    /// Polled once; dropped if pending.
    PollOnce,
    /// Polled once, then kept without being polled for a few yields (and
    /// maybe a short sleep), then dropped or awaited.
    KeepUnpolled {
        yields: u64,
        sleep_us: u64,
        then_drop: bool,
    },
}

impl Cancel {
    pub fn random(rng: &mut Rng) -> Cancel {
        match rng.below(8) {
            0 | 1 => Cancel::Never,
            2 | 3 => Cancel::Timeout(rng.tiny()),
            4 | 5 => Cancel::Select(rng.below(4)),
            6 => Cancel::PollOnce,
            _ => Cancel::KeepUnpolled {
                yields: rng.below(4),
                sleep_us: if rng.one_in(3) { rng.below(300) } else { 0 },
                then_drop: rng.one_in(2),
            },
        }
    }
}

/// Runs `fut` under `cancel`; `None` if it was cancelled. Every wait is
/// bounded by [`LIMIT`]: a future that never completes fails the test.
pub async fn cancellable<F: Future>(
    round: &Round,
    what: &str,
    fut: F,
    cancel: Cancel,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match cancel {
        Cancel::Never => Some(bounded(round, what, fut).await),
        Cancel::Timeout(d) => tokio::time::timeout(d, fut).await.ok(),
        Cancel::Select(n) => {
            tokio::select! {
                out = &mut fut => Some(out),
                () = yields(n) => None,
            }
        }
        Cancel::PollOnce => match futures::poll!(fut.as_mut()) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        },
        Cancel::KeepUnpolled {
            yields: n,
            sleep_us,
            then_drop,
        } => {
            if let Poll::Ready(out) = futures::poll!(fut.as_mut()) {
                return Some(out);
            }
            yields(n).await;
            if sleep_us > 0 {
                tokio::time::sleep(Duration::from_micros(sleep_us)).await;
            }
            if then_drop {
                None
            } else {
                Some(bounded(round, what, fut).await)
            }
        }
    }
}

/// Awaits `fut`, failing the test (with the seed) after [`LIMIT`].
pub async fn bounded<F: Future>(round: &Round, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(out) => out,
        Err(_) => {
            panic!("{what}: still waiting after {LIMIT:?} (deadlock or lost wake-up?) {round}")
        }
    }
}

/// Joins a thread, failing the test (with the seed) after [`LIMIT`].
pub fn join_thread<T>(round: &Round, what: &str, handle: JoinHandle<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what}: thread still blocked after {LIMIT:?} (deadlock or lost wake-up?) {round}"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    match handle.join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Awaits spawned tasks from the test thread, each bounded by [`LIMIT`];
/// a task's panic fails the test.
pub fn join_tasks<T>(
    runtime: &tokio::runtime::Runtime,
    round: &Round,
    what: &str,
    tasks: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    runtime.block_on(async {
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            match bounded(round, what, task).await {
                Ok(value) => out.push(value),
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(error) => panic!("{what}: task ended without a result: {error} {round}"),
            }
        }
        out
    })
}

/// Waits (from the test thread) until `condition` holds, failing the test
/// after [`LIMIT`].
pub fn eventually(round: &Round, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {LIMIT:?} {round}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Counts the holders of a critical section; the token leaves it when
/// dropped (also when the holding task is aborted), so declare it after the
/// guard it stands for: it is dropped first.
pub struct Hold {
    holders: Arc<AtomicUsize>,
}

impl Hold {
    /// Enters, checking that at most `bound` hold at once.
    pub fn enter(holders: &Arc<AtomicUsize>, bound: usize, round: &Round, what: &str) -> Hold {
        let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(
            now <= bound,
            "{what}: {now} holders at once, at most {bound} allowed {round}"
        );
        Hold {
            holders: Arc::clone(holders),
        }
    }
}

impl Hold {
    /// [`enter`](Hold::enter) where the bound moves while others hold (a
    /// semaphore's raw releases add permits, taking them back removes
    /// them): `bound()` is read just before and just after the count of
    /// holders, and the larger is the limit. Reading it once, before
    /// entering, was a false alarm: permits released after that read let
    /// others in, and their entries showed up in this count (a chaos failure
    /// on 2026-12-02, "4 holders at once, at most 2 allowed", reproduced on
    /// a loaded machine and gone with this).
    pub fn enter_within(
        holders: &Arc<AtomicUsize>,
        bound: impl Fn() -> usize,
        round: &Round,
        what: &str,
    ) -> Hold {
        let hold = Hold {
            holders: Arc::clone(holders),
        };
        holders.fetch_add(1, Ordering::SeqCst);
        let before = bound();
        let now = holders.load(Ordering::SeqCst);
        let bound = before.max(bound());
        assert!(
            now <= bound,
            "{what}: {now} holders at once, at most {bound} allowed {round}"
        );
        hold
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.holders.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts events shared by the actors of a round.
#[derive(Default, Debug)]
pub struct Tally {
    pub done: AtomicUsize,
    pub cancelled: AtomicUsize,
}

impl Tally {
    pub fn done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
    pub fn cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dones(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }
    pub fn cancels(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// The message of a caught panic.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "<non-string panic>".to_owned()
    }
}

/// Holds guards that are given back when dropped normally but leaked when
/// dropped by a panic's unwinding: a broken primitive may panic in its guard's
/// drop too, and a second panic while unwinding would abort the whole suite.
pub struct LeakOnPanic<T>(Option<T>);

impl<T> LeakOnPanic<T> {
    pub fn new(value: T) -> Self {
        LeakOnPanic(Some(value))
    }
}

impl<T> std::ops::Deref for LeakOnPanic<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("present until dropped")
    }
}

impl<T> std::ops::DerefMut for LeakOnPanic<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("present until dropped")
    }
}

impl<T> Drop for LeakOnPanic<T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            std::mem::forget(self.0.take());
        }
    }
}
