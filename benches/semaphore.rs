//! Semaphore acquire + release: uncontended, and 32 tasks sharing 4 permits on
//! a two-worker runtime; `ambisync::Semaphore` against tokio and async-lock.
//! Weighted: 16 tasks taking 1 to 4 of 8 permits at once with `acquire_many`,
//! against tokio's `acquire_many` (async-lock has none).
//!
//! Every iteration is one acquire + release (time per acquire, whatever its
//! weight).

mod common;

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

use common::{current_thread, shares, two_workers};

/// Tasks and permits of the contended case, fixed by the issue.
const TASKS: usize = 32;
const PERMITS: usize = 4;

/// A semaphore whose permit is taken, held across `hold` and given back.
trait AsyncSemaphore: Send + Sync + 'static {
    fn new(permits: usize) -> Self;
    fn acquire_release(
        &self,
        hold: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = ()> + Send;
    fn available(&self) -> usize;
}

impl AsyncSemaphore for ambisync::Semaphore {
    fn new(permits: usize) -> Self {
        ambisync::Semaphore::new(permits)
    }
    async fn acquire_release(&self, hold: impl Future<Output = ()> + Send) {
        let permit = self.acquire().await;
        hold.await;
        drop(permit);
    }
    fn available(&self) -> usize {
        self.available_permits()
    }
}

impl AsyncSemaphore for tokio::sync::Semaphore {
    fn new(permits: usize) -> Self {
        tokio::sync::Semaphore::new(permits)
    }
    async fn acquire_release(&self, hold: impl Future<Output = ()> + Send) {
        let permit = self.acquire().await.expect("never closed");
        hold.await;
        drop(permit);
    }
    fn available(&self) -> usize {
        self.available_permits()
    }
}

impl AsyncSemaphore for async_lock::Semaphore {
    fn new(permits: usize) -> Self {
        async_lock::Semaphore::new(permits)
    }
    async fn acquire_release(&self, hold: impl Future<Output = ()> + Send) {
        let permit = self.acquire().await;
        hold.await;
        drop(permit);
    }
    fn available(&self) -> usize {
        // async-lock has no counter to read: take every permit to check none leaked.
        let mut permits = Vec::new();
        while let Some(permit) = self.try_acquire() {
            permits.push(permit);
        }
        permits.len()
    }
}

/// Tasks and permits of the weighted case: task `i` takes `i % 4 + 1`.
const MANY_TASKS: usize = 16;
const MANY_PERMITS: usize = 8;

/// A semaphore whose `n` permits are taken at once, held across `hold` and
/// given back.
trait AsyncManySemaphore: AsyncSemaphore {
    fn acquire_many_release(
        &self,
        n: usize,
        hold: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = ()> + Send;
}

impl AsyncManySemaphore for ambisync::Semaphore {
    async fn acquire_many_release(&self, n: usize, hold: impl Future<Output = ()> + Send) {
        let permits = self.acquire_many(n).await.expect("n is below the bound");
        hold.await;
        drop(permits);
    }
}

impl AsyncManySemaphore for tokio::sync::Semaphore {
    async fn acquire_many_release(&self, n: usize, hold: impl Future<Output = ()> + Send) {
        let n = u32::try_from(n).expect("a few permits");
        let permits = self.acquire_many(n).await.expect("never closed");
        hold.await;
        drop(permits);
    }
}

/// `iters` acquire + release in one task of a current-thread runtime.
fn uncontended<S: AsyncSemaphore>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &Runtime,
) {
    let sem = S::new(PERMITS);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(&sem).acquire_release(async {}).await;
                }
                start.elapsed()
            })
        })
    });
}

/// `iters` acquire + release in all, shared by 32 tasks on a two-worker
/// runtime; each holder yields once while it holds its permit, so the 4
/// permits really run out and the other tasks queue up.
fn contended<S: AsyncSemaphore>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &Runtime,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let sem = Arc::new(S::new(PERMITS));
            let elapsed = rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = shares(iters, TASKS)
                    .into_iter()
                    .map(|n| {
                        let sem = Arc::clone(&sem);
                        tokio::spawn(async move {
                            for _ in 0..n {
                                sem.acquire_release(tokio::task::yield_now()).await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("bench task panicked");
                }
                start.elapsed()
            });
            assert_eq!(sem.available(), PERMITS, "{name}: permits leaked");
            elapsed
        })
    });
}

/// `iters` weighted acquires in all, shared by 16 tasks on a two-worker
/// runtime; task `i` takes `i % 4 + 1` of the 8 permits at once and yields
/// once while it holds them.
fn many_contended<S: AsyncManySemaphore>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &Runtime,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let sem = Arc::new(S::new(MANY_PERMITS));
            let elapsed = rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = shares(iters, MANY_TASKS)
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let sem = Arc::clone(&sem);
                        tokio::spawn(async move {
                            for _ in 0..n {
                                sem.acquire_many_release(i % 4 + 1, tokio::task::yield_now())
                                    .await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("bench task panicked");
                }
                start.elapsed()
            });
            assert_eq!(sem.available(), MANY_PERMITS, "{name}: permits leaked");
            elapsed
        })
    });
}

fn semaphore_uncontended_async(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("semaphore_uncontended_async");
    group.throughput(Throughput::Elements(1));
    uncontended::<ambisync::Semaphore>(&mut group, "ambisync", &rt);
    uncontended::<tokio::sync::Semaphore>(&mut group, "tokio", &rt);
    uncontended::<async_lock::Semaphore>(&mut group, "async_lock", &rt);
    group.finish();
}

fn semaphore_contended_async(c: &mut Criterion) {
    let rt = two_workers();
    let mut group = c.benchmark_group("semaphore_contended_async");
    group.throughput(Throughput::Elements(1));
    contended::<ambisync::Semaphore>(&mut group, "ambisync", &rt);
    contended::<tokio::sync::Semaphore>(&mut group, "tokio", &rt);
    contended::<async_lock::Semaphore>(&mut group, "async_lock", &rt);
    group.finish();
}

fn semaphore_many_contended_async(c: &mut Criterion) {
    let rt = two_workers();
    let mut group = c.benchmark_group("semaphore_many_contended_async");
    group.throughput(Throughput::Elements(1));
    many_contended::<ambisync::Semaphore>(&mut group, "ambisync", &rt);
    many_contended::<tokio::sync::Semaphore>(&mut group, "tokio", &rt);
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = semaphore_uncontended_async, semaphore_contended_async, semaphore_many_contended_async
}
criterion_main!(benches);
