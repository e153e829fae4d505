//! Queue shutdown with Python 3.13 semantics: after `shutdown()` every put form
//! fails with `ShutDown(item)`, gets drain the remaining items and then fail
//! with `ShutDown`, waiting putters and getters (tasks and threads) wake at
//! once, and the stream ends; `shutdown_immediate()` returns the items in get
//! order for all three orders and counts them as done so `join` returns.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ambisync::{GetError, LifoQueue, PriorityQueue, PutError, Queue};
use futures::StreamExt;

use common::{LIMIT, eventually, eventually_async, join_within, within};
use tokio_test::{assert_pending, assert_ready_eq, task};

#[test]
fn is_shutdown_is_false_until_shutdown_and_true_after() {
    let queue: Queue<u8> = Queue::unbounded();
    assert!(!queue.is_shutdown());
    queue.shutdown();
    assert!(queue.is_shutdown());
    let other: Queue<u8> = Queue::unbounded();
    assert!(other.shutdown_immediate().is_empty());
    assert!(other.is_shutdown());
}

#[test]
fn every_put_form_fails_with_shutdown_and_the_item_after_shutdown() {
    let queue = Queue::bounded(4);
    queue.try_put(0).unwrap();
    queue.shutdown();
    assert_eq!(queue.try_put(1), Err(PutError::ShutDown(1)));
    assert_eq!(
        futures::executor::block_on(queue.put(2)),
        Err(PutError::ShutDown(2))
    );
    assert_eq!(queue.put_blocking(3), Err(PutError::ShutDown(3)));
    assert_eq!(
        queue.put_timeout_blocking(4, LIMIT),
        Err(PutError::ShutDown(4))
    );
    assert_eq!(queue.put_blocking(5).unwrap_err().into_inner(), 5);
    assert_eq!(queue.len(), 1, "no put after shutdown adds an item");
    assert_eq!(queue.unfinished_tasks(), 1, "no put after shutdown counts");
}

