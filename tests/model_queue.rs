//! Property tests: each queue order (FIFO, LIFO, priority with equal
//! priorities) against a sequential model of Python 3.13's `queue` module,
//! over random sequences of `try_put`/`try_get`/`task_done`/`shutdown`/
//! `shutdown_immediate`, the timeout forms with `Duration::ZERO`, a
//! millisecond on a paused tokio clock and `Duration::MAX` (where the call
//! completes), and edge sizes (1, 2, 3,
//! `usize::MAX`, unbounded). After every step the observable state
//! (`len`, `is_empty`, `is_full`, `unfinished_tasks`, `is_shutdown`,
//! `maxsize`, waiter counts) must equal the model's.
#![cfg(all(feature = "tokio", not(miri)))]

use std::collections::VecDeque;
use std::time::Duration;

use ambisync::{Fifo, GetError, Lifo, OrderedQueue, Priority, PutError, QueueOrder, TaskDoneError};
use futures::StreamExt;
use proptest::prelude::*;

/// An item ordered by `prio` only, so that a priority queue holds items
/// that compare equal but can be told apart by `id`.
#[derive(Debug, Clone)]
struct Item {
    prio: u8,
    id: u32,
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Fifo,
    Lifo,
    Priority,
}

/// The sequential model.
struct Model {
    kind: Kind,
    items: VecDeque<Item>,
    maxsize: Option<usize>,
    unfinished: usize,
    shutdown: bool,
}

impl Model {
    fn full(&self) -> bool {
        self.maxsize.is_some_and(|m| self.items.len() >= m)
    }

    /// Python's `put_nowait`: ShutDown first, then Full.
    fn put(&mut self, item: Item) -> Result<(), &'static str> {
        if self.shutdown {
            return Err("shutdown");
        }
        if self.full() {
            return Err("full");
        }
        self.items.push_back(item);
        self.unfinished += 1;
        Ok(())
    }

    /// Checks that `got` is an item the model may hand out next, and
    /// removes it. For priority order any item of the lowest priority may
    /// come (equal items have no order among them).
    fn take(&mut self, got: &Item) {
        let index = match self.kind {
            Kind::Fifo => 0,
            Kind::Lifo => self.items.len() - 1,
            Kind::Priority => {
                let lowest = self.items.iter().map(|i| i.prio).min().expect("non-empty");
                assert_eq!(
                    got.prio, lowest,
                    "priority queue gave {got:?} but {lowest} is the lowest priority held"
                );
                self.items
                    .iter()
                    .position(|i| i.id == got.id)
                    .unwrap_or_else(|| {
                        panic!("priority queue gave {got:?}, which it does not hold")
                    })
            }
        };
        let expected = self.items.remove(index).expect("an item");
        assert_eq!(
            expected.id, got.id,
            "{:?} queue gave item {} instead of {}",
            self.kind, got.id, expected.id
        );
    }

    /// What `get_nowait` returns: `Some(Ok)` = an item is due, `Err` why not.
    fn get_outcome(&self) -> Result<(), GetError> {
        if !self.items.is_empty() {
            Ok(())
        } else if self.shutdown {
            Err(GetError::ShutDown)
        } else {
            Err(GetError::Empty)
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    TryPut(u8),
    TryGet,
    TaskDone,
    Shutdown,
    ShutdownImmediate,
    PutTimeoutBlocking(u8, bool),
    GetTimeoutBlocking(bool),
    JoinTimeoutBlocking(bool),
    PutTimeout(u8, bool),
    GetTimeout(bool),
    JoinTimeout(bool),
    PutBlocking(u8),
    GetBlocking,
    StreamNext,
}

fn op() -> impl Strategy<Value = Op> {
    let prio = 0u8..4;
    prop_oneof![
        6 => prio.clone().prop_map(Op::TryPut),
        5 => Just(Op::TryGet),
        3 => Just(Op::TaskDone),
        1 => Just(Op::Shutdown),
        1 => Just(Op::ShutdownImmediate),
        2 => (prio.clone(), any::<bool>()).prop_map(|(p, m)| Op::PutTimeoutBlocking(p, m)),
        2 => any::<bool>().prop_map(Op::GetTimeoutBlocking),
        1 => any::<bool>().prop_map(Op::JoinTimeoutBlocking),
        2 => (prio.clone(), any::<bool>()).prop_map(|(p, m)| Op::PutTimeout(p, m)),
        2 => any::<bool>().prop_map(Op::GetTimeout),
        1 => any::<bool>().prop_map(Op::JoinTimeout),
        1 => prio.prop_map(Op::PutBlocking),
        1 => Just(Op::GetBlocking),
        1 => Just(Op::StreamNext),
    ]
}

/// A FIFO queue bounded at 1 to 3 keeps its items in the lock-free ring (every
/// few operations wrap it round a lap); unbounded or at `usize::MAX`, in a
/// `VecDeque` behind a mutex (too large a ring to make up front).
fn maxsize() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        Just(None),
        Just(Some(1)),
        Just(Some(2)),
        Just(Some(3)),
        Just(Some(usize::MAX))
    ]
}

