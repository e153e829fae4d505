//! Queue throughput, capacity 128: producers send their share of `iters`
//! items, consumers receive until the queue is closed (last producer gone:
//! `shutdown()` for ambisync, the senders dropped for channels); one iteration
//! is one item through the queue.
//!
//! - `queue_{1to1,4to4,4to1}_async`: tasks on a two-worker runtime; `Queue`
//!   against async-channel, flume and tokio's mpsc (single consumer: 4 → 1 in
//!   the 4 → 4 case).
//! - `queue_{1to1,4to4}_blocking`: OS threads; `put_blocking`/`get_blocking`
//!   against crossbeam-channel, flume, async-channel's blocking calls and std's
//!   `sync_channel` (single consumer: 1 → 1 only).
//! - `{priority,lifo}_queue_1to1_async`: `PriorityQueue` / `LifoQueue` against
//!   the obvious hand-written baseline, a `Mutex<BinaryHeap>` / `Mutex<Vec>`
//!   with two tokio `Notify`s (not empty, not full).

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::hint::black_box;
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ambisync::{OrderedQueue, QueueOrder};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

use common::{shares, two_workers};

/// Capacity of every queue, fixed by the issue.
const CAPACITY: usize = 128;

/// The `i`-th item: scrambled so that a priority queue really reorders.
fn item(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A bounded queue of `u64` split into per-producer and per-consumer handles;
/// dropping the last producer handle closes it, and consumers then drain it.
trait Channel: 'static {
    type Tx: Send + 'static;
    type Rx: Send + 'static;
    fn channel(
        capacity: usize,
        producers: usize,
        consumers: usize,
    ) -> (Vec<Self::Tx>, Vec<Self::Rx>);
}

trait AsyncChannel: Channel {
    fn send(tx: &mut Self::Tx, value: u64) -> impl Future<Output = ()> + Send;
    /// `None` once the queue is closed and empty.
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send;
}

trait BlockingChannel: Channel {
    fn send_blocking(tx: &mut Self::Tx, value: u64);
    /// `None` once the queue is closed and empty.
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64>;
}

// ---------------------------------------------------------------- ambisync

/// `Queue`, `LifoQueue` or `PriorityQueue`.
struct Ambisync<O>(PhantomData<O>);

/// A producer's handle; the last one dropped shuts the queue down.
struct Producer<O: QueueOrder<u64>> {
    queue: Arc<OrderedQueue<u64, O>>,
    live: Arc<AtomicUsize>,
}

impl<O: QueueOrder<u64>> Drop for Producer<O> {
    fn drop(&mut self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.queue.shutdown();
        }
    }
}

impl<O> Channel for Ambisync<O>
where
    O: QueueOrder<u64> + 'static,
    OrderedQueue<u64, O>: Send + Sync,
{
    type Tx = Producer<O>;
    type Rx = Arc<OrderedQueue<u64, O>>;
    fn channel(
        capacity: usize,
        producers: usize,
        consumers: usize,
    ) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        let queue = Arc::new(OrderedQueue::bounded(capacity));
        let live = Arc::new(AtomicUsize::new(producers));
        let txs = (0..producers)
            .map(|_| Producer {
                queue: Arc::clone(&queue),
                live: Arc::clone(&live),
            })
            .collect();
        let rxs = (0..consumers).map(|_| Arc::clone(&queue)).collect();
        (txs, rxs)
    }
}

impl<O> AsyncChannel for Ambisync<O>
where
    O: QueueOrder<u64> + 'static,
    OrderedQueue<u64, O>: Send + Sync,
{
    async fn send(tx: &mut Self::Tx, value: u64) {
        tx.queue
            .put(value)
            .await
            .expect("not shut down while producing");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.get().await.ok()
    }
}

impl<O> BlockingChannel for Ambisync<O>
where
    O: QueueOrder<u64> + 'static,
    OrderedQueue<u64, O>: Send + Sync,
{
    fn send_blocking(tx: &mut Self::Tx, value: u64) {
        tx.queue
            .put_blocking(value)
            .expect("not shut down while producing");
    }
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.get_blocking().ok()
    }
}