#[test]
fn a_put_on_a_full_queue_after_shutdown_fails_with_shutdown_not_full() {
    let queue = Queue::bounded(1);
    queue.try_put(0).unwrap();
    queue.shutdown();
    assert_eq!(queue.try_put(1), Err(PutError::ShutDown(1)));
    assert_eq!(queue.put_blocking(2), Err(PutError::ShutDown(2)));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn put_timeout_fails_with_shutdown_and_the_item_after_shutdown() {
    let queue = Queue::bounded(1);
    queue.try_put(0).unwrap();
    queue.shutdown();
    let result = within("put_timeout", queue.put_timeout(1, LIMIT)).await;
    assert_eq!(result, Err(PutError::ShutDown(1)));
}

#[test]
fn gets_drain_the_remaining_items_then_fail_with_shutdown() {
    let queue = Queue::unbounded();
    for item in 1..=4 {
        queue.try_put(item).unwrap();
    }
    queue.shutdown();
    assert_eq!(queue.try_get(), Ok(1));
    assert_eq!(futures::executor::block_on(queue.get()), Ok(2));
    assert_eq!(queue.get_blocking(), Ok(3));
    assert_eq!(queue.get_timeout_blocking(LIMIT), Ok(4));
    assert_eq!(queue.try_get(), Err(GetError::ShutDown));
    assert_eq!(
        futures::executor::block_on(queue.get()),
        Err(GetError::ShutDown)
    );
    assert_eq!(queue.get_blocking(), Err(GetError::ShutDown));
    assert_eq!(queue.get_timeout_blocking(LIMIT), Err(GetError::ShutDown));
}

#[test]
fn gets_after_shutdown_drain_lifo_and_priority_queues_in_their_order() {
    let lifo = LifoQueue::unbounded();
    let prio = PriorityQueue::unbounded();
    for item in [2, 3, 1] {
        lifo.try_put(item).unwrap();
        prio.try_put(item).unwrap();
    }
    lifo.shutdown();
    prio.shutdown();
    let lifo_items: Vec<_> = std::iter::from_fn(|| lifo.try_get().ok()).collect();
    let prio_items: Vec<_> = std::iter::from_fn(|| prio.try_get().ok()).collect();
    assert_eq!(lifo_items, [1, 3, 2]);
    assert_eq!(prio_items, [1, 2, 3]);
    assert_eq!(lifo.try_get(), Err(GetError::ShutDown));
    assert_eq!(prio.try_get(), Err(GetError::ShutDown));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn get_timeout_drains_then_fails_with_shutdown_not_timeout() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    queue.shutdown();
    assert_eq!(within("get_timeout", queue.get_timeout(LIMIT)).await, Ok(1));
    let result = within("get_timeout", queue.get_timeout(LIMIT)).await;
    assert_eq!(result, Err(GetError::ShutDown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_wakes_every_waiting_getter_task_and_thread_with_shutdown() {
    let queue: Arc<Queue<u8>> = Arc::new(Queue::unbounded());
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.get().await })
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                if i == 0 {
                    queue.get_blocking()
                } else {
                    queue.get_timeout_blocking(LIMIT * 10)
                }
            })
        })
        .collect();
    eventually_async("five getters wait", || queue.waiting_getters() == 5).await;
    queue.shutdown();
    for task in tasks {
        let result = within("getter task woken by shutdown", task).await.unwrap();
        assert_eq!(result, Err(GetError::ShutDown));
    }
    for thread in threads {
        let result = join_within("getter thread woken by shutdown", thread);
        assert_eq!(result, Err(GetError::ShutDown));
    }
    assert_eq!(queue.waiting_getters(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_wakes_every_waiting_putter_task_and_thread_with_its_item() {
    let queue = Arc::new(Queue::bounded(1));
    queue.try_put(0).unwrap();
    let tasks: Vec<_> = (1..=3)
        .map(|item| {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.put(item).await })
        })
        .collect();
    let threads: Vec<_> = (4..=5)
        .map(|item| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                if item == 4 {
                    queue.put_blocking(item)
                } else {
                    queue.put_timeout_blocking(item, LIMIT * 10)
                }
            })
        })
        .collect();
    eventually_async("five putters wait", || queue.waiting_putters() == 5).await;
    queue.shutdown();
    for (task, item) in tasks.into_iter().zip(1..) {
        let result = within("putter task woken by shutdown", task).await.unwrap();
        assert_eq!(result, Err(PutError::ShutDown(item)));
    }
    for (thread, item) in threads.into_iter().zip(4..) {
        let result = join_within("putter thread woken by shutdown", thread);
        assert_eq!(result, Err(PutError::ShutDown(item)));
    }
    assert_eq!(queue.waiting_putters(), 0);
    assert_eq!(queue.try_get(), Ok(0), "the item put before shutdown stays");
    assert_eq!(queue.try_get(), Err(GetError::ShutDown));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn shutdown_wakes_timed_getters_and_putters_before_their_timeout() {
    let empty: Arc<Queue<u8>> = Arc::new(Queue::unbounded());
    let full = Arc::new(Queue::bounded(1));
    full.try_put(0).unwrap();
    let getter = tokio::spawn({
        let empty = Arc::clone(&empty);
        async move { empty.get_timeout(LIMIT * 10).await }
    });
    let putter = tokio::spawn({
        let full = Arc::clone(&full);
        async move { full.put_timeout(1, LIMIT * 10).await }
    });
    eventually_async("the getter waits", || empty.waiting_getters() == 1).await;
    eventually_async("the putter waits", || full.waiting_putters() == 1).await;
    empty.shutdown();
    full.shutdown();
    let got = within("get_timeout woken by shutdown", getter)
        .await
        .unwrap();
    assert_eq!(got, Err(GetError::ShutDown));
    let put = within("put_timeout woken by shutdown", putter)
        .await
        .unwrap();
    assert_eq!(put, Err(PutError::ShutDown(1)));
}

#[test]
fn shutdown_wakes_a_pending_get_future() {
    let queue: Queue<u8> = Queue::unbounded();
    let mut get = task::spawn(queue.get());
    assert_pending!(get.poll());
    queue.shutdown();
    assert!(get.is_woken(), "shutdown must wake the pending get");
    assert_ready_eq!(get.poll(), Err(GetError::ShutDown));
}

