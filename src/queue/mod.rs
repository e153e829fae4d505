//! [`Queue`], [`LifoQueue`] and [`PriorityQueue`]: one implementation,
//! [`OrderedQueue`], in three orders (Python's `queue` module).
//!
//! `mod.rs` holds the state and what needs no waiting; `forms.rs` the five
//! forms of `put`, `get` and `join`, all derived from the three operations of
//! `ops.rs`; `stream.rs` the items as a `Stream`; `order.rs` the orders.

mod forms;
mod ops;
mod order;
mod ring;
mod spin;
mod stream;

use std::fmt;

pub use order::{Fifo, Lifo, Priority, QueueOrder};
pub use stream::{OwnedQueueStream, QueueStream};

use crate::error::{GetError, PutError, TaskDoneError};
use crate::wait::sync::{AtomicUsize, fence};
use crate::wait::{LazyList, WaitList};
use order::{Items, Nothing, Refused};
use std::sync::atomic::Ordering;

/// A first-in, first-out queue (Python `queue.Queue`).
///
/// # Examples
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
/// # Examples
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
/// `queue.PriorityQueue`); wrap items in [`std::cmp::Reverse`] for largest
/// first. Equal items come out in the order they were put.
///
/// # Examples
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
/// # Ending a queue
///
/// A queue is not a channel: it has no senders to count, so getters are not
/// woken when the producers are gone. **Call [`shutdown`](OrderedQueue::shutdown)
/// when the last item is in** (Python 3.13's way; before, a sentinel item per
/// consumer): waiting getters then take what is left and get
/// [`GetError::ShutDown`], and a [`stream`](OrderedQueue::stream) ends.
///
/// # Examples
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
    /// The items and the shutdown flag: a lock-free ring for a bounded FIFO
    /// queue, else a store behind a mutex (`order.rs`).
    items: O::Items,
    /// Items put and not yet marked done with `task_done`. A put counts its
    /// item in before the item is in the queue (and out again if the put
    /// fails), so that a `task_done` for an item just taken never finds 0.
    /// On a cache line of its own: every put writes it, and a getter should
    /// not have to fetch the line back to read the fields next to it.
    unfinished: Padded<AtomicUsize>,
    maxsize: Option<usize>,
    /// `get` waits here for an item (or shutdown).
    getters: LazyList,
    /// `put` waits here for a free slot (or shutdown).
    putters: LazyList,
    /// `join` waits here for every item to be done.
    joiners: LazyList,
}

impl<T, O: QueueOrder<T>> OrderedQueue<T, O> {
    /// Creates a queue that holds at most `maxsize` items; puts wait for room.
    ///
    /// A FIFO [`Queue`] makes its `maxsize` slots here, up front (a
    /// lock-free ring, as crossbeam's bounded channel), when they take at
    /// most 1 MiB; above that, and for the other orders, the items are
    /// stored as they come.
    ///
    /// # Panics
    ///
    /// If `maxsize` is 0 (Python treats 0 as unbounded; here, say
    /// [`unbounded`](OrderedQueue::unbounded)).
    ///
    /// # Examples
    ///
    /// ```
    /// let queue: ambisync::Queue<u8> = ambisync::Queue::bounded(3);
    /// assert_eq!(queue.maxsize(), Some(3));
    /// ```
    #[track_caller]
    pub fn bounded(maxsize: usize) -> Self {
        assert!(
            maxsize > 0,
            "a bounded queue needs room for at least one item; use `unbounded()` for no limit"
        );
        Self::with_maxsize(Some(maxsize))
    }

    /// Creates a queue with no size limit: puts never wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue: ambisync::Queue<u8> = ambisync::Queue::unbounded();
    /// assert_eq!(queue.maxsize(), None);
    /// ```
    pub fn unbounded() -> Self {
        Self::with_maxsize(None)
    }

    fn with_maxsize(maxsize: Option<usize>) -> Self {
        let queue = OrderedQueue {
            items: O::Items::new(maxsize),
            unfinished: Padded(AtomicUsize::new(0)),
            maxsize,
            getters: LazyList::new(),
            putters: LazyList::new(),
            joiners: LazyList::new(),
        };
        if Items::<T>::is_lock_free(&queue.items) {
            // A getter that makes its list and joins it, then finds the ring
            // empty, and a putter that fills the ring and then looks for the
            // list, must not miss each other; but the list's pointer is
            // published with acquire/release only, so the putter could still
            // read "no list" (found by miri's weak memory emulation). Made
            // up front, the lists are always there. A store behind a mutex
            // needs no such thing: the waiter's second look takes the mutex.
            queue.getters.get_or_init();
            queue.putters.get_or_init();
        }
        queue
    }

