//! [`Timer`]: run something after a delay unless cancelled first (Python
//! `threading.Timer`).

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;

use std::task::{Context, Poll};
use std::time::Duration;

use crate::wait::sync::{Mutex, MutexGuard};
use crate::wait::{
    LazyList, PassOn, Retry, Timed, WaitOp, Waiting, Wakeup, block_on, block_on_untimed,
    deadline_after,
};

enum Stage<T> {
    /// The delay is running; `cancel` still stops the call.
    Waiting,
    /// The call began; it can no longer be cancelled.
    Running,
    /// The call returned; the value waits for the first `join`.
    Finished(Option<T>),
    /// The call panicked; the first `join` resumes the panic.
    Panicked(Option<Box<dyn Any + Send>>),
    /// Cancelled before the call began.
    Cancelled,
}

struct Shared<T> {
    stage: Mutex<Stage<T>>,
    /// Woken on every change of stage: the delay waits here for a
    /// cancellation, joiners for the end.
    waiters: LazyList,
}

impl<T> Shared<T> {
    fn stage(&self) -> MutexGuard<'_, Stage<T>> {
        self.stage.lock()
    }

    fn set(&self, stage: Stage<T>) {
        *self.stage() = stage;
        self.changed();
    }

    /// Wakes everybody waiting: the stage changed.
    fn changed(&self) {
        if let Some(list) = self.waiters.get() {
            if list.anybody_waiting() {
                list.wake_all();
            }
        }
    }

    fn cancelled(&self) -> Option<()> {
        matches!(*self.stage(), Stage::Cancelled).then_some(())
    }

    /// Moves from waiting to running; `false` if it was cancelled first.
    fn begin(&self) -> bool {
        let mut stage = self.stage();
        if matches!(*stage, Stage::Waiting) {
            *stage = Stage::Running;
            true
        } else {
            false
        }
    }

    fn finish(&self, outcome: Result<T, Box<dyn Any + Send>>) {
        self.set(match outcome {
            Ok(value) => Stage::Finished(Some(value)),
            Err(panic) => Stage::Panicked(Some(panic)),
        });
    }

    /// The outcome for a joiner once there is one: the value for the first
    /// joiner, `None` for later ones and after a cancel.
    fn try_join(&self) -> Option<Option<T>> {
        let mut stage = self.stage();
        match &mut *stage {
            Stage::Waiting | Stage::Running => None,
            Stage::Finished(value) => Some(value.take()),
            Stage::Cancelled => Some(None),
            Stage::Panicked(panic) => match panic.take() {
                Some(panic) => {
                    drop(stage);
                    resume_unwind(panic)
                }
                None => Some(None),
            },
        }
    }
}

