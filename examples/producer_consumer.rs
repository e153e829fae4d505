//! The producer/consumer pipeline of the Python threading tutorials, done right.
//!
//! Producers read bursts of "network messages" and put them on a bounded
//! queue; consumers take them off and "store" them. When the run time is up,
//! an `Event` tells the producers to stop; `join()` then proves that every
//! message put was processed, `shutdown()` lets the consumers drain and exit,
//! and the summary checks that nothing was lost or stored twice.
//!
//! The same pipeline runs twice: as async tasks on tokio, then as OS threads
//! using the `_blocking` forms of the very same types.
//!
//! ```text
//! cargo run --example producer_consumer -- --producers 3 --consumers 2 --queue-size 10 --run-ms 500
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ambisync::{Event, GetError, Lock, Queue};

/// Command-line settings, with defaults that finish in about a second.
#[derive(Clone, Debug)]
struct Settings {
    producers: usize,
    consumers: usize,
    queue_size: usize,
    /// How long producers keep reading before the stop event is set.
    run: Duration,
    /// Messages per burst read from the "network".
    burst: usize,
    /// The "network" latency between bursts.
    pause: Duration,
    /// How long storing one message takes.
    store: Duration,
}

impl Settings {
    fn from_args() -> Result<Settings, String> {
        let mut settings = Settings {
            producers: 2,
            consumers: 2,
            queue_size: 10,
            run: Duration::from_millis(400),
            burst: 5,
            pause: Duration::from_millis(2),
            store: Duration::from_micros(200),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err(String::new());
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number: u64 = value
                .parse()
                .map_err(|_| format!("{flag}: `{value}` is not a whole number"))?;
            let count = usize::try_from(number).map_err(|_| format!("{flag}: too large"))?;
            match flag.as_str() {
                "--producers" => settings.producers = count,
                "--consumers" => settings.consumers = count,
                "--queue-size" => settings.queue_size = count,
                "--run-ms" => settings.run = Duration::from_millis(number),
                "--burst" => settings.burst = count,
                "--pause-ms" => settings.pause = Duration::from_millis(number),
                "--store-us" => settings.store = Duration::from_micros(number),
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        for (name, value) in [
            ("--producers", settings.producers),
            ("--consumers", settings.consumers),
            ("--queue-size", settings.queue_size),
            ("--burst", settings.burst),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(settings)
    }
}

const USAGE: &str = "usage: producer_consumer [--producers N] [--consumers N] [--queue-size N] \
[--run-ms MS] [--burst N] [--pause-ms MS] [--store-us US]";

/// A message as read from the network.
#[derive(Debug)]
struct Message {
    producer: usize,
    seq: u64,
    body: String,
}

impl Message {
    fn new(producer: usize, seq: u64) -> Message {
        Message {
            producer,
            seq,
            body: format!("reading #{seq} from sensor {producer}"),
        }
    }
}

/// Timestamped tutorial-style logging.
#[derive(Clone, Copy)]
struct Log {
    start: Instant,
}

impl Log {
    fn line(&self, who: &str, what: impl std::fmt::Display) {
        println!(
            "{:>8.3}s  {who:<12} {what}",
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// What both modes share: the queue, the stop event and the store.
struct Pipeline {
    queue: Queue<Message>,
    stop: Event,
    /// Every message stored, by (producer, seq): a duplicate would show here.
    stored: Lock<HashSet<(usize, u64)>>,
    duplicates: AtomicU64,
    produced: AtomicU64,
    log: Log,
}

impl Pipeline {
    fn new(settings: &Settings) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            queue: Queue::bounded(settings.queue_size),
            stop: Event::new(),
            stored: Lock::new(HashSet::new()),
            duplicates: AtomicU64::new(0),
            produced: AtomicU64::new(0),
            log: Log {
                start: Instant::now(),
            },
        })
    }

    /// "Stores" a message (a short piece of work) and records it.
    fn store(&self, stored: &mut HashSet<(usize, u64)>, message: &Message) {
        std::hint::black_box(message.body.len());
        if !stored.insert((message.producer, message.seq)) {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn summary(&self, mode: &str, elapsed: Duration) -> bool {
        let produced = self.produced.load(Ordering::Relaxed);
        // Every consumer has finished: the store is free, no waiting needed
        // (and none allowed: the async mode calls this inside the runtime).
        let stored = self.stored.try_lock().expect("consumers are done").len() as u64;
        let duplicates = self.duplicates.load(Ordering::Relaxed);
        let lost = produced - stored.min(produced);
        let rate = stored as f64 / elapsed.as_secs_f64();
        println!(
            "== {mode}: produced {produced}, consumed {stored}, lost {lost}, duplicates {duplicates}, \
             {rate:.0} items/s, unfinished tasks {}\n",
            self.queue.unfinished_tasks()
        );
        lost == 0 && duplicates == 0 && self.queue.unfinished_tasks() == 0
    }
}

/// Simulated I/O in a task. tokio's timer rounds every sleep up to its next
/// millisecond tick, even a zero one, so zero means no sleep at all (as
/// `std::thread::sleep(ZERO)` does in the thread mode).
async fn simulate(duration: Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

async fn run_tasks(settings: &Settings) -> bool {
    let pipeline = Pipeline::new(settings);
    let log = pipeline.log;
    log.line("main", format!("async mode: {settings:?}"));

    let mut producers = Vec::new();
    for id in 1..=settings.producers {
        let (pipeline, settings) = (Arc::clone(&pipeline), settings.clone());
        producers.push(tokio::spawn(async move {
            let who = format!("producer {id}");
            let mut seq = 0;
            while !pipeline.stop.is_set() {
                simulate(settings.pause).await; // waiting for the network
                for _ in 0..settings.burst {
                    seq += 1;
                    let message = Message::new(id, seq);
                    pipeline
                        .queue
                        .put(message)
                        .await
                        .expect("queue open while producing");
                    pipeline.produced.fetch_add(1, Ordering::Relaxed);
                }
                if seq == settings.burst as u64 {
                    pipeline
                        .log
                        .line(&who, format!("first burst of {} sent", settings.burst));
                }
            }
            pipeline
                .log
                .line(&who, format!("stop event seen, sent {seq} messages"));
        }));
    }

    let mut consumers = Vec::new();
    for id in 1..=settings.consumers {
        let (pipeline, settings) = (Arc::clone(&pipeline), settings.clone());
        consumers.push(tokio::spawn(async move {
            let who = format!("consumer {id}");
            let mut count = 0;
            loop {
                match pipeline.queue.get().await {
                    Ok(message) => {
                        simulate(settings.store).await; // writing to storage
                        let mut stored = pipeline.stored.lock().await;
                        pipeline.store(&mut stored, &message);
                        drop(stored);
                        pipeline.queue.task_done().expect("one task_done per get");
                        count += 1;
                    }
                    Err(GetError::ShutDown) => break,
                    Err(other) => panic!("unexpected get error: {other}"),
                }
            }
            pipeline
                .log
                .line(&who, format!("queue shut down and drained, stored {count}"));
        }));
    }

    let started = Instant::now();
    // `interval` refuses a zero period; `--run-ms 0` means "stop at once".
    let mut ticks = tokio::time::interval((settings.run / 4).max(Duration::from_micros(1)));
    ticks.tick().await;
    for _ in 0..4 {
        ticks.tick().await;
        log.line(
            "main",
            format!("queue holds {} messages", pipeline.queue.len()),
        );
    }
    log.line("main", "time is up: setting the stop event");
    pipeline.stop.set();
    for producer in producers {
        producer.await.expect("producer task");
    }
    pipeline.queue.join().await;
    log.line("main", "join() returned: every message put was processed");
    pipeline.queue.shutdown();
    for consumer in consumers {
        consumer.await.expect("consumer task");
    }
    pipeline.summary("async tasks on tokio", started.elapsed())
}

fn run_threads(settings: &Settings) -> bool {
    let pipeline = Pipeline::new(settings);
    let log = pipeline.log;
    log.line("main", format!("thread mode: {settings:?}"));

    let producers: Vec<_> = (1..=settings.producers)
        .map(|id| {
            let (pipeline, settings) = (Arc::clone(&pipeline), settings.clone());
            std::thread::spawn(move || {
                let who = format!("producer {id}");
                let mut seq = 0;
                // `wait_timeout_blocking` doubles as the network pause and the
                // stop check: it returns true as soon as the event is set.
                while !pipeline.stop.wait_timeout_blocking(settings.pause) {
                    for _ in 0..settings.burst {
                        seq += 1;
                        let message = Message::new(id, seq);
                        pipeline
                            .queue
                            .put_blocking(message)
                            .expect("queue open while producing");
                        pipeline.produced.fetch_add(1, Ordering::Relaxed);
                    }
                    if seq == settings.burst as u64 {
                        pipeline
                            .log
                            .line(&who, format!("first burst of {} sent", settings.burst));
                    }
                }
                pipeline
                    .log
                    .line(&who, format!("stop event seen, sent {seq} messages"));
            })
        })
        .collect();

    let consumers: Vec<_> = (1..=settings.consumers)
        .map(|id| {
            let (pipeline, settings) = (Arc::clone(&pipeline), settings.clone());
            std::thread::spawn(move || {
                let who = format!("consumer {id}");
                let mut count = 0;
                while let Ok(message) = pipeline.queue.get_blocking() {
                    std::thread::sleep(settings.store); // writing to storage
                    pipeline.store(&mut pipeline.stored.lock_blocking(), &message);
                    pipeline.queue.task_done().expect("one task_done per get");
                    count += 1;
                }
                pipeline
                    .log
                    .line(&who, format!("queue shut down and drained, stored {count}"));
            })
        })
        .collect();

    let started = Instant::now();
    for _ in 0..4 {
        std::thread::sleep(settings.run / 4);
        log.line(
            "main",
            format!("queue holds {} messages", pipeline.queue.len()),
        );
    }
    log.line("main", "time is up: setting the stop event");
    pipeline.stop.set();
    for producer in producers {
        producer.join().expect("producer thread");
    }
    pipeline.queue.join_blocking();
    log.line(
        "main",
        "join_blocking() returned: every message put was processed",
    );
    pipeline.queue.shutdown();
    for consumer in consumers {
        consumer.join().expect("consumer thread");
    }
    pipeline.summary("OS threads", started.elapsed())
}

fn main() {
    let settings = match Settings::from_args() {
        Ok(settings) => settings,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("error: {problem}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if problem.is_empty() { 0 } else { 2 });
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let tasks_ok = runtime.block_on(run_tasks(&settings));
    let threads_ok = run_threads(&settings);
    if !(tasks_ok && threads_ok) {
        eprintln!("error: messages were lost or stored twice");
        std::process::exit(1);
    }
}
