//! Loopback benchmarks against a redis-server this program starts itself
//! (or `REDIS_URL`): acquire+release round trip and wake-up latency after a
//! release, for ambisync-redis, `rslock`, a plain `SET NX PX` retry loop,
//! and a bare two-command sequence as the floor.
//!
//! ```sh
//! cargo bench -p ambisync-redis --bench redis_round_trip
//! ```

#[path = "../tests/support/server.rs"]
mod server;

use std::time::{Duration, Instant};

use ambisync_redis::{BoundedSemaphore, Lock, Redis};
use redis::aio::ConnectionManager;

const ROUND_TRIPS: usize = 3_000;
const WAKE_TRIALS: usize = 500;
const POLL_TRIALS: usize = 40;
/// The retry delay of the hand-written polling lock (the common choice).
const POLL_DELAY: Duration = Duration::from_millis(100);

fn main() {
    // `cargo bench` passes `--bench`; accept and ignore the usual flags.
    server::RedisServer::run_bench(bench);
}

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn row(what: &str, s: &Stats, floor: Option<&Stats>) {
    let ratio = floor.map_or(String::new(), |f| {
        format!("  {:.2}x floor", s.p50.as_secs_f64() / f.p50.as_secs_f64())
    });
    println!(
        "{what:<44} p50 {:>9.1} us  p99 {:>9.1} us{ratio}",
        s.p50.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6
    );
}

