//! [`Queue`], [`LifoQueue`] and [`PriorityQueue`]: one implementation,
//! [`OrderedQueue`], in three orders (Python's `queue` module).

mod order;
mod stream;

use parking_lot::{Mutex, MutexGuard};
use std::fmt;
use std::time::{Duration, Instant};

pub use order::{Fifo, Lifo, Priority, QueueOrder};
pub use stream::QueueStream;

use event_listener::{Event, IntoNotification};

use crate::core::{WaiterCount, block_until, deadline_after, wait_until};
use crate::error::{GetError, PutError, TaskDoneError};

/// A first-in, first-out queue (Python `queue.Queue`).
///
/// ```
/// # futures::executor::block_on(async {
/// let queue = ambisync::Queue::bounded(2);
/// queue.put(1).await.unwrap();
/// queue.put(2).await.unwrap();
/// assert_eq!(queue.get().await, Ok(1));
/// # });
/// ```
pub type Queue<T> = OrderedQueue<T, Fifo>;

/// A last-in, first-out queue (Python `queue.LifoQueue`).
///
/// ```
/// # futures::executor::block_on(async {
/// let stack = ambisync::LifoQueue::unbounded();
/// stack.put(1).await.unwrap();
/// stack.put(2).await.unwrap();
/// assert_eq!(stack.get().await, Ok(2));
/// # });
/// ```
pub type LifoQueue<T> = OrderedQueue<T, Lifo>;

/// A queue that hands out its smallest item first (Python
/// `queue.PriorityQueue`); wrap items in [`std::cmp::Reverse`] for largest first.
///
/// ```
/// # futures::executor::block_on(async {
/// let queue = ambisync::PriorityQueue::unbounded();
/// queue.put((2, "write")).await.unwrap();
/// queue.put((1, "read")).await.unwrap();
/// assert_eq!(queue.get().await, Ok((1, "read")));
/// # });
/// ```
pub type PriorityQueue<T> = OrderedQueue<T, Priority>;

struct State<S> {
    items: S,
    /// Items put and not yet marked done with `task_done`.
    unfinished: usize,
    shutdown: bool,
    /// Registered waiters per [`Side`]. Kept under the mutex, where every
    /// change they wait for is made: a releaser reads them in the critical
    /// section it already holds, so an idle side costs no fence and no atomic.
    waiting: [usize; 3],
}

/// Who waits for what.
#[derive(Clone, Copy)]
enum Side {
    /// `get` waits for an item (or shutdown).
    Getters = 0,
    /// `put` waits for a free slot (or shutdown).
    Putters = 1,
    /// `join` waits for every item to be done.
    Joiners = 2,
}

/// A side's waiter count, for the shared waiting loop. Registering takes the
/// queue's mutex, so it is ordered with every put, get and `task_done`.
struct Waiters<'a, T, O: QueueOrder<T>> {
    queue: &'a OrderedQueue<T, O>,
    side: Side,
}

impl<T, O: QueueOrder<T>> WaiterCount for Waiters<'_, T, O> {
    fn register(&self) {
        self.queue.state().waiting[self.side as usize] += 1;
    }
    fn unregister(&self) {
        self.queue.state().waiting[self.side as usize] -= 1;
    }
}

