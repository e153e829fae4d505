//! The producer/consumer lesson (`cargo run --example producer_consumer`)
//! across processes: producers and consumers are separate processes that
//! share one fleet-wide `Queue` in Redis, and one consumer is killed in the
//! middle of an item.
//!
//! ```sh
//! cargo run -p ambisync-redis --example fleet_pipeline            # starts its own redis-server
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run -p ambisync-redis --example fleet_pipeline
//! ```
//!
//! The parent starts PRODUCERS producer processes and CONSUMERS consumer
//! processes (this same program, in `producer` and `consumer` mode; they
//! use the `_blocking` forms from plain threads). Producers put bursts of
//! messages on a bounded queue; consumers take one, "store" it, and
//! acknowledge it with `task_done`. Midway the parent SIGKILLs consumer 0
//! while it holds a message it has not acknowledged: that message stays in
//! the dead consumer's in-flight list until its heartbeat lapses (the
//! visibility timeout), then another consumer gets it, delivered a second
//! time. When the producers are done, `join()` proves that every message
//! put was acknowledged, `shutdown()` wakes the consumers blocked in `get`,
//! and the summary counts what was acknowledged:
//!
//! ```text
//! == processes: produced N, consumed N, lost 0, duplicates acknowledged 0, ...
//! ```
//!
//! A message can be *processed* twice (the killed consumer may have stored
//! it before it died): that is at-least-once delivery, and why handlers must
//! be idempotent. It is never *acknowledged* twice.

#[path = "../tests/support/server.rs"]
mod server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ambisync_redis::{Error, Queue, QueueOptions, Redis};

const PRODUCERS: usize = 2;
const CONSUMERS: usize = 3;
const QUEUE_SIZE: usize = 10;
const BURST: u64 = 5;
const PRODUCE_FOR: Duration = Duration::from_secs(4);
const KILL_AT: Duration = Duration::from_secs(2);
const VISIBILITY: Duration = Duration::from_secs(2);

fn options() -> QueueOptions {
    QueueOptions::new()
        .maxsize(QUEUE_SIZE)
        .visibility_timeout(VISIBILITY)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("producer") => producer(&args[2]),
        Some("consumer") => consumer(&args[2]),
        _ => parent(),
    }
}

fn connect() -> (Redis, Queue<String>) {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL");
    let name = std::env::var("QUEUE").expect("QUEUE");
    let redis = Redis::connect_blocking(url).expect("connect");
    let queue = Queue::with_options(&redis, &name, options()).unwrap();
    (redis, queue)
}

