//! Lock + unlock, uncontended and contended, async and blocking:
//! `ambisync::Lock` against tokio, async-lock, std and parking_lot mutexes.
//!
//! Every iteration is one `lock` + increment + unlock, so the times compare
//! directly: time per lock operation (`Throughput::Elements(1)`).

mod common;

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

use common::{CONTENDED_TASKS, CONTENDED_THREADS, current_thread, shares, two_workers};

/// A `u64` behind a lock, incremented from async code.
trait AsyncCounter: Send + Sync + 'static {
    fn new() -> Self;
    fn incr(&self) -> impl Future<Output = ()> + Send;
    fn value(&self) -> u64;
}

/// A `u64` behind a lock, incremented from a thread that may block.
trait BlockingCounter: Send + Sync {
    fn new() -> Self;
    fn incr_blocking(&self);
    fn value(&self) -> u64;
}

impl AsyncCounter for ambisync::Lock<u64> {
    fn new() -> Self {
        ambisync::Lock::new(0)
    }
    async fn incr(&self) {
        *self.lock().await += 1;
    }
    fn value(&self) -> u64 {
        *self.try_lock().expect("unlocked at the end")
    }
}

impl AsyncCounter for tokio::sync::Mutex<u64> {
    fn new() -> Self {
        tokio::sync::Mutex::new(0)
    }
    async fn incr(&self) {
        *self.lock().await += 1;
    }
    fn value(&self) -> u64 {
        *self.try_lock().expect("unlocked at the end")
    }
}

impl AsyncCounter for async_lock::Mutex<u64> {
    fn new() -> Self {
        async_lock::Mutex::new(0)
    }
    async fn incr(&self) {
        *self.lock().await += 1;
    }
    fn value(&self) -> u64 {
        *self.try_lock().expect("unlocked at the end")
    }
}

/// Reference only: a synchronous mutex taken from async code (never held
/// across an `.await`), the floor an async lock's fast path is judged against.
impl AsyncCounter for parking_lot::Mutex<u64> {
    fn new() -> Self {
        parking_lot::Mutex::new(0)
    }
    async fn incr(&self) {
        *self.lock() += 1;
    }
    fn value(&self) -> u64 {
        *self.lock()
    }
}

/// Reference only, as for parking_lot.
impl AsyncCounter for std::sync::Mutex<u64> {
    fn new() -> Self {
        std::sync::Mutex::new(0)
    }
    async fn incr(&self) {
        *self.lock().unwrap() += 1;
    }
    fn value(&self) -> u64 {
        *self.lock().unwrap()
    }
}

impl BlockingCounter for ambisync::Lock<u64> {
    fn new() -> Self {
        ambisync::Lock::new(0)
    }
    fn incr_blocking(&self) {
        *self.lock_blocking() += 1;
    }
    fn value(&self) -> u64 {
        *self.try_lock().expect("unlocked at the end")
    }
}

impl BlockingCounter for std::sync::Mutex<u64> {
    fn new() -> Self {
        std::sync::Mutex::new(0)
    }
    fn incr_blocking(&self) {
        *self.lock().unwrap() += 1;
    }
    fn value(&self) -> u64 {
        *self.lock().unwrap()
    }
}

impl BlockingCounter for parking_lot::Mutex<u64> {
    fn new() -> Self {
        parking_lot::Mutex::new(0)
    }
    fn incr_blocking(&self) {
        *self.lock() += 1;
    }
    fn value(&self) -> u64 {
        *self.lock()
    }
}

impl BlockingCounter for async_lock::Mutex<u64> {
    fn new() -> Self {
        async_lock::Mutex::new(0)
    }
    fn incr_blocking(&self) {
        *self.lock_blocking() += 1;
    }
    fn value(&self) -> u64 {
        *self.try_lock().expect("unlocked at the end")
    }
}

impl BlockingCounter for tokio::sync::Mutex<u64> {
    fn new() -> Self {
        tokio::sync::Mutex::new(0)
    }
    fn incr_blocking(&self) {
        // Fine here: criterion's thread is not inside a runtime.
        *self.blocking_lock() += 1;
    }
    fn value(&self) -> u64 {
        *self.try_lock().expect("unlocked at the end")
    }
}

