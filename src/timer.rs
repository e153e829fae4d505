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
    LazyList, MapOutput, PassOn, Retry, Timed, WaitOp, Waiting, Wakeup, block_on, block_on_untimed,
    deadline_after,
};

enum Stage<T> {
    /// The delay is running; `cancel` still stops the call.
    Waiting,
    /// The call began; it can no longer be cancelled.
    Running,
    /// The call returned; the value waits for the first join.
    Finished(T),
    /// The call panicked; the first join resumes the panic.
    Panicked(Box<dyn Any + Send>),
    /// A join took the value (or the panic).
    Joined,
    /// Cancelled before the call began.
    Cancelled,
    /// The runtime dropped the timer's task while the call ran (it shut
    /// down): there is no value.
    Aborted,
}

/// How a [`Timer`] ended, as its [`outcome`](Timer::outcome) forms report it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ambisync::{Timer, TimerOutcome};
///
/// let timer = Timer::after_blocking(Duration::from_secs(3600), || 1);
/// timer.cancel();
/// assert_eq!(timer.outcome_blocking(), TimerOutcome::Cancelled);
///
/// let timer = Timer::after_blocking(Duration::ZERO, || 2);
/// assert_eq!(timer.outcome_blocking(), TimerOutcome::Finished(2));
/// assert_eq!(timer.outcome_blocking(), TimerOutcome::AlreadyJoined);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerOutcome<T> {
    /// The call returned this value (given to the first join only).
    Finished(T),
    /// [`cancel`](Timer::cancel) stopped the call before it began.
    Cancelled,
    /// An earlier join took the value.
    AlreadyJoined,
    /// The tokio runtime shut down while the call ran: it never returned.
    Aborted,
}

impl<T> TimerOutcome<T> {
    /// The value, if this outcome carries it: what [`join`](Timer::join)
    /// returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use ambisync::TimerOutcome;
    /// assert_eq!(TimerOutcome::Finished(3).finished(), Some(3));
    /// assert_eq!(TimerOutcome::<u8>::Cancelled.finished(), None);
    /// ```
    pub fn finished(self) -> Option<T> {
        match self {
            TimerOutcome::Finished(value) => Some(value),
            _ => None,
        }
    }
}

struct Shared<T> {
    stage: Mutex<Stage<T>>,
    /// Woken on every change of stage: the delay waits here for a
    /// cancellation, joiners for the end.
    waiters: LazyList,
}

impl<T> Shared<T> {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            stage: Mutex::new(Stage::Waiting),
            waiters: LazyList::new(),
        })
    }

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
            Ok(value) => Stage::Finished(value),
            Err(panic) => Stage::Panicked(panic),
        });
    }

    /// The outcome for a joiner once there is one; the first joiner takes the
    /// value, or resumes the call's panic.
    fn try_outcome(&self) -> Option<TimerOutcome<T>> {
        let mut stage = self.stage();
        let outcome = match &*stage {
            Stage::Waiting | Stage::Running => return None,
            Stage::Joined => TimerOutcome::AlreadyJoined,
            Stage::Cancelled => TimerOutcome::Cancelled,
            Stage::Aborted => TimerOutcome::Aborted,
            Stage::Finished(_) | Stage::Panicked(_) => {
                match std::mem::replace(&mut *stage, Stage::Joined) {
                    Stage::Finished(value) => TimerOutcome::Finished(value),
                    Stage::Panicked(panic) => {
                        drop(stage);
                        resume_unwind(panic)
                    }
                    _ => unreachable!("matched above"),
                }
            }
        };
        Some(outcome)
    }

    fn try_join(&self) -> Option<Option<T>> {
        self.try_outcome().map(TimerOutcome::finished)
    }
}