/// A call scheduled after a delay, which [`cancel`](Timer::cancel) stops if it
/// has not begun.
///
/// [`Timer::after`] runs a future on tokio; [`Timer::after_blocking`] runs a
/// closure on its own OS thread. Either way [`join`](Timer::join) (in all its
/// forms) waits for the outcome: the call's value, or `None` if it was
/// cancelled. The value goes to the first join; later joins get `None`. If the
/// call panics, the first join panics with the same payload.
///
/// Dropping a `Timer` does not cancel it (as in Python, the call still runs).
///
/// ```
/// use std::time::Duration;
/// use ambisync::Timer;
///
/// # #[tokio::main] async fn main() {
/// let reminder = Timer::after(Duration::from_millis(10), async { "tea is ready" });
/// assert_eq!(reminder.join().await, Some("tea is ready"));
///
/// let never = Timer::after(Duration::from_secs(3600), async { "too late" });
/// assert!(never.cancel());
/// assert_eq!(never.join().await, None);
/// # }
/// ```
pub struct Timer<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Timer<T> {
    /// Runs `fut` on tokio after `delay`, unless cancelled first.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns a task).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let timer = ambisync::Timer::after(Duration::from_millis(1), async { 6 * 7 });
    /// assert_eq!(timer.join().await, Some(42));
    /// # }
    /// ```
    pub fn after<F>(delay: Duration, fut: F) -> Timer<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            stage: Mutex::new(Stage::Waiting),
            waiters: LazyList::new(),
        });
        let task = Arc::clone(&shared);
        // If the runtime drops this task (it shut down) before the call
        // returned, the guard ends the timer so that joiners do not wait forever.
        let guard = EndIfDropped(Arc::clone(&shared));
        tokio::spawn(async move {
            let _guard = guard;
            let cancelled = Timed::new(Until::new(&task, Shared::cancelled), delay);
            if cancelled.await.is_some() || !task.begin() {
                return;
            }
            let outcome = CatchUnwind(Box::pin(fut)).await;
            task.finish(outcome);
        });
        Timer { shared }
    }

    /// Runs `f` on a new OS thread after `delay`, unless cancelled first.
    /// Needs no runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// let timer = ambisync::Timer::after_blocking(Duration::from_millis(1), || "done");
    /// assert_eq!(timer.join_blocking(), Some("done"));
    /// ```
    pub fn after_blocking<F>(delay: Duration, f: F) -> Timer<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let shared = Arc::new(Shared {
            stage: Mutex::new(Stage::Waiting),
            waiters: LazyList::new(),
        });
        let deadline = deadline_after(delay);
        let thread = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("ambisync-timer".into())
            .spawn(move || {
                let cancelled = block_on(
                    Until::new(&thread, Shared::cancelled),
                    deadline,
                    "Timer::after_blocking",
                );
                if cancelled.is_some() || !thread.begin() {
                    return;
                }
                let outcome = catch_unwind(AssertUnwindSafe(f));
                thread.finish(outcome);
            })
            .expect("failed to spawn the timer thread");
        Timer { shared }
    }
}

impl<T> Timer<T> {
    /// Stops the call if it has not begun; `true` if it did. Cancelling a
    /// call that already began (or ended) changes nothing and returns `false`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let timer = ambisync::Timer::after_blocking(Duration::from_secs(3600), || ());
    /// assert!(timer.cancel());
    /// assert!(!timer.cancel()); // already cancelled
    /// ```
    pub fn cancel(&self) -> bool {
        let mut stage = self.shared.stage();
        if !matches!(*stage, Stage::Waiting) {
            return false;
        }
        *stage = Stage::Cancelled;
        drop(stage);
        self.shared.changed();
        true
    }

    /// Whether nothing more will happen: the call ended, or was cancelled.
    ///
    /// ```
    /// use std::time::Duration;
    /// let timer = ambisync::Timer::after_blocking(Duration::from_millis(1), || ());
    /// timer.join_blocking();
    /// assert!(timer.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        !matches!(*self.shared.stage(), Stage::Waiting | Stage::Running)
    }

    /// Whether it was cancelled before the call began.
    ///
    /// ```
    /// use std::time::Duration;
    /// let timer = ambisync::Timer::after_blocking(Duration::from_secs(3600), || ());
    /// timer.cancel();
    /// assert!(timer.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(*self.shared.stage(), Stage::Cancelled)
    }

    /// Waits for the outcome: the call's value, or `None` if it was cancelled
    /// (or another join took the value).
    ///
    /// # Panics
    ///
    /// If the call panicked, the first join resumes that panic.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let timer = ambisync::Timer::after(Duration::from_millis(1), async { 1 });
    /// assert_eq!(timer.join().await, Some(1));
    /// assert_eq!(timer.join().await, None); // the value went to the first join
    /// # }
    /// ```
    pub fn join(&self) -> impl Future<Output = Option<T>> {
        Waiting::new(self.join_op())
    }

    fn join_op(&self) -> Until<'_, T, Option<T>> {
        Until::new(&self.shared, Shared::try_join)
    }

    /// [`join`](Timer::join) for at most `timeout`; `None` also when it timed
    /// out (tell by [`is_finished`](Timer::is_finished)); the value then stays
    /// for a later join.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`join`](Timer::join).
    ///
    /// # Panics
    ///
    /// As [`join`](Timer::join), and outside a tokio runtime with its timer
    /// enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let timer = ambisync::Timer::after(Duration::from_secs(3600), async { 1 });
    /// assert_eq!(timer.join_timeout(Duration::from_millis(5)).await, None);
    /// assert!(!timer.is_finished());
    /// # timer.cancel();
    /// # }
    /// ```
    #[track_caller]
    pub fn join_timeout(&self, timeout: Duration) -> impl Future<Output = Option<T>> {
        let joining = Timed::new(self.join_op(), timeout);
        async move { joining.await.flatten() }
    }

    /// [`join`](Timer::join), blocking the thread.
    ///
    /// # Panics
    ///
    /// As [`join`](Timer::join); and when called on a thread that runs a
    /// tokio runtime (use [`join`](Timer::join) there).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let timer = ambisync::Timer::after_blocking(Duration::from_millis(1), || 'x');
    /// assert_eq!(timer.join_blocking(), Some('x'));
    /// ```
    #[track_caller]
    pub fn join_blocking(&self) -> Option<T> {
        block_on_untimed(self.join_op(), "join_blocking")
    }

    /// [`join_timeout`](Timer::join_timeout), blocking the thread; needs no
    /// runtime.
    ///
    /// # Panics
    ///
    /// As [`join_blocking`](Timer::join_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let timer = ambisync::Timer::after_blocking(Duration::from_secs(3600), || ());
    /// assert_eq!(timer.join_timeout_blocking(Duration::from_millis(5)), None);
    /// # timer.cancel();
    /// ```
    #[track_caller]
    pub fn join_timeout_blocking(&self, timeout: Duration) -> Option<T> {
        block_on(
            self.join_op(),
            deadline_after(timeout),
            "join_timeout_blocking",
        )
        .flatten()
    }
}