/// `iters` lock+unlock in one task of a current-thread runtime.
fn uncontended_async<L: AsyncCounter>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &Runtime,
) {
    let lock = L::new();
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(&lock).incr().await;
                }
                start.elapsed()
            })
        })
    });
}

/// `iters` lock+unlock on the bench thread.
fn uncontended_blocking<L: BlockingCounter>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let lock = L::new();
    group.bench_function(name, |b| b.iter(|| black_box(&lock).incr_blocking()));
}

/// `iters` increments in all, shared by 8 tasks on a two-worker runtime.
fn contended_async<L: AsyncCounter>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &Runtime,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let lock = Arc::new(L::new());
            let elapsed = rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = shares(iters, CONTENDED_TASKS)
                    .into_iter()
                    .map(|n| {
                        let lock = Arc::clone(&lock);
                        tokio::spawn(async move {
                            for _ in 0..n {
                                lock.incr().await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("bench task panicked");
                }
                start.elapsed()
            });
            assert_eq!(lock.value(), iters, "{name}: lost increments");
            elapsed
        })
    });
}

/// `iters` increments in all, shared by 4 threads.
fn contended_blocking<L: BlockingCounter>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let lock = L::new();
            let elapsed = std::thread::scope(|scope| {
                let start = Instant::now();
                let threads: Vec<_> = shares(iters, CONTENDED_THREADS)
                    .into_iter()
                    .map(|n| {
                        let lock = &lock;
                        scope.spawn(move || {
                            for _ in 0..n {
                                lock.incr_blocking();
                            }
                        })
                    })
                    .collect();
                for thread in threads {
                    thread.join().expect("bench thread panicked");
                }
                start.elapsed()
            });
            assert_eq!(lock.value(), iters, "{name}: lost increments");
            elapsed
        })
    });
}

fn lock_uncontended_async(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("lock_uncontended_async");
    group.throughput(Throughput::Elements(1));
    uncontended_async::<ambisync::Lock<u64>>(&mut group, "ambisync", &rt);
    uncontended_async::<tokio::sync::Mutex<u64>>(&mut group, "tokio", &rt);
    uncontended_async::<async_lock::Mutex<u64>>(&mut group, "async_lock", &rt);
    uncontended_async::<parking_lot::Mutex<u64>>(&mut group, "parking_lot", &rt);
    uncontended_async::<std::sync::Mutex<u64>>(&mut group, "std", &rt);
    group.finish();
}

fn lock_uncontended_blocking(c: &mut Criterion) {
    let mut group = c.benchmark_group("lock_uncontended_blocking");
    group.throughput(Throughput::Elements(1));
    uncontended_blocking::<ambisync::Lock<u64>>(&mut group, "ambisync");
    uncontended_blocking::<std::sync::Mutex<u64>>(&mut group, "std");
    uncontended_blocking::<parking_lot::Mutex<u64>>(&mut group, "parking_lot");
    uncontended_blocking::<async_lock::Mutex<u64>>(&mut group, "async_lock");
    uncontended_blocking::<tokio::sync::Mutex<u64>>(&mut group, "tokio");
    group.finish();
}

fn lock_contended_async(c: &mut Criterion) {
    let rt = two_workers();
    let mut group = c.benchmark_group("lock_contended_async");
    group.throughput(Throughput::Elements(1));
    contended_async::<ambisync::Lock<u64>>(&mut group, "ambisync", &rt);
    contended_async::<tokio::sync::Mutex<u64>>(&mut group, "tokio", &rt);
    contended_async::<async_lock::Mutex<u64>>(&mut group, "async_lock", &rt);
    group.finish();
}

fn lock_contended_blocking(c: &mut Criterion) {
    let mut group = c.benchmark_group("lock_contended_blocking");
    group.throughput(Throughput::Elements(1));
    contended_blocking::<ambisync::Lock<u64>>(&mut group, "ambisync");
    contended_blocking::<std::sync::Mutex<u64>>(&mut group, "std");
    contended_blocking::<parking_lot::Mutex<u64>>(&mut group, "parking_lot");
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = lock_uncontended_async, lock_uncontended_blocking, lock_contended_async,
        lock_contended_blocking
}
criterion_main!(benches);
