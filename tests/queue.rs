//! `Queue`, `LifoQueue` and `PriorityQueue`: the three orders, the bound, every
//! form of put / get / join, `task_done` accounting, waiter counts, the stream,
//! cancel safety (dropped and timed-out waiters lose no item and no wake-up),
//! tasks and threads sharing one queue, the blocking-in-runtime panic, the
//! errors, and a producer/consumer stress test. Shutdown is in
//! `tests/queue_shutdown.rs`.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ambisync::{
    GetError, LifoQueue, OrderedQueue, PriorityQueue, PutError, Queue, QueueOrder, TaskDoneError,
};
use futures::StreamExt;

use common::{LIMIT, eventually, eventually_async, join_within, panic_message, within};
use tokio_test::task::{self, Spawn};
use tokio_test::{assert_pending, assert_ready, assert_ready_eq};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Drains a queue with `try_get`, in the order it hands items out.
fn drain<T, O: QueueOrder<T>>(queue: &OrderedQueue<T, O>) -> Vec<T> {
    let mut items = Vec::new();
    while let Ok(item) = queue.try_get() {
        items.push(item);
    }
    items
}

/// Asserts that `f` panics with a message containing every one of `needles`.
fn assert_panics_with(what: &str, f: impl FnOnce(), needles: &[&str]) {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .expect_err(&format!("{what}: expected a panic"));
    let message = panic_message(&*payload);
    for needle in needles {
        assert!(
            message.contains(needle),
            "{what}: panic message {message:?} does not mention {needle:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------

#[test]
fn fifo_queue_hands_out_items_in_insertion_order() {
    let queue = Queue::unbounded();
    for item in [3, 1, 4, 1, 5, 9, 2, 6] {
        queue.try_put(item).unwrap();
    }
    assert_eq!(drain(&queue), [3, 1, 4, 1, 5, 9, 2, 6]);
}

#[test]
fn lifo_queue_hands_out_the_newest_item_first() {
    let queue = LifoQueue::unbounded();
    for item in [3, 1, 4, 1, 5, 9, 2, 6] {
        queue.try_put(item).unwrap();
    }
    assert_eq!(drain(&queue), [6, 2, 9, 5, 1, 4, 1, 3]);
}

#[test]
fn priority_queue_hands_out_the_smallest_item_first() {
    let queue = PriorityQueue::unbounded();
    for item in [3, 1, 4, 1, 5, 9, 2, 6] {
        queue.try_put(item).unwrap();
    }
    assert_eq!(drain(&queue), [1, 1, 2, 3, 4, 5, 6, 9]);
}

#[test]
fn priority_queue_of_reverse_hands_out_the_largest_item_first() {
    let queue = PriorityQueue::unbounded();
    for item in [3, 1, 4, 5, 9, 2, 6] {
        queue.try_put(std::cmp::Reverse(item)).unwrap();
    }
    let items: Vec<i32> = drain(&queue).into_iter().map(|r| r.0).collect();
    assert_eq!(items, [9, 6, 5, 4, 3, 2, 1]);
}

#[test]
fn priority_queue_orders_tuples_by_priority_first() {
    let queue = PriorityQueue::unbounded();
    queue.try_put((2, "write")).unwrap();
    queue.try_put((1, "read")).unwrap();
    queue.try_put((3, "close")).unwrap();
    assert_eq!(drain(&queue), [(1, "read"), (2, "write"), (3, "close")]);
}

#[test]
fn each_order_holds_when_puts_and_gets_interleave() {
    let fifo = Queue::unbounded();
    let lifo = LifoQueue::unbounded();
    let prio = PriorityQueue::unbounded();
    let mut got = (Vec::new(), Vec::new(), Vec::new());
    for (puts, gets) in [(&[5, 3][..], 1), (&[1, 4][..], 2), (&[2][..], 2)] {
        for &item in puts {
            fifo.try_put(item).unwrap();
            lifo.try_put(item).unwrap();
            prio.try_put(item).unwrap();
        }
        for _ in 0..gets {
            got.0.push(fifo.try_get().unwrap());
            got.1.push(lifo.try_get().unwrap());
            got.2.push(prio.try_get().unwrap());
        }
    }
    assert_eq!(got.0, [5, 3, 1, 4, 2]);
    assert_eq!(got.1, [3, 4, 1, 2, 5]);
    assert_eq!(got.2, [3, 1, 4, 2, 5]);
}

// ---------------------------------------------------------------------------
// Construction, bound and size queries
// ---------------------------------------------------------------------------

#[test]
fn bounded_zero_panics_with_a_clear_message_for_all_three_orders() {
    let needles = ["bounded", "unbounded()"];
    assert_panics_with(
        "Queue::bounded(0)",
        || drop(Queue::<u8>::bounded(0)),
        &needles,
    );
    assert_panics_with(
        "LifoQueue::bounded(0)",
        || drop(LifoQueue::<u8>::bounded(0)),
        &needles,
    );
    assert_panics_with(
        "PriorityQueue::bounded(0)",
        || drop(PriorityQueue::<u8>::bounded(0)),
        &needles,
    );
}

#[test]
fn maxsize_is_the_bound_or_none_when_unbounded() {
    assert_eq!(Queue::<u8>::bounded(4).maxsize(), Some(4));
    assert_eq!(LifoQueue::<u8>::bounded(1).maxsize(), Some(1));
    assert_eq!(PriorityQueue::<u8>::bounded(7).maxsize(), Some(7));
    assert_eq!(Queue::<u8>::unbounded().maxsize(), None);
    assert_eq!(LifoQueue::<u8>::unbounded().maxsize(), None);
    assert_eq!(PriorityQueue::<u8>::unbounded().maxsize(), None);
}

#[test]
fn len_is_empty_and_is_full_track_a_bounded_queue() {
    let queue = Queue::bounded(2);
    assert_eq!(
        (queue.len(), queue.is_empty(), queue.is_full()),
        (0, true, false)
    );
    queue.try_put('a').unwrap();
    assert_eq!(
        (queue.len(), queue.is_empty(), queue.is_full()),
        (1, false, false)
    );
    queue.try_put('b').unwrap();
    assert_eq!(
        (queue.len(), queue.is_empty(), queue.is_full()),
        (2, false, true)
    );
    queue.try_get().unwrap();
    assert_eq!(
        (queue.len(), queue.is_empty(), queue.is_full()),
        (1, false, false)
    );
    queue.try_get().unwrap();
    assert_eq!(
        (queue.len(), queue.is_empty(), queue.is_full()),
        (0, true, false)
    );
}

#[test]
fn an_unbounded_queue_is_never_full_and_try_put_always_succeeds() {
    let queue = PriorityQueue::unbounded();
    for item in 0..10_000 {
        assert_eq!(queue.try_put(item), Ok(()));
        assert!(!queue.is_full());
    }
    assert_eq!(queue.len(), 10_000);
}

// ---------------------------------------------------------------------------
// put in its five forms
// ---------------------------------------------------------------------------

#[test]
fn try_put_on_a_full_queue_returns_full_with_the_item() {
    let queue = Queue::bounded(1);
    assert_eq!(queue.try_put(String::from("first")), Ok(()));
    let err = queue.try_put(String::from("second")).unwrap_err();
    assert_eq!(err, PutError::Full(String::from("second")));
    assert_eq!(err.into_inner(), "second");
    assert_eq!(queue.len(), 1, "a failed try_put must not add anything");
    assert_eq!(queue.unfinished_tasks(), 1, "a failed try_put is no task");
}

#[tokio::test]
async fn put_waits_for_room_until_a_get_frees_a_slot() {
    let queue = Arc::new(Queue::bounded(1));
    queue.try_put(1).unwrap();
    let putter = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.put(2).await }
    });
    eventually_async("the putter waits for room", || queue.waiting_putters() == 1).await;
    assert_eq!(queue.len(), 1, "a waiting put must not add its item");
    assert_eq!(queue.try_get(), Ok(1));
    let result = within("put woken by a get", putter).await.unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(queue.try_get(), Ok(2));
}