#[test]
fn shutdown_keeps_join_waiting_until_drained_items_are_done() {
    let queue = Arc::new(Queue::unbounded());
    queue.try_put(1).unwrap();
    queue.try_put(2).unwrap();
    queue.shutdown();
    assert_eq!(
        queue.unfinished_tasks(),
        2,
        "a plain shutdown finishes nothing"
    );
    assert!(!queue.join_timeout_blocking(Duration::from_millis(10)));
    let joiner = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || {
            queue.join_blocking();
            queue.unfinished_tasks()
        }
    });
    while let Ok(_item) = queue.try_get() {
        queue.task_done().unwrap();
    }
    assert_eq!(join_within("join after shutdown", joiner), 0);
}

#[test]
fn shutdown_immediate_returns_fifo_items_in_get_order() {
    let queue = Queue::unbounded();
    for item in [3, 1, 2] {
        queue.try_put(item).unwrap();
    }
    assert_eq!(queue.shutdown_immediate(), [3, 1, 2]);
    assert!(queue.is_empty());
}

#[test]
fn shutdown_immediate_returns_lifo_items_in_get_order() {
    let queue = LifoQueue::unbounded();
    for item in [3, 1, 2] {
        queue.try_put(item).unwrap();
    }
    assert_eq!(queue.shutdown_immediate(), [2, 1, 3]);
    assert!(queue.is_empty());
}

#[test]
fn shutdown_immediate_returns_priority_items_in_get_order() {
    let queue = PriorityQueue::unbounded();
    for item in [3, 1, 4, 1, 5, 9, 2, 6] {
        queue.try_put(item).unwrap();
    }
    assert_eq!(queue.shutdown_immediate(), [1, 1, 2, 3, 4, 5, 6, 9]);
    assert!(queue.is_empty());
}

#[test]
fn shutdown_immediate_returns_the_same_order_as_gets_for_all_three_orders() {
    // Build each queue twice through the same puts and gets; drain one with
    // gets after shutdown and the other with shutdown_immediate.
    let script = [5, 2, 8, 1, 9, 3];
    macro_rules! compare {
        ($new:expr) => {{
            let by_gets = $new;
            let by_drain = $new;
            for (i, item) in script.into_iter().enumerate() {
                by_gets.try_put(item).unwrap();
                by_drain.try_put(item).unwrap();
                if i % 3 == 2 {
                    assert_eq!(by_gets.try_get(), by_drain.try_get());
                }
            }
            by_gets.shutdown();
            let gets: Vec<i32> = std::iter::from_fn(|| by_gets.try_get().ok()).collect();
            assert_eq!(by_drain.shutdown_immediate(), gets);
        }};
    }
    compare!(Queue::<i32>::unbounded());
    compare!(LifoQueue::<i32>::unbounded());
    compare!(PriorityQueue::<i32>::unbounded());
}

#[test]
fn after_shutdown_immediate_puts_and_gets_fail_with_shutdown() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    assert_eq!(queue.shutdown_immediate(), [1]);
    assert_eq!(queue.try_get(), Err(GetError::ShutDown));
    assert_eq!(queue.get_blocking(), Err(GetError::ShutDown));
    assert_eq!(queue.try_put(2), Err(PutError::ShutDown(2)));
    assert_eq!(queue.put_blocking(3), Err(PutError::ShutDown(3)));
}

#[test]
fn shutdown_immediate_counts_the_drained_items_as_done() {
    let queue = Queue::unbounded();
    for item in 0..3 {
        queue.try_put(item).unwrap();
    }
    assert_eq!(queue.unfinished_tasks(), 3);
    assert_eq!(queue.shutdown_immediate().len(), 3);
    assert_eq!(queue.unfinished_tasks(), 0);
    assert!(queue.join_timeout_blocking(Duration::ZERO));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_immediate_releases_waiting_joiners() {
    let queue = Arc::new(Queue::unbounded());
    for item in 0..3 {
        queue.try_put(item).unwrap();
    }
    let task = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.join().await }
    });
    let thread = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.join_blocking()
    });
    assert_eq!(queue.shutdown_immediate(), [0, 1, 2]);
    within("joining task after shutdown_immediate", task)
        .await
        .unwrap();
    join_within("joining thread after shutdown_immediate", thread);
}