/// A queue for tasks and threads, bounded or not, handing out items in the
/// order `O`; use it through [`Queue`], [`LifoQueue`] or [`PriorityQueue`].
///
/// Every waiting operation has its five forms (`put`, `put_timeout`,
/// `try_put`, `put_blocking`, `put_timeout_blocking`, and the same for `get`
/// and `join`).
///
/// Nothing is ever lost: a failed put hands its item back inside the
/// [`PutError`]; a dropped `put` future either delivered its item or did not;
/// a dropped `get` future took nothing and never reorders the queue; a getter
/// woken for an item and then dropped passes the wake-up on.
///
/// [`task_done`](OrderedQueue::task_done) and [`join`](OrderedQueue::join)
/// track work as in Python, and [`shutdown`](OrderedQueue::shutdown) /
/// [`shutdown_immediate`](OrderedQueue::shutdown_immediate) close the queue as
/// Python 3.13's `Queue.shutdown` does.
///
/// ```
/// use std::sync::Arc;
/// use ambisync::Queue;
///
/// # #[tokio::main] async fn main() {
/// let queue = Arc::new(Queue::bounded(10));
/// let worker = {
///     let queue = Arc::clone(&queue);
///     std::thread::spawn(move || {
///         let mut sum = 0;
///         while let Ok(n) = queue.get_blocking() {
///             sum += n;
///             queue.task_done().unwrap();
///         }
///         sum
///     })
/// };
/// for n in 1..=100 {
///     queue.put(n).await.unwrap();
/// }
/// queue.join().await; // every item processed
/// queue.shutdown();   // the worker's next get fails: it exits
/// assert_eq!(worker.join().unwrap(), 5050);
/// # }
/// ```
pub struct OrderedQueue<T, O: QueueOrder<T>> {
    state: Mutex<State<O::Store>>,
    maxsize: Option<usize>,
    /// Getters wait here for an item (or shutdown).
    not_empty: Event,
    /// Putters wait here for a free slot (or shutdown).
    not_full: Event,
    /// `join` waits here for every item to be done.
    all_done: Event,
}

impl<T, O: QueueOrder<T>> OrderedQueue<T, O> {
    /// Creates a queue that holds at most `maxsize` items; puts wait for room.
    ///
    /// # Panics
    ///
    /// If `maxsize` is 0 (Python treats 0 as unbounded; here, say
    /// [`unbounded`](OrderedQueue::unbounded)).
    ///
    /// ```
    /// let queue: ambisync::Queue<u8> = ambisync::Queue::bounded(3);
    /// assert_eq!(queue.maxsize(), Some(3));
    /// ```
    pub fn bounded(maxsize: usize) -> Self {
        assert!(
            maxsize > 0,
            "a bounded queue needs room for at least one item; use `unbounded()` for no limit"
        );
        Self::with_maxsize(Some(maxsize))
    }

    /// Creates a queue with no size limit: puts never wait.
    ///
    /// ```
    /// let queue: ambisync::Queue<u8> = ambisync::Queue::unbounded();
    /// assert_eq!(queue.maxsize(), None);
    /// ```
    pub fn unbounded() -> Self {
        Self::with_maxsize(None)
    }

    fn with_maxsize(maxsize: Option<usize>) -> Self {
        OrderedQueue {
            state: Mutex::new(State {
                items: O::Store::default(),
                unfinished: 0,
                shutdown: false,
                waiting: [0; 3],
            }),
            maxsize,
            not_empty: Event::new(),
            not_full: Event::new(),
            all_done: Event::new(),
        }
    }