#[test]
fn put_blocking_in_a_thread_waits_for_room_freed_by_a_task() {
    let queue = Arc::new(Queue::bounded(1));
    queue.try_put(1).unwrap();
    let putter = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.put_blocking(2)
    });
    eventually("the thread waits for room", || queue.waiting_putters() == 1);
    let first = futures::executor::block_on(queue.get());
    assert_eq!(first, Ok(1));
    assert_eq!(join_within("put_blocking woken by a get", putter), Ok(()));
    assert_eq!(queue.try_get(), Ok(2));
}

#[test]
fn put_timeout_blocking_on_a_full_queue_returns_timeout_with_the_item_after_the_delay() {
    let queue = Queue::bounded(1);
    queue.try_put(1).unwrap();
    let delay = Duration::from_millis(30);
    let start = Instant::now();
    let err = queue.put_timeout_blocking(2, delay).unwrap_err();
    assert!(start.elapsed() >= delay, "gave up before the timeout");
    assert_eq!(err, PutError::Timeout(2));
    assert_eq!(err.into_inner(), 2);
    assert_eq!(
        drain(&queue),
        [1],
        "the timed-out item must not be in the queue"
    );
}

#[test]
fn put_timeout_blocking_succeeds_when_room_appears_in_time() {
    let queue = Arc::new(Queue::bounded(1));
    queue.try_put(1).unwrap();
    let putter = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.put_timeout_blocking(2, LIMIT)
    });
    eventually("the thread waits for room", || queue.waiting_putters() == 1);
    assert_eq!(queue.try_get(), Ok(1));
    assert_eq!(join_within("put_timeout_blocking", putter), Ok(()));
    assert_eq!(drain(&queue), [2]);
}

#[test]
fn put_timeout_blocking_with_room_puts_at_once() {
    let queue = Queue::bounded(1);
    assert_eq!(queue.put_timeout_blocking(1, Duration::ZERO), Ok(()));
    assert_eq!(drain(&queue), [1]);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn put_timeout_on_a_full_queue_returns_timeout_with_the_item_after_the_delay() {
    let queue = Queue::bounded(1);
    queue.try_put(1).unwrap();
    let delay = Duration::from_millis(30);
    let start = Instant::now();
    let err = within("put_timeout", queue.put_timeout(2, delay))
        .await
        .unwrap_err();
    assert!(start.elapsed() >= delay, "gave up before the timeout");
    assert_eq!(err, PutError::Timeout(2));
    assert_eq!(
        drain(&queue),
        [1],
        "the timed-out item must not be in the queue"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn put_timeout_succeeds_when_room_appears_in_time() {
    let queue = Arc::new(Queue::bounded(1));
    queue.try_put(1).unwrap();
    let putter = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.put_timeout(2, LIMIT).await }
    });
    eventually_async("the putter waits for room", || queue.waiting_putters() == 1).await;
    assert_eq!(queue.try_get(), Ok(1));
    assert_eq!(within("put_timeout", putter).await.unwrap(), Ok(()));
    assert_eq!(drain(&queue), [2]);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn put_timeout_with_room_puts_at_once() {
    let queue = Queue::bounded(1);
    assert_eq!(queue.put_timeout(1, Duration::ZERO).await, Ok(()));
    assert_eq!(drain(&queue), [1]);
}

// ---------------------------------------------------------------------------
// get in its five forms
// ---------------------------------------------------------------------------

#[test]
fn try_get_on_an_empty_queue_returns_empty() {
    let queue: Queue<u8> = Queue::unbounded();
    assert_eq!(queue.try_get(), Err(GetError::Empty));
    let bounded: LifoQueue<u8> = LifoQueue::bounded(3);
    assert_eq!(bounded.try_get(), Err(GetError::Empty));
}

#[tokio::test]
async fn get_waits_for_an_item_put_by_a_thread() {
    let queue = Arc::new(Queue::unbounded());
    let getter = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.get().await }
    });
    eventually_async("the getter waits", || queue.waiting_getters() == 1).await;
    let putter = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.put_blocking(42)
    });
    assert_eq!(
        within("get woken by a thread's put", getter).await.unwrap(),
        Ok(42)
    );
    assert_eq!(join_within("putter thread", putter), Ok(()));
    assert!(queue.is_empty());
}

