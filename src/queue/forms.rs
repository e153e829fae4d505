//! The public forms of the queue's waiting operations: `put`, `get` and
//! `join`, each in five forms derived from one operation of `ops.rs`, and the
//! items as a stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ops::{Get, Join, Put};
use super::spin::retry_with_backoff;
use super::{OrderedQueue, OwnedQueueStream, QueueOrder, QueueStream};
use crate::error::{GetError, PutError};
#[cfg(feature = "tokio")]
use crate::wait::{MapOutput, Timed};
use crate::wait::{Waiting, block_on, block_on_untimed, deadline_after, runtime};

/// Why a timed `put` always has a result: at the deadline it gives its item
/// back in [`PutError::Timeout`].
const HANDS_BACK: &str = "a put hands its item back at the deadline";

impl<T, O: QueueOrder<T>> OrderedQueue<T, O> {
    /// Puts `item`, waiting for room as long as it takes.
    ///
    /// # Errors
    ///
    /// [`PutError::ShutDown`] with the item, if the queue is or gets shut
    /// down (the only error this form returns).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped future either delivered its item or did not
    /// (then the item is dropped with the future), and a wake-up it had
    /// received goes to the next putter.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let queue = ambisync::Queue::bounded(1);
    /// queue.put("job").await.unwrap();
    /// assert_eq!(queue.len(), 1);
    /// # });
    /// ```
    pub fn put(&self, item: T) -> impl Future<Output = Result<(), PutError<T>>> {
        Waiting::new(Put::new(self, item))
    }

    /// Puts `item`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`PutError::Timeout`] or [`PutError::ShutDown`], with the item.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`put`](OrderedQueue::put).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
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
    #[track_caller]
    pub fn put_timeout(
        &self,
        item: T,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), PutError<T>>> {
        let putting = Timed::new(Put::new(self, item), timeout);
        MapOutput::new(putting, |out: Option<_>| out.expect(HANDS_BACK))
    }

