//! The three waiting operations of a queue, each written once: `put`,
//! `get` and `join`. The public forms in `forms.rs` drive them.

use std::marker::PhantomData;
use std::ops::Deref;
use std::task::Poll;

use super::{OrderedQueue, QueueOrder, line};
use crate::error::{GetError, PutError};
use crate::wait::{PassOn, Retry, WaitOp, Wakeup};

/// One `put`: waits for room (or shutdown). A woken putter that gives up
/// passes the wake-up (a free slot) to the next putter.
pub(super) struct Put<'a, T, O: QueueOrder<T>> {
    queue: &'a OrderedQueue<T, O>,
    /// The item, until it is in the queue or handed back in an error.
    item: Option<T>,
    retry: Retry,
}

// The item is never pinned: it only moves into the queue or back out.
impl<T, O: QueueOrder<T>> Unpin for Put<'_, T, O> {}

impl<'a, T, O: QueueOrder<T>> Put<'a, T, O> {
    pub(super) fn new(queue: &'a OrderedQueue<T, O>, item: T) -> Self {
        Put {
            queue,
            item: Some(item),
            retry: Retry::new(PassOn::NextWaiter),
        }
    }
}

impl<T, O: QueueOrder<T>> WaitOp for Put<'_, T, O> {
    type Output = Result<(), PutError<T>>;

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<Self::Output> {
        let (queue, item) = (self.queue, &mut self.item);
        self.retry
            .poll(line(&queue.putters), wakeup, || queue.put_from(item))
    }

    /// One last try; else the item comes back in [`PutError::Timeout`].
    fn expire(&mut self) -> Poll<Option<Self::Output>> {
        let done = self.queue.put_from(&mut self.item);
        self.retry.cancel(line(&self.queue.putters));
        Poll::Ready(Some(done.unwrap_or_else(|| {
            Err(PutError::Timeout(
                self.item.take().expect("an unfinished put keeps its item"),
            ))
        })))
    }

    fn woken(&self) -> bool {
        self.retry.woken(line(&self.queue.putters))
    }
}

impl<T, O: QueueOrder<T>> Drop for Put<'_, T, O> {
    fn drop(&mut self) {
        if self.retry.is_waiting() {
            self.retry.cancel(line(&self.queue.putters));
        }
    }
}

/// One `get`, handed the queue on every step (so that an owned stream can
/// hold the queue's `Arc` next to it): waits for an item (or shutdown). A
/// woken getter that gives up passes the wake-up (an item) to the next.
pub(super) struct GetWait {
    retry: Retry,
}

impl GetWait {
    pub(super) fn new() -> Self {
        GetWait {
            retry: Retry::new(PassOn::NextWaiter),
        }
    }

    pub(super) fn poll<T, O: QueueOrder<T>>(
        &mut self,
        queue: &OrderedQueue<T, O>,
        wakeup: Wakeup<'_>,
    ) -> Poll<Result<T, GetError>> {
        self.retry
            .poll(line(&queue.getters), wakeup, || queue.take())
    }

    /// One last try at the deadline; `None` (out of line) if it failed.
    pub(super) fn expire<T, O: QueueOrder<T>>(
        &mut self,
        queue: &OrderedQueue<T, O>,
    ) -> Option<Result<T, GetError>> {
        let done = queue.take();
        self.cancel(queue);
        done
    }

    pub(super) fn cancel<T, O: QueueOrder<T>>(&mut self, queue: &OrderedQueue<T, O>) {
        if self.retry.is_waiting() {
            self.retry.cancel(line(&queue.getters));
        }
    }

    pub(super) fn woken<T, O: QueueOrder<T>>(&self, queue: &OrderedQueue<T, O>) -> bool {
        self.retry.woken(line(&queue.getters))
    }
}

/// One `get` of the queue behind `Q` (a reference or an `Arc`).
pub(super) struct Get<Q: Deref<Target = OrderedQueue<T, O>>, T, O: QueueOrder<T>> {
    queue: Q,
    wait: GetWait,
    _items: PhantomData<fn() -> (T, O)>,
}

impl<Q: Deref<Target = OrderedQueue<T, O>>, T, O: QueueOrder<T>> Get<Q, T, O> {
    pub(super) fn new(queue: Q) -> Self {
        Get {
            queue,
            wait: GetWait::new(),
            _items: PhantomData,
        }
    }
}

impl<Q: Deref<Target = OrderedQueue<T, O>> + Unpin, T, O: QueueOrder<T>> WaitOp for Get<Q, T, O> {
    type Output = Result<T, GetError>;

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<Self::Output> {
        self.wait.poll(&self.queue, wakeup)
    }

    fn expire(&mut self) -> Poll<Option<Self::Output>> {
        Poll::Ready(self.wait.expire(&self.queue))
    }

    fn woken(&self) -> bool {
        self.wait.woken(&self.queue)
    }
}

impl<Q: Deref<Target = OrderedQueue<T, O>>, T, O: QueueOrder<T>> Drop for Get<Q, T, O> {
    fn drop(&mut self) {
        self.wait.cancel(&self.queue);
    }
}

/// One `join`: waits until every item put is done. Woken all at once.
pub(super) struct Join<'a, T, O: QueueOrder<T>> {
    queue: &'a OrderedQueue<T, O>,
    retry: Retry,
}

impl<'a, T, O: QueueOrder<T>> Join<'a, T, O> {
    pub(super) fn new(queue: &'a OrderedQueue<T, O>) -> Self {
        Join {
            queue,
            retry: Retry::new(PassOn::Nothing),
        }
    }
}

impl<T, O: QueueOrder<T>> WaitOp for Join<'_, T, O> {
    type Output = ();

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<()> {
        let queue = self.queue;
        self.retry
            .poll(line(&queue.joiners), wakeup, || queue.all_done())
    }

    fn expire(&mut self) -> Poll<Option<()>> {
        let done = self.queue.all_done();
        self.retry.cancel(line(&self.queue.joiners));
        Poll::Ready(done)
    }

    fn woken(&self) -> bool {
        self.retry.woken(line(&self.queue.joiners))
    }
}

impl<T, O: QueueOrder<T>> Drop for Join<'_, T, O> {
    fn drop(&mut self) {
        if self.retry.is_waiting() {
            self.retry.cancel(line(&self.queue.joiners));
        }
    }
}