#[test]
fn get_blocking_in_a_thread_waits_for_an_item_put_by_a_task() {
    let queue = Arc::new(Queue::unbounded());
    let getter = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.get_blocking()
    });
    eventually("the thread waits", || queue.waiting_getters() == 1);
    futures::executor::block_on(queue.put("hello")).unwrap();
    assert_eq!(join_within("get_blocking", getter), Ok("hello"));
    assert!(queue.is_empty());
}

#[test]
fn get_timeout_blocking_on_an_empty_queue_returns_timeout_after_the_delay() {
    let queue: Queue<u8> = Queue::unbounded();
    let delay = Duration::from_millis(30);
    let start = Instant::now();
    assert_eq!(queue.get_timeout_blocking(delay), Err(GetError::Timeout));
    assert!(start.elapsed() >= delay, "gave up before the timeout");
}

#[test]
fn get_timeout_blocking_returns_an_item_that_arrives_in_time() {
    let queue = Arc::new(Queue::unbounded());
    let getter = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.get_timeout_blocking(LIMIT)
    });
    eventually("the thread waits", || queue.waiting_getters() == 1);
    queue.try_put(7).unwrap();
    assert_eq!(join_within("get_timeout_blocking", getter), Ok(7));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn get_timeout_on_an_empty_queue_returns_timeout_after_the_delay() {
    let queue: Queue<u8> = Queue::unbounded();
    let delay = Duration::from_millis(30);
    let start = Instant::now();
    let result = within("get_timeout", queue.get_timeout(delay)).await;
    assert_eq!(result, Err(GetError::Timeout));
    assert!(start.elapsed() >= delay, "gave up before the timeout");
    assert_eq!(
        queue.waiting_getters(),
        0,
        "a timed-out get is no longer waiting"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn get_timeout_returns_an_item_that_arrives_in_time() {
    let queue = Arc::new(Queue::unbounded());
    let getter = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.get_timeout(LIMIT).await }
    });
    eventually_async("the getter waits", || queue.waiting_getters() == 1).await;
    queue.try_put(7).unwrap();
    assert_eq!(within("get_timeout", getter).await.unwrap(), Ok(7));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn get_timeout_with_an_item_returns_it_at_once() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    assert_eq!(queue.get_timeout(Duration::ZERO).await, Ok(1));
}

// ---------------------------------------------------------------------------
// task_done and join
// ---------------------------------------------------------------------------

#[test]
fn task_done_more_times_than_items_put_is_an_error() {
    let queue = Queue::unbounded();
    assert_eq!(queue.task_done(), Err(TaskDoneError));
    queue.try_put(1).unwrap();
    queue.try_get().unwrap();
    assert_eq!(queue.task_done(), Ok(()));
    let err = queue.task_done().unwrap_err();
    assert_eq!(err, TaskDoneError);
    assert_eq!(err.to_string(), "task_done() called too many times");
    assert_eq!(
        queue.unfinished_tasks(),
        0,
        "a failed task_done changes nothing"
    );
}

#[test]
fn unfinished_tasks_counts_items_put_and_not_yet_marked_done() {
    let queue = Queue::unbounded();
    assert_eq!(queue.unfinished_tasks(), 0);
    queue.try_put('a').unwrap();
    queue.try_put('b').unwrap();
    assert_eq!(queue.unfinished_tasks(), 2);
    queue.try_get().unwrap();
    assert_eq!(
        queue.unfinished_tasks(),
        2,
        "a get does not finish the task"
    );
    queue.task_done().unwrap();
    assert_eq!(queue.unfinished_tasks(), 1);
    queue.try_get().unwrap();
    queue.task_done().unwrap();
    assert_eq!(queue.unfinished_tasks(), 0);
}

#[test]
fn join_returns_at_once_when_no_task_is_unfinished() {
    let queue: Queue<u8> = Queue::bounded(2);
    let mut join = task::spawn(queue.join());
    assert_ready!(join.poll());
    queue.join_blocking();
    assert!(queue.join_timeout_blocking(Duration::ZERO));
}

#[test]
fn join_waits_until_every_item_put_is_marked_done() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    queue.try_put(2).unwrap();
    let mut join = task::spawn(queue.join());
    assert_pending!(join.poll(), "items are unfinished");
    queue.try_get().unwrap();
    queue.try_get().unwrap();
    assert_pending!(join.poll(), "items got but not done");
    queue.task_done().unwrap();
    assert_pending!(join.poll(), "one item is still not done");
    queue.task_done().unwrap();
    assert!(join.is_woken(), "the last task_done must wake the joiner");
    assert_ready!(join.poll());
}

#[test]
fn join_blocking_in_a_thread_returns_after_the_last_task_done() {
    let queue = Arc::new(Queue::unbounded());
    queue.try_put(1).unwrap();
    queue.try_put(2).unwrap();
    let joiner = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || {
            queue.join_blocking();
            queue.unfinished_tasks()
        }
    });
    for _ in 0..2 {
        queue.try_get().unwrap();
        queue.task_done().unwrap();
    }
    assert_eq!(join_within("join_blocking", joiner), 0);
}

#[test]
fn join_timeout_blocking_is_false_while_tasks_are_unfinished_and_true_after() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    let delay = Duration::from_millis(30);
    let start = Instant::now();
    assert!(!queue.join_timeout_blocking(delay));
    assert!(start.elapsed() >= delay, "gave up before the timeout");
    queue.try_get().unwrap();
    assert!(!queue.join_timeout_blocking(Duration::from_millis(1)));
    queue.task_done().unwrap();
    assert!(queue.join_timeout_blocking(Duration::ZERO));
}

