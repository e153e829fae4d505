//! The three orders a queue can hand out its items in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

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
    type Store: Default;
    #[doc(hidden)]
    fn push(store: &mut Self::Store, item: T);
    #[doc(hidden)]
    fn pop(store: &mut Self::Store) -> Option<T>;
    #[doc(hidden)]
    fn len(store: &Self::Store) -> usize;
    /// Empties the store, in the order `pop` would have returned the items.
    #[doc(hidden)]
    fn drain(store: &mut Self::Store) -> Vec<T> {
        let mut items = Vec::with_capacity(Self::len(store));
        while let Some(item) = Self::pop(store) {
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
    type Store = VecDeque<T>;
    fn push(store: &mut VecDeque<T>, item: T) {
        store.push_back(item);
    }
    fn pop(store: &mut VecDeque<T>) -> Option<T> {
        store.pop_front()
    }
    fn len(store: &VecDeque<T>) -> usize {
        store.len()
    }
    fn drain(store: &mut VecDeque<T>) -> Vec<T> {
        store.drain(..).collect()
    }
}

impl<T> QueueOrder<T> for Lifo {
    type Store = Vec<T>;
    fn push(store: &mut Vec<T>, item: T) {
        store.push(item);
    }
    fn pop(store: &mut Vec<T>) -> Option<T> {
        store.pop()
    }
    fn len(store: &Vec<T>) -> usize {
        store.len()
    }
    fn drain(store: &mut Vec<T>) -> Vec<T> {
        let mut items = std::mem::take(store);
        items.reverse();
        items
    }
}

impl<T: Ord> QueueOrder<T> for Priority {
    type Store = PriorityStore<T>;
    fn push(store: &mut PriorityStore<T>, item: T) {
        let seq = store.next_seq;
        store.next_seq += 1;
        store.heap.push(Reverse(Ranked { item, seq }));
    }
    fn pop(store: &mut PriorityStore<T>) -> Option<T> {
        store.heap.pop().map(|Reverse(ranked)| ranked.item)
    }
    fn len(store: &PriorityStore<T>) -> usize {
        store.heap.len()
    }
    fn drain(store: &mut PriorityStore<T>) -> Vec<T> {
        std::mem::take(&mut store.heap)
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