// ----------------------------------------------------------------- peers

struct AsyncChan;

impl Channel for AsyncChan {
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn channel(
        capacity: usize,
        producers: usize,
        consumers: usize,
    ) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        let (tx, rx) = async_channel::bounded(capacity);
        (vec![tx; producers], vec![rx; consumers])
    }
}

impl AsyncChannel for AsyncChan {
    async fn send(tx: &mut Self::Tx, value: u64) {
        tx.send(value).await.expect("receivers alive");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

impl BlockingChannel for AsyncChan {
    fn send_blocking(tx: &mut Self::Tx, value: u64) {
        tx.send_blocking(value).expect("receivers alive");
    }
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_blocking().ok()
    }
}

struct Flume;

impl Channel for Flume {
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn channel(
        capacity: usize,
        producers: usize,
        consumers: usize,
    ) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        let (tx, rx) = flume::bounded(capacity);
        (vec![tx; producers], vec![rx; consumers])
    }
}

impl AsyncChannel for Flume {
    async fn send(tx: &mut Self::Tx, value: u64) {
        tx.send_async(value).await.expect("receivers alive");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

impl BlockingChannel for Flume {
    fn send_blocking(tx: &mut Self::Tx, value: u64) {
        tx.send(value).expect("receivers alive");
    }
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

/// `tokio::sync::mpsc`: one consumer only.
struct TokioMpsc;

impl Channel for TokioMpsc {
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;
    fn channel(
        capacity: usize,
        producers: usize,
        consumers: usize,
    ) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        assert_eq!(consumers, 1, "tokio's mpsc has a single consumer");
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        (vec![tx; producers], vec![rx])
    }
}

impl AsyncChannel for TokioMpsc {
    async fn send(tx: &mut Self::Tx, value: u64) {
        tx.send(value).await.expect("receiver alive");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await
    }
}

struct Crossbeam;

impl Channel for Crossbeam {
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn channel(
        capacity: usize,
        producers: usize,
        consumers: usize,
    ) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        (vec![tx; producers], vec![rx; consumers])
    }
}

impl BlockingChannel for Crossbeam {
    fn send_blocking(tx: &mut Self::Tx, value: u64) {
        tx.send(value).expect("receivers alive");
    }
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

/// `std::sync::mpsc::sync_channel`: one consumer only.
struct StdSync;

impl Channel for StdSync {
    type Tx = std::sync::mpsc::SyncSender<u64>;
    type Rx = std::sync::mpsc::Receiver<u64>;
    fn channel(
        capacity: usize,
        producers: usize,
        consumers: usize,
    ) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        assert_eq!(consumers, 1, "std's mpsc has a single consumer");
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        (vec![tx; producers], vec![rx])
    }
}

impl BlockingChannel for StdSync {
    fn send_blocking(tx: &mut Self::Tx, value: u64) {
        tx.send(value).expect("receiver alive");
    }
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

// --------------------------------------------------------------- baseline

/// Where the hand-written baseline keeps its items.
trait Store: Default + Send + 'static {
    fn push(&mut self, value: u64);
    fn pop(&mut self) -> Option<u64>;
    fn len(&self) -> usize;
}

/// Smallest first, like `PriorityQueue`.
impl Store for BinaryHeap<Reverse<u64>> {
    fn push(&mut self, value: u64) {
        BinaryHeap::push(self, Reverse(value));
    }
    fn pop(&mut self) -> Option<u64> {
        BinaryHeap::pop(self).map(|Reverse(value)| value)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
}

/// Last in, first out, like `LifoQueue`.
impl Store for Vec<u64> {
    fn push(&mut self, value: u64) {
        Vec::push(self, value);
    }
    fn pop(&mut self) -> Option<u64> {
        Vec::pop(self)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// The queue anyone would write in five minutes: a std `Mutex` around the
/// store plus two tokio `Notify`s, each waiter registering (`enable`) before
/// it re-checks, so no wake-up is lost.
struct Shared<S> {
    state: std::sync::Mutex<(S, bool)>, // (items, closed)
    capacity: usize,
    not_empty: Notify,
    not_full: Notify,
}

enum Popped {
    Item(u64),
    Empty,
    Closed,
}

impl<S: Store> Shared<S> {
    fn try_push(&self, value: u64) -> bool {
        let mut state = self.state.lock().unwrap();
        if state.0.len() < self.capacity {
            state.0.push(value);
            drop(state);
            self.not_empty.notify_one();
            true
        } else {
            false
        }
    }

    fn try_pop(&self) -> Popped {
        let mut state = self.state.lock().unwrap();
        match state.0.pop() {
            Some(value) => {
                drop(state);
                self.not_full.notify_one();
                Popped::Item(value)
            }
            None if state.1 => Popped::Closed,
            None => Popped::Empty,
        }
    }

    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.not_empty.notify_waiters();
    }
}

/// The baseline over store `S`; one consumer (enough for the 1 → 1 cases).
struct Baseline<S>(PhantomData<S>);

struct BaselineTx<S: Store> {
    shared: Arc<Shared<S>>,
    live: Arc<AtomicUsize>,
}

impl<S: Store> Drop for BaselineTx<S> {
    fn drop(&mut self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<S: Store> Channel for Baseline<S> {
    type Tx = BaselineTx<S>;
    type Rx = Arc<Shared<S>>;
    fn channel(
        capacity: usize,
        producers: usize,
        consumers: usize,
    ) -> (Vec<Self::Tx>, Vec<Self::Rx>) {
        assert_eq!(
            consumers, 1,
            "the baseline is benchmarked with one consumer"
        );
        let shared = Arc::new(Shared {
            state: std::sync::Mutex::new((S::default(), false)),
            capacity,
            not_empty: Notify::new(),
            not_full: Notify::new(),
        });
        let live = Arc::new(AtomicUsize::new(producers));
        let txs = (0..producers)
            .map(|_| BaselineTx {
                shared: Arc::clone(&shared),
                live: Arc::clone(&live),
            })
            .collect();
        (txs, vec![shared])
    }
}

impl<S: Store> AsyncChannel for Baseline<S> {
    async fn send(tx: &mut Self::Tx, value: u64) {
        let shared = &tx.shared;
        if shared.try_push(value) {
            return;
        }
        loop {
            let mut not_full = pin!(shared.not_full.notified());
            not_full.as_mut().enable();
            if shared.try_push(value) {
                return;
            }
            not_full.await;
        }
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        loop {
            match rx.try_pop() {
                Popped::Item(value) => return Some(value),
                Popped::Closed => return None,
                Popped::Empty => {}
            }
            let mut not_empty = pin!(rx.not_empty.notified());
            not_empty.as_mut().enable();
            match rx.try_pop() {
                Popped::Item(value) => return Some(value),
                Popped::Closed => return None,
                Popped::Empty => not_empty.await,
            }
        }
    }
}

// ---------------------------------------------------------------- runners

/// `iters` items through `C`, from `producers` tasks to `consumers` tasks.
fn run_async<C: AsyncChannel>(
    rt: &Runtime,
    iters: u64,
    producers: usize,
    consumers: usize,
) -> Duration {
    let (txs, rxs) = C::channel(CAPACITY, producers, consumers);
    let (elapsed, received) = rt.block_on(async move {
        let start = Instant::now();
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|mut rx| {
                tokio::spawn(async move {
                    let mut received = 0u64;
                    while let Some(value) = C::recv(&mut rx).await {
                        black_box(value);
                        received += 1;
                    }
                    received
                })
            })
            .collect();
        let producers: Vec<_> = txs
            .into_iter()
            .zip(shares(iters, producers))
            .map(|(mut tx, n)| {
                tokio::spawn(async move {
                    for i in 0..n {
                        C::send(&mut tx, item(i)).await;
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.await.expect("producer panicked");
        }
        let mut received = 0;
        for consumer in consumers {
            received += consumer.await.expect("consumer panicked");
        }
        (start.elapsed(), received)
    });
    assert_eq!(received, iters, "items lost");
    elapsed
}

/// `iters` items through `C`, from `producers` threads to `consumers` threads.
fn run_blocking<C: BlockingChannel>(iters: u64, producers: usize, consumers: usize) -> Duration {
    let (txs, rxs) = C::channel(CAPACITY, producers, consumers);
    let (elapsed, received) = std::thread::scope(|scope| {
        let start = Instant::now();
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|mut rx| {
                scope.spawn(move || {
                    let mut received = 0u64;
                    while let Some(value) = C::recv_blocking(&mut rx) {
                        black_box(value);
                        received += 1;
                    }
                    received
                })
            })
            .collect();
        let producers: Vec<_> = txs
            .into_iter()
            .zip(shares(iters, producers))
            .map(|(mut tx, n)| {
                scope.spawn(move || {
                    for i in 0..n {
                        C::send_blocking(&mut tx, item(i));
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().expect("producer panicked");
        }
        let mut received = 0;
        for consumer in consumers {
            received += consumer.join().expect("consumer panicked");
        }
        (start.elapsed(), received)
    });
    assert_eq!(received, iters, "items lost");
    elapsed
}

fn bench_async<C: AsyncChannel>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &Runtime,
    producers: usize,
    consumers: usize,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| run_async::<C>(rt, iters, producers, consumers))
    });
}

fn bench_blocking<C: BlockingChannel>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    producers: usize,
    consumers: usize,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| run_blocking::<C>(iters, producers, consumers))
    });
}

type Fifo = Ambisync<ambisync::Fifo>;
type Lifo = Ambisync<ambisync::Lifo>;
type Priority = Ambisync<ambisync::Priority>;

fn queue_async(c: &mut Criterion) {
    let rt = two_workers();
    for (case, producers, consumers) in [
        ("queue_1to1_async", 1, 1),
        ("queue_4to4_async", 4, 4),
        ("queue_4to1_async", 4, 1),
    ] {
        let mut group = c.benchmark_group(case);
        group.throughput(Throughput::Elements(1));
        bench_async::<Fifo>(&mut group, "ambisync", &rt, producers, consumers);
        bench_async::<AsyncChan>(&mut group, "async_channel", &rt, producers, consumers);
        bench_async::<Flume>(&mut group, "flume", &rt, producers, consumers);
        // mpsc: the producers, always one consumer.
        bench_async::<TokioMpsc>(&mut group, "tokio", &rt, producers, 1);
        group.finish();
    }
}

fn queue_blocking(c: &mut Criterion) {
    for (case, n) in [("queue_1to1_blocking", 1), ("queue_4to4_blocking", 4)] {
        let mut group = c.benchmark_group(case);
        group.throughput(Throughput::Elements(1));
        bench_blocking::<Fifo>(&mut group, "ambisync", n, n);
        bench_blocking::<Crossbeam>(&mut group, "crossbeam", n, n);
        bench_blocking::<Flume>(&mut group, "flume", n, n);
        bench_blocking::<AsyncChan>(&mut group, "async_channel", n, n);
        if n == 1 {
            bench_blocking::<StdSync>(&mut group, "std", n, n);
        }
        group.finish();
    }
}

fn ordered_queues_async(c: &mut Criterion) {
    let rt = two_workers();

    let mut group = c.benchmark_group("priority_queue_1to1_async");
    group.throughput(Throughput::Elements(1));
    bench_async::<Priority>(&mut group, "ambisync", &rt, 1, 1);
    bench_async::<Baseline<BinaryHeap<Reverse<u64>>>>(&mut group, "baseline", &rt, 1, 1);
    group.finish();

    let mut group = c.benchmark_group("lifo_queue_1to1_async");
    group.throughput(Throughput::Elements(1));
    bench_async::<Lifo>(&mut group, "ambisync", &rt, 1, 1);
    bench_async::<Baseline<Vec<u64>>>(&mut group, "baseline", &rt, 1, 1);
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = queue_async, queue_blocking, ordered_queues_async
}
criterion_main!(benches);
