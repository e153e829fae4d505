//! The three orders a queue can hand out its items in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::Ordering;

use super::ring::Ring;
use crate::wait::sync::{AtomicUsize, Mutex};

mod sealed {
    pub trait Sealed {}
}

/// The order in which a queue hands out its items: [`Fifo`], [`Lifo`] or
/// [`Priority`]. Sealed: the three are all there is.
///
/// # Examples
///
/// ```
/// use ambisync::{OrderedQueue, Lifo};
/// let stack: OrderedQueue<u8, Lifo> = OrderedQueue::unbounded();
/// stack.try_put(1).unwrap();
/// stack.try_put(2).unwrap();
/// assert_eq!(stack.try_get(), Ok(2));
/// ```
pub trait QueueOrder<T>: sealed::Sealed {
    /// Where the items are kept.
    #[doc(hidden)]
    type Items: Items<T>;
}

/// Why an item did not go in; it comes back.
#[doc(hidden)]
#[derive(Debug)]
pub enum Refused<T> {
    Full(T),
    Shut(T),
}

/// Why no item came out.
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq)]
pub enum Nothing {
    Empty,
    Shut,
}

/// A queue's items and its shutdown flag, shared by every caller: what the
/// waiting operations try (`mod.rs`). Each call is atomic: a put refused as
/// shut down never lands later, and a get told `Shut` saw the queue empty
/// after the shutdown.
#[doc(hidden)]
pub trait Items<T> {
    fn new(maxsize: Option<usize>) -> Self;
    fn push(&self, item: T) -> Result<(), Refused<T>>;
    fn pop(&self) -> Result<T, Nothing>;
    /// How many items it holds, without a lock.
    fn len(&self) -> usize;
    fn shut_down(&self);
    fn is_shut_down(&self) -> bool;
    /// Shuts down and takes every item, in the order `pop` gives them.
    fn drain(&self) -> Vec<T>;
    /// Whether `push` and `pop` take no lock (a waiter's second look then
    /// shares no mutex with the change it waits for).
    fn is_lock_free(&self) -> bool {
        false
    }
}

/// A sequential store of items in one order, for [`Locked`].
#[doc(hidden)]
pub trait Store<T>: Default {
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
    /// Empties the store, in the order `pop` would have returned the items.
    fn drain(&mut self) -> Vec<T> {
        let mut items = Vec::with_capacity(self.len());
        while let Some(item) = self.pop() {
            items.push(item);
        }
        items
    }
}

/// First in, first out (Python `queue.Queue`).
///
/// # Examples
///
/// ```
/// let queue = ambisync::Queue::unbounded();
/// queue.try_put('a').unwrap();
/// queue.try_put('b').unwrap();
/// assert_eq!(queue.try_get(), Ok('a'));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Fifo;

/// Last in, first out (Python `queue.LifoQueue`).
///
/// # Examples
///
/// ```
/// let stack = ambisync::LifoQueue::unbounded();
/// stack.try_put('a').unwrap();
/// stack.try_put('b').unwrap();
/// assert_eq!(stack.try_get(), Ok('b'));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Lifo;

/// Smallest first (Python `queue.PriorityQueue`, `heapq` order); wrap items
/// in [`std::cmp::Reverse`] for largest first. Equal items come out in the
/// order they were put.
///
/// # Examples
///
/// ```
/// let queue = ambisync::PriorityQueue::unbounded();
/// queue.try_put(3).unwrap();
/// queue.try_put(1).unwrap();
/// queue.try_put(2).unwrap();
/// assert_eq!(queue.try_get(), Ok(1));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Priority;

impl sealed::Sealed for Fifo {}
impl sealed::Sealed for Lifo {}
impl sealed::Sealed for Priority {}

impl<T> QueueOrder<T> for Fifo {
    type Items = FifoItems<T>;
}

impl<T> QueueOrder<T> for Lifo {
    type Items = Locked<LifoStore<T>>;
}

impl<T: Ord> QueueOrder<T> for Priority {
    type Items = Locked<PriorityStore<T>>;
}