#[test]
fn shutdown_immediate_leaves_items_already_got_unfinished() {
    let queue = Arc::new(Queue::unbounded());
    for item in 0..3 {
        queue.try_put(item).unwrap();
    }
    let in_progress = queue.try_get().unwrap();
    assert_eq!(queue.shutdown_immediate(), [1, 2]);
    assert_eq!(
        queue.unfinished_tasks(),
        1,
        "item {in_progress} is still in progress"
    );
    assert!(!queue.join_timeout_blocking(Duration::from_millis(10)));
    let joiner = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.join_blocking()
    });
    queue.task_done().unwrap();
    join_within("join after the last task_done", joiner);
    assert_eq!(queue.task_done(), Err(ambisync::TaskDoneError));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_immediate_wakes_waiting_getters_with_shutdown() {
    let queue: Arc<Queue<u8>> = Arc::new(Queue::unbounded());
    let task = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.get().await }
    });
    let thread = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.get_blocking()
    });
    eventually_async("two getters wait", || queue.waiting_getters() == 2).await;
    assert!(queue.shutdown_immediate().is_empty());
    let got = within("getter task", task).await.unwrap();
    assert_eq!(got, Err(GetError::ShutDown));
    assert_eq!(
        join_within("getter thread", thread),
        Err(GetError::ShutDown)
    );
}

#[test]
fn shutdown_immediate_wakes_waiting_putters_which_deliver_nothing() {
    let queue = Arc::new(Queue::bounded(1));
    queue.try_put(0).unwrap();
    let putter = std::thread::spawn({
        let queue = Arc::clone(&queue);
        move || queue.put_blocking(1)
    });
    eventually("the putter waits", || queue.waiting_putters() == 1);
    assert_eq!(queue.shutdown_immediate(), [0]);
    assert_eq!(
        join_within("putter thread", putter),
        Err(PutError::ShutDown(1))
    );
    assert!(
        queue.is_empty(),
        "the woken putter must not deliver after shutdown"
    );
    assert_eq!(queue.unfinished_tasks(), 0);
}

#[test]
fn a_second_shutdown_immediate_returns_nothing() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    assert_eq!(queue.shutdown_immediate(), [1]);
    assert!(queue.shutdown_immediate().is_empty());
    assert_eq!(queue.unfinished_tasks(), 0);
}

#[test]
fn shutdown_immediate_after_shutdown_returns_the_items_left() {
    let queue = Queue::unbounded();
    for item in 1..=3 {
        queue.try_put(item).unwrap();
    }
    queue.shutdown();
    assert_eq!(queue.try_get(), Ok(1));
    assert_eq!(queue.shutdown_immediate(), [2, 3]);
    assert_eq!(queue.unfinished_tasks(), 1, "item 1 was got, not done");
}

#[tokio::test]
async fn stream_drains_the_remaining_items_then_ends_after_shutdown() {
    let queue = Queue::unbounded();
    for item in 1..=3 {
        queue.try_put(item).unwrap();
    }
    queue.shutdown();
    let items: Vec<i32> = within("stream after shutdown", queue.stream().collect()).await;
    assert_eq!(items, [1, 2, 3]);
}

#[tokio::test]
async fn stream_ends_when_the_queue_is_shut_down_while_it_waits() {
    let queue = Arc::new(Queue::unbounded());
    let consumer = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.stream().collect::<Vec<i32>>().await }
    });
    eventually_async("the stream waits", || queue.waiting_getters() == 1).await;
    queue.try_put(1).unwrap();
    eventually_async("the stream took the item and waits again", || {
        queue.is_empty() && queue.waiting_getters() == 1
    })
    .await;
    queue.shutdown();
    let items = within("stream ends at shutdown", consumer).await.unwrap();
    assert_eq!(items, [1]);
}

#[tokio::test]
async fn a_stream_that_ended_stays_ended() {
    let queue: Queue<u8> = Queue::unbounded();
    queue.shutdown();
    let mut stream = queue.stream();
    assert_eq!(within("ended stream", stream.next()).await, None);
    assert_eq!(within("ended stream", stream.next()).await, None);
    assert_eq!(queue.waiting_getters(), 0);
}

#[test]
fn task_done_still_counts_after_shutdown() {
    let queue = Queue::unbounded();
    queue.try_put(1).unwrap();
    queue.shutdown();
    assert_eq!(queue.try_get(), Ok(1));
    assert_eq!(queue.task_done(), Ok(()));
    assert_eq!(queue.task_done(), Err(ambisync::TaskDoneError));
    assert!(queue.join_timeout_blocking(Duration::ZERO));
}
