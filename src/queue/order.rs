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
/// in [`std::cmp::Reverse`] for largest first.
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
    type Store = BinaryHeap<Reverse<T>>;
    fn push(store: &mut BinaryHeap<Reverse<T>>, item: T) {
        store.push(Reverse(item));
    }
    fn pop(store: &mut BinaryHeap<Reverse<T>>) -> Option<T> {
        store.pop().map(|Reverse(item)| item)
    }
    fn len(store: &BinaryHeap<Reverse<T>>) -> usize {
        store.len()
    }
    fn drain(store: &mut BinaryHeap<Reverse<T>>) -> Vec<T> {
        std::mem::take(store)
            .into_sorted_vec()
            .into_iter()
            .rev()
            .map(|Reverse(item)| item)
            .collect()
    }
}