/// A FIFO queue's items: in a lock-free ring when the queue is bounded and
/// the ring small enough to make up front, else in a `VecDeque` behind a
/// mutex (unbounded queues, and bounds so large that the ring would be a
/// waste of memory: `Queue::bounded(1 << 30)` allocates nothing until items
/// come).
#[doc(hidden)]
pub enum FifoItems<T> {
    Ring(Box<Ring<T>>),
    Locked(Locked<VecDeque<T>>),
}

impl<T> std::fmt::Debug for FifoItems<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            FifoItems::Ring(_) => "ring",
            FifoItems::Locked(_) => "locked",
        };
        f.debug_struct("FifoItems")
            .field("kind", &kind)
            .field("len", &self.len())
            .finish()
    }
}

/// The largest ring made up front, in bytes of slots.
const RING_MAX_BYTES: usize = 1 << 20;

impl<T> Items<T> for FifoItems<T> {
    fn new(maxsize: Option<usize>) -> Self {
        let slot = std::mem::size_of::<T>() + std::mem::size_of::<usize>();
        match maxsize {
            Some(maxsize) if maxsize.saturating_mul(slot) <= RING_MAX_BYTES => {
                FifoItems::Ring(Box::new(Ring::new(maxsize)))
            }
            _ => FifoItems::Locked(Locked::new(maxsize)),
        }
    }
    #[inline]
    fn push(&self, item: T) -> Result<(), Refused<T>> {
        match self {
            FifoItems::Ring(ring) => ring.push(item),
            FifoItems::Locked(locked) => locked.push(item),
        }
    }
    #[inline]
    fn pop(&self) -> Result<T, Nothing> {
        match self {
            FifoItems::Ring(ring) => ring.pop(),
            FifoItems::Locked(locked) => locked.pop(),
        }
    }
    #[inline]
    fn len(&self) -> usize {
        match self {
            FifoItems::Ring(ring) => ring.len(),
            FifoItems::Locked(locked) => locked.len(),
        }
    }
    fn shut_down(&self) {
        match self {
            FifoItems::Ring(ring) => {
                ring.shut_down();
            }
            FifoItems::Locked(locked) => locked.shut_down(),
        }
    }
    #[inline]
    fn is_shut_down(&self) -> bool {
        match self {
            FifoItems::Ring(ring) => ring.is_shut_down(),
            FifoItems::Locked(locked) => locked.is_shut_down(),
        }
    }
    fn is_lock_free(&self) -> bool {
        matches!(self, FifoItems::Ring(_))
    }
    fn drain(&self) -> Vec<T> {
        match self {
            FifoItems::Ring(ring) => {
                ring.shut_down();
                let mut items = Vec::with_capacity(ring.len());
                // Puts that claimed a slot before the shutdown finish first:
                // `pop` waits for them.
                while let Ok(item) = ring.pop() {
                    items.push(item);
                }
                items
            }
            FifoItems::Locked(locked) => locked.drain(),
        }
    }
}

/// Items in a sequential [`Store`] behind a mutex, with a copy of their
/// number and the shutdown flag readable without it.
#[doc(hidden)]
pub struct Locked<S> {
    state: Mutex<(S, bool)>,
    /// How many items the store holds, plus [`SHUT`] once shut down: written
    /// under the mutex whenever either changes, so that `len` and
    /// `is_shut_down` need no lock, and a spinning blocking call (`spin.rs`)
    /// retries only when its attempt may succeed instead of taking the mutex
    /// the other side needs.
    hint: AtomicUsize,
    maxsize: Option<usize>,
}

impl<S> std::fmt::Debug for Locked<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hint = self.hint.load(Ordering::Relaxed);
        f.debug_struct("Locked")
            .field("len", &(hint & !SHUT))
            .field("shut_down", &(hint & SHUT != 0))
            .finish()
    }
}

/// The shutdown bit of [`Locked::hint`]: no store holds that many items (a
/// `Vec` of `isize::MAX` one-byte items would fill the address space; of
/// zero-sized items, would take centuries to fill).
const SHUT: usize = 1 << (usize::BITS - 1);