fn timeout(max: bool) -> Duration {
    if max { Duration::MAX } else { Duration::ZERO }
}

/// An async timeout: `Duration::MAX` where the call completes without
/// waiting (tokio's paused clock never reaches a `Duration::MAX` deadline:
/// `tokio::time::timeout(Duration::MAX, pending())` hangs there), else zero
/// or a millisecond, which the paused clock reaches at once.
fn async_timeout(max: bool, completes: bool) -> Duration {
    match (max, completes) {
        (true, true) => Duration::MAX,
        (true, false) => Duration::from_millis(1),
        (false, _) => Duration::ZERO,
    }
}

fn check_put(model: &mut Model, item: Item, result: Result<(), PutError<Item>>, form: &str) {
    let id = item.id;
    let expected = model.put(item);
    match (expected, result) {
        (Ok(()), Ok(())) => {}
        (Err("shutdown"), Err(PutError::ShutDown(back))) => assert_eq!(back.id, id),
        (Err("full"), Err(PutError::Full(back) | PutError::Timeout(back))) => {
            assert_eq!(back.id, id)
        }
        (expected, got) => panic!("{form}: model says {expected:?}, queue says {got:?}"),
    }
}

fn check_get(model: &mut Model, got: Result<Item, GetError>, form: &str) {
    match (model.get_outcome(), got) {
        (Ok(()), Ok(item)) => model.take(&item),
        (Err(GetError::Empty), Err(GetError::Empty | GetError::Timeout)) => {}
        (Err(GetError::ShutDown), Err(GetError::ShutDown)) => {}
        (expected, got) => panic!("{form}: model says {expected:?}, queue says {got:?}"),
    }
}

