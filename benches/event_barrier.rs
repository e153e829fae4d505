//! Wake-all and barrier round trips.
//!
//! - `event_wake_all_100_futures`: one task registers 100 waiter futures, the
//!   event is set, all 100 complete (one iteration = one such round); current
//!   thread runtime. It isolates the primitive: register, notify, complete.
//! - `event_wake_all_100_tasks`: 100 spawned tasks register (each polls its
//!   waiter once, then checks in), the event is set, all 100 are joined; a
//!   two-worker runtime. Spawning is included, the same for everyone.
//!
//!   `ambisync::Event` (`clear` / `wait` / `set`) against
//!   `tokio::sync::Notify` (`notified` / `notify_waiters`) and a raw
//!   `event_listener::Event` (`listen` / `notify(usize::MAX)`), which have no
//!   flag to keep and so do strictly less work.
//! - `barrier_round_trip_{async,blocking}`: 4 parties wait `iters` times on
//!   the same barrier (one iteration = one round, all 4 released); tasks on a
//!   two-worker runtime against tokio and async-lock, and threads against
//!   `std::sync::Barrier`.
//! - `barrier_2_threads_blocking`: a barrier of 2 crossed by 2 threads
//!   `iters` times (issue 15), against `std::sync::Barrier`: the round trip
//!   of one park and one wake-up.

mod common;

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

use common::{current_thread, two_workers};

/// Waiters woken at once, fixed by the issue.
const WAITERS: usize = 100;
/// Parties of the barrier benchmarks.
const PARTIES: usize = 4;

/// Something many waiters can wait on and be woken all at once.
trait WakeAll: Send + Sync + 'static {
    fn new() -> Self;
    /// Makes the next `waiter()`s wait again (ambisync's flag is sticky).
    fn reset(&self);
    /// A waiter; registered once it was polled.
    fn waiter(&self) -> impl Future<Output = ()> + Send + '_;
    fn wake_all(&self);
}

impl WakeAll for ambisync::Event {
    fn new() -> Self {
        ambisync::Event::new()
    }
    fn reset(&self) {
        self.clear();
    }
    fn waiter(&self) -> impl Future<Output = ()> + Send + '_ {
        self.wait()
    }
    fn wake_all(&self) {
        self.set();
    }
}

impl WakeAll for tokio::sync::Notify {
    fn new() -> Self {
        tokio::sync::Notify::new()
    }
    fn reset(&self) {}
    fn waiter(&self) -> impl Future<Output = ()> + Send + '_ {
        self.notified()
    }
    fn wake_all(&self) {
        self.notify_waiters();
    }
}

impl WakeAll for event_listener::Event {
    fn new() -> Self {
        event_listener::Event::new()
    }
    fn reset(&self) {}
    fn waiter(&self) -> impl Future<Output = ()> + Send + '_ {
        self.listen()
    }
    fn wake_all(&self) {
        self.notify(usize::MAX);
    }
}

/// `iters` rounds of: 100 waiter futures registered in one task, woken at
/// once, all completed; in `block_on`'s own future.
fn wake_all_futures<E: WakeAll>(rt: &Runtime, iters: u64) -> Duration {
    let event = E::new();
    rt.block_on(wake_all_rounds(&event, iters))
}

/// [`wake_all_futures`] in a spawned task: the futures are polled with the
/// task's waker, as in most programs, instead of `block_on`'s (which
/// `Waker::will_wake` does not recognise in a clone of it on tokio's
/// current-thread runtime).
fn wake_all_futures_spawned<E: WakeAll>(rt: &Runtime, iters: u64) -> Duration {
    rt.block_on(async move {
        tokio::spawn(async move { wake_all_rounds(&E::new(), iters).await })
            .await
            .expect("bench task panicked")
    })
}

async fn wake_all_rounds<E: WakeAll>(event: &E, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        event.reset();
        let mut waiters: Vec<_> = (0..WAITERS).map(|_| Box::pin(event.waiter())).collect();
        poll_fn(|cx| {
            for waiter in &mut waiters {
                assert!(
                    waiter.as_mut().poll(cx).is_pending(),
                    "a waiter finished before the wake-up"
                );
            }
            Poll::Ready(())
        })
        .await;
        event.wake_all();
        for waiter in waiters {
            waiter.await;
        }
    }
    start.elapsed()
}

/// `iters` rounds of: 100 tasks spawned that register and check in, woken at
/// once, all joined.
fn wake_all_tasks<E: WakeAll>(rt: &Runtime, iters: u64) -> Duration {
    let event = Arc::new(E::new());
    let arrived = Arc::new(AtomicUsize::new(0));
    let all_arrived = Arc::new(tokio::sync::Notify::new());
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            event.reset();
            arrived.store(0, Ordering::Relaxed);
            let tasks: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let (event, arrived, all_arrived) = (
                        Arc::clone(&event),
                        Arc::clone(&arrived),
                        Arc::clone(&all_arrived),
                    );
                    tokio::spawn(async move {
                        let mut waiter = pin!(event.waiter());
                        let first = futures::poll!(waiter.as_mut());
                        assert!(first.is_pending(), "a waiter finished before the wake-up");
                        if arrived.fetch_add(1, Ordering::AcqRel) + 1 == WAITERS {
                            // Stores a permit if the bench task is not waiting yet.
                            all_arrived.notify_one();
                        }
                        waiter.await;
                    })
                })
                .collect();
            all_arrived.notified().await;
            event.wake_all();
            for task in tasks {
                task.await.expect("waiter task panicked");
            }
        }
        start.elapsed()
    })
}