    /// Whether a `take` may find an item (or the shutdown): a spinning
    /// getter tries only then.
    #[inline]
    fn may_take(&self) -> bool {
        self.items.len() != 0 || self.items.is_shut_down()
    }

    /// Whether a put may find room (or the shutdown).
    #[inline]
    fn may_put(&self) -> bool {
        self.maxsize
            .is_none_or(|maxsize| self.items.len() < maxsize)
            || self.items.is_shut_down()
    }

    /// Puts the item from `slot` if there is room. `None`: full, keep waiting
    /// (the item stays in `slot`).
    #[inline]
    fn put_from(&self, slot: &mut Option<T>) -> Option<Result<(), PutError<T>>> {
        let item = slot.take().expect("a put attempt without an item");
        self.unfinished.0.fetch_add(1, Ordering::SeqCst);
        match self.items.push(item) {
            Ok(()) => {
                notify_one(&self.getters);
                Some(Ok(()))
            }
            Err(refused) => {
                self.count_done();
                match refused {
                    Refused::Shut(item) => Some(Err(PutError::ShutDown(item))),
                    Refused::Full(item) => {
                        *slot = Some(item);
                        None
                    }
                }
            }
        }
    }

    /// Takes the next item. `None`: empty and open, keep waiting.
    #[inline]
    fn take(&self) -> Option<Result<T, GetError>> {
        match self.items.pop() {
            Ok(item) => {
                notify_one(&self.putters);
                Some(Ok(item))
            }
            Err(Nothing::Shut) => Some(Err(GetError::ShutDown)),
            Err(Nothing::Empty) => None,
        }
    }

    /// One item less to wait for: wakes the joiners at 0. `unfinished` is
    /// above 0.
    fn count_done(&self) {
        // SeqCst (see `notify_one`): a joiner joins its list and then looks
        // at the count again.
        if self.unfinished.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            wake_all(&self.joiners);
        }
    }

    /// `Some` once every item put was marked done.
    fn all_done(&self) -> Option<()> {
        // A joiner made the joiners' list (a pointer published with
        // acquire/release only) and joined it before this look; the
        // `task_done` that brings the count to 0 fences, then looks for the
        // list (`wake_all`). Without a fence on this side too, each could
        // miss the other's write and the joiner would sleep for good (found
        // by miri: `queues_hand_items_between_threads_exactly_once`, one seed
        // in a few hundred). Joins are rare; the fence is cheap there.
        fence(Ordering::SeqCst);
        (self.unfinished.0.load(Ordering::SeqCst) == 0).then_some(())
    }

    /// Marks one item taken with `get` as processed (Python `task_done`).
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] when called more times than items were put;
    /// nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(1).unwrap();
    /// queue.try_get().unwrap();
    /// assert!(queue.task_done().is_ok());
    /// assert!(queue.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let before = self
            .unfinished
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map_err(|_| TaskDoneError)?;
        if before == 1 {
            wake_all(&self.joiners);
        }
        Ok(())
    }

    /// How many items the queue holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(()).unwrap();
    /// assert_eq!(queue.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the queue holds no items.
    ///
    /// # Examples
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
    /// # Examples
    ///
    /// ```
    /// let queue = ambisync::Queue::bounded(1);
    /// queue.try_put(()).unwrap();
    /// assert!(queue.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.maxsize.is_some_and(|maxsize| self.len() >= maxsize)
    }

    /// The size limit; `None` for an unbounded queue.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::Queue::<u8>::bounded(4).maxsize(), Some(4));
    /// ```
    pub fn maxsize(&self) -> Option<usize> {
        self.maxsize
    }

    /// Items put and not yet marked done.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(1).unwrap();
    /// queue.try_get().unwrap();
    /// assert_eq!(queue.unfinished_tasks(), 1); // taken, not yet done
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.unfinished.0.load(Ordering::SeqCst)
    }

    /// Shuts the queue down (Python 3.13 `shutdown()`): puts fail with
    /// [`PutError::ShutDown`], gets return the remaining items and then fail
    /// with [`GetError::ShutDown`]; every waiting putter and getter wakes at once.
    ///
    /// # Examples
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
        self.items.shut_down();
        wake_all(&self.getters);
        wake_all(&self.putters);
    }

    /// Shuts the queue down and empties it (Python 3.13
    /// `shutdown(immediate=True)`): returns the items in the order gets would
    /// have returned them, and counts them as done, so `join` can return.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(1).unwrap();
    /// queue.try_put(2).unwrap();
    /// assert_eq!(queue.shutdown_immediate(), vec![1, 2]);
    /// assert_eq!(queue.unfinished_tasks(), 0);
    /// ```
    pub fn shutdown_immediate(&self) -> Vec<T> {
        let items = self.items.drain();
        // `join` still waits for items already taken. Saturating: `task_done`
        // may have been called ahead for items still in the queue.
        let drained = items.len();
        let before = self
            .unfinished
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(drained))
            })
            .unwrap_or_else(|n| n);
        let all_done = before <= drained;
        wake_all(&self.getters);
        wake_all(&self.putters);
        if all_done {
            wake_all(&self.joiners);
        }
        items
    }

    /// Whether the queue was shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue: ambisync::Queue<u8> = ambisync::Queue::unbounded();
    /// queue.shutdown();
    /// assert!(queue.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.items.is_shut_down()
    }

    /// How many tasks and threads wait in `get` (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::Queue::<u8>::unbounded().waiting_getters(), 0);
    /// ```
    pub fn waiting_getters(&self) -> usize {
        self.getters.len()
    }

    /// How many tasks and threads wait in `put` (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ambisync::Queue::<u8>::bounded(1).waiting_putters(), 0);
    /// ```
    pub fn waiting_putters(&self) -> usize {
        self.putters.len()
    }
}

