//! Several worker processes share one limit of N toward a slow backend.
//!
//! ```sh
//! cargo run -p ambisync-redis --example fleet_limit            # starts its own redis-server
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run -p ambisync-redis --example fleet_limit
//! ```
//!
//! The parent starts WORKERS processes (this same program, `worker` mode).
//! Each loops: take a permit of one fleet-wide `BoundedSemaphore(N)`, call
//! the "backend" (a sleep, counted in a file that stands for the backend's
//! view, outside Redis), release. Once a second the parent prints how many
//! are inside the backend (never more than N). Midway it SIGKILLs a worker
//! while that worker is inside: its permit stays taken until its lease
//! expires, then comes back, and the others fill all N slots again.

#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/shared_file.rs"]
mod shared_file;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ambisync_redis::{BoundedSemaphore, Redis};
use shared_file::{HolderCount, SharedFile};

const WORKERS: usize = 5;
const LIMIT: usize = 3;
const LEASE: Duration = Duration::from_secs(3);
const NAME: &str = "fleet-limit";
const KILL_AT: Duration = Duration::from_secs(4);
const RUN_FOR: Duration = Duration::from_secs(12);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        worker(&args[2]);
    } else {
        parent();
    }
}

/// One worker process: acquire, call the backend, release, forever.
fn worker(id: &str) {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL");
    let backend = HolderCount(SharedFile::new(std::env::var("BACKEND").expect("BACKEND")));
    let redis = Redis::builder(url)
        .lease(LEASE)
        .connect_blocking()
        .expect("connect");
    let limit = BoundedSemaphore::new(&redis, NAME, LIMIT).unwrap();
    let mut seed = std::process::id() as u64 | 1;
    loop {
        let permit = limit.acquire_blocking().expect("acquire");
        let inside = backend.enter();
        assert!(inside <= LIMIT as i64, "{inside} inside the backend");
        println!("IN {id}");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(200 + seed % 400));
        backend.leave();
        println!("OUT {id}");
        permit.release_blocking().expect("release");
    }
}

fn parent() {
    // Our own Redis unless one is given.
    let (server, url) = server::RedisServer::from_env_or_start();
    if server.is_some() {
        println!("started redis-server on {url} (set REDIS_URL to use another)");
    }
    let dir = tempfile::tempdir().unwrap();
    let backend_path = dir.path().join("backend");
    let backend = HolderCount(SharedFile::new(&backend_path));
    let redis = Redis::connect_blocking(url.clone()).expect("connect to redis");
    let limit = BoundedSemaphore::new(&redis, NAME, LIMIT).unwrap();
    let mut conn = redis.connection();
    let key = format!("{}{{{NAME}}}:sem", redis.prefix());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Start from a clean semaphore (an earlier run may have left leases).
    runtime
        .block_on(redis::cmd("DEL").arg(&key).exec_async(&mut conn))
        .unwrap();
    println!(
        "{WORKERS} workers share a limit of {LIMIT} (lease {LEASE:?}); one is killed at {KILL_AT:?}"
    );

    let (events, lines) = mpsc::channel::<(usize, String)>();
    let exe = std::env::current_exe().unwrap();
    let mut workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            let mut child = Command::new(&exe)
                .args(["worker", &id.to_string()])
                .env("REDIS_URL", &url)
                .env("BACKEND", &backend_path)
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a worker");
            let stdout = child.stdout.take().unwrap();
            let events = events.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = events.send((id, line));
                }
            });
            Some(child)
        })
        .collect();

    let started = Instant::now();
    let mut next_report = started + Duration::from_secs(1);
    let mut victim_inside = false;
    let mut killed: Option<(Instant, Vec<String>)> = None;
    let mut came_back: Option<Duration> = None;
    let mut most = 0;
    let mut calls = 0u64;
    while started.elapsed() < RUN_FOR {
        if let Ok((id, line)) = lines.recv_timeout(Duration::from_millis(20)) {
            if line.starts_with("IN") {
                calls += 1;
            }
            if id == 0 {
                victim_inside = line.starts_with("IN");
            }
        }
        // Kill worker 0 while it is inside the backend (it holds a permit).
        if killed.is_none() && started.elapsed() >= KILL_AT && victim_inside {
            let mut child = workers[0].take().unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
            // The dead worker was inside: the backend sees its connection drop.
            backend.leave();
            let leases: Vec<String> = runtime
                .block_on(
                    redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut conn),
                )
                .unwrap();
            println!(
                "t={:>4.1}s  killed worker 0 while it held a permit; its lease runs out within {LEASE:?}",
                started.elapsed().as_secs_f64()
            );
            killed = Some((Instant::now(), leases));
        }
        // The dead worker's lease: the one lease of the kill-time snapshot
        // still in Redis after the live holders' short calls are over.
        if let (Some((at, before)), None) = (&killed, came_back)
            && at.elapsed() > Duration::from_millis(1200)
        {
            let now: Vec<String> = runtime
                .block_on(
                    redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut conn),
                )
                .unwrap();
            if !before.iter().any(|lease| now.contains(lease)) {
                came_back = Some(at.elapsed());
                println!(
                    "t={:>4.1}s  the killed worker's permit came back after {:.1}s (lease {LEASE:?})",
                    started.elapsed().as_secs_f64(),
                    at.elapsed().as_secs_f64()
                );
            }
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(1);
            let [inside, max, _, _] = backend.0.read();
            most = most.max(max);
            let held = runtime.block_on(limit.holders()).unwrap();
            let dead = match (&killed, came_back) {
                (Some(_), None) => "  (one of them: the killed worker's lease)",
                _ => "",
            };
            println!(
                "t={:>4.1}s  inside the backend: {inside} of {LIMIT}  leases in redis: {held}{dead}",
                started.elapsed().as_secs_f64()
            );
        }
    }
    for child in workers.iter_mut().flatten() {
        let _ = child.kill();
        let _ = child.wait();
    }
    println!("{calls} backend calls, at most {most} inside at once (limit {LIMIT})");
    assert!(most <= LIMIT as i64, "the limit was exceeded");
    assert!(killed.is_some(), "worker 0 was never inside to be killed");
    let back = came_back.expect("the killed worker's permit never came back");
    assert!(
        back <= LEASE + Duration::from_secs(2),
        "came back after {back:?}"
    );
}