/// Waits until `check` finds something in the shared stage: a cancellation
/// (for the delay), or the outcome (for a join). Woken at every change.
struct Until<'a, T, U> {
    shared: &'a Shared<T>,
    check: fn(&Shared<T>) -> Option<U>,
    retry: Retry,
}

impl<'a, T, U> Until<'a, T, U> {
    fn new(shared: &'a Shared<T>, check: fn(&Shared<T>) -> Option<U>) -> Self {
        Until {
            shared,
            check,
            retry: Retry::new(PassOn::Nothing),
        }
    }
}

impl<T, U> WaitOp for Until<'_, T, U> {
    type Output = U;

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<U> {
        let (shared, check) = (self.shared, self.check);
        self.retry
            .poll(shared.waiters.get_or_init(), wakeup, || check(shared))
    }

    /// One last look at the deadline.
    fn expire(&mut self) -> Poll<Option<U>> {
        let found = (self.check)(self.shared);
        self.retry.cancel(self.shared.waiters.get_or_init());
        Poll::Ready(found)
    }

    fn woken(&self) -> bool {
        self.retry.woken(self.shared.waiters.get_or_init())
    }
}

impl<T, U> Drop for Until<'_, T, U> {
    fn drop(&mut self) {
        if let Some(list) = self.shared.waiters.get() {
            self.retry.cancel(list);
        }
    }
}

impl<T> fmt::Debug for Timer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match *self.shared.stage() {
            Stage::Waiting => "waiting",
            Stage::Running => "running",
            Stage::Finished(Some(_)) => "finished",
            Stage::Finished(None) => "finished (joined)",
            Stage::Panicked(_) => "panicked",
            Stage::Cancelled => "cancelled",
        };
        f.debug_struct("Timer").field("stage", &stage).finish()
    }
}

/// Ends a timer whose task was dropped before its call returned: `Cancelled`
/// if the call never began, `Finished(None)` if it was running; joiners get
/// `None`. Does nothing once the timer ended normally.
struct EndIfDropped<T>(Arc<Shared<T>>);

impl<T> Drop for EndIfDropped<T> {
    fn drop(&mut self) {
        let mut stage = self.0.stage();
        *stage = match *stage {
            Stage::Waiting => Stage::Cancelled,
            Stage::Running => Stage::Finished(None),
            _ => return,
        };
        drop(stage);
        self.0.changed();
    }
}

/// Runs a future, turning a panic in it into an `Err` (so a panicking timer
/// call reaches its joiner instead of leaving it waiting forever).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