/// A value alone on its cache line (128 bytes: two 64-byte lines, as
/// adjacent-line prefetching pulls pairs), so that writing it does not take
/// the line of what is read next to it from another processor.
#[repr(align(128))]
struct Padded<T>(T);

/// Wakes the oldest waiter of `list`, if anybody waits: for one item put,
/// or one slot freed.
///
/// A waiter joins its list (a sequentially consistent increment and fence)
/// before it looks at the queue again. Every change that calls this (and
/// [`wake_all`]) is a sequentially consistent read-modify-write that the
/// waiter's look reads with sequentially consistent loads (the ring's
/// compare-and-swaps and shutdown mark, the `unfinished` count), or is made
/// under the mutex that the look takes too (a locked store): so the waiter
/// sees the change, or this sees the waiter (`anybody_waiting_after_seq_cst`).
#[inline]
fn notify_one(list: &LazyList) {
    if let Some(list) = list.get() {
        if list.anybody_waiting_after_seq_cst() {
            list.notify(1);
        }
    }
}

/// Wakes everybody in `list`: the queue was shut down, or every item is done.
///
/// Rare, so it pays for a fence before it looks for the list: the joiners'
/// list is made by the first joiner, and a joiner that makes it and joins,
/// then reads a count not yet at 0, must be seen by the `task_done` that
/// brings the count to 0 (an acquire load of the list's pointer alone could
/// still read "no list").
fn wake_all(list: &LazyList) {
    fence(Ordering::SeqCst);
    if let Some(list) = list.get() {
        if list.anybody_waiting_after_seq_cst() {
            list.wake_all();
        }
    }
}

/// The list of a side, made on first use by a waiter.
fn line(list: &LazyList) -> &WaitList {
    list.get_or_init()
}

impl<T, O: QueueOrder<T>> fmt::Debug for OrderedQueue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("order", &std::any::type_name::<O>().rsplit("::").next())
            .field("len", &self.len())
            .field("maxsize", &self.maxsize)
            .field("unfinished_tasks", &self.unfinished_tasks())
            .field("shutdown", &self.is_shutdown())
            .field("waiting_getters", &self.getters.len())
            .field("waiting_putters", &self.putters.len())
            .field("waiting_joiners", &self.joiners.len())
            .finish()
    }
}
