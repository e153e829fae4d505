//! The producer/consumer pipeline of the Python threading tutorials, done right.
//!
//! Python lesson: Real Python's "Producer-Consumer Using Queue" (`queue.Queue`
//! between producer and consumer threads, a `threading.Event` to stop them),
//! here with `task_done()`/`join()` and `shutdown()` to end it cleanly.
//!
//! Producers read bursts of "network messages" and put them on a bounded
//! queue; consumers take them off and "store" them. When the run time is up,
//! an `Event` tells the producers to stop; `join()` then proves that every
//! message put was processed, `shutdown()` lets the consumers drain and exit
//! (without it they would wait in `get()` forever: a queue does not close when
//! its producers are gone), and the summary checks that nothing was lost or
//! stored twice.
//!
//! The same pipeline runs twice: as async tasks on tokio, then as OS threads
//! using the `_blocking` forms of the very same types. The "network" and the
//! "storage" are simulated with sleeps.
//!
//! What to look for in the output: "lost 0, duplicates 0" in both modes; the
//! queue's fill level every quarter of the run (it stays full while the
//! consumers set the pace); which side set the pace, from the measured length
//! of the simulated waits; and the closing lines on why the task rate differs
//! from the thread rate: tokio's timer counts whole milliseconds, so a task's
//! 200 µs "store" sleeps more than a millisecond, while a thread's sleeps
//! about 200 µs. The queue is not what differs.
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
#[derive(Clone)]
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

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} producers, each sending bursts of {} messages {} apart; \
             {} consumers, each storing a message in {}; a queue of {}; {} of production",
            self.producers,
            self.burst,
            show(self.pause),
            self.consumers,
            show(self.store),
            self.queue_size,
            show(self.run),
        )
    }
}

/// A duration for people: "200 µs", "1.36 ms", "2 ms", "1.5 s".
fn show(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    let (value, unit) = if micros < 1_000.0 {
        (micros, "µs")
    } else if micros < 1_000_000.0 {
        (micros / 1e3, "ms")
    } else {
        (micros / 1e6, "s")
    };
    // Three significant digits at most, no trailing zeros.
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text} {unit}")
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

/// How long the simulated waits really took: count and total nanoseconds.
#[derive(Default)]
struct Timing {
    count: AtomicU64,
    nanos: AtomicU64,
}