#[test]
fn join_timeout_blocking_returns_true_when_tasks_finish_in_time() {
    let queue = Arc::new(Queue::unbounded());
    queue.try_put(1).unwrap();
    let joiner = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.join_timeout_blocking(LIMIT)
    });
    queue.try_get().unwrap();
    queue.task_done().unwrap();
    assert!(join_within("join_timeout_blocking", joiner));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn join_timeout_is_false_while_tasks_are_unfinished_and_true_after() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    let delay = Duration::from_millis(30);
    let start = Instant::now();
    assert!(!within("join_timeout", queue.join_timeout(delay)).await);
    assert!(start.elapsed() >= delay, "gave up before the timeout");
    queue.try_get().unwrap();
    queue.task_done().unwrap();
    assert!(queue.join_timeout(Duration::ZERO).await);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn join_timeout_returns_true_when_tasks_finish_in_time() {
    let queue = Arc::new(Queue::unbounded());
    queue.try_put(1).unwrap();
    let joiner = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.join_timeout(LIMIT).await }
    });
    queue.try_get().unwrap();
    tokio::task::yield_now().await;
    queue.task_done().unwrap();
    assert!(within("join_timeout", joiner).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_task_done_wakes_every_joining_task_and_thread() {
    let queue = Arc::new(Queue::unbounded());
    queue.try_put(1).unwrap();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move {
                queue.join().await;
                queue.unfinished_tasks()
            })
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                queue.join_blocking();
                queue.unfinished_tasks()
            })
        })
        .collect();
    queue.try_get().unwrap();
    queue.task_done().unwrap();
    for task in tasks {
        assert_eq!(within("joining task", task).await.unwrap(), 0);
    }
    for thread in threads {
        assert_eq!(join_within("joining thread", thread), 0);
    }
}

// ---------------------------------------------------------------------------
// Waiter counts
// ---------------------------------------------------------------------------

#[tokio::test]
async fn waiting_getters_counts_blocked_tasks_and_threads_and_forgets_them_when_served() {
    let queue = Arc::new(Queue::unbounded());
    assert_eq!(queue.waiting_getters(), 0);
    let task = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.get().await }
    });
    eventually_async("one getter waits", || queue.waiting_getters() == 1).await;
    let thread = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.get_blocking()
    });
    eventually_async("two getters wait", || queue.waiting_getters() == 2).await;
    queue.try_put(1).unwrap();
    queue.try_put(2).unwrap();
    let mut got = vec![
        within("getter task", task).await.unwrap().unwrap(),
        join_within("getter thread", thread).unwrap(),
    ];
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
    assert_eq!(queue.waiting_getters(), 0);
}

#[test]
fn a_dropped_get_future_is_no_longer_counted_as_a_waiting_getter() {
    let queue: Queue<u8> = Queue::unbounded();
    let mut get = task::spawn(queue.get());
    assert_pending!(get.poll());
    assert_eq!(queue.waiting_getters(), 1);
    drop(get);
    assert_eq!(queue.waiting_getters(), 0);
}

#[tokio::test]
async fn waiting_putters_counts_blocked_tasks_and_threads_and_forgets_them_when_served() {
    let queue = Arc::new(Queue::bounded(1));
    queue.try_put(0).unwrap();
    assert_eq!(queue.waiting_putters(), 0);
    let task = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.put(1).await }
    });
    eventually_async("one putter waits", || queue.waiting_putters() == 1).await;
    let thread = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.put_blocking(2)
    });
    eventually_async("two putters wait", || queue.waiting_putters() == 2).await;
    let mut got = vec![queue.try_get().unwrap()];
    eventually_async("a putter fills the slot", || queue.is_full()).await;
    got.push(queue.try_get().unwrap());
    eventually_async("the other putter fills the slot", || queue.is_full()).await;
    got.push(queue.try_get().unwrap());
    assert_eq!(within("putter task", task).await.unwrap(), Ok(()));
    assert_eq!(join_within("putter thread", thread), Ok(()));
    got[1..].sort_unstable();
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(queue.waiting_putters(), 0);
}

#[test]
fn a_dropped_put_future_is_no_longer_counted_as_a_waiting_putter() {
    let queue = Queue::bounded(1);
    queue.try_put(0).unwrap();
    let mut put = task::spawn(queue.put(1));
    assert_pending!(put.poll());
    assert_eq!(queue.waiting_putters(), 1);
    drop(put);
    assert_eq!(queue.waiting_putters(), 0);
    assert_eq!(drain(&queue), [0], "the dropped put delivered nothing");
}

// ---------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------

#[tokio::test]
async fn stream_yields_the_items_in_queue_order() {
    let fifo = Queue::unbounded();
    let lifo = LifoQueue::unbounded();
    let prio = PriorityQueue::unbounded();
    for item in [2, 3, 1] {
        fifo.try_put(item).unwrap();
        lifo.try_put(item).unwrap();
        prio.try_put(item).unwrap();
    }
    let fifo_items: Vec<i32> = within("fifo stream", fifo.stream().take(3).collect()).await;
    let lifo_items: Vec<i32> = within("lifo stream", lifo.stream().take(3).collect()).await;
    let prio_items: Vec<i32> = within("prio stream", prio.stream().take(3).collect()).await;
    assert_eq!(fifo_items, [2, 3, 1]);
    assert_eq!(lifo_items, [1, 3, 2]);
    assert_eq!(prio_items, [1, 2, 3]);
}

#[tokio::test]
async fn stream_waits_for_items_put_by_a_thread() {
    let queue = Arc::new(Queue::unbounded());
    let producer = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || {
            for item in 0..100 {
                queue.put_blocking(item).unwrap();
            }
        }
    });
    let items: Vec<i32> = within(
        "stream of a thread's items",
        queue.stream().take(100).collect(),
    )
    .await;
    join_within("producer thread", producer);
    assert_eq!(items, (0..100).collect::<Vec<_>>());
}