/// A barrier crossed from async tasks.
trait AsyncBarrier: Send + Sync + 'static {
    fn new(parties: usize) -> Self;
    fn cross(&self) -> impl Future<Output = ()> + Send;
}

impl AsyncBarrier for ambisync::Barrier {
    fn new(parties: usize) -> Self {
        ambisync::Barrier::new(parties)
    }
    async fn cross(&self) {
        self.wait().await.expect("barrier broken");
    }
}

impl AsyncBarrier for tokio::sync::Barrier {
    fn new(parties: usize) -> Self {
        tokio::sync::Barrier::new(parties)
    }
    async fn cross(&self) {
        self.wait().await;
    }
}

impl AsyncBarrier for async_lock::Barrier {
    fn new(parties: usize) -> Self {
        async_lock::Barrier::new(parties)
    }
    async fn cross(&self) {
        self.wait().await;
    }
}

/// A barrier crossed from threads.
trait BlockingBarrier: Send + Sync {
    fn new(parties: usize) -> Self;
    fn cross_blocking(&self);
}

impl BlockingBarrier for ambisync::Barrier {
    fn new(parties: usize) -> Self {
        ambisync::Barrier::new(parties)
    }
    fn cross_blocking(&self) {
        self.wait_blocking().expect("barrier broken");
    }
}

impl BlockingBarrier for std::sync::Barrier {
    fn new(parties: usize) -> Self {
        std::sync::Barrier::new(parties)
    }
    fn cross_blocking(&self) {
        self.wait();
    }
}

/// `iters` rounds of 4 tasks on a two-worker runtime.
fn barrier_async<B: AsyncBarrier>(rt: &Runtime, iters: u64) -> Duration {
    let barrier = Arc::new(B::new(PARTIES));
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..PARTIES)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                tokio::spawn(async move {
                    for _ in 0..iters {
                        barrier.cross().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("barrier task panicked");
        }
        start.elapsed()
    })
}

/// `iters` rounds of `parties` threads.
fn barrier_blocking<B: BlockingBarrier>(parties: usize, iters: u64) -> Duration {
    let barrier = B::new(parties);
    std::thread::scope(|scope| {
        let start = Instant::now();
        let threads: Vec<_> = (0..parties)
            .map(|_| {
                let barrier = &barrier;
                scope.spawn(move || {
                    for _ in 0..iters {
                        barrier.cross_blocking();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("barrier thread panicked");
        }
        start.elapsed()
    })
}

fn bench<F: Fn(u64) -> Duration>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, run: F) {
    group.bench_function(name, |b| b.iter_custom(&run));
}

fn event_wake_all(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("event_wake_all_100_futures");
    group.throughput(Throughput::Elements(WAITERS as u64));
    bench(&mut group, "ambisync", |n| {
        wake_all_futures::<ambisync::Event>(&rt, n)
    });
    bench(&mut group, "tokio", |n| {
        wake_all_futures::<tokio::sync::Notify>(&rt, n)
    });
    bench(&mut group, "event_listener", |n| {
        wake_all_futures::<event_listener::Event>(&rt, n)
    });
    group.finish();

    let mut group = c.benchmark_group("event_wake_all_100_futures_spawned");
    group.throughput(Throughput::Elements(WAITERS as u64));
    bench(&mut group, "ambisync", |n| {
        wake_all_futures_spawned::<ambisync::Event>(&rt, n)
    });
    bench(&mut group, "tokio", |n| {
        wake_all_futures_spawned::<tokio::sync::Notify>(&rt, n)
    });
    bench(&mut group, "event_listener", |n| {
        wake_all_futures_spawned::<event_listener::Event>(&rt, n)
    });
    group.finish();

    let rt = two_workers();
    let mut group = c.benchmark_group("event_wake_all_100_tasks");
    group.throughput(Throughput::Elements(WAITERS as u64));
    bench(&mut group, "ambisync", |n| {
        wake_all_tasks::<ambisync::Event>(&rt, n)
    });
    bench(&mut group, "tokio", |n| {
        wake_all_tasks::<tokio::sync::Notify>(&rt, n)
    });
    bench(&mut group, "event_listener", |n| {
        wake_all_tasks::<event_listener::Event>(&rt, n)
    });
    group.finish();
}

fn barrier_round_trip(c: &mut Criterion) {
    let rt = two_workers();
    let mut group = c.benchmark_group("barrier_round_trip_async");
    group.throughput(Throughput::Elements(1));
    bench(&mut group, "ambisync", |n| {
        barrier_async::<ambisync::Barrier>(&rt, n)
    });
    bench(&mut group, "tokio", |n| {
        barrier_async::<tokio::sync::Barrier>(&rt, n)
    });
    bench(&mut group, "async_lock", |n| {
        barrier_async::<async_lock::Barrier>(&rt, n)
    });
    group.finish();

    let mut group = c.benchmark_group("barrier_round_trip_blocking");
    group.throughput(Throughput::Elements(1));
    bench(&mut group, "ambisync", |n| {
        barrier_blocking::<ambisync::Barrier>(PARTIES, n)
    });
    bench(&mut group, "std", |n| {
        barrier_blocking::<std::sync::Barrier>(PARTIES, n)
    });
    group.finish();

    let mut group = c.benchmark_group("barrier_2_threads_blocking");
    group.throughput(Throughput::Elements(1));
    bench(&mut group, "ambisync", |n| {
        barrier_blocking::<ambisync::Barrier>(2, n)
    });
    bench(&mut group, "std", |n| {
        barrier_blocking::<std::sync::Barrier>(2, n)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = event_wake_all, barrier_round_trip
}
criterion_main!(benches);
