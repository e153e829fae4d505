//! [`QueueStream`]: a queue's items as a `futures::Stream`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures_core::Stream;

use super::{OrderedQueue, QueueOrder, Side};
use crate::core::WaiterCount;

/// The items of a queue as a [`Stream`], from
/// [`OrderedQueue::stream`]; it ends once the queue is shut down and empty.
///
/// Cancel safe like [`get`](OrderedQueue::get): dropping the stream, or a
/// `next()` future, takes no item.
///
/// A stream that waited keeps listening between `next()` calls, so a wake-up
/// for a new item may go to it rather than to a waiting `get()`. A stream that
/// is kept but no longer polled (say, after its `next()` lost a `select!`)
/// holds that wake-up until it is polled or dropped: drop streams you stop
/// polling, or use [`get`](OrderedQueue::get) in `select!` loops.
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
    queue: &'a OrderedQueue<T, O>,
    /// Counted as a waiting getter while it waits for an item.
    registered: bool,
    listener: Option<EventListener>,
    ended: bool,
}

impl<'a, T, O: QueueOrder<T>> QueueStream<'a, T, O> {
    pub(super) fn new(queue: &'a OrderedQueue<T, O>) -> Self {
        QueueStream {
            queue,
            registered: false,
            listener: None,
            ended: false,
        }
    }

    /// Takes the next item or the end; stops counting the stream as a waiting
    /// getter when it gets either (between items it waits for nothing).
    fn take(&mut self) -> Option<Option<T>> {
        let next = match self.queue.take()? {
            Ok(item) => Some(item),
            Err(_) => {
                self.ended = true;
                None
            }
        };
        self.unregister();
        Some(next)
    }

    fn unregister(&mut self) {
        if std::mem::take(&mut self.registered) {
            self.queue.waiters(Side::Getters).unregister();
        }
    }
}

// No field is structurally pinned: the listener is boxed by event-listener.
impl<T, O: QueueOrder<T>> Unpin for QueueStream<'_, T, O> {}

impl<T, O: QueueOrder<T>> Stream for QueueStream<'_, T, O> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        std::task::ready!(crate::core::coop::poll_proceed(cx));
        loop {
            if let Some(listener) = this.listener.as_mut() {
                match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => this.listener = None,
                    Poll::Pending => return Poll::Pending,
                }
            }
            if let Some(next) = this.take() {
                return Poll::Ready(next);
            }
            if !this.registered {
                this.queue.waiters(Side::Getters).register();
                this.registered = true;
            }
            // Listen, then check again: an item put in between is seen by the
            // check, or its notification reaches the listener.
            this.listener = Some(this.queue.not_empty.listen());
            if let Some(next) = this.take() {
                // A notification the listener may have caught passes on when
                // it drops.
                this.listener = None;
                return Poll::Ready(next);
            }
        }
    }
}

impl<T, O: QueueOrder<T>> Drop for QueueStream<'_, T, O> {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl<T, O: QueueOrder<T>> fmt::Debug for QueueStream<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream")
            .field("queue", &self.queue)
            .field("ended", &self.ended)
            .finish()
    }
}