#[test]
fn an_idle_stream_is_not_counted_as_a_waiting_getter() {
    let queue = Queue::unbounded();
    let mut stream = task::spawn(queue.stream());
    assert_pending!(stream.poll_next());
    assert_eq!(queue.waiting_getters(), 1, "a pending stream waits");
    queue.try_put(1).unwrap();
    assert!(stream.is_woken());
    assert_ready_eq!(stream.poll_next(), Some(1));
    assert_eq!(
        queue.waiting_getters(),
        0,
        "a stream that returned its item and is not polled waits for nothing"
    );
}

#[test]
fn a_dropped_woken_stream_passes_the_wake_up_to_a_waiting_getter() {
    let queue = Queue::unbounded();
    let mut stream = task::spawn(queue.stream());
    assert_pending!(stream.poll_next());
    let mut get = task::spawn(queue.get());
    assert_pending!(get.poll());
    queue.try_put(1).unwrap();
    // Exactly one of them is woken for the one item; drop that one.
    if stream.is_woken() {
        drop(stream);
        assert!(get.is_woken(), "the stream's wake-up was lost");
        assert_ready_eq!(get.poll(), Ok(1));
    } else {
        assert!(get.is_woken(), "nobody was woken for the item");
        drop(get);
        assert!(stream.is_woken(), "the get's wake-up was lost");
        assert_ready_eq!(stream.poll_next(), Some(1));
    }
}

// ---------------------------------------------------------------------------
// Cancel safety
// ---------------------------------------------------------------------------

/// Two pending gets; one item wakes one of them; the woken one is dropped.
/// Returns the other one (a mock task) after checking that it was woken.
fn drop_the_woken_getter<'a, O: QueueOrder<i32>>(
    queue: &'a OrderedQueue<i32, O>,
    put: impl FnOnce(),
) -> Spawn<impl Future<Output = Result<i32, GetError>> + 'a> {
    let mut a = task::spawn(queue.get());
    let mut b = task::spawn(queue.get());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(queue.waiting_getters(), 2);
    put();
    assert!(
        a.is_woken() || b.is_woken(),
        "nobody was woken for the item"
    );
    let survivor = if a.is_woken() {
        drop(a);
        b
    } else {
        drop(b);
        a
    };
    assert!(survivor.is_woken(), "the dropped getter's wake-up was lost");
    // The dropped getter is gone; the survivor was woken, and a woken getter
    // is out of line until it runs.
    assert_eq!(queue.waiting_getters(), 0);
    survivor
}

#[test]
fn a_get_dropped_after_its_wake_up_passes_it_to_the_next_getter() {
    let queue = Queue::unbounded();
    let mut survivor = drop_the_woken_getter(&queue, || queue.try_put(1).unwrap());
    assert_ready_eq!(survivor.poll(), Ok(1));
    assert!(queue.is_empty());
}

#[test]
fn a_get_dropped_after_its_wake_up_leaves_fifo_order_unchanged() {
    let queue = Queue::unbounded();
    let survivor = drop_the_woken_getter(&queue, || {
        for item in [1, 2, 3] {
            queue.try_put(item).unwrap();
        }
    });
    drop(survivor);
    assert_eq!(drain(&queue), [1, 2, 3]);
}

#[test]
fn a_get_dropped_after_its_wake_up_leaves_lifo_order_unchanged() {
    let queue = LifoQueue::unbounded();
    let survivor = drop_the_woken_getter(&queue, || {
        for item in [1, 2, 3] {
            queue.try_put(item).unwrap();
        }
    });
    drop(survivor);
    assert_eq!(drain(&queue), [3, 2, 1]);
}

#[test]
fn a_get_dropped_after_its_wake_up_leaves_priority_order_unchanged() {
    let queue = PriorityQueue::unbounded();
    let survivor = drop_the_woken_getter(&queue, || {
        for item in [2, 3, 1] {
            queue.try_put(item).unwrap();
        }
    });
    drop(survivor);
    assert_eq!(drain(&queue), [1, 2, 3]);
}

#[test]
fn a_get_future_dropped_after_its_wake_up_passes_it_to_a_blocked_thread() {
    let queue = Arc::new(Queue::unbounded());
    let mut get = task::spawn(queue.get());
    assert_pending!(get.poll());
    let thread = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.get_blocking()
    });
    eventually("the thread waits too", || queue.waiting_getters() == 2);
    queue.try_put(5).unwrap();
    drop(get); // woken or not, it never took the item
    assert_eq!(join_within("the blocked thread", thread), Ok(5));
}

