//! Queues (FIFO, LIFO, priority): every item is accounted for exactly once —
//! received by a consumer, drained by `shutdown_immediate`, handed back to
//! its producer in a `PutError`, or dropped inside a cancelled `put` future —
//! and only a cancelled put may drop one; `unfinished_tasks` is exact and
//! `join` returns once every item is done. With one consumer, a FIFO queue
//! keeps each producer's order.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ambisync::{Fifo, Lifo, Priority};
use ambisync::{GetError, OrderedQueue, PutError, QueueOrder};
use futures::StreamExt;

use crate::harness::{
    Cancel, Rng, Round, Tally, bounded, cancellable, chaos, join_tasks, join_thread, runtime,
    yields,
};

/// How an item ended.
const RECEIVED: u8 = 1;
const DRAINED: u8 = 2;
const REJECTED: u8 = 3;
const DROPPED: u8 = 4;

struct Log {
    /// Per item id: how it ended (0: not yet). Set once; a second ending
    /// is recorded in `doubles`.
    fate: Vec<AtomicU8>,
    doubles: Mutex<Vec<String>>,
    created: AtomicUsize,
}

impl Log {
    fn end(&self, id: usize, fate: u8) {
        if let Err(before) =
            self.fate[id].compare_exchange(0, fate, Ordering::SeqCst, Ordering::SeqCst)
        {
            self.doubles
                .lock()
                .unwrap()
                .push(format!("item {id} ended twice: fate {before} then {fate}"));
        }
    }
}

/// An item that records its end; ordered by `prio` only, so that a priority
/// queue sees equal priorities.
struct Item {
    id: usize,
    producer: usize,
    seq: usize,
    prio: u8,
    log: Arc<Log>,
    ended: bool,
}

impl Item {
    fn end(mut self, fate: u8) -> (usize, usize) {
        self.ended = true;
        self.log.end(self.id, fate);
        (self.producer, self.seq)
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        if !self.ended {
            self.log.end(self.id, DROPPED);
        }
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.prio == other.prio
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.prio.cmp(&other.prio)
    }
}

struct Shared<O: QueueOrder<Item>> {
    queue: OrderedQueue<Item, O>,
    log: Arc<Log>,
    tally: Tally,
    /// Items handed to consumers whose `task_done` is still to come.
    received: AtomicUsize,
    task_dones: AtomicUsize,
    /// The ids of puts whose future was dropped (only those may be dropped).
    cancelled_puts: Mutex<Vec<usize>>,
    /// (producer, seq) in the order the single FIFO consumer got them.
    order: Mutex<Vec<(usize, usize)>>,
    per_producer: usize,
    check_order: bool,
}

impl<O: QueueOrder<Item>> Shared<O> {
    fn item(&self, producer: usize, seq: usize, rng: &mut Rng) -> Item {
        self.log.created.fetch_add(1, Ordering::SeqCst);
        Item {
            id: producer * self.per_producer + seq,
            producer,
            seq,
            prio: rng.below(4) as u8,
            log: Arc::clone(&self.log),
            ended: false,
        }
    }

    fn received(&self, item: Item) {
        let key = item.end(RECEIVED);
        if self.check_order {
            self.order.lock().unwrap().push(key);
        }
        self.received.fetch_add(1, Ordering::SeqCst);
    }

    fn task_done(&self, round: &Round) {
        self.queue
            .task_done()
            .unwrap_or_else(|e| panic!("task_done for a received item failed: {e} {round}"));
        self.task_dones.fetch_add(1, Ordering::SeqCst);
    }
}