impl<S> Locked<S> {
    #[inline]
    fn publish<T>(&self, store: &S, shut: bool)
    where
        S: Store<T>,
    {
        let shut = if shut { SHUT } else { 0 };
        self.hint.store(store.len() | shut, Ordering::Release);
    }
}

impl<T, S: Store<T>> Items<T> for Locked<S> {
    fn new(maxsize: Option<usize>) -> Self {
        Locked {
            state: Mutex::new((S::default(), false)),
            hint: AtomicUsize::new(0),
            maxsize,
        }
    }
    fn push(&self, item: T) -> Result<(), Refused<T>> {
        let mut state = self.state.lock();
        let (store, shut) = &mut *state;
        if *shut {
            return Err(Refused::Shut(item));
        }
        if self.maxsize.is_some_and(|maxsize| store.len() >= maxsize) {
            return Err(Refused::Full(item));
        }
        store.push(item);
        self.publish(store, false);
        Ok(())
    }
    fn pop(&self) -> Result<T, Nothing> {
        let mut state = self.state.lock();
        let (store, shut) = &mut *state;
        match store.pop() {
            Some(item) => {
                self.publish(store, *shut);
                Ok(item)
            }
            None if *shut => Err(Nothing::Shut),
            None => Err(Nothing::Empty),
        }
    }
    fn len(&self) -> usize {
        self.hint.load(Ordering::Acquire) & !SHUT
    }
    fn shut_down(&self) {
        let mut state = self.state.lock();
        state.1 = true;
        self.publish(&state.0, true);
    }
    fn is_shut_down(&self) -> bool {
        self.hint.load(Ordering::Acquire) & SHUT != 0
    }
    fn drain(&self) -> Vec<T> {
        let mut state = self.state.lock();
        state.1 = true;
        let items = state.0.drain();
        self.publish(&state.0, true);
        items
    }
}

impl<T> Store<T> for VecDeque<T> {
    fn push(&mut self, item: T) {
        self.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
    fn drain(&mut self) -> Vec<T> {
        VecDeque::drain(self, ..).collect()
    }
}

/// A LIFO queue's items: a stack.
#[doc(hidden)]
#[derive(Debug)]
pub struct LifoStore<T>(Vec<T>);

impl<T> Default for LifoStore<T> {
    fn default() -> Self {
        LifoStore(Vec::new())
    }
}

impl<T> Store<T> for LifoStore<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn drain(&mut self) -> Vec<T> {
        let mut items = std::mem::take(&mut self.0);
        items.reverse();
        items
    }
}

impl<T: Ord> Store<T> for PriorityStore<T> {
    fn push(&mut self, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Ranked { item, seq }));
    }
    fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|Reverse(ranked)| ranked.item)
    }
    fn len(&self) -> usize {
        self.heap.len()
    }
    fn drain(&mut self) -> Vec<T> {
        std::mem::take(&mut self.heap)
            .into_sorted_vec()
            .into_iter()
            .rev()
            .map(|Reverse(ranked)| ranked.item)
            .collect()
    }
}

/// A priority queue's items: a min-heap of items ranked by value, then by
/// the order they were put, so that equal items come out first in, first
/// out (Python's heap-based `PriorityQueue` makes no such promise; entries
/// usually carry a counter for it).
#[doc(hidden)]
pub struct PriorityStore<T> {
    heap: BinaryHeap<Reverse<Ranked<T>>>,
    next_seq: u64,
}

impl<T> std::fmt::Debug for PriorityStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriorityStore")
            .field("len", &self.heap.len())
            .finish_non_exhaustive()
    }
}

impl<T: Ord> Default for PriorityStore<T> {
    fn default() -> Self {
        PriorityStore {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

/// An item and its place in the order of puts.
struct Ranked<T> {
    item: T,
    seq: u64,
}

impl<T: Ord> Ord for Ranked<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.item.cmp(&other.item).then(self.seq.cmp(&other.seq))
    }
}

impl<T: Ord> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> PartialEq for Ranked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl<T: Ord> Eq for Ranked<T> {}