#[test]
fn a_put_dropped_after_its_wake_up_passes_it_to_the_next_putter() {
    let queue = Queue::bounded(1);
    queue.try_put(0).unwrap();
    let mut a = task::spawn(queue.put(1));
    let mut b = task::spawn(queue.put(2));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(queue.waiting_putters(), 2);
    assert_eq!(queue.try_get(), Ok(0)); // one slot frees: one putter is woken
    assert!(
        a.is_woken() || b.is_woken(),
        "nobody was woken for the slot"
    );
    let expected = if a.is_woken() {
        drop(a);
        assert!(b.is_woken(), "the dropped putter's wake-up was lost");
        assert_ready_eq!(b.poll(), Ok(()));
        2
    } else {
        drop(b);
        assert!(a.is_woken(), "the dropped putter's wake-up was lost");
        assert_ready_eq!(a.poll(), Ok(()));
        1
    };
    assert_eq!(
        drain(&queue),
        [expected],
        "only the surviving put delivered"
    );
    assert_eq!(
        queue.unfinished_tasks(),
        2,
        "the item 0 and the delivered one"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_timeout_expiring_as_an_item_arrives_loses_neither_item_nor_wake_up() {
    // The timed getter waits first, so it is the one an item wakes; its timeout
    // races that wake-up. Whatever wins, the item goes to exactly one getter and
    // a getter that times out passes its wake-up on to the patient one.
    let queue = Arc::new(Queue::unbounded());
    for item in 0..300u32 {
        let timeout = Duration::from_micros(u64::from(item % 30) * 20);
        let hasty = tokio::spawn({
            let queue = Arc::clone(&queue);
            async move { queue.get_timeout(timeout).await }
        });
        eventually_async("the hasty getter waits or gave up", || {
            queue.waiting_getters() == 1 || hasty.is_finished()
        })
        .await;
        let patient = tokio::spawn({
            let queue = Arc::clone(&queue);
            async move { queue.get().await }
        });
        eventually_async("the patient getter waits", || {
            let waiting = queue.waiting_getters();
            waiting == 2 || (waiting == 1 && hasty.is_finished())
        })
        .await;
        queue.try_put(item).unwrap();
        match within("the hasty getter", hasty).await.unwrap() {
            Ok(got) => {
                assert_eq!(got, item);
                patient.abort();
                let _ = patient.await;
            }
            Err(GetError::Timeout) => {
                let got = within("the patient getter (wake-up passed on?)", patient).await;
                assert_eq!(got.unwrap(), Ok(item));
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
        assert!(
            queue.is_empty(),
            "item {item} was duplicated or left behind"
        );
        assert_eq!(queue.waiting_getters(), 0);
    }
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_timeout_expiring_as_space_appears_delivers_the_item_once_or_returns_it() {
    let queue = Arc::new(Queue::bounded(1));
    let (mut delivered, mut returned) = (0, 0);
    for item in 1..=300u32 {
        queue.try_put(0).unwrap();
        let timeout = Duration::from_micros(u64::from(item % 30) * 20);
        let putter = tokio::spawn({
            let queue = Arc::clone(&queue);
            async move { queue.put_timeout(item, timeout).await }
        });
        eventually_async("the putter waits or gave up", || {
            queue.waiting_putters() == 1 || putter.is_finished()
        })
        .await;
        assert_eq!(queue.try_get(), Ok(0)); // space appears
        match within("put_timeout", putter).await.unwrap() {
            Ok(()) => {
                delivered += 1;
                assert_eq!(
                    drain(&queue),
                    [item],
                    "a delivered item is in the queue once"
                );
            }
            Err(PutError::Timeout(back)) => {
                returned += 1;
                assert_eq!(back, item, "the timed-out put returns its own item");
                assert!(queue.is_empty(), "a returned item must not be in the queue");
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(delivered + returned, 300);
}

#[test]
fn a_put_timeout_blocking_expiring_as_space_appears_delivers_the_item_once_or_returns_it() {
    let queue = Arc::new(Queue::bounded(1));
    for item in 1..=200u32 {
        queue.try_put(0).unwrap();
        let timeout = Duration::from_micros(u64::from(item % 20) * 25);
        let putter = std::thread::spawn({
            let queue = Arc::clone(&queue);
            move || queue.put_timeout_blocking(item, timeout)
        });
        eventually("the putter waits or gave up", || {
            queue.waiting_putters() == 1 || putter.is_finished()
        });
        assert_eq!(queue.try_get(), Ok(0)); // space appears
        match join_within("put_timeout_blocking", putter) {
            Ok(()) => assert_eq!(drain(&queue), [item], "delivered once"),
            Err(PutError::Timeout(back)) => {
                assert_eq!(back, item, "the timed-out put returns its own item");
                assert!(queue.is_empty(), "a returned item must not be in the queue");
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_get_timeout_blocking_expiring_as_an_item_arrives_loses_nothing() {
    let queue = Arc::new(Queue::unbounded());
    for item in 0..200u32 {
        let timeout = Duration::from_micros(u64::from(item % 20) * 25);
        let getter = std::thread::spawn({
            let queue = Arc::clone(&queue);
            move || queue.get_timeout_blocking(timeout)
        });
        eventually("the getter waits or gave up", || {
            queue.waiting_getters() == 1 || getter.is_finished()
        });
        queue.try_put(item).unwrap();
        match join_within("get_timeout_blocking", getter) {
            Ok(got) => {
                assert_eq!(got, item);
                assert!(queue.is_empty(), "item {item} was duplicated");
            }
            Err(GetError::Timeout) => assert_eq!(drain(&queue), [item], "item left once"),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Tasks and threads on one queue, any executor
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_task_and_a_thread_play_ping_pong_through_two_queues() {
    let ping = Arc::new(Queue::bounded(1));
    let pong = Arc::new(Queue::bounded(1));
    let thread = std::thread::spawn({
        let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
        move || {
            while let Ok(n) = ping.get_blocking() {
                pong.put_blocking(n + 1).unwrap();
            }
        }
    });
    let mut n = 0;
    for _ in 0..200 {
        ping.put(n).await.unwrap();
        n = within("the thread's answer", pong.get()).await.unwrap();
    }
    assert_eq!(n, 200);
    ping.shutdown();
    join_within("ping-pong thread", thread);
}

#[test]
fn a_queue_works_on_a_non_tokio_executor() {
    let queue = Arc::new(Queue::bounded(2));
    let producer = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || {
            futures::executor::block_on(async {
                for item in 0..50 {
                    queue.put(item).await.unwrap();
                }
            })
        }
    });
    let items: Vec<i32> = futures::executor::block_on(async {
        let mut items = Vec::new();
        for _ in 0..50 {
            items.push(queue.get().await.unwrap());
            queue.task_done().unwrap();
        }
        queue.join().await;
        items
    });
    join_within("producer", producer);
    assert_eq!(items, (0..50).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// Blocking calls inside a runtime
// ---------------------------------------------------------------------------

/// Runs `f` in a tokio task and returns the message it panicked with.
#[cfg(feature = "tokio")]
async fn panic_in_task(f: impl FnOnce() + Send + 'static) -> String {
    let task = tokio::spawn(async move { f() });
    let err = within("the task", task)
        .await
        .expect_err("the blocking call inside a task should panic");
    panic_message(&*err.into_panic())
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn get_blocking_on_an_empty_queue_inside_a_tokio_task_panics() {
    let queue: Arc<Queue<u8>> = Arc::new(Queue::unbounded());
    let remote = Arc::clone(&queue);
    let message = panic_in_task(move || {
        let _ = remote.get_blocking();
    })
    .await;
    assert!(message.contains("get_blocking"), "message: {message:?}");
    assert!(
        message.contains("get("),
        "names the async form: {message:?}"
    );
    assert_eq!(
        queue.waiting_getters(),
        0,
        "the panicking call left no waiter"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn get_timeout_blocking_on_an_empty_queue_inside_a_tokio_task_panics() {
    let queue: Arc<Queue<u8>> = Arc::new(Queue::unbounded());
    let message = panic_in_task(move || {
        let _ = queue.get_timeout_blocking(LIMIT);
    })
    .await;
    assert!(
        message.contains("get_timeout_blocking"),
        "message: {message:?}"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn put_blocking_on_a_full_queue_inside_a_tokio_task_panics() {
    let queue = Arc::new(Queue::bounded(1));
    queue.try_put(0).unwrap();
    let remote = Arc::clone(&queue);
    let message = panic_in_task(move || {
        let _ = remote.put_blocking(1);
    })
    .await;
    assert!(message.contains("put_blocking"), "message: {message:?}");
    assert_eq!(drain(&queue), [0]);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn join_blocking_with_unfinished_tasks_inside_a_tokio_task_panics() {
    let queue = Arc::new(Queue::unbounded());
    queue.try_put(0).unwrap();
    let message = panic_in_task(move || queue.join_blocking()).await;
    assert!(message.contains("join_blocking"), "message: {message:?}");
}

#[cfg(feature = "tokio")]
#[test]
fn get_blocking_on_an_empty_queue_inside_block_on_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let queue: Queue<u8> = Queue::unbounded();
    assert_panics_with(
        "get_blocking in block_on",
        || {
            runtime.block_on(async {
                let _ = queue.get_blocking();
            })
        },
        &["get_blocking"],
    );
}

#[tokio::test]
async fn get_blocking_inside_spawn_blocking_waits_normally() {
    let queue = Arc::new(Queue::unbounded());
    let getter = tokio::task::spawn_blocking({
        let queue = Arc::clone(&queue);
        move || queue.get_blocking()
    });
    eventually_async("the spawn_blocking getter waits", || {
        queue.waiting_getters() == 1
    })
    .await;
    queue.put(3).await.unwrap();
    assert_eq!(
        within("spawn_blocking getter", getter).await.unwrap(),
        Ok(3)
    );
}

// ---------------------------------------------------------------------------
// Errors, traits, Debug
// ---------------------------------------------------------------------------

#[test]
fn put_error_into_inner_and_item_give_the_item_back_for_every_variant() {
    for err in [
        PutError::Full(vec![1]),
        PutError::Timeout(vec![1]),
        PutError::ShutDown(vec![1]),
    ] {
        assert_eq!(err.item(), &vec![1]);
        assert_eq!(err.into_inner(), vec![1]);
    }
}

#[test]
fn queue_errors_have_short_lowercase_messages() {
    assert_eq!(PutError::Full(()).to_string(), "queue is full");
    assert_eq!(PutError::Timeout(()).to_string(), "put timed out");
    assert_eq!(PutError::ShutDown(()).to_string(), "queue is shut down");
    assert_eq!(GetError::Empty.to_string(), "queue is empty");
    assert_eq!(GetError::Timeout.to_string(), "get timed out");
    assert_eq!(GetError::ShutDown.to_string(), "queue is shut down");
    assert_eq!(
        TaskDoneError.to_string(),
        "task_done() called too many times"
    );
}

#[test]
fn put_error_debug_does_not_need_a_debug_item() {
    struct Opaque;
    assert_eq!(format!("{:?}", PutError::Full(Opaque)), "Full(..)");
}

#[test]
fn queues_errors_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    error::<PutError<String>>();
    error::<GetError>();
    error::<TaskDoneError>();
    let fifo: Queue<String> = Queue::unbounded();
    let lifo: LifoQueue<String> = LifoQueue::unbounded();
    let prio: PriorityQueue<String> = PriorityQueue::unbounded();
    send_sync(&fifo);
    send_sync(&lifo);
    send_sync(&prio);
    send(&fifo.put(String::new()));
    send(&fifo.get());
    send(&fifo.join());
    send(&prio.put(String::new()));
    send(&lifo.stream());
    #[cfg(feature = "tokio")]
    {
        send(&fifo.put_timeout(String::new(), LIMIT));
        send(&fifo.get_timeout(LIMIT));
        send(&fifo.join_timeout(LIMIT));
    }
}

#[test]
fn debug_shows_the_queue_state() {
    let queue = Queue::bounded(3);
    queue.try_put(1).unwrap();
    queue.try_put(2).unwrap();
    let text = format!("{queue:?}");
    for part in [
        "len: 2",
        "maxsize: Some(3)",
        "unfinished_tasks: 2",
        "shutdown: false",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
}

// ---------------------------------------------------------------------------
// Stress: producer and consumer tasks and threads on one small bounded queue
// ---------------------------------------------------------------------------

const PRODUCERS_EACH: u64 = 3; // tasks, and as many again minus one as threads
const ITEMS_PER_PRODUCER: u64 = 500;

/// Unique item `n` of producer `p`.
fn item(p: u64, n: u64) -> u64 {
    p * 1_000_000 + n
}

async fn stress<O>(queue: Arc<OrderedQueue<u64, O>>)
where
    O: QueueOrder<u64> + Send + Sync + 'static,
    O::Items: Send + Sync,
{
    let task_producers: Vec<_> = (0..PRODUCERS_EACH)
        .map(|p| {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move {
                for n in 0..ITEMS_PER_PRODUCER {
                    queue.put(item(p, n)).await.unwrap();
                }
            })
        })
        .collect();
    let thread_producers: Vec<_> = (PRODUCERS_EACH..2 * PRODUCERS_EACH - 1)
        .map(|p| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                for n in 0..ITEMS_PER_PRODUCER {
                    if n % 2 == 0 {
                        queue.put_blocking(item(p, n)).unwrap();
                    } else {
                        queue.put_timeout_blocking(item(p, n), LIMIT).unwrap();
                    }
                }
            })
        })
        .collect();
    let mut task_consumers: Vec<_> = (0..2)
        .map(|_| {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Ok(item) = queue.get().await {
                    got.push(item);
                    queue.task_done().unwrap();
                }
                got
            })
        })
        .collect();
    task_consumers.push(tokio::spawn({
        let queue = Arc::clone(&queue);
        async move {
            let mut got = Vec::new();
            let mut stream = queue.stream();
            while let Some(item) = stream.next().await {
                got.push(item);
                queue.task_done().unwrap();
            }
            got
        }
    }));
    let thread_consumers: Vec<_> = (0..2)
        .map(|c| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let next = if c == 0 {
                        queue.get_blocking()
                    } else {
                        queue.get_timeout_blocking(LIMIT)
                    };
                    match next {
                        Ok(item) => got.push(item),
                        Err(GetError::ShutDown) => break,
                        Err(other) => panic!("consumer thread: {other:?}"),
                    }
                    queue.task_done().unwrap();
                }
                got
            })
        })
        .collect();

    for producer in task_producers {
        within("producer task", producer).await.unwrap();
    }
    for producer in thread_producers {
        join_within("producer thread", producer);
    }
    within("join after every task_done", queue.join()).await;
    assert_eq!(queue.unfinished_tasks(), 0);
    assert!(queue.is_empty());
    queue.shutdown();

    let mut received = Vec::new();
    for consumer in task_consumers {
        received.extend(within("consumer task", consumer).await.unwrap());
    }
    for consumer in thread_consumers {
        received.extend(join_within("consumer thread", consumer));
    }
    let total = (2 * PRODUCERS_EACH - 1) * ITEMS_PER_PRODUCER;
    assert_eq!(received.len() as u64, total, "items lost or duplicated");
    let unique: HashSet<u64> = received.iter().copied().collect();
    assert_eq!(unique.len() as u64, total, "an item was received twice");
    let expected: HashSet<u64> = (0..2 * PRODUCERS_EACH - 1)
        .flat_map(|p| (0..ITEMS_PER_PRODUCER).map(move |n| item(p, n)))
        .collect();
    assert_eq!(unique, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_fifo_tasks_and_threads_receive_every_item_exactly_once() {
    stress(Arc::new(Queue::bounded(4))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_lifo_tasks_and_threads_receive_every_item_exactly_once() {
    stress(Arc::new(LifoQueue::bounded(4))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_priority_tasks_and_threads_receive_every_item_exactly_once() {
    stress(Arc::new(PriorityQueue::bounded(4))).await;
}

/// An owned stream is built outside the task and moved into `spawn`; it ends
/// once the queue is shut down and empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_stream_moves_into_a_spawned_task() {
    use futures::StreamExt;
    let queue = Arc::new(Queue::bounded(4));
    let mut items = queue.stream_owned();
    let consumer = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(item) = items.next().await {
            got.push(item);
        }
        got
    });
    for item in 0..100 {
        queue.put(item).await.unwrap();
    }
    queue.shutdown();
    let got = within("the owned stream's consumer", consumer)
        .await
        .unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(queue.waiting_getters(), 0);
}

/// Capacity 1 and two threads on each side: puts and gets keep finding the
/// queue full or empty, so they spin (`src/queue/spin.rs`), and often park
/// after that, while other callers barge in.
#[test]
fn blocking_calls_that_spin_and_park_hand_over_every_item_once_in_order() {
    const ITEMS: u64 = 2_000;
    let queue = Arc::new(Queue::bounded(1));
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                for n in 0..ITEMS {
                    queue.put_blocking((p, n)).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(item) = queue.get_blocking() {
                    // Read without the mutex: never past the bound.
                    assert!(queue.len() <= 1);
                    got.push(item);
                }
                got
            })
        })
        .collect();
    for producer in producers {
        join_within("producer", producer);
    }
    queue.shutdown();
    let mut all = Vec::new();
    for consumer in consumers {
        let got = join_within("consumer", consumer);
        // First in, first out: each producer's items reach a consumer in order.
        for p in 0..2 {
            let mine: Vec<u64> = got
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|&(_, n)| n)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "out of order: {mine:?}"
            );
        }
        all.extend(got);
    }
    all.sort_unstable();
    let expected: Vec<_> = (0..2u64)
        .flat_map(|p| (0..ITEMS).map(move |n| (p, n)))
        .collect();
    assert_eq!(all, expected, "every item exactly once");
    assert!(queue.is_shutdown() && queue.is_empty() && !queue.is_full());
    assert_eq!(queue.unfinished_tasks(), 2 * ITEMS as usize);
    assert_eq!((queue.waiting_getters(), queue.waiting_putters()), (0, 0));
}

#[test]
fn try_join_tells_whether_every_item_is_done() {
    let queue = Queue::unbounded();
    assert!(queue.try_join());
    queue.try_put(1).unwrap();
    assert!(!queue.try_join());
    queue.try_get().unwrap();
    assert!(!queue.try_join(), "taken is not done");
    queue.task_done().unwrap();
    assert!(queue.try_join());
}

/// Equal priorities come out in the order they were put (Python's heap makes
/// no such promise; here it is kept), in gets and in `shutdown_immediate`.
#[test]
fn a_priority_queue_is_first_in_first_out_among_equal_priorities() {
    #[derive(Debug, PartialEq, Eq)]
    struct Job(u8, &'static str);
    impl PartialOrd for Job {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Job {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.cmp(&other.0) // the name does not count
        }
    }
    let queue = PriorityQueue::unbounded();
    for (priority, name) in [(2, "a"), (1, "b"), (2, "c"), (1, "d"), (2, "e"), (1, "f")] {
        queue.try_put(Job(priority, name)).unwrap();
    }
    let names: Vec<_> = (0..3).map(|_| queue.try_get().unwrap().1).collect();
    assert_eq!(names, ["b", "d", "f"]);
    let rest: Vec<_> = queue
        .shutdown_immediate()
        .into_iter()
        .map(|job| job.1)
        .collect();
    assert_eq!(rest, ["a", "c", "e"]);
}
