//! A queue's items as a `futures::Stream`: borrowed ([`QueueStream`]) or
//! owning an `Arc` of the queue ([`OwnedQueueStream`]).

use std::fmt;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::ops::GetWait;
use super::{OrderedQueue, QueueOrder};
use crate::wait::{Wakeup, coop};

/// What both streams are: a `get` after another, over the queue behind `Q`.
struct Items<Q> {
    queue: Q,
    wait: GetWait,
    ended: bool,
}

impl<Q> Items<Q> {
    fn new(queue: Q) -> Self {
        Items {
            queue,
            wait: GetWait::new(),
            ended: false,
        }
    }

    fn poll_next<T, O>(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>>
    where
        Q: Deref<Target = OrderedQueue<T, O>>,
        O: QueueOrder<T>,
    {
        if self.ended {
            return Poll::Ready(None);
        }
        let budget = std::task::ready!(coop::poll_budget(cx));
        let next = std::task::ready!(self.wait.poll(&self.queue, Wakeup::Task(cx.waker())));
        budget.made_progress();
        match next {
            Ok(item) => Poll::Ready(Some(item)),
            // Only "shut down and empty" can end a `get` that waits.
            Err(_) => {
                self.ended = true;
                Poll::Ready(None)
            }
        }
    }
}

/// The items of a queue as a [`Stream`], from [`OrderedQueue::stream`]; it
/// ends once the queue is shut down and empty.
///
/// Cancel safe like [`get`](OrderedQueue::get): dropping the stream, or a
/// `next()` future, takes no item, and passes on a wake-up it had received.
/// Between items the stream waits for nothing; while a `next()` is pending it
/// holds a place among the getters, like a pending `get()`.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// # futures::executor::block_on(async {
/// let queue = ambisync::Queue::unbounded();
/// queue.try_put("a").unwrap();
/// let mut stream = queue.stream();
/// assert_eq!(stream.next().await, Some("a"));
/// queue.shutdown();
/// assert_eq!(stream.next().await, None);
/// # });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct QueueStream<'a, T, O: QueueOrder<T>> {
    items: Items<&'a OrderedQueue<T, O>>,
}

impl<'a, T, O: QueueOrder<T>> QueueStream<'a, T, O> {
    pub(super) fn new(queue: &'a OrderedQueue<T, O>) -> Self {
        QueueStream {
            items: Items::new(queue),
        }
    }
}

// Nothing is pinned: the waiting state is a ticket.
impl<T, O: QueueOrder<T>> Unpin for QueueStream<'_, T, O> {}

impl<T, O: QueueOrder<T>> Stream for QueueStream<'_, T, O> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.items.poll_next(cx)
    }
}

impl<T, O: QueueOrder<T>> Drop for QueueStream<'_, T, O> {
    fn drop(&mut self) {
        self.items.wait.cancel(self.items.queue);
    }
}

impl<T, O: QueueOrder<T>> fmt::Debug for QueueStream<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream")
            .field("queue", &self.items.queue)
            .field("ended", &self.items.ended)
            .finish()
    }
}

/// A queue's items as a [`Stream`] that owns an `Arc` of the queue, from
/// [`OrderedQueue::stream_owned`]: it can be built outside a task and moved
/// into `tokio::spawn`. Otherwise as [`QueueStream`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use futures::StreamExt;
/// # futures::executor::block_on(async {
/// let queue = Arc::new(ambisync::Queue::unbounded());
/// queue.try_put(1).unwrap();
/// queue.shutdown();
/// let items: Vec<i32> = queue.stream_owned().collect().await;
/// assert_eq!(items, [1]);
/// # });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct OwnedQueueStream<T, O: QueueOrder<T>> {
    items: Items<Arc<OrderedQueue<T, O>>>,
}

impl<T, O: QueueOrder<T>> OwnedQueueStream<T, O> {
    pub(super) fn new(queue: Arc<OrderedQueue<T, O>>) -> Self {
        OwnedQueueStream {
            items: Items::new(queue),
        }
    }

    /// The queue the items come from.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let queue: Arc<ambisync::Queue<u8>> = Arc::new(ambisync::Queue::unbounded());
    /// let stream = queue.stream_owned();
    /// assert!(Arc::ptr_eq(stream.queue(), &queue));
    /// ```
    pub fn queue(&self) -> &Arc<OrderedQueue<T, O>> {
        &self.items.queue
    }
}

// Nothing is pinned: the waiting state is a ticket.
impl<T, O: QueueOrder<T>> Unpin for OwnedQueueStream<T, O> {}

impl<T, O: QueueOrder<T>> Stream for OwnedQueueStream<T, O> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.items.poll_next(cx)
    }
}

impl<T, O: QueueOrder<T>> Drop for OwnedQueueStream<T, O> {
    fn drop(&mut self) {
        self.items.wait.cancel(&self.items.queue);
    }
}

impl<T, O: QueueOrder<T>> fmt::Debug for OwnedQueueStream<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedQueueStream")
            .field("queue", &self.items.queue)
            .field("ended", &self.items.ended)
            .finish()
    }
}