fn run<O: QueueOrder<Item>>(kind: Kind, maxsize: Option<usize>, ops: Vec<Op>) {
    let queue: OrderedQueue<Item, O> = match maxsize {
        Some(n) => OrderedQueue::bounded(n),
        None => OrderedQueue::unbounded(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let mut model = Model {
        kind,
        items: VecDeque::new(),
        maxsize,
        unfinished: 0,
        shutdown: false,
    };
    let mut next_id = 0;
    let mut item = |prio| {
        next_id += 1;
        Item { prio, id: next_id }
    };
    for (step, op) in ops.into_iter().enumerate() {
        let form = format!("step {step}: {op:?}");
        match op {
            Op::TryPut(p) => {
                let it = item(p);
                let result = queue.try_put(it.clone());
                check_put(&mut model, it, result, &form);
            }
            Op::TryGet => check_get(&mut model, queue.try_get(), &form),
            Op::TaskDone => {
                let expected = if model.unfinished == 0 {
                    Err(TaskDoneError)
                } else {
                    model.unfinished -= 1;
                    Ok(())
                };
                assert_eq!(queue.task_done(), expected, "{form}");
            }
            Op::Shutdown => {
                queue.shutdown();
                model.shutdown = true;
            }
            Op::ShutdownImmediate => {
                let drained = queue.shutdown_immediate();
                model.shutdown = true;
                assert_eq!(drained.len(), model.items.len(), "{form}: drained count");
                // In the order gets would have returned them.
                for got in &drained {
                    model.take(got);
                }
                model.unfinished = model.unfinished.saturating_sub(drained.len());
            }
            Op::PutTimeoutBlocking(p, max) => {
                // A `Duration::MAX` put waits forever on a full queue.
                let max = max && (!model.full() || model.shutdown);
                let it = item(p);
                let result = queue.put_timeout_blocking(it.clone(), timeout(max));
                check_put(&mut model, it, result, &form);
            }
            Op::GetTimeoutBlocking(max) => {
                let max = max && model.get_outcome() != Err(GetError::Empty);
                check_get(&mut model, queue.get_timeout_blocking(timeout(max)), &form);
            }
            Op::JoinTimeoutBlocking(max) => {
                let max = max && model.unfinished == 0;
                assert_eq!(
                    queue.join_timeout_blocking(timeout(max)),
                    model.unfinished == 0,
                    "{form}"
                );
            }
            Op::PutTimeout(p, max) => {
                let it = item(p);
                let completes = !model.full() || model.shutdown;
                let result =
                    runtime.block_on(queue.put_timeout(it.clone(), async_timeout(max, completes)));
                check_put(&mut model, it, result, &form);
            }
            Op::GetTimeout(max) => {
                let completes = model.get_outcome() != Err(GetError::Empty);
                let got = runtime.block_on(queue.get_timeout(async_timeout(max, completes)));
                check_get(&mut model, got, &form);
            }
            Op::JoinTimeout(max) => {
                let done =
                    runtime.block_on(queue.join_timeout(async_timeout(max, model.unfinished == 0)));
                assert_eq!(done, model.unfinished == 0, "{form}");
            }
            Op::PutBlocking(p) => {
                if model.full() && !model.shutdown {
                    continue;
                }
                let it = item(p);
                let result = queue.put_blocking(it.clone());
                check_put(&mut model, it, result, &form);
            }
            Op::GetBlocking => {
                if model.get_outcome() == Err(GetError::Empty) {
                    continue;
                }
                check_get(&mut model, queue.get_blocking(), &form);
            }
            Op::StreamNext => {
                if model.get_outcome() == Err(GetError::Empty) {
                    continue;
                }
                let next = runtime.block_on(queue.stream().next());
                check_get(&mut model, next.ok_or(GetError::ShutDown), &form);
            }
        }
        assert_eq!(queue.len(), model.items.len(), "{form}: len");
        assert_eq!(queue.is_empty(), model.items.is_empty(), "{form}: is_empty");
        assert_eq!(queue.is_full(), model.full(), "{form}: is_full");
        assert_eq!(
            queue.unfinished_tasks(),
            model.unfinished,
            "{form}: unfinished_tasks"
        );
        assert_eq!(queue.is_shutdown(), model.shutdown, "{form}: is_shutdown");
        assert_eq!(queue.maxsize(), maxsize, "{form}: maxsize");
        assert_eq!(
            queue.waiting_getters() + queue.waiting_putters(),
            0,
            "{form}: waiters"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn fifo_queue_matches_the_model(maxsize in maxsize(), ops in prop::collection::vec(op(), 1..60)) {
        run::<Fifo>(Kind::Fifo, maxsize, ops);
    }

    #[test]
    fn lifo_queue_matches_the_model(maxsize in maxsize(), ops in prop::collection::vec(op(), 1..60)) {
        run::<Lifo>(Kind::Lifo, maxsize, ops);
    }

    #[test]
    fn priority_queue_matches_the_model(maxsize in maxsize(), ops in prop::collection::vec(op(), 1..60)) {
        run::<Priority>(Kind::Priority, maxsize, ops);
    }
}

#[test]
#[should_panic(expected = "at least one item")]
fn a_bounded_queue_of_size_zero_is_refused() {
    let _ = OrderedQueue::<Item, Fifo>::bounded(0);
}
