//! Reader-writer locks on a read-mostly load: `ambisync::RwLock` against
//! tokio's and async-lock's `RwLock`.
//!
//! 8 tasks on a two-worker runtime share the iterations; in each task one
//! iteration in 16 takes the write access and increments the value, the
//! others take a read access and read it. Time per lock operation
//! (`Throughput::Elements(1)`); the value is checked at the end.

mod common;

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

use common::{CONTENDED_TASKS, shares, two_workers};

/// One write in this many operations.
const WRITE_EVERY: u64 = 16;

/// A `u64` behind a reader-writer lock.
trait AsyncRwLock: Send + Sync + 'static {
    fn new() -> Self;
    fn read(&self) -> impl Future<Output = u64> + Send;
    fn incr(&self) -> impl Future<Output = ()> + Send;
    fn value(&self) -> u64;
}

impl AsyncRwLock for ambisync::RwLock<u64> {
    fn new() -> Self {
        ambisync::RwLock::new(0)
    }
    async fn read(&self) -> u64 {
        *self.read().await
    }
    async fn incr(&self) {
        *self.write().await += 1;
    }
    fn value(&self) -> u64 {
        *self.try_read().expect("unlocked at the end")
    }
}

impl AsyncRwLock for tokio::sync::RwLock<u64> {
    fn new() -> Self {
        tokio::sync::RwLock::new(0)
    }
    async fn read(&self) -> u64 {
        *self.read().await
    }
    async fn incr(&self) {
        *self.write().await += 1;
    }
    fn value(&self) -> u64 {
        *self.try_read().expect("unlocked at the end")
    }
}

impl AsyncRwLock for async_lock::RwLock<u64> {
    fn new() -> Self {
        async_lock::RwLock::new(0)
    }
    async fn read(&self) -> u64 {
        *self.read().await
    }
    async fn incr(&self) {
        *self.write().await += 1;
    }
    fn value(&self) -> u64 {
        *self.try_read().expect("unlocked at the end")
    }
}

/// `iters` operations in all, shared by 8 tasks on a two-worker runtime.
fn read_mostly<L: AsyncRwLock>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, rt: &Runtime) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let lock = Arc::new(L::new());
            let parts = shares(iters, CONTENDED_TASKS);
            let writes: u64 = parts.iter().map(|n| n.div_ceil(WRITE_EVERY)).sum();
            let elapsed = rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = parts
                    .into_iter()
                    .map(|n| {
                        let lock = Arc::clone(&lock);
                        tokio::spawn(async move {
                            for i in 0..n {
                                if i % WRITE_EVERY == 0 {
                                    lock.incr().await;
                                } else {
                                    black_box(lock.read().await);
                                }
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("bench task panicked");
                }
                start.elapsed()
            });
            assert_eq!(lock.value(), writes, "{name}: lost writes");
            elapsed
        })
    });
}

fn rwlock_read_mostly_async(c: &mut Criterion) {
    let rt = two_workers();
    let mut group = c.benchmark_group("rwlock_read_mostly_async");
    group.throughput(Throughput::Elements(1));
    read_mostly::<ambisync::RwLock<u64>>(&mut group, "ambisync", &rt);
    read_mostly::<tokio::sync::RwLock<u64>>(&mut group, "tokio", &rt);
    read_mostly::<async_lock::RwLock<u64>>(&mut group, "async_lock", &rt);
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = rwlock_read_mostly_async
}
criterion_main!(benches);
