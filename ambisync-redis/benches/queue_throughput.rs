//! Loopback benchmarks of the fleet-wide queue against a redis-server this
//! program starts itself (or `REDIS_URL`), side by side with
//!
//! - the floor: the bare commands of a reliable queue, sent through the same
//!   redis client — `LPUSH` to put, `BLMOVE` into a processing list on a
//!   dedicated connection to get, `LREM` from it to acknowledge;
//! - a plain `BLPOP` queue (`LPUSH` + `BLPOP`: no acknowledgement, an item
//!   taken by a consumer that dies is lost).
//!
//! Throughput: items/s with 1 producer → 1 consumer and 4 → 4 (each
//! producer and consumer a client of its own), over a bounded number of
//! items. Wake-up latency: a consumer blocked on an empty queue, the time
//! from just before a put until it holds the item (p50/p99).
//!
//! ```sh
//! cargo bench -p ambisync-redis --bench queue_throughput
//! ```

#[path = "../tests/support/server.rs"]
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ambisync_redis::{PriorityQueue, Queue, Redis};
use redis::aio::{ConnectionManager, MultiplexedConnection};

/// Items per throughput measurement.
const ITEMS: u64 = 5_000;
/// Wake-up trials per case and round.
const WAKE_TRIALS: usize = 100;
/// Rounds: every case once per round, so a noisy neighbour hurts them alike.
const ROUNDS: usize = 7;

fn main() {
    server::RedisServer::run_bench(bench);
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Floor,
    Blpop,
    Queue,
    Priority,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::Floor => "floor: LPUSH + BLMOVE + LREM, bare",
            Case::Blpop => "plain BLPOP queue (no ack)",
            Case::Queue => "ambisync-redis Queue (reliable)",
            Case::Priority => "ambisync-redis PriorityQueue (reliable)",
        }
    }
}

static RUN: AtomicU64 = AtomicU64::new(0);

fn fresh(name: &str) -> String {
    format!("bench-{name}-{}", RUN.fetch_add(1, Ordering::Relaxed))
}

