//! `Queue::stream_owned`: consumers read through owned streams whose
//! `next()` is cancelled at random (also after a wake-up) and which are
//! dropped mid-stream, or handed to another task for a while, then replaced;
//! a thread consumes with `get_timeout_blocking` beside them. Every item
//! arrives exactly once, the streams end once the queue is shut down and
//! empty, `try_join` is false while an item is not done, and true (with
//! `join` returning) once every item is.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ambisync::{GetError, Queue};
use futures::StreamExt;

use crate::harness::{
    Cancel, Rng, Round, Tally, bounded, cancellable, chaos, join_tasks, join_thread, runtime,
    yields,
};

struct Shared {
    queue: Arc<Queue<u64>>,
    /// Every item received, by anyone.
    got: Mutex<Vec<u64>>,
    tally: Tally,
}

impl Shared {
    /// Records an item and marks it done; sometimes first checks, while it
    /// is not done, that the queue does not claim to be joined.
    fn received(&self, item: u64, check: bool, round: &Round) {
        self.got.lock().expect("not poisoned").push(item);
        if check {
            assert!(
                !self.queue.try_join(),
                "try_join() true while item {item} is not done {round}"
            );
        }
        self.queue
            .task_done()
            .unwrap_or_else(|e| panic!("task_done for a received item: {e} {round}"));
    }
}

async fn producer(shared: Arc<Shared>, round: Round, mut rng: Rng, first: u64, count: u64) {
    for item in first..first + count {
        bounded(&round, "put()", shared.queue.put(item))
            .await
            .unwrap_or_else(|e| panic!("put before shutdown refused: {e} {round}"));
        if rng.one_in(3) {
            yields(1).await;
        }
    }
}

async fn consumer(shared: Arc<Shared>, round: Round, mut rng: Rng) {
    loop {
        let mut stream = shared.queue.stream_owned();
        let mut ended = false;
        // A few items from this stream, then it is dropped or handed on.
        for _ in 0..1 + rng.below(4) {
            let cancel = Cancel::random(&mut rng);
            match cancellable(&round, "stream next()", stream.next(), cancel).await {
                Some(Some(item)) => {
                    let check = rng.one_in(3);
                    if check {
                        yields(rng.below(2)).await;
                    }
                    shared.received(item, check, &round);
                    shared.tally.done();
                }
                Some(None) => {
                    ended = true;
                    break;
                }
                None => shared.tally.cancelled(),
            }
        }
        if ended {
            // An ended stream stays ended.
            assert!(
                stream.next().await.is_none(),
                "a stream resumed after its end {round}"
            );
            return;
        }
        if rng.one_in(3) {
            // Another task reads one item through it, then gives it back
            // (or drops it there: aborted).
            let (inner, round2) = (Arc::clone(&shared), round.clone());
            let task = tokio::spawn(async move {
                let next = bounded(&round2, "next() on a moved stream", stream.next()).await;
                match next {
                    Some(item) => {
                        inner.received(item, false, &round2);
                        Some(stream)
                    }
                    None => None,
                }
            });
            match bounded(&round, "moved stream's task", task).await {
                Ok(Some(back)) => drop(back),
                Ok(None) => return,
                Err(error) => std::panic::resume_unwind(error.into_panic()),
            }
        }
    }
}

fn thread_consumer(shared: &Shared, round: &Round) {
    loop {
        match shared
            .queue
            .get_timeout_blocking(Duration::from_micros(300))
        {
            Ok(item) => shared.received(item, false, round),
            Err(GetError::Timeout) => {}
            Err(GetError::ShutDown) => return,
            Err(GetError::Empty) => panic!("get_timeout_blocking answered Empty {round}"),
        }
    }
}

#[test]
fn queue_stream_owned_dropped_mid_stream() {
    let runtime = runtime();
    let mut cancels = 0;
    chaos("queue_stream_owned_dropped_mid_stream", 3, |round| {
        let mut rng = round.rng();
        let queue = Arc::new(match rng.below(3) {
            0 => Queue::unbounded(),
            _ => Queue::bounded(1 + rng.index(3)),
        });
        let shared = Arc::new(Shared {
            queue,
            got: Mutex::new(Vec::new()),
            tally: Tally::default(),
        });
        let producers = 1 + rng.below(3);
        let per = 20 + rng.below(60);
        let producing: Vec<_> = (0..producers)
            .map(|p| {
                runtime.spawn(producer(
                    Arc::clone(&shared),
                    round.clone(),
                    rng.fork(),
                    p * 1_000,
                    per,
                ))
            })
            .collect();
        let consuming: Vec<_> = (0..1 + rng.index(3))
            .map(|_| runtime.spawn(consumer(Arc::clone(&shared), round.clone(), rng.fork())))
            .collect();
        let thread = rng.one_in(2).then(|| {
            let (shared, round) = (Arc::clone(&shared), round.clone());
            std::thread::spawn(move || thread_consumer(&shared, &round))
        });
        join_tasks(&runtime, round, "producer", producing);
        shared.queue.shutdown();
        join_tasks(&runtime, round, "stream consumer", consuming);
        if let Some(thread) = thread {
            join_thread(round, "thread consumer", thread);
        }
        let mut got = std::mem::take(&mut *shared.got.lock().expect("not poisoned"));
        got.sort_unstable();
        let expected: Vec<u64> = (0..producers)
            .flat_map(|p| p * 1_000..p * 1_000 + per)
            .collect();
        assert_eq!(got, expected, "items lost or doubled {round}");
        let queue = &shared.queue;
        assert!(queue.is_empty());
        assert_eq!(queue.unfinished_tasks(), 0, "{round}");
        assert!(
            queue.try_join(),
            "every item done, but try_join() false {round}"
        );
        runtime.block_on(bounded(round, "join()", queue.join()));
        assert_eq!(
            queue.waiting_getters(),
            0,
            "a dropped stream is still counted {round}"
        );
        cancels += shared.tally.cancels();
    });
    assert!(
        cancels > 0,
        "no next() was cancelled: the storm tested nothing"
    );
}