/// Puts one item with a random form; `false` once the queue is shut down.
async fn put_one<O: QueueOrder<Item>>(
    shared: &Shared<O>,
    round: &Round,
    rng: &mut Rng,
    mut item: Item,
) -> bool {
    let queue = &shared.queue;
    loop {
        let id = item.id;
        let result = match rng.below(4) {
            0 => queue.put_timeout(item, rng.tiny()).await,
            1 => queue.try_put(item),
            2 => {
                let cancel = Cancel::random(rng);
                match cancellable(round, "put()", queue.put(item), cancel).await {
                    Some(result) => result,
                    None => {
                        // Delivered or dropped with the future: either way
                        // its log says which, and this producer moves on.
                        shared.cancelled_puts.lock().unwrap().push(id);
                        shared.tally.cancelled();
                        return true;
                    }
                }
            }
            _ => bounded(round, "put()", queue.put(item)).await,
        };
        match result {
            Ok(()) => return true,
            Err(PutError::ShutDown(back)) => {
                back.end(REJECTED);
                return false;
            }
            Err(PutError::Full(back) | PutError::Timeout(back)) => {
                item = back;
                yields(rng.below(2)).await;
            }
        }
    }
}

async fn task_producer<O: QueueOrder<Item>>(
    shared: Arc<Shared<O>>,
    round: Round,
    mut rng: Rng,
    producer: usize,
) {
    for seq in 0..shared.per_producer {
        let item = shared.item(producer, seq, &mut rng);
        if !put_one(&shared, &round, &mut rng, item).await {
            return;
        }
    }
}

fn thread_producer<O: QueueOrder<Item>>(shared: &Shared<O>, mut rng: Rng, producer: usize) {
    'items: for seq in 0..shared.per_producer {
        let mut item = shared.item(producer, seq, &mut rng);
        loop {
            let result = match rng.below(3) {
                0 => shared.queue.put_timeout_blocking(item, rng.tiny()),
                1 => shared.queue.try_put(item),
                _ => shared.queue.put_blocking(item),
            };
            match result {
                Ok(()) => continue 'items,
                Err(PutError::ShutDown(back)) => {
                    back.end(REJECTED);
                    return;
                }
                Err(PutError::Full(back) | PutError::Timeout(back)) => item = back,
            }
        }
    }
}

async fn task_consumer<O: QueueOrder<Item>>(shared: Arc<Shared<O>>, round: Round, mut rng: Rng) {
    let queue = &shared.queue;
    let mut pending_done = 0;
    loop {
        let op = rng.below(5);
        if op != 1 {
            // Deferred task_done calls are made before anything that may
            // wait: a consumer asleep with items not done would keep `join`
            // (and so the end of the round) waiting.
            for _ in 0..std::mem::take(&mut pending_done) {
                shared.task_done(&round);
            }
        }
        let got = match op {
            0 => queue.get_timeout(rng.tiny()).await,
            1 => queue.try_get(),
            2 => {
                let cancel = Cancel::random(&mut rng);
                match cancellable(&round, "get()", queue.get(), cancel).await {
                    Some(got) => got,
                    None => {
                        shared.tally.cancelled();
                        continue;
                    }
                }
            }
            3 => {
                let cancel = Cancel::random(&mut rng);
                let mut stream = queue.stream();
                match cancellable(&round, "stream.next()", stream.next(), cancel).await {
                    Some(Some(item)) => Ok(item),
                    Some(None) => Err(GetError::ShutDown),
                    None => {
                        shared.tally.cancelled();
                        continue;
                    }
                }
            }
            _ => bounded(&round, "get()", queue.get()).await,
        };
        match got {
            Ok(item) => {
                shared.received(item);
                pending_done += 1;
                // task_done sometimes later, in batches.
                if rng.one_in(2) {
                    for _ in 0..pending_done {
                        shared.task_done(&round);
                    }
                    pending_done = 0;
                }
            }
            Err(GetError::ShutDown) => break,
            Err(GetError::Empty | GetError::Timeout) => {
                for _ in 0..std::mem::take(&mut pending_done) {
                    shared.task_done(&round);
                }
                yields(rng.below(2)).await;
            }
        }
    }
    for _ in 0..pending_done {
        shared.task_done(&round);
    }
}