    /// Puts `item` if there is room right now.
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] or [`PutError::ShutDown`], with the item.
    ///
    /// # Examples
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
    /// # Errors
    ///
    /// As [`put`](OrderedQueue::put).
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, when called on a thread that runs a tokio
    /// runtime (use [`put`](OrderedQueue::put) there): always in debug
    /// builds, when it would have to wait in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = ambisync::Queue::bounded(1);
    /// queue.put_blocking(1).unwrap();
    /// assert_eq!(queue.get_blocking(), Ok(1));
    /// ```
    #[track_caller]
    pub fn put_blocking(&self, item: T) -> Result<(), PutError<T>> {
        self.put_blocking_until(item, None, "put_blocking")
    }

    /// The blocking puts: try, spin a little (see `spin.rs`), then wait in
    /// line until `deadline` (`None`: as long as it takes).
    #[track_caller]
    fn put_blocking_until(
        &self,
        item: T,
        deadline: Option<Instant>,
        method: &'static str,
    ) -> Result<(), PutError<T>> {
        runtime::debug_assert_may_block(method);
        let mut slot = Some(item);
        if let Some(done) = self.put_from(&mut slot) {
            return done;
        }
        // A thread that drives tasks spins too before `block_on` refuses to
        // wait there (a microsecond before the panic): checking here as well
        // would probe tokio twice per wait on `spawn_blocking` threads.
        if let Some(done) = retry_with_backoff(deadline, || {
            if self.may_put() {
                self.put_from(&mut slot)
            } else {
                None
            }
        }) {
            return done;
        }
        let item = slot
            .take()
            .expect("a put that did not go through keeps its item");
        block_on(Put::new(self, item), deadline, method).expect(HANDS_BACK)
    }

    /// [`put_timeout`](OrderedQueue::put_timeout), blocking the thread; needs
    /// no runtime.
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](OrderedQueue::put_timeout).
    ///
    /// # Panics
    ///
    /// As [`put_blocking`](OrderedQueue::put_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let queue = ambisync::Queue::bounded(1);
    /// queue.put_blocking(1).unwrap();
    /// assert!(queue.put_timeout_blocking(2, Duration::from_millis(5)).is_err());
    /// ```
    #[track_caller]
    pub fn put_timeout_blocking(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_blocking_until(item, deadline_after(timeout), "put_timeout_blocking")
    }

    /// Takes the next item, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`GetError::ShutDown`] once the queue is shut down and empty (the
    /// only error this form returns: every form of `get` shares
    /// [`GetError`], Python's `Empty` and `ShutDown` in one type, so that `?`
    /// and `match` work the same on all of them).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped future took nothing and never reorders the
    /// queue; a wake-up it had received (for an item) goes to the next
    /// getter.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(5).unwrap();
    /// assert_eq!(queue.get().await, Ok(5));
    /// # });
    /// ```
    pub fn get(&self) -> impl Future<Output = Result<T, GetError>> {
        Waiting::new(Get::new(self))
    }

    /// Takes the next item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`GetError::Timeout`], or [`GetError::ShutDown`] once shut down and
    /// empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`get`](OrderedQueue::get).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
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
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> impl Future<Output = Result<T, GetError>> {
        let getting = Timed::new(Get::new(self), timeout);
        MapOutput::new(getting, |out: Option<_>| {
            out.unwrap_or(Err(GetError::Timeout))
        })
    }

    /// Takes the next item if there is one right now.
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`], or [`GetError::ShutDown`] once shut down and empty.
    ///
    /// # Examples
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
    /// # Errors
    ///
    /// As [`get`](OrderedQueue::get).
    ///
    /// # Panics
    ///
    /// As [`put_blocking`](OrderedQueue::put_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put('x').unwrap();
    /// assert_eq!(queue.get_blocking(), Ok('x'));
    /// ```
    #[track_caller]
    pub fn get_blocking(&self) -> Result<T, GetError> {
        self.get_blocking_until(None, "get_blocking")
            .expect("a get without a deadline cannot time out")
    }

    /// The blocking gets: try, spin a little (see `spin.rs`), then wait in
    /// line until `deadline` (`None`: as long as it takes); `None` if it
    /// passed.
    #[track_caller]
    fn get_blocking_until(
        &self,
        deadline: Option<Instant>,
        method: &'static str,
    ) -> Option<Result<T, GetError>> {
        runtime::debug_assert_may_block(method);
        if let Some(done) = self.take() {
            return Some(done);
        }
        // A thread that drives tasks spins too before `block_on` refuses to
        // wait there (a microsecond before the panic): checking here as well
        // would probe tokio twice per wait on `spawn_blocking` threads.
        if let Some(done) =
            retry_with_backoff(
                deadline,
                || if self.may_take() { self.take() } else { None },
            )
        {
            return Some(done);
        }
        block_on(Get::new(self), deadline, method)
    }

    /// [`get_timeout`](OrderedQueue::get_timeout), blocking the thread; needs
    /// no runtime.
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](OrderedQueue::get_timeout).
    ///
    /// # Panics
    ///
    /// As [`put_blocking`](OrderedQueue::put_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{GetError, Queue};
    /// let queue: Queue<u8> = Queue::unbounded();
    /// assert_eq!(queue.get_timeout_blocking(Duration::from_millis(5)), Err(GetError::Timeout));
    /// ```
    #[track_caller]
    pub fn get_timeout_blocking(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_blocking_until(deadline_after(timeout), "get_timeout_blocking")
            .unwrap_or(Err(GetError::Timeout))
    }

    /// Waits until every item ever put has been marked done with
    /// [`task_done`](OrderedQueue::task_done).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped future just stops waiting.
    ///
    /// # Examples
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
    pub fn join(&self) -> impl Future<Output = ()> {
        Waiting::new(Join::new(self))
    }

    /// [`join`](OrderedQueue::join) for at most `timeout`; `true` if every
    /// item was done.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`join`](OrderedQueue::join).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
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
    #[track_caller]
    pub fn join_timeout(&self, timeout: Duration) -> impl Future<Output = bool> {
        let joining = Timed::new(Join::new(self), timeout);
        MapOutput::new(joining, |out: Option<()>| out.is_some())
    }

    /// Whether every item put so far was marked done, without waiting
    /// (the `try_` form of [`join`](OrderedQueue::join)).
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = ambisync::Queue::unbounded();
    /// assert!(queue.try_join());
    /// queue.try_put(1).unwrap();
    /// assert!(!queue.try_join());
    /// ```
    pub fn try_join(&self) -> bool {
        self.all_done().is_some()
    }

    /// [`join`](OrderedQueue::join), blocking the thread.
    ///
    /// # Panics
    ///
    /// As [`put_blocking`](OrderedQueue::put_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let queue: ambisync::Queue<u8> = ambisync::Queue::unbounded();
    /// queue.join_blocking(); // nothing was put
    /// ```
    #[track_caller]
    pub fn join_blocking(&self) {
        block_on_untimed(Join::new(self), "join_blocking");
    }

    /// [`join_timeout`](OrderedQueue::join_timeout), blocking the thread;
    /// needs no runtime.
    ///
    /// # Panics
    ///
    /// As [`put_blocking`](OrderedQueue::put_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let queue = ambisync::Queue::unbounded();
    /// queue.try_put(1).unwrap();
    /// assert!(!queue.join_timeout_blocking(Duration::from_millis(5)));
    /// ```
    #[track_caller]
    pub fn join_timeout_blocking(&self, timeout: Duration) -> bool {
        block_on(
            Join::new(self),
            deadline_after(timeout),
            "join_timeout_blocking",
        )
        .is_some()
    }

    /// The items as a [`Stream`](futures_core::Stream): each `next()` is a
    /// [`get`](OrderedQueue::get); the stream ends once the queue is shut
    /// down and empty.
    ///
    /// # Examples
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

    /// The items as a [`Stream`](futures_core::Stream) that owns an `Arc` of
    /// the queue, to build outside a task and move into it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures::StreamExt;
    /// # #[tokio::main] async fn main() {
    /// let queue = Arc::new(ambisync::Queue::unbounded());
    /// let mut items = queue.stream_owned();
    /// let consumer = tokio::spawn(async move {
    ///     let mut sum = 0;
    ///     while let Some(n) = items.next().await {
    ///         sum += n;
    ///     }
    ///     sum
    /// });
    /// for n in 1..=4 {
    ///     queue.put(n).await.unwrap();
    /// }
    /// queue.shutdown(); // ends the stream once it is empty
    /// assert_eq!(consumer.await.unwrap(), 10);
    /// # }
    /// ```
    pub fn stream_owned(self: &Arc<Self>) -> OwnedQueueStream<T, O> {
        OwnedQueueStream::new(Arc::clone(self))
    }
}