    /// The state. parking_lot's mutex: under a producer and a consumer on two
    /// threads it measured a quarter faster than std's (BENCHMARKS.md), and it
    /// has no poisoning to handle (no user code runs while it is held).
    fn state(&self) -> MutexGuard<'_, State<O::Store>> {
        self.state.lock()
    }

    fn waiters(&self, side: Side) -> Waiters<'_, T, O> {
        Waiters { queue: self, side }
    }

    fn has_room(&self, state: &State<O::Store>) -> bool {
        self.maxsize
            .is_none_or(|maxsize| O::len(&state.items) < maxsize)
    }

    /// Puts the item from `slot` if there is room. `None`: full, keep waiting
    /// (the item stays in `slot`).
    fn put_from(&self, slot: &mut Option<T>) -> Option<Result<(), PutError<T>>> {
        let mut state = self.state();
        let item = slot.take().expect("a put attempt without an item");
        if state.shutdown {
            return Some(Err(PutError::ShutDown(item)));
        }
        if !self.has_room(&state) {
            *slot = Some(item);
            return None;
        }
        O::push(&mut state.items, item);
        state.unfinished += 1;
        let wake_getter = state.waiting[Side::Getters as usize] > 0;
        drop(state);
        if wake_getter {
            self.not_empty.notify(1.additional());
        }
        Some(Ok(()))
    }

    /// Takes the next item. `None`: empty and open, keep waiting.
    fn take(&self) -> Option<Result<T, GetError>> {
        let mut state = self.state();
        match O::pop(&mut state.items) {
            Some(item) => {
                let wake_putter = state.waiting[Side::Putters as usize] > 0;
                drop(state);
                if wake_putter {
                    self.not_full.notify(1.additional());
                }
                Some(Ok(item))
            }
            None if state.shutdown => Some(Err(GetError::ShutDown)),
            None => None,
        }
    }

    /// Puts `item`, waiting for room as long as it takes.
    ///
    /// # Errors
    ///
    /// [`PutError::ShutDown`] with the item, if the queue is or gets shut down.
    ///
    /// Cancel safe: a dropped future either delivered its item or did not
    /// (then the item is dropped with the future).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let queue = ambisync::Queue::bounded(1);
    /// queue.put("job").await.unwrap();
    /// assert_eq!(queue.len(), 1);
    /// # });
    /// ```
    pub async fn put(&self, item: T) -> Result<(), PutError<T>> {
        crate::core::coop::proceed().await;
        let mut slot = Some(item);
        if let Some(done) = self.put_from(&mut slot) {
            return done;
        }
        wait_until(&self.not_full, &self.waiters(Side::Putters), || {
            self.put_from(&mut slot)
        })
        .await
    }

    /// Puts `item`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`PutError::Timeout`] or [`PutError::ShutDown`], with the item.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{PutError, Queue};
    /// # #[tokio::main] async fn main() {
    /// let queue = Queue::bounded(1);
    /// queue.put(1).await.unwrap();
    /// let err = queue.put_timeout(2, Duration::from_millis(5)).await.unwrap_err();
    /// assert_eq!(err, PutError::Timeout(2));
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        crate::core::coop::proceed().await;
        let mut slot = Some(item);
        if let Some(done) = self.put_from(&mut slot) {
            return done;
        }
        let putters = self.waiters(Side::Putters);
        let waiting = wait_until(&self.not_full, &putters, || self.put_from(&mut slot));
        match crate::core::with_timeout(timeout, waiting).await {
            Some(done) => done,
            None => Err(PutError::Timeout(
                slot.take().expect("an unfinished put keeps its item"),
            )),
        }
    }

    /// Puts `item` if there is room right now.
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] or [`PutError::ShutDown`], with the item.
    ///
    /// ```
    /// use ambisync::{PutError, Queue};
    /// let queue = Queue::bounded(1);
    /// assert_eq!(queue.try_put(1), Ok(()));
    /// assert_eq!(queue.try_put(2), Err(PutError::Full(2)));
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        let mut slot = Some(item);
        match self.put_from(&mut slot) {
            Some(done) => done,
            None => Err(PutError::Full(
                slot.take().expect("a full queue hands the item back"),
            )),
        }
    }

    /// [`put`](OrderedQueue::put), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, if it has to wait inside a tokio runtime.
    ///
    /// ```
    /// let queue = ambisync::Queue::bounded(1);
    /// queue.put_blocking(1).unwrap();
    /// assert_eq!(queue.get_blocking(), Ok(1));
    /// ```
    #[track_caller]
    pub fn put_blocking(&self, item: T) -> Result<(), PutError<T>> {
        self.put_deadline(item, None, "put_blocking")
    }

    /// [`put_timeout`](OrderedQueue::put_timeout), blocking the thread; needs
    /// no runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// let queue = ambisync::Queue::bounded(1);
    /// queue.put_blocking(1).unwrap();
    /// assert!(queue.put_timeout_blocking(2, Duration::from_millis(5)).is_err());
    /// ```
    #[track_caller]
    pub fn put_timeout_blocking(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_deadline(item, deadline_after(timeout), "put_timeout_blocking")
    }

    #[track_caller]
    fn put_deadline(
        &self,
        item: T,
        deadline: Option<Instant>,
        method: &'static str,
    ) -> Result<(), PutError<T>> {
        let mut slot = Some(item);
        let done = block_until(
            &self.not_full,
            &self.waiters(Side::Putters),
            deadline,
            method,
            || self.put_from(&mut slot),
        );
        done.unwrap_or_else(|| {
            Err(PutError::Timeout(
                slot.take().expect("an unfinished put keeps its item"),
            ))
        })
    }

    /// Takes the next item, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`GetError::ShutDown`] once the queue is shut down and empty.
    ///
    /// Cancel safe: a dropped future took nothing.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(5).unwrap();
    /// assert_eq!(queue.get().await, Ok(5));
    /// # });
    /// ```
    pub async fn get(&self) -> Result<T, GetError> {
        crate::core::coop::proceed().await;
        if let Some(done) = self.take() {
            return done;
        }
        wait_until(&self.not_empty, &self.waiters(Side::Getters), || {
            self.take()
        })
        .await
    }

    /// Takes the next item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`GetError::Timeout`], or [`GetError::ShutDown`] once shut down and empty.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{GetError, Queue};
    /// # #[tokio::main] async fn main() {
    /// let queue: Queue<u8> = Queue::unbounded();
    /// assert_eq!(queue.get_timeout(Duration::from_millis(5)).await, Err(GetError::Timeout));
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        crate::core::coop::proceed().await;
        if let Some(done) = self.take() {
            return done;
        }
        crate::core::with_timeout(timeout, self.get())
            .await
            .unwrap_or(Err(GetError::Timeout))
    }

    /// Takes the next item if there is one right now.
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`], or [`GetError::ShutDown`] once shut down and empty.
    ///
    /// ```
    /// use ambisync::{GetError, Queue};
    /// let queue: Queue<u8> = Queue::unbounded();
    /// assert_eq!(queue.try_get(), Err(GetError::Empty));
    /// ```
    pub fn try_get(&self) -> Result<T, GetError> {
        self.take().unwrap_or(Err(GetError::Empty))
    }

    /// [`get`](OrderedQueue::get), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, if it has to wait inside a tokio runtime.
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put('x').unwrap();
    /// assert_eq!(queue.get_blocking(), Ok('x'));
    /// ```
    #[track_caller]
    pub fn get_blocking(&self) -> Result<T, GetError> {
        self.get_deadline(None, "get_blocking")
    }

    /// [`get_timeout`](OrderedQueue::get_timeout), blocking the thread; needs
    /// no runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{GetError, Queue};
    /// let queue: Queue<u8> = Queue::unbounded();
    /// assert_eq!(queue.get_timeout_blocking(Duration::from_millis(5)), Err(GetError::Timeout));
    /// ```
    #[track_caller]
    pub fn get_timeout_blocking(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_deadline(deadline_after(timeout), "get_timeout_blocking")
    }

    #[track_caller]
    fn get_deadline(&self, deadline: Option<Instant>, method: &'static str) -> Result<T, GetError> {
        block_until(
            &self.not_empty,
            &self.waiters(Side::Getters),
            deadline,
            method,
            || self.take(),
        )
        .unwrap_or(Err(GetError::Timeout))
    }

    /// Marks one item taken with `get` as processed (Python `task_done`).
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] when called more times than items were put.
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(1).unwrap();
    /// queue.try_get().unwrap();
    /// assert!(queue.task_done().is_ok());
    /// assert!(queue.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut state = self.state();
        state.unfinished = state.unfinished.checked_sub(1).ok_or(TaskDoneError)?;
        let wake_joiners = state.unfinished == 0 && state.waiting[Side::Joiners as usize] > 0;
        drop(state);
        if wake_joiners {
            self.all_done.notify(usize::MAX);
        }
        Ok(())
    }

    fn all_done(&self) -> Option<()> {
        (self.state().unfinished == 0).then_some(())
    }

    /// Waits until every item ever put has been marked done with
    /// [`task_done`](OrderedQueue::task_done).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let queue = ambisync::Queue::unbounded();
    /// queue.put(1).await.unwrap();
    /// queue.get().await.unwrap();
    /// queue.task_done().unwrap();
    /// queue.join().await;
    /// # });
    /// ```
    pub async fn join(&self) {
        crate::core::coop::proceed().await;
        if self.all_done().is_none() {
            wait_until(&self.all_done, &self.waiters(Side::Joiners), || {
                self.all_done()
            })
            .await;
        }
    }

    /// [`join`](OrderedQueue::join) for at most `timeout`; `true` if every
    /// item was done.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let queue = ambisync::Queue::unbounded();
    /// queue.put(1).await.unwrap();
    /// assert!(!queue.join_timeout(Duration::from_millis(5)).await);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn join_timeout(&self, timeout: Duration) -> bool {
        crate::core::with_timeout(timeout, self.join())
            .await
            .is_some()
    }

    /// [`join`](OrderedQueue::join), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, if it has to wait inside a tokio runtime.
    ///
    /// ```
    /// let queue: ambisync::Queue<u8> = ambisync::Queue::unbounded();
    /// queue.join_blocking(); // nothing was put
    /// ```
    #[track_caller]
    pub fn join_blocking(&self) {
        block_until(
            &self.all_done,
            &self.waiters(Side::Joiners),
            None,
            "join_blocking",
            || self.all_done(),
        );
    }

    /// [`join_timeout`](OrderedQueue::join_timeout), blocking the thread;
    /// needs no runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(1).unwrap();
    /// assert!(!queue.join_timeout_blocking(Duration::from_millis(5)));
    /// ```
    #[track_caller]
    pub fn join_timeout_blocking(&self, timeout: Duration) -> bool {
        block_until(
            &self.all_done,
            &self.waiters(Side::Joiners),
            deadline_after(timeout),
            "join_timeout_blocking",
            || self.all_done(),
        )
        .is_some()
    }

    /// How many items the queue holds.
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(()).unwrap();
    /// assert_eq!(queue.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        O::len(&self.state().items)
    }

    /// Whether the queue holds no items.
    ///
    /// ```
    /// let queue: ambisync::Queue<()> = ambisync::Queue::unbounded();
    /// assert!(queue.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a bounded queue holds `maxsize` items (never for unbounded).
    ///
    /// ```
    /// let queue = ambisync::Queue::bounded(1);
    /// queue.try_put(()).unwrap();
    /// assert!(queue.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        !self.has_room(&self.state())
    }

    /// The size limit; `None` for an unbounded queue.
    ///
    /// ```
    /// assert_eq!(ambisync::Queue::<u8>::bounded(4).maxsize(), Some(4));
    /// ```
    pub fn maxsize(&self) -> Option<usize> {
        self.maxsize
    }

    /// Items put and not yet marked done.
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(1).unwrap();
    /// queue.try_get().unwrap();
    /// assert_eq!(queue.unfinished_tasks(), 1); // taken, not yet done
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.state().unfinished
    }

    /// Shuts the queue down (Python 3.13 `shutdown()`): puts fail with
    /// [`PutError::ShutDown`], gets return the remaining items and then fail
    /// with [`GetError::ShutDown`]; every waiting putter and getter wakes at once.
    ///
    /// ```
    /// use ambisync::{GetError, Queue};
    /// let queue = Queue::unbounded();
    /// queue.try_put(1).unwrap();
    /// queue.shutdown();
    /// assert!(queue.try_put(2).is_err());
    /// assert_eq!(queue.try_get(), Ok(1));
    /// assert_eq!(queue.try_get(), Err(GetError::ShutDown));
    /// ```
    pub fn shutdown(&self) {
        let mut state = self.state();
        state.shutdown = true;
        let waiting = state.waiting;
        drop(state);
        self.wake_all(waiting);
    }

    /// Wakes every waiter of the sides that have any: after a shutdown.
    fn wake_all(&self, waiting: [usize; 3]) {
        for (side, event) in [
            (Side::Getters, &self.not_empty),
            (Side::Putters, &self.not_full),
            (Side::Joiners, &self.all_done),
        ] {
            if waiting[side as usize] > 0 {
                event.notify(usize::MAX);
            }
        }
    }

    /// Shuts the queue down and empties it (Python 3.13
    /// `shutdown(immediate=True)`): returns the items in the order gets would
    /// have returned them, and counts them as done, so `join` can return.
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(1).unwrap();
    /// queue.try_put(2).unwrap();
    /// assert_eq!(queue.shutdown_immediate(), vec![1, 2]);
    /// assert_eq!(queue.unfinished_tasks(), 0);
    /// ```
    pub fn shutdown_immediate(&self) -> Vec<T> {
        let mut state = self.state();
        state.shutdown = true;
        let items = O::drain(&mut state.items);
        state.unfinished = state.unfinished.saturating_sub(items.len());
        let mut waiting = state.waiting;
        if state.unfinished > 0 {
            // `join` still waits for items already taken.
            waiting[Side::Joiners as usize] = 0;
        }
        drop(state);
        self.wake_all(waiting);
        items
    }

    /// Whether the queue was shut down.
    ///
    /// ```
    /// let queue: ambisync::Queue<u8> = ambisync::Queue::unbounded();
    /// queue.shutdown();
    /// assert!(queue.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.state().shutdown
    }

    /// How many tasks and threads wait in `get` (a snapshot).
    ///
    /// ```
    /// assert_eq!(ambisync::Queue::<u8>::unbounded().waiting_getters(), 0);
    /// ```
    pub fn waiting_getters(&self) -> usize {
        self.state().waiting[Side::Getters as usize]
    }

    /// How many tasks and threads wait in `put` (a snapshot).
    ///
    /// ```
    /// assert_eq!(ambisync::Queue::<u8>::bounded(1).waiting_putters(), 0);
    /// ```
    pub fn waiting_putters(&self) -> usize {
        self.state().waiting[Side::Putters as usize]
    }

    /// The items as a [`Stream`](futures_core::Stream): each `next()` is a
    /// [`get`](OrderedQueue::get); the stream ends once the queue is shut
    /// down and empty.
    ///
    /// ```
    /// use futures::StreamExt;
    /// # futures::executor::block_on(async {
    /// let queue = ambisync::Queue::unbounded();
    /// for n in 1..=3 {
    ///     queue.put(n).await.unwrap();
    /// }
    /// queue.shutdown();
    /// let items: Vec<i32> = queue.stream().collect().await;
    /// assert_eq!(items, [1, 2, 3]);
    /// # });
    /// ```
    pub fn stream(&self) -> QueueStream<'_, T, O> {
        QueueStream::new(self)
    }
}

impl<T, O: QueueOrder<T>> fmt::Debug for OrderedQueue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Queue")
            .field("order", &std::any::type_name::<O>().rsplit("::").next())
            .field("len", &O::len(&state.items))
            .field("maxsize", &self.maxsize)
            .field("unfinished_tasks", &state.unfinished)
            .field("shutdown", &state.shutdown)
            .field("waiting_getters", &state.waiting[Side::Getters as usize])
            .field("waiting_putters", &state.waiting[Side::Putters as usize])
            .field("waiting_joiners", &state.waiting[Side::Joiners as usize])
            .finish()
    }
}