async fn bench(url: String) {
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = ConnectionManager::new(client.clone()).await.unwrap();
    let redis = Redis::connect(url.clone()).await.unwrap();
    let other = Redis::connect(url.clone()).await.unwrap();
    let rslock = rslock::LockManager::new(vec![url.clone()]);

    println!("== acquire + release, uncontended ({ROUND_TRIPS} each, loopback, interleaved) ==");
    let lock = Lock::new(&redis, "bench-lock").unwrap();
    let sem = BoundedSemaphore::new(&redis, "bench-sem", 4).unwrap();
    // The cases take turns in rounds of 50, so that a noisy neighbour hurts
    // them alike; the first round of each is warm-up.
    const CASES: usize = 6;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); CASES];
    let mut token = 0u64;
    for round in 0..(ROUND_TRIPS / 50 + 1) {
        for (case, samples) in samples.iter_mut().enumerate() {
            for _ in 0..50 {
                token += 1;
                let started = Instant::now();
                match case {
                    // Floor: the two commands a lock needs, bare.
                    0 => {
                        let _: Option<String> = redis::cmd("SET")
                            .arg("bench:floor")
                            .arg("x")
                            .arg("NX")
                            .arg("PX")
                            .arg(10_000)
                            .query_async(&mut conn)
                            .await
                            .unwrap();
                        let _: i64 = redis::cmd("DEL")
                            .arg("bench:floor")
                            .query_async(&mut conn)
                            .await
                            .unwrap();
                    }
                    1 => lock.lock().await.unwrap().release().await.unwrap(),
                    2 => sem.acquire().await.unwrap().release().await.unwrap(),
                    // Floor 2: the crate's own two lock scripts, sent bare.
                    5 => {
                        let [acquire, release] = ambisync_redis::__bench::lock_scripts();
                        let secret = token.to_string();
                        let _: (i64, String) = acquire
                            .key("bench:floor2")
                            .key("bench:floor2:fence")
                            .arg(10_000)
                            .arg(&secret)
                            .arg(0)
                            .invoke_async(&mut conn)
                            .await
                            .unwrap();
                        let _: i64 = release
                            .key("bench:floor2")
                            .arg(&secret)
                            .arg("bench:floor2:released")
                            .invoke_async(&mut conn)
                            .await
                            .unwrap();
                    }
                    3 => {
                        let held = rslock
                            .lock("bench-rslock", Duration::from_secs(10))
                            .await
                            .unwrap();
                        rslock.unlock(&held).await;
                    }
                    4 => {
                        let token = token.to_string();
                        setnx_lock(&mut conn, "bench:setnx", &token).await;
                        setnx_unlock(&mut conn, "bench:setnx", &token).await;
                    }
                    _ => unreachable!(),
                }
                if round > 0 {
                    samples.push(started.elapsed());
                }
            }
        }
    }
    let mut samples = samples.into_iter().map(stats);
    let floor = samples.next().unwrap();
    row("floor: bare SET NX PX + DEL (2 round trips)", &floor, None);
    let ours = samples.next().unwrap();
    let lock_p50 = ours.p50;
    row("ambisync-redis Lock lock + release", &ours, Some(&floor));
    row(
        "ambisync-redis BoundedSemaphore acquire + release",
        &samples.next().unwrap(),
        Some(&floor),
    );
    row(
        "rslock lock + unlock",
        &samples.next().unwrap(),
        Some(&floor),
    );
    row(
        "SET NX PX + compare-and-delete script",
        &samples.next().unwrap(),
        Some(&floor),
    );
    let scripts = samples.next().unwrap();
    row(
        "floor 2: the Lock's two scripts, bare",
        &scripts,
        Some(&floor),
    );
    println!(
        "{:<44} {:.2}x floor 2",
        "ambisync-redis Lock vs its own scripts bare",
        lock_p50.as_secs_f64() / scripts.p50.as_secs_f64()
    );

    println!("\n== wake-up latency: release -> waiter (another client) holds it ==");
    // ambisync-redis Lock.
    let waiter_lock = Lock::new(&other, "bench-wake").unwrap();
    let holder_lock = Lock::new(&redis, "bench-wake").unwrap();
    let mut samples = Vec::new();
    for _ in 0..WAKE_TRIALS {
        let guard = holder_lock.lock().await.unwrap();
        let waiter = tokio::spawn({
            let lock = waiter_lock.clone();
            async move {
                let guard = lock.lock().await.unwrap();
                (Instant::now(), guard)
            }
        });
        tokio::time::sleep(Duration::from_millis(3)).await;
        let released = Instant::now();
        guard.release().await.unwrap();
        let (woke, guard) = waiter.await.unwrap();
        samples.push(woke - released);
        guard.release().await.unwrap();
    }
    row("ambisync-redis Lock", &stats(samples), None);

    // ambisync-redis BoundedSemaphore(1).
    let waiter_sem = BoundedSemaphore::new(&other, "bench-wake-sem", 1).unwrap();
    let holder_sem = BoundedSemaphore::new(&redis, "bench-wake-sem", 1).unwrap();
    let mut samples = Vec::new();
    for _ in 0..WAKE_TRIALS {
        let permit = holder_sem.acquire().await.unwrap();
        let waiter = tokio::spawn({
            let sem = waiter_sem.clone();
            async move {
                let permit = sem.acquire().await.unwrap();
                (Instant::now(), permit)
            }
        });
        tokio::time::sleep(Duration::from_millis(3)).await;
        let released = Instant::now();
        permit.release().await.unwrap();
        let (woke, permit) = waiter.await.unwrap();
        samples.push(woke - released);
        permit.release().await.unwrap();
    }
    row("ambisync-redis BoundedSemaphore(1)", &stats(samples), None);

    // rslock: acquire_no_guard loops lock(), which retries after 0..200 ms.
    let waiter_rslock = rslock::LockManager::new(vec![url.clone()]);
    let mut samples = Vec::new();
    for _ in 0..POLL_TRIALS {
        let held = rslock
            .lock("bench-wake-rslock", Duration::from_secs(10))
            .await
            .unwrap();
        let waiter = tokio::spawn({
            let manager = waiter_rslock.clone();
            async move {
                let lock = manager
                    .acquire_no_guard("bench-wake-rslock", Duration::from_secs(10))
                    .await
                    .unwrap();
                (Instant::now(), lock)
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let released = Instant::now();
        rslock.unlock(&held).await;
        let (woke, lock) = waiter.await.unwrap();
        samples.push(woke - released);
        waiter_rslock.unlock(&lock).await;
    }
    row("rslock (retry delay 0..200 ms)", &stats(samples), None);

    // A plain SET NX PX retry loop with a fixed 100 ms delay.
    let mut waiter_conn = ConnectionManager::new(client.clone()).await.unwrap();
    let mut samples = Vec::new();
    for i in 0..POLL_TRIALS {
        let token = format!("h{i}");
        setnx_lock(&mut conn, "bench:wake-setnx", &token).await;
        let waiter = tokio::spawn({
            let mut conn = waiter_conn.clone();
            let token = format!("w{i}");
            async move {
                setnx_lock(&mut conn, "bench:wake-setnx", &token).await;
                (Instant::now(), token)
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let released = Instant::now();
        setnx_unlock(&mut conn, "bench:wake-setnx", &token).await;
        let (woke, token) = waiter.await.unwrap();
        samples.push(woke - released);
        setnx_unlock(&mut waiter_conn, "bench:wake-setnx", &token).await;
    }
    row("SET NX PX retry loop (100 ms delay)", &stats(samples), None);
}

/// `SET key token NX PX`, retried every [`POLL_DELAY`] until it succeeds.
async fn setnx_lock(conn: &mut ConnectionManager, key: &str, token: &str) {
    loop {
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(10_000)
            .query_async(conn)
            .await
            .unwrap();
        if set.is_some() {
            return;
        }
        tokio::time::sleep(POLL_DELAY).await;
    }
}

/// Deletes `key` if it still holds `token`.
async fn setnx_unlock(conn: &mut ConnectionManager, key: &str, token: &str) {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
        redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        )
    });
    let _: i64 = SCRIPT.key(key).arg(token).invoke_async(conn).await.unwrap();
}