/// A call scheduled after a delay, which [`cancel`](Timer::cancel) stops if it
/// has not begun.
///
/// - [`Timer::after_fn`] is Python's `Timer(t, f)` on tokio: the delay on
///   tokio's timer, the call on its blocking pool;
/// - [`Timer::after`] runs a future on tokio;
/// - [`Timer::after_blocking`] runs a closure on its own OS thread, no
///   runtime needed.
///
/// [`join`](Timer::join) (in all its forms) waits for the call's value; it
/// goes to the first join, and `None` means there is none for this caller.
/// [`outcome`](Timer::outcome) says why: cancelled, already joined, or the
/// runtime shut down during the call. If the call panics, the first join
/// panics with the same payload.
///
/// Dropping a `Timer` does not cancel it (as in Python, the call still runs).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ambisync::{Timer, TimerOutcome};
///
/// # #[tokio::main] async fn main() {
/// let reminder = Timer::after_fn(Duration::from_millis(10), || "tea is ready");
/// assert_eq!(reminder.join().await, Some("tea is ready"));
///
/// let never = Timer::after(Duration::from_secs(3600), async { "too late" });
/// assert!(never.cancel());
/// assert_eq!(never.outcome().await, TimerOutcome::Cancelled);
/// # }
/// ```
pub struct Timer<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Timer<T> {
    /// Runs `fut` on tokio after `delay`, unless cancelled first. For a
    /// plain function, as Python's `Timer(t, f)`, use
    /// [`after_fn`](Timer::after_fn).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns a task).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let timer = ambisync::Timer::after(Duration::from_millis(1), async { 6 * 7 });
    /// assert_eq!(timer.join().await, Some(42));
    /// # }
    /// ```
    #[track_caller]
    pub fn after<F>(delay: Duration, fut: F) -> Timer<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        Timer::spawn(delay, async move { CatchUnwind(Box::pin(fut)).await })
    }

    /// Calls `f` after `delay`, unless cancelled first: Python's
    /// `threading.Timer(t, f)` on tokio. The delay runs on tokio's timer (no
    /// thread waits for it); the call runs on tokio's blocking pool, so `f`
    /// may block, as it may in Python's timer thread.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns a task).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let greeting = ambisync::Timer::after_fn(Duration::from_millis(1), || "hello, world");
    /// assert_eq!(greeting.join().await, Some("hello, world"));
    /// # }
    /// ```
    #[track_caller]
    pub fn after_fn<F>(delay: Duration, f: F) -> Timer<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        Timer::spawn(delay, async move {
            match tokio::task::spawn_blocking(move || catch_unwind(AssertUnwindSafe(f))).await {
                Ok(outcome) => outcome,
                // The blocking pool dropped the call (the runtime shut down).
                Err(join_error) => Err(Box::new(join_error) as Box<dyn Any + Send>),
            }
        })
    }

    /// Waits out `delay` (or a cancel) in a tokio task, then runs `call`.
    #[track_caller]
    fn spawn(
        delay: Duration,
        call: impl Future<Output = Result<T, Box<dyn Any + Send>>> + Send + 'static,
    ) -> Timer<T> {
        let shared = Shared::new();
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
            let outcome = call.await;
            task.finish(outcome);
        });
        Timer { shared }
    }

    /// Runs `f` on a new OS thread after `delay`, unless cancelled first.
    /// Needs no runtime.
    ///
    /// # Examples
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
        let shared = Shared::new();
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

    /// Waits for the outcome: the call's value, or `None` if there is none
    /// for this caller: it was cancelled, another join took the value, or
    /// the runtime shut down during the call. [`outcome`](Timer::outcome)
    /// says which.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped future takes nothing; the value stays for the
    /// next join.
    ///
    /// # Panics
    ///
    /// If the call panicked, the first join resumes that panic.
    ///
    /// # Examples
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

    /// Waits for the outcome and says which it is: the value (first join
    /// only), cancelled, already joined, or aborted by a runtime shutdown.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`join`](Timer::join).
    ///
    /// # Panics
    ///
    /// If the call panicked, the first join resumes that panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ambisync::{Timer, TimerOutcome};
    /// # #[tokio::main] async fn main() {
    /// let timer = Timer::after(Duration::from_millis(1), async { 'x' });
    /// assert_eq!(timer.outcome().await, TimerOutcome::Finished('x'));
    /// assert_eq!(timer.outcome().await, TimerOutcome::AlreadyJoined);
    /// # }
    /// ```
    pub fn outcome(&self) -> impl Future<Output = TimerOutcome<T>> {
        Waiting::new(self.outcome_op())
    }

    fn outcome_op(&self) -> Until<'_, T, TimerOutcome<T>> {
        Until::new(&self.shared, Shared::try_outcome)
    }

    /// [`outcome`](Timer::outcome) for at most `timeout`; `None` if the
    /// call has not ended by then.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`join`](Timer::join).
    ///
    /// # Panics
    ///
    /// As [`outcome`](Timer::outcome), and outside a tokio runtime with its
    /// timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let timer = ambisync::Timer::after(Duration::from_secs(3600), async {});
    /// assert_eq!(timer.outcome_timeout(Duration::from_millis(5)).await, None);
    /// # timer.cancel();
    /// # }
    /// ```
    #[track_caller]
    pub fn outcome_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Option<TimerOutcome<T>>> {
        Timed::new(self.outcome_op(), timeout)
    }

    /// The outcome if the call has ended, without waiting.
    ///
    /// # Panics
    ///
    /// As [`outcome`](Timer::outcome).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let timer = ambisync::Timer::after_blocking(Duration::from_secs(3600), || ());
    /// assert_eq!(timer.try_outcome(), None);
    /// timer.cancel();
    /// assert_eq!(timer.try_outcome(), Some(ambisync::TimerOutcome::Cancelled));
    /// ```
    pub fn try_outcome(&self) -> Option<TimerOutcome<T>> {
        self.shared.try_outcome()
    }

    /// [`outcome`](Timer::outcome), blocking the thread.
    ///
    /// # Panics
    ///
    /// As [`join_blocking`](Timer::join_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let timer = ambisync::Timer::after_blocking(Duration::ZERO, || 7);
    /// assert_eq!(timer.outcome_blocking(), ambisync::TimerOutcome::Finished(7));
    /// ```
    #[track_caller]
    pub fn outcome_blocking(&self) -> TimerOutcome<T> {
        block_on_untimed(self.outcome_op(), "outcome_blocking")
    }

    /// [`outcome_timeout`](Timer::outcome_timeout), blocking the thread;
    /// needs no runtime.
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
    /// assert_eq!(timer.outcome_timeout_blocking(Duration::from_millis(5)), None);
    /// # timer.cancel();
    /// ```
    #[track_caller]
    pub fn outcome_timeout_blocking(&self, timeout: Duration) -> Option<TimerOutcome<T>> {
        block_on(
            self.outcome_op(),
            deadline_after(timeout),
            "outcome_timeout_blocking",
        )
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
        MapOutput::new(joining, Option::flatten)
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
            Stage::Finished(_) => "finished",
            Stage::Panicked(_) => "panicked",
            Stage::Joined => "finished (joined)",
            Stage::Cancelled => "cancelled",
            Stage::Aborted => "aborted",
        };
        f.debug_struct("Timer").field("stage", &stage).finish()
    }
}

/// Ends a timer whose task was dropped before its call returned: `Cancelled`
/// if the call never began, `Aborted` if it was running; joiners get
/// `None`. Does nothing once the timer ended normally.
struct EndIfDropped<T>(Arc<Shared<T>>);

impl<T> Drop for EndIfDropped<T> {
    fn drop(&mut self) {
        let mut stage = self.0.stage();
        *stage = match *stage {
            Stage::Waiting => Stage::Cancelled,
            Stage::Running => Stage::Aborted,
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