async fn dedicated(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

async fn manager(url: &str) -> ConnectionManager {
    ConnectionManager::new(redis::Client::open(url).unwrap())
        .await
        .unwrap()
}

/// The bare floor's take (`BLMOVE` into `processing`) or the plain queue's
/// (`BLPOP`), blocking at most `timeout` seconds (0: as long as it takes).
async fn bare_take(
    case: Case,
    blocking: &mut MultiplexedConnection,
    key: &str,
    processing: &str,
    timeout: f64,
) -> Option<String> {
    if case == Case::Floor {
        redis::cmd("BLMOVE")
            .arg(key)
            .arg(processing)
            .arg("RIGHT")
            .arg("LEFT")
            .arg(timeout)
            .query_async(blocking)
            .await
            .unwrap()
    } else {
        redis::cmd("BLPOP")
            .arg(key)
            .arg(timeout)
            .query_async::<Option<(String, String)>>(blocking)
            .await
            .unwrap()
            .map(|(_, item)| item)
    }
}

/// The bare floor's acknowledgement: `LREM` from the processing list.
async fn bare_ack(conn: &mut ConnectionManager, processing: &str, item: &str) {
    let _: i64 = redis::cmd("LREM")
        .arg(processing)
        .arg(1)
        .arg(item)
        .query_async(conn)
        .await
        .unwrap();
}

/// Items/s from the first put until `ITEMS` items were taken (and, where
/// the case has one, acknowledged).
async fn throughput(url: &str, case: Case, producers: u64, consumers: u64) -> f64 {
    let key = fresh("tp");
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for p in 0..producers {
        let share = ITEMS / producers + u64::from(p < ITEMS % producers);
        let (url, key) = (url.to_owned(), key.clone());
        tasks.push(tokio::spawn(async move {
            match case {
                Case::Floor | Case::Blpop => {
                    let mut conn = manager(&url).await;
                    for n in 0..share {
                        let _: i64 = redis::cmd("LPUSH")
                            .arg(&key)
                            .arg(format!("{p}:{n}"))
                            .query_async(&mut conn)
                            .await
                            .unwrap();
                    }
                }
                Case::Queue => {
                    let redis = Redis::connect(url).await.unwrap();
                    let q: Queue<String> = Queue::new(&redis, &key).unwrap();
                    for n in 0..share {
                        q.put(&format!("{p}:{n}")).await.unwrap();
                    }
                }
                Case::Priority => {
                    let redis = Redis::connect(url).await.unwrap();
                    let q: PriorityQueue<String> = PriorityQueue::new(&redis, &key).unwrap();
                    for n in 0..share {
                        q.put(0, &format!("{p}:{n}")).await.unwrap();
                    }
                }
            }
        }));
    }
    for c in 0..consumers {
        let (url, key, done) = (url.to_owned(), key.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let more = || done.load(Ordering::Relaxed) < ITEMS;
            match case {
                Case::Floor | Case::Blpop => {
                    let mut blocking = dedicated(&url).await;
                    let mut conn = manager(&url).await;
                    let processing = format!("{key}:processing:{c}");
                    while more() {
                        let taken = bare_take(case, &mut blocking, &key, &processing, 0.1).await;
                        let Some(item) = taken else { continue };
                        if case == Case::Floor {
                            bare_ack(&mut conn, &processing, &item).await;
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Case::Queue => {
                    let redis = Redis::connect(url).await.unwrap();
                    let q: Queue<String> = Queue::new(&redis, &key).unwrap();
                    while more() {
                        if let Some(d) = q.get_timeout(Duration::from_millis(100)).await.unwrap() {
                            d.task_done().await.unwrap();
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Case::Priority => {
                    let redis = Redis::connect(url).await.unwrap();
                    let q: PriorityQueue<String> = PriorityQueue::new(&redis, &key).unwrap();
                    while more() {
                        if let Some(d) = q.get_timeout(Duration::from_millis(100)).await.unwrap() {
                            d.task_done().await.unwrap();
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    ITEMS as f64 / started.elapsed().as_secs_f64()
}

/// Wake-up latency samples: a consumer waits on an empty queue; the time
/// from just before the put until the consumer holds the item.
async fn wake_up(url: &str, case: Case) -> Vec<Duration> {
    let key = fresh("wake");
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let consumer = {
        let (url, key) = (url.to_owned(), key.clone());
        tokio::spawn(async move {
            match case {
                Case::Floor | Case::Blpop => {
                    let mut blocking = dedicated(&url).await;
                    let mut conn = manager(&url).await;
                    let processing = format!("{key}:processing");
                    for _ in 0..WAKE_TRIALS {
                        ready_tx.send(()).unwrap();
                        let taken = bare_take(case, &mut blocking, &key, &processing, 0.0).await;
                        sender.send(Instant::now()).unwrap();
                        if case == Case::Floor {
                            bare_ack(&mut conn, &processing, &taken.unwrap()).await;
                        }
                    }
                }
                Case::Queue | Case::Priority => {
                    let redis = Redis::connect(url).await.unwrap();
                    let fifo: Queue<String> = Queue::new(&redis, &key).unwrap();
                    let prio: PriorityQueue<String> = PriorityQueue::new(&redis, &key).unwrap();
                    for _ in 0..WAKE_TRIALS {
                        ready_tx.send(()).unwrap();
                        let delivery = if case == Case::Queue {
                            fifo.get().await.unwrap()
                        } else {
                            prio.get().await.unwrap()
                        };
                        sender.send(Instant::now()).unwrap();
                        delivery.task_done().await.unwrap();
                    }
                }
            }
        })
    };
    let mut samples = Vec::new();
    let mut conn = manager(url).await;
    let redis = Redis::connect(url.to_owned()).await.unwrap();
    let fifo: Queue<String> = Queue::new(&redis, &key).unwrap();
    let prio: PriorityQueue<String> = PriorityQueue::new(&redis, &key).unwrap();
    for n in 0..WAKE_TRIALS {
        ready_rx.recv().await.unwrap();
        // Let the consumer reach its blocking wait.
        tokio::time::sleep(Duration::from_millis(3)).await;
        let item = format!("item {n}");
        let before = Instant::now();
        match case {
            Case::Floor | Case::Blpop => {
                let _: i64 = redis::cmd("LPUSH")
                    .arg(&key)
                    .arg(&item)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
            Case::Queue => fifo.put(&item).await.unwrap(),
            Case::Priority => prio.put(0, &item).await.unwrap(),
        }
        let got = receiver.recv().await.unwrap();
        samples.push(got.saturating_duration_since(before));
    }
    consumer.await.unwrap();
    samples
}

/// A case must finish within two minutes: a hang is a failure with a
/// message, not a benchmark that never ends.
async fn bounded<T>(case: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), case)
        .await
        .expect("a benchmark case did not finish within 2 minutes")
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

async fn bench(url: String) {
    let cases = [Case::Floor, Case::Blpop, Case::Queue, Case::Priority];
    let shapes = [(1u64, 1u64), (4, 4)];
    // [shape][case] -> items/s of each round; [case] -> (p50s, p99s) in ms.
    let mut rates = vec![vec![Vec::new(); cases.len()]; shapes.len()];
    let mut wakes = vec![(Vec::new(), Vec::new()); cases.len()];
    for round in 0..ROUNDS {
        for (s, &(producers, consumers)) in shapes.iter().enumerate() {
            for (c, &case) in cases.iter().enumerate() {
                eprintln!("round {}: {producers}->{consumers} {case:?}", round + 1);
                let rate = bounded(throughput(&url, case, producers, consumers)).await;
                rates[s][c].push(rate);
            }
        }
        for (c, &case) in cases.iter().enumerate() {
            eprintln!("round {}: wake-up {case:?}", round + 1);
            let mut samples = bounded(wake_up(&url, case)).await;
            let p50 = percentile(&mut samples, 0.5).as_secs_f64() * 1e3;
            let p99 = percentile(&mut samples, 0.99).as_secs_f64() * 1e3;
            wakes[c].0.push(p50);
            wakes[c].1.push(p99);
        }
        eprintln!("round {} of {ROUNDS} done", round + 1);
    }
    println!(
        "== throughput, items/s ({ITEMS} items, {ROUNDS} rounds: median [min-max], ratio to the floor's median) =="
    );
    for (s, &(producers, consumers)) in shapes.iter().enumerate() {
        let floor = median(&mut rates[s][0].clone());
        for (c, &case) in cases.iter().enumerate() {
            let values = &mut rates[s][c];
            let (lo, hi) = range(values);
            let mid = median(values);
            println!(
                "{producers}->{consumers}  {:<42} {mid:>7.0} [{lo:.0}-{hi:.0}]  {:.2}x floor",
                case.label(),
                mid / floor
            );
        }
    }
    println!(
        "== get wake-up latency, ms ({WAKE_TRIALS} trials per round: median of the rounds' p50 and p99 [min-max]) =="
    );
    for (c, &case) in cases.iter().enumerate() {
        let (p50s, p99s) = &mut wakes[c];
        let (lo50, hi50) = range(p50s);
        let (lo99, hi99) = range(p99s);
        println!(
            "{:<45} p50 {:.2} [{lo50:.2}-{hi50:.2}]  p99 {:.2} [{lo99:.2}-{hi99:.2}]",
            case.label(),
            median(p50s),
            median(p99s)
        );
    }
}