impl Timing {
    fn record(&self, started: Instant) {
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The average, or `None` if nothing was recorded.
    fn average(&self) -> Option<Duration> {
        let count = self.count.load(Ordering::Relaxed);
        (count > 0).then(|| Duration::from_nanos(self.nanos.load(Ordering::Relaxed) / count))
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
    /// The producers' "network" pauses, as measured.
    pauses: Timing,
    /// The consumers' "storage" waits, as measured.
    stores: Timing,
    log: Log,
}

/// What a mode's summary reports, for the closing comparison.
struct Outcome {
    ok: bool,
    rate: f64,
    pause: Option<Duration>,
    store: Option<Duration>,
}

impl Pipeline {
    fn new(settings: &Settings) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            queue: Queue::bounded(settings.queue_size),
            stop: Event::new(),
            stored: Lock::new(HashSet::new()),
            duplicates: AtomicU64::new(0),
            produced: AtomicU64::new(0),
            pauses: Timing::default(),
            stores: Timing::default(),
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

    fn summary(&self, mode: &str, elapsed: Duration, settings: &Settings) -> Outcome {
        let produced = self.produced.load(Ordering::Relaxed);
        // Every consumer has finished: the store is free, no waiting needed
        // (and none allowed: the async mode calls this inside the runtime).
        let stored = self.stored.try_lock().expect("consumers are done").len() as u64;
        let duplicates = self.duplicates.load(Ordering::Relaxed);
        let lost = produced - stored.min(produced);
        let rate = stored as f64 / elapsed.as_secs_f64();
        println!(
            "== {mode}: produced {produced}, consumed {stored}, lost {lost}, duplicates {duplicates}, \
             unfinished tasks {}, {rate:.0} items/s",
            self.queue.unfinished_tasks()
        );
        let (pause, store) = (self.pauses.average(), self.stores.average());
        // Each side's best rate if it never had to wait for the other.
        let mut limits = Vec::new();
        if let Some(pause) = pause {
            let most = (settings.producers * settings.burst) as f64 / pause.as_secs_f64();
            limits.push((most, "producers"));
            println!(
                "   a {} pause took {} on average: the producers could send {most:.0}/s at most",
                show(settings.pause),
                show(pause),
            );
        }
        if let Some(store) = store {
            let most = settings.consumers as f64 / store.as_secs_f64();
            limits.push((most, "consumers"));
            println!(
                "   a {} store took {} on average: the consumers could store {most:.0}/s at most",
                show(settings.store),
                show(store),
            );
        }
        if let Some((_, side)) = limits.iter().min_by(|a, b| a.0.total_cmp(&b.0)) {
            println!("   so the {side} set the pace");
        }
        println!();
        Outcome {
            ok: lost == 0 && duplicates == 0 && self.queue.unfinished_tasks() == 0,
            rate,
            pause,
            store,
        }
    }
}

/// Why the two rates differ, from what was measured.
fn explain(settings: &Settings, tasks: &Outcome, threads: &Outcome) {
    println!(
        "Why {:.0} items/s as tasks and {:.0} as threads?",
        tasks.rate, threads.rate
    );
    let waits = [
        ("pause", settings.pause, tasks.pause, threads.pause),
        ("store", settings.store, tasks.store, threads.store),
    ];
    let mut any = false;
    for (what, asked, task, thread) in waits {
        if let (Some(task), Some(thread)) = (task, thread) {
            any = true;
            println!(
                "   a {} {what}: {} in a task (tokio::time::sleep), {} in a thread (std::thread::sleep)",
                show(asked),
                show(task),
                show(thread),
            );
        }
    }
    if any {
        println!(
            "   tokio's timer counts whole milliseconds and rounds each deadline up to the next one,\n   \
             so a task's short sleep lasts about a millisecond or more; the OS sleeps a thread for\n   \
             about what it asked. The simulated waits differ, not the queue: handing an item over\n   \
             takes well under a microsecond in both worlds (BENCHMARKS.md)."
        );
    } else if settings.pause.is_zero() && settings.store.is_zero() {
        println!(
            "   No simulated waits: the rates compare the queue and the scheduling alone\n   \
             (tasks on 2 tokio workers, threads on the OS)."
        );
    } else {
        println!("   The run was too short to measure the simulated waits in both modes.");
    }
}

/// Simulated I/O in a task. tokio's timer rounds every sleep up to its next
/// millisecond tick, even a zero one, so zero means no sleep at all (as
/// `std::thread::sleep(ZERO)` does in the thread mode).
/// Returns whether it slept.
async fn simulate(duration: Duration) -> bool {
    if duration.is_zero() {
        return false;
    }
    tokio::time::sleep(duration).await;
    true
}

async fn run_tasks(settings: &Settings) -> Outcome {
    let pipeline = Pipeline::new(settings);
    let log = pipeline.log;
    println!("--- async tasks on tokio ---");

    let mut producers = Vec::new();
    for id in 1..=settings.producers {
        let (pipeline, settings) = (Arc::clone(&pipeline), settings.clone());
        producers.push(tokio::spawn(async move {
            let who = format!("producer {id}");
            let mut seq = 0;
            while !pipeline.stop.is_set() {
                let started = Instant::now();
                if simulate(settings.pause).await {
                    pipeline.pauses.record(started); // waiting for the network
                }
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
                        let started = Instant::now();
                        if simulate(settings.store).await {
                            pipeline.stores.record(started); // writing to storage
                        }
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
    pipeline.summary("async tasks on tokio", started.elapsed(), settings)
}

fn run_threads(settings: &Settings) -> Outcome {
    let pipeline = Pipeline::new(settings);
    let log = pipeline.log;
    println!("--- OS threads ---");

    let producers: Vec<_> = (1..=settings.producers)
        .map(|id| {
            let (pipeline, settings) = (Arc::clone(&pipeline), settings.clone());
            std::thread::spawn(move || {
                let who = format!("producer {id}");
                let mut seq = 0;
                // `wait_timeout_blocking` doubles as the network pause and the
                // stop check: it returns true as soon as the event is set.
                loop {
                    let started = Instant::now();
                    if pipeline.stop.wait_timeout_blocking(settings.pause) {
                        break;
                    }
                    if !settings.pause.is_zero() {
                        pipeline.pauses.record(started); // a full pause
                    }
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
                    if !settings.store.is_zero() {
                        let started = Instant::now();
                        std::thread::sleep(settings.store); // writing to storage
                        pipeline.stores.record(started);
                    }
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
    pipeline.summary("OS threads", started.elapsed(), settings)
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
    println!("settings: {settings}\n");
    let tasks = runtime.block_on(run_tasks(&settings));
    let threads = run_threads(&settings);
    explain(&settings, &tasks, &threads);
    if !(tasks.ok && threads.ok) {
        eprintln!("error: messages were lost or stored twice");
        std::process::exit(1);
    }
}
