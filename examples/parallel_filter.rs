//! A parallel map + filter over a work queue: Python's `queue.Queue` worker
//! pool lesson.
//!
//! Python lesson: the worker-pool example of the `queue` docs (workers loop on
//! `q.get()` … `q.task_done()`, the main thread puts the work and waits in
//! `q.join()`), ended with Python 3.13's `q.shutdown()`.
//!
//! The main thread puts the numbers 1..=limit on a bounded work `Queue`. A
//! pool of workers — two async tasks and two OS threads, all taking from the
//! same queue — tests each number for primality, puts the primes on a result
//! queue, and calls `task_done()`. The main thread's `join()` returns once
//! every number put was tested; `shutdown()` then sends the workers home, and
//! the result queue is drained through its `stream()`.
//!
//! The primes found in parallel (in whatever order the workers finished) are
//! sorted and compared with a plain sequential filter; any difference exits
//! with status 1.
//!
//! What to look for in the output: `join()` returns only after the last number
//! was tested; every worker then reports "work queue shut down" with its
//! share of the work (tasks and threads split it between them); the `==` line
//! says the parallel primes equal the sequential ones.
//!
//! ```text
//! cargo run --example parallel_filter -- --limit 20000
//! ```

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ambisync::{GetError, Queue};
use futures::StreamExt;

const TASKS: usize = 2;
const THREADS: usize = 2;

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Timestamped tutorial-style logging.
fn log(who: &str, what: impl std::fmt::Display) {
    println!("{:>8.3}s  {who:<9} {what}", START.elapsed().as_secs_f64());
}

/// CI must never hang on an example: give up loudly if it takes far too long.
fn start_watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("error: still running after {limit:?}, something is stuck");
        std::process::exit(2);
    });
}

fn limit_from_args() -> Result<u64, String> {
    let mut limit = 20_000;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--limit" => {
                let value = args.next().ok_or("--limit needs a value")?;
                limit = value
                    .parse()
                    .map_err(|_| format!("--limit: `{value}` is not a whole number"))?;
            }
            _ => {
                return Err(format!(
                    "unknown option {flag}\nusage: parallel_filter [--limit N]"
                ));
            }
        }
    }
    Ok(limit)
}

/// The "map" step: trial division, deliberately plain.
fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

struct Pool {
    work: Queue<u64>,
    primes: Queue<u64>,
}

/// What one worker did, for the log.
fn report(who: &str, tested: usize, found: usize) {
    log(
        who,
        format!("work queue shut down: tested {tested}, found {found} primes"),
    );
}

async fn worker_task(pool: Arc<Pool>, who: String) {
    let (mut tested, mut found) = (0, 0);
    loop {
        let n = match pool.work.get().await {
            Ok(n) => n,
            Err(GetError::ShutDown) => break,
            Err(other) => panic!("unexpected get error: {other}"),
        };
        tested += 1;
        if is_prime(n) {
            found += 1;
            pool.primes
                .put(n)
                .await
                .expect("the result queue stays open");
        }
        pool.work.task_done().expect("one task_done per get");
    }
    report(&who, tested, found);
}

fn worker_thread(pool: Arc<Pool>, who: String) {
    let (mut tested, mut found) = (0, 0);
    // `get_blocking` fails only once the queue is shut down and drained.
    while let Ok(n) = pool.work.get_blocking() {
        tested += 1;
        if is_prime(n) {
            found += 1;
            pool.primes
                .put_blocking(n)
                .expect("the result queue stays open");
        }
        pool.work.task_done().expect("one task_done per get");
    }
    report(&who, tested, found);
}

fn main() {
    let limit = limit_from_args().unwrap_or_else(|problem| {
        eprintln!("error: {problem}");
        std::process::exit(2);
    });
    LazyLock::force(&START);
    start_watchdog(Duration::from_secs(60));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let pool = Arc::new(Pool {
        work: Queue::bounded(64),
        primes: Queue::unbounded(),
    });

    let tasks: Vec<_> = (1..=TASKS)
        .map(|id| runtime.spawn(worker_task(Arc::clone(&pool), format!("task {id}"))))
        .collect();
    let threads: Vec<_> = (1..=THREADS)
        .map(|id| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || worker_thread(pool, format!("thread {id}")))
        })
        .collect();

    log(
        "main",
        format!("feeding 1..={limit} to {TASKS} tasks and {THREADS} threads"),
    );
    for n in 1..=limit {
        // A bounded queue: the main thread waits here while the workers lag.
        pool.work
            .put_blocking(n)
            .expect("the work queue stays open while feeding");
    }
    log(
        "main",
        format!(
            "all {limit} numbers queued, {} still waiting",
            pool.work.len()
        ),
    );
    if !pool.work.join_timeout_blocking(Duration::from_secs(30)) {
        eprintln!("error: the workers did not finish within 30 s");
        std::process::exit(1);
    }
    log("main", "join() returned: every number was tested");
    pool.work.shutdown();

    for thread in threads {
        thread.join().expect("worker thread panicked");
    }
    let mut parallel: Vec<u64> = runtime.block_on(async {
        for task in tasks {
            task.await.expect("worker task panicked");
        }
        // The workers are gone: shut the results down too, so the stream ends.
        pool.primes.shutdown();
        pool.primes.stream().collect().await
    });
    let arrival_order_sorted = parallel.is_sorted();
    parallel.sort_unstable();

    let sequential: Vec<u64> = (1..=limit).filter(|&n| is_prime(n)).collect();
    println!();
    println!(
        "== {} primes up to {limit} in parallel (arrived {}), {} sequentially: {}",
        parallel.len(),
        if arrival_order_sorted {
            "in order"
        } else {
            "out of order"
        },
        sequential.len(),
        if parallel == sequential {
            "identical"
        } else {
            "DIFFERENT"
        }
    );
    if parallel != sequential {
        eprintln!("error: the parallel filter disagrees with the sequential one");
        std::process::exit(1);
    }
}