fn thread_consumer<O: QueueOrder<Item>>(shared: &Shared<O>, round: &Round, mut rng: Rng) {
    loop {
        let got = match rng.below(3) {
            0 => shared.queue.get_timeout_blocking(rng.tiny()),
            1 => shared.queue.try_get(),
            _ => shared.queue.get_blocking(),
        };
        match got {
            Ok(item) => {
                shared.received(item);
                shared.task_done(round);
            }
            Err(GetError::ShutDown) => break,
            Err(GetError::Empty | GetError::Timeout) => std::thread::yield_now(),
        }
    }
}

fn storm<O>(test: &'static str, fifo_order: bool)
where
    O: QueueOrder<Item> + Send + Sync + 'static,
    O::Items: Send + Sync,
{
    let runtime = runtime();
    let mut cancels = 0;
    chaos(test, 3, |round| {
        let mut rng = round.rng();
        let maxsize = match rng.below(4) {
            0 => None,
            n => Some(n as usize),
        };
        let task_producers = 1 + rng.index(3);
        let producers = task_producers + 1;
        let per_producer = 20 + rng.index(60);
        let log = Arc::new(Log {
            fate: (0..producers * per_producer)
                .map(|_| AtomicU8::new(0))
                .collect(),
            doubles: Mutex::new(Vec::new()),
            created: AtomicUsize::new(0),
        });
        // The order check needs a single consumer (a task).
        let check_order = fifo_order;
        let shared = Arc::new(Shared::<O> {
            queue: match maxsize {
                Some(n) => OrderedQueue::bounded(n),
                None => OrderedQueue::unbounded(),
            },
            log: Arc::clone(&log),
            tally: Tally::default(),
            received: AtomicUsize::new(0),
            task_dones: AtomicUsize::new(0),
            cancelled_puts: Mutex::new(Vec::new()),
            order: Mutex::new(Vec::new()),
            per_producer,
            check_order,
        });
        let immediate = rng.one_in(3);
        let mut producer_tasks: Vec<_> = (0..task_producers)
            .map(|p| {
                runtime.spawn(task_producer(
                    Arc::clone(&shared),
                    round.clone(),
                    rng.fork(),
                    p,
                ))
            })
            .collect();
        let producer_thread = {
            let (shared, rng) = (Arc::clone(&shared), rng.fork());
            std::thread::spawn(move || thread_producer(&shared, rng, task_producers))
        };
        let consumer_tasks: Vec<_> = (0..if check_order { 1 } else { 1 + rng.index(2) })
            .map(|_| {
                runtime.spawn(task_consumer(
                    Arc::clone(&shared),
                    round.clone(),
                    rng.fork(),
                ))
            })
            .collect();
        let consumer_thread = (!check_order).then(|| {
            let (shared, round, rng) = (Arc::clone(&shared), round.clone(), rng.fork());
            std::thread::spawn(move || thread_consumer(&shared, &round, rng))
        });
        // A joiner that is cancelled at random and must see every item done.
        let joins_done = Arc::new(AtomicBool::new(false));
        let joiner = {
            let (shared, round, mut rng, joins_done) = (
                Arc::clone(&shared),
                round.clone(),
                rng.fork(),
                Arc::clone(&joins_done),
            );
            runtime.spawn(async move {
                while !joins_done.load(Ordering::SeqCst) {
                    let cancel = Cancel::random(&mut rng);
                    let _ = cancellable(&round, "join()", shared.queue.join(), cancel).await;
                    yields(1).await;
                    tokio::time::sleep(Duration::from_micros(rng.below(200))).await;
                }
            })
        };
        if immediate {
            std::thread::sleep(Duration::from_micros(rng.below(3_000)));
            for item in shared.queue.shutdown_immediate() {
                item.end(DRAINED);
            }
            join_thread(round, "producer thread", producer_thread);
            join_tasks(
                &runtime,
                round,
                "producer task",
                std::mem::take(&mut producer_tasks),
            );
        } else {
            join_thread(round, "producer thread", producer_thread);
            join_tasks(
                &runtime,
                round,
                "producer task",
                std::mem::take(&mut producer_tasks),
            );
            // Every item put is taken and done: `join` returns.
            runtime.block_on(bounded(
                round,
                "join() after every item (lost task_done wake-up?)",
                async {
                    loop {
                        if shared.queue.join_timeout(Duration::from_millis(50)).await
                            && shared.queue.is_empty()
                        {
                            break;
                        }
                    }
                },
            ));
            shared.queue.shutdown();
        }
        if let Some(thread) = consumer_thread {
            join_thread(round, "consumer thread", thread);
        }
        join_tasks(&runtime, round, "consumer task", consumer_tasks);
        joins_done.store(true, Ordering::SeqCst);
        join_tasks(&runtime, round, "joiner", vec![joiner]);
        // Whatever a late put left behind (a cancelled put that delivered
        // after the consumers ended cannot happen: puts fail once shut down).
        let left = shared.queue.shutdown_immediate();
        assert!(
            left.is_empty(),
            "{} items left after shutdown and drain {round}",
            left.len()
        );
        let queue = &shared.queue;
        let doubles = log.doubles.lock().unwrap();
        assert!(doubles.is_empty(), "items ended twice: {doubles:?} {round}");
        let created = log.created.load(Ordering::SeqCst);
        let mut unfinished_fates = Vec::new();
        let cancelled = shared.cancelled_puts.lock().unwrap();
        for (id, fate) in log.fate.iter().enumerate() {
            let fate = fate.load(Ordering::SeqCst);
            if fate == DROPPED {
                assert!(
                    cancelled.contains(&id),
                    "item {id} was dropped though no put of it was cancelled {round}"
                );
            }
            if fate == 0 {
                unfinished_fates.push(id);
            }
        }
        let ended = log
            .fate
            .iter()
            .filter(|f| f.load(Ordering::SeqCst) != 0)
            .count();
        assert_eq!(
            ended, created,
            "items neither received, drained, handed back nor dropped (lost): {unfinished_fates:?} {round}"
        );
        assert_eq!(
            queue.unfinished_tasks(),
            0,
            "unfinished_tasks after every item is done {round}"
        );
        assert_eq!(
            shared.received.load(Ordering::SeqCst),
            shared.task_dones.load(Ordering::SeqCst)
        );
        assert!(
            queue.join_timeout_blocking(Duration::ZERO),
            "join with nothing unfinished {round}"
        );
        assert_eq!(
            queue.task_done(),
            Err(ambisync::TaskDoneError),
            "one task_done too many {round}"
        );
        assert_eq!(
            queue.waiting_getters() + queue.waiting_putters(),
            0,
            "gone waiters still counted {round}"
        );
        if check_order {
            let order = shared.order.lock().unwrap();
            let mut last = vec![None; producers];
            for &(producer, seq) in order.iter() {
                if let Some(before) = last[producer] {
                    assert!(
                        seq > before,
                        "FIFO: producer {producer}'s item {seq} came after its item {before} {round}"
                    );
                }
                last[producer] = Some(seq);
            }
        }
        cancels += shared.tally.cancels();
    });
    assert!(
        cancels > 0,
        "no wait was cancelled: the storm tested nothing"
    );
}

#[test]
fn queue_fifo() {
    storm::<Fifo>("queue_fifo", true);
}

#[test]
fn queue_fifo_many_consumers() {
    storm::<Fifo>("queue_fifo_many_consumers", false);
}

#[test]
fn queue_lifo() {
    storm::<Lifo>("queue_lifo", false);
}

#[test]
fn queue_priority() {
    storm::<Priority>("queue_priority", false);
}