/// Puts bursts of messages `producer:seq` until the time is up.
fn producer(id: &str) {
    let (_redis, queue) = connect();
    let started = Instant::now();
    let mut seq = 0u64;
    while started.elapsed() < PRODUCE_FOR {
        for _ in 0..BURST {
            queue
                .put_blocking(&format!("{id}:{seq}"))
                .expect("put (the queue is full: this waits)");
            seq += 1;
        }
        // The "network" pause between bursts.
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("PRODUCED {seq}");
}

/// Takes messages, "stores" them, acknowledges them; ends at shutdown.
fn consumer(id: &str) {
    let (_redis, queue) = connect();
    // Consumer 0 is slow, so that it is likely to be killed mid-item.
    let store = if id == "0" {
        Duration::from_millis(300)
    } else {
        Duration::from_millis(3)
    };
    loop {
        let message = match queue.get_blocking() {
            Ok(message) => message,
            Err(Error::ShutDown) => break,
            Err(e) => panic!("consumer {id}: {e}"),
        };
        println!("GOT {} {}", message.as_str(), message.delivery_count());
        std::thread::sleep(store);
        let text = message.as_str().to_owned();
        let deliveries = message.delivery_count();
        match message.task_done_blocking() {
            Ok(()) => println!("ACK {text} {deliveries}"),
            // Our heartbeat lapsed and the message went to someone else:
            // the acknowledgement does not count.
            Err(Error::NotHeld) => println!("LATE {text}"),
            Err(e) => panic!("consumer {id}: {e}"),
        }
    }
    println!("DONE");
}

enum Who {
    Producer,
    Consumer(usize),
}

fn parent() {
    let (server, url) = server::RedisServer::from_env_or_start();
    if server.is_some() {
        println!("started redis-server on {url} (set REDIS_URL to use another)");
    }
    // A queue name of its own: a shut-down name stays shut down.
    let name = format!("fleet-pipeline-{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let redis = runtime
        .block_on(Redis::connect(url.clone()))
        .expect("connect to redis");
    let queue: Queue<String> = Queue::with_options(&redis, &name, options()).unwrap();
    println!(
        "{PRODUCERS} producer and {CONSUMERS} consumer processes share queue {name:?} \
         (maxsize {QUEUE_SIZE}, visibility timeout {VISIBILITY:?}); consumer 0 is killed at {KILL_AT:?}"
    );

    let (events, lines) = mpsc::channel::<(usize, String)>();
    let exe = std::env::current_exe().unwrap();
    let start = |mode: &str, id: usize| -> Child {
        let mut child = Command::new(&exe)
            .args([mode, &id.to_string()])
            .env("REDIS_URL", &url)
            .env("QUEUE", &name)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a process");
        let stdout = child.stdout.take().unwrap();
        let events = events.clone();
        let tag = if mode == "producer" { 1000 + id } else { id };
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = events.send((tag, line));
            }
        });
        child
    };
    let mut consumers: Vec<Option<Child>> = (0..CONSUMERS)
        .map(|id| Some(start("consumer", id)))
        .collect();
    let mut producers: Vec<Child> = (0..PRODUCERS).map(|id| start("producer", id)).collect();
    drop(events);

    let started = Instant::now();
    let mut next_report = started + Duration::from_secs(1);
    let mut produced = 0u64;
    let mut producers_done = 0;
    let mut acks: HashMap<String, u32> = HashMap::new();
    let mut redelivered = 0u64;
    let mut late = 0u64;
    let mut holding: Option<String> = None;
    let mut killed: Option<(Instant, String)> = None;
    let mut back_after: Option<Duration> = None;
    let mut consumers_done = 0;
    let mut joined = false;
    let mut shut_down_at: Option<Instant> = None;
    let who = |tag: usize| {
        if tag >= 1000 {
            Who::Producer
        } else {
            Who::Consumer(tag)
        }
    };
    while consumers_done < CONSUMERS - 1 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the pipeline did not finish within 2 minutes"
        );
        if let Ok((tag, line)) = lines.recv_timeout(Duration::from_millis(20)) {
            let mut words = line.split(' ');
            match (who(tag), words.next()) {
                (Who::Producer, Some("PRODUCED")) => {
                    produced += words.next().unwrap().parse::<u64>().unwrap();
                    producers_done += 1;
                }
                (Who::Consumer(id), Some("GOT")) => {
                    let message = words.next().unwrap().to_owned();
                    if id == 0 {
                        holding = Some(message.clone());
                    }
                    if words.next() != Some("1") {
                        redelivered += 1;
                        if killed.as_ref().is_some_and(|(_, m)| *m == message) {
                            let (at, _) = killed.as_ref().unwrap();
                            back_after = Some(at.elapsed());
                            println!(
                                "t={:>4.1}s  consumer {id} got {message} again (delivery 2), {:.1}s after the kill",
                                started.elapsed().as_secs_f64(),
                                at.elapsed().as_secs_f64()
                            );
                        }
                    }
                }
                (Who::Consumer(id), Some("ACK")) => {
                    let message = words.next().unwrap().to_owned();
                    if id == 0 {
                        holding = None;
                    }
                    *acks.entry(message).or_default() += 1;
                }
                (Who::Consumer(_), Some("LATE")) => late += 1,
                (Who::Consumer(_), Some("DONE")) => consumers_done += 1,
                _ => println!("   {line}"),
            }
        }
        // Kill consumer 0 while it holds a message it has not acknowledged.
        if killed.is_none()
            && started.elapsed() >= KILL_AT
            && let Some(message) = holding.take()
        {
            let mut child = consumers[0].take().unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
            println!(
                "t={:>4.1}s  killed consumer 0 while it held {message}: it comes back when the heartbeat lapses ({VISIBILITY:?})",
                started.elapsed().as_secs_f64()
            );
            killed = Some((Instant::now(), message));
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(1);
            let (len, unfinished) =
                runtime.block_on(async { (queue.len().await, queue.unfinished_tasks().await) });
            println!(
                "t={:>4.1}s  waiting in the queue: {}  unfinished tasks: {}  acknowledged: {}",
                started.elapsed().as_secs_f64(),
                len.unwrap(),
                unfinished.unwrap(),
                acks.values().sum::<u32>()
            );
        }
        if producers_done == PRODUCERS && !joined {
            // Every message put is acknowledged (or this times out).
            joined = runtime
                .block_on(queue.join_timeout(Duration::from_secs(60)))
                .unwrap();
            assert!(joined, "join timed out");
            println!(
                "t={:>4.1}s  join() returned: every message put was acknowledged; shutdown()",
                started.elapsed().as_secs_f64()
            );
            runtime.block_on(queue.shutdown()).unwrap();
            shut_down_at = Some(Instant::now());
        }
    }
    if let Some(at) = shut_down_at {
        println!(
            "   the consumers blocked in get() saw the shutdown within {:.0} ms",
            at.elapsed().as_secs_f64() * 1e3
        );
    }
    for child in producers.iter_mut().chain(consumers.iter_mut().flatten()) {
        let _ = child.wait();
    }
    let unfinished = runtime.block_on(queue.unfinished_tasks()).unwrap();
    let consumed = acks.len() as u64;
    let duplicates = acks.values().filter(|&&n| n > 1).count();
    let lost = produced - consumed.min(produced);
    let rate = consumed as f64 / started.elapsed().as_secs_f64();
    println!("   {redelivered} message(s) delivered again, {late} late acknowledgement(s) refused");
    println!(
        "== processes: produced {produced}, consumed {consumed}, lost {lost}, duplicates acknowledged {duplicates}, \
         unfinished tasks {unfinished}, {rate:.0} items/s"
    );
    // Leave nothing behind in a shared Redis.
    let mut conn = redis.connection();
    let keys: Vec<String> = [
        "q",
        "q:seq",
        "q:unfinished",
        "q:shutdown",
        "q:consumers",
        "q:dead",
    ]
    .iter()
    .map(|suffix| format!("{}{{{name}}}:{suffix}", redis.prefix()))
    .collect();
    let _ = runtime.block_on(redis::cmd("DEL").arg(&keys).exec_async(&mut conn));
    let ok =
        lost == 0 && duplicates == 0 && unfinished == 0 && killed.is_some() && back_after.is_some();
    if !ok {
        eprintln!("error: messages were lost or acknowledged twice, or the kill did not happen");
        std::process::exit(1);
    }
}
