//! [`Barrier`]: a cyclic meeting point with a broken state (Python `threading.Barrier`).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::task::Poll;
use std::time::Duration;

use crate::error::BrokenBarrierError;
use crate::wait::sync::{Mutex, MutexGuard};
use crate::wait::{
    LazyList, PassOn, Retry, WaitOp, Waiting, Wakeup, block_on, block_on_untimed, deadline_after,
};
#[cfg(feature = "tokio")]
use crate::wait::{MapOutput, Timed};

/// Where the barrier is in its cycle (Python's `_state`, without its
/// "draining" and "resetting" states: a round that ended keeps a record for
/// its waiters, so the next round never waits for them to leave).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Arrivals are gathering for the current round.
    Filling,
    /// The last arrival is running the action; nobody is released yet, and
    /// new arrivals wait for the next round (or fail at once if the barrier
    /// was broken meanwhile). What then happens to the round is `AfterTrip`.
    Tripping(AfterTrip),
    /// Broken until `reset()`: every wait fails at once.
    Broken,
}

/// What `abort()`, `reset()` and timeouts decided while the action ran; the
/// last call wins, as it would had the round not been tripping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterTrip {
    /// Release the round (nothing happened meanwhile).
    Release,
    /// Fail the round and fill the next one (`reset()`).
    FailThenFill,
    /// Fail the round and stay broken (`abort()`, an expired wait).
    FailThenBreak,
}

/// How a round that still has waiters to tell ended.
enum Ended {
    /// It tripped, but an arrival was withdrawn: a waiter's index is its rank
    /// among the tickets that stayed.
    Tripped { withdrawn: Vec<usize> },
    /// It broke or was reset before it tripped.
    Failed,
}

/// A round that ended while some of its waiters had not yet looked at the
/// outcome (their futures were not polled since). A round that tripped with
/// no withdrawal needs no record: each waiter's index is its ticket.
struct EndedRound {
    round: u64,
    outcome: Ended,
    /// Waiters of that round that have not looked yet; the record goes when
    /// the last one has.
    waiting: usize,
}

struct State {
    phase: Phase,
    /// The current round's number; every round that ends (trips, breaks, is
    /// reset) bumps it, and the next round starts at once.
    round: u64,
    /// Waiters of the current round that have not left.
    inside: usize,
    /// Arrival tickets of the current round, in order.
    next_ticket: usize,
    /// Tickets of arrivals withdrawn from the current round (dropped waits),
    /// so that the indexes of a round stay exactly `0..parties`.
    withdrawn: Vec<usize>,
    /// Ended rounds whose outcome some waiter still has to learn.
    ended: Vec<EndedRound>,
    /// How many rounds have tripped (for `Debug`).
    trips: u64,
}

impl State {
    /// The round's index of the arrival with this ticket: its rank among the
    /// arrivals that stayed.
    fn index_of(withdrawn: &[usize], ticket: usize) -> usize {
        ticket - withdrawn.iter().filter(|&&w| w < ticket).count()
    }

    /// Ends the current round with `outcome` for the `waiting` waiters that
    /// have yet to learn it, and opens the next one.
    fn end_round(&mut self, outcome: Ended, waiting: usize) {
        let needs_record = waiting > 0
            && match &outcome {
                Ended::Tripped { withdrawn } => !withdrawn.is_empty(),
                Ended::Failed => true,
            };
        if needs_record {
            self.ended.push(EndedRound {
                round: self.round,
                outcome,
                waiting,
            });
        }
        self.round = self.round.wrapping_add(1);
        self.inside = 0;
        self.next_ticket = 0;
        self.withdrawn.clear();
    }

    /// Ends the current round as failed (its waiters get
    /// [`BrokenBarrierError`]), `leaving` of them leaving right now.
    fn fail_round(&mut self, leaving: usize) {
        let waiting = self.inside - leaving;
        self.end_round(Ended::Failed, waiting);
    }

    /// The outcome of ended round `round` for the waiter with `ticket`, who
    /// learns it now (and no longer counts as waiting for it).
    fn learn(&mut self, round: u64, ticket: usize) -> Result<usize, BrokenBarrierError> {
        let Some(at) = self.ended.iter().position(|ended| ended.round == round) else {
            // No record: the round tripped without withdrawals.
            return Ok(ticket);
        };
        let ended = &mut self.ended[at];
        let outcome = match &ended.outcome {
            Ended::Tripped { withdrawn } => Ok(Self::index_of(withdrawn, ticket)),
            Ended::Failed => Err(BrokenBarrierError),
        };
        ended.waiting -= 1;
        if ended.waiting == 0 {
            self.ended.swap_remove(at);
        }
        outcome
    }

    /// A waiter of ended round `round` goes away without looking.
    fn forget(&mut self, round: u64) {
        if let Some(at) = self.ended.iter().position(|ended| ended.round == round) {
            let ended = &mut self.ended[at];
            ended.waiting -= 1;
            if ended.waiting == 0 {
                self.ended.swap_remove(at);
            }
        }
    }
}

/// What an arrival found.
enum Arrival {
    /// This caller completed the round and must run the action.
    Last(usize),
    /// This caller waits for the round, with this ticket; the second field is
    /// the round's number.
    Waiting(usize, u64),
}

/// A barrier for a fixed number of parties, tasks and threads mixed.
///
/// Each round, the first `parties - 1` callers of [`wait`](Barrier::wait) wait;
/// the last one runs the action (if any) and releases them all. Every caller
/// gets its index in the round, `0..parties` in arrival order. Then the
/// barrier is ready for the next round.
///
/// Broken state, as in Python: [`abort`](Barrier::abort), a panicking action
/// or an expired `*_timeout` wait breaks the barrier; all its waiters and every
/// later wait fail with [`BrokenBarrierError`] until [`reset`](Barrier::reset).
///
/// Cancel safety, as in asyncio: dropping a `wait()` future before its round
/// trips withdraws that caller's arrival without breaking the barrier.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ambisync::Barrier;
///
/// # #[tokio::main] async fn main() {
/// let barrier = Arc::new(Barrier::new(3));
/// let thread = {
///     let barrier = Arc::clone(&barrier);
///     std::thread::spawn(move || barrier.wait_blocking().unwrap())
/// };
/// let task = {
///     let barrier = Arc::clone(&barrier);
///     tokio::spawn(async move { barrier.wait().await.unwrap() })
/// };
/// let mine = barrier.wait().await.unwrap();
/// let mut indexes = vec![mine, thread.join().unwrap(), task.await.unwrap()];
/// indexes.sort();
/// assert_eq!(indexes, [0, 1, 2]);
/// # }
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Box<dyn Fn() + Send + Sync>>,
    state: Mutex<State>,
    /// Callers waiting for their round's outcome, or to enter while the
    /// action runs; woken all at once by every change of state.
    waiters: LazyList,
}

impl Barrier {
    /// Creates a barrier for `parties` callers.
    ///
    /// # Panics
    ///
    /// If `parties` is 0.
    ///
    /// ```
    /// assert_eq!(ambisync::Barrier::new(4).parties(), 4);
    /// ```
    pub fn new(parties: usize) -> Barrier {
        Barrier::build(parties, None)
    }

    /// Creates a barrier whose last arrival of each round runs `action` before
    /// anybody is released. If the action panics, the barrier breaks and the
    /// panic continues in that caller.
    ///
    /// # Panics
    ///
    /// If `parties` is 0.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// let rounds = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&rounds);
    /// let barrier = ambisync::Barrier::with_action(1, move || {
    ///     counter.fetch_add(1, Ordering::SeqCst);
    /// });
    /// barrier.wait_blocking().unwrap();
    /// barrier.wait_blocking().unwrap();
    /// assert_eq!(rounds.load(Ordering::SeqCst), 2);
    /// ```
    pub fn with_action(parties: usize, action: impl Fn() + Send + Sync + 'static) -> Barrier {
        Barrier::build(parties, Some(Box::new(action)))
    }

    fn build(parties: usize, action: Option<Box<dyn Fn() + Send + Sync>>) -> Barrier {
        assert!(parties > 0, "a barrier needs at least one party, got 0");
        Barrier {
            parties,
            action,
            state: Mutex::new(State {
                phase: Phase::Filling,
                round: 0,
                inside: 0,
                next_ticket: 0,
                withdrawn: Vec::new(),
                ended: Vec::new(),
                trips: 0,
            }),
            waiters: LazyList::new(),
        }
    }

    /// Waits for the round to fill; returns this caller's index in it.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] if the barrier is or becomes broken (or is reset)
    /// before the round trips.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before its round trips, the future withdraws its
    /// arrival (the round waits for another caller, and indexes stay
    /// `0..parties`); dropped after, it just leaves. Nothing breaks.
    ///
    /// # Panics
    ///
    /// If the barrier's action panics in this caller (the last to arrive):
    /// the panic goes on after the barrier is broken for the others.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let barrier = ambisync::Barrier::new(1);
    /// assert_eq!(barrier.wait().await, Ok(0));
    /// # });
    /// ```
    pub fn wait(&self) -> impl Future<Output = Result<usize, BrokenBarrierError>> {
        Waiting::new(BarrierWait::new(self))
    }

    /// [`wait`](Barrier::wait) for at most `timeout`. If it expires before the
    /// round trips, the barrier breaks for everybody (Python).
    ///
    /// # Errors
    ///
    /// As [`wait`](Barrier::wait), and when the timeout expires.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`wait`](Barrier::wait) (dropping the future is not
    /// a timeout: it withdraws without breaking anything).
    ///
    /// # Panics
    ///
    /// As [`wait`](Barrier::wait), and outside a tokio runtime with its timer
    /// enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let barrier = ambisync::Barrier::new(2);
    /// assert!(barrier.wait_timeout(Duration::from_millis(5)).await.is_err());
    /// assert!(barrier.is_broken());
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn wait_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<usize, BrokenBarrierError>> {
        let waiting = Timed::new(BarrierWait::new(self), timeout);
        MapOutput::new(waiting, |out: Option<_>| out.expect(DECIDES))
    }

    /// [`wait`](Barrier::wait), blocking the thread.
    ///
    /// # Errors
    ///
    /// As [`wait`](Barrier::wait).
    ///
    /// # Panics
    ///
    /// As [`wait`](Barrier::wait); and with the `tokio` feature, when called
    /// on a thread that runs a tokio runtime (use [`wait`](Barrier::wait)
    /// there).
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = ambisync::Barrier::new(1);
    /// assert_eq!(barrier.wait_blocking(), Ok(0));
    /// ```
    #[track_caller]
    pub fn wait_blocking(&self) -> Result<usize, BrokenBarrierError> {
        block_on_untimed(BarrierWait::new(self), "wait_blocking")
    }

    /// [`wait_timeout`](Barrier::wait_timeout), blocking the thread; needs no
    /// runtime.
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Barrier::wait_timeout).
    ///
    /// # Panics
    ///
    /// As [`wait_blocking`](Barrier::wait_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let barrier = ambisync::Barrier::new(2);
    /// assert!(barrier.wait_timeout_blocking(Duration::from_millis(5)).is_err());
    /// assert!(barrier.is_broken());
    /// ```
    #[track_caller]
    pub fn wait_timeout_blocking(&self, timeout: Duration) -> Result<usize, BrokenBarrierError> {
        block_on(
            BarrierWait::new(self),
            deadline_after(timeout),
            "wait_timeout_blocking",
        )
        .expect(DECIDES)
    }

    /// Wakes every waiter: the state changed.
    fn wake_all(&self) {
        if let Some(list) = self.waiters.get() {
            if list.anybody_waiting() {
                list.wake_all();
            }
        }
    }

    /// Breaks the current round (its waiters fail with
    /// [`BrokenBarrierError`]) and makes the barrier usable again at once: the
    /// next arrival starts a new round. A barrier broken by `abort` or a
    /// timeout is made usable again the same way. Called while the last
    /// arrival runs the action, the round fails when the action returns.
    ///
    /// ```
    /// let barrier = ambisync::Barrier::new(2);
    /// barrier.abort();
    /// assert!(barrier.is_broken());
    /// barrier.reset();
    /// assert!(!barrier.is_broken());
    /// ```
    pub fn reset(&self) {
        let mut state = self.state();
        match state.phase {
            Phase::Filling => {
                if state.inside > 0 {
                    state.fail_round(0);
                } else {
                    state.end_round(Ended::Failed, 0);
                }
            }
            Phase::Tripping(_) => state.phase = Phase::Tripping(AfterTrip::FailThenFill),
            Phase::Broken => state.phase = Phase::Filling,
        }
        drop(state);
        self.wake_all();
    }

    /// Breaks the barrier: current and future waits fail with
    /// [`BrokenBarrierError`] until [`reset`](Barrier::reset).
    ///
    /// ```
    /// let barrier = ambisync::Barrier::new(3);
    /// barrier.abort();
    /// assert!(barrier.wait_blocking().is_err());
    /// ```
    pub fn abort(&self) {
        self.break_barrier(0);
    }

    /// Breaks the barrier; `leaving` waiters of the current round leave now
    /// (a timed-out caller). While the action runs, the round fails when it
    /// returns.
    fn break_barrier(&self, leaving: usize) {
        let mut state = self.state();
        state.phase = match state.phase {
            Phase::Filling => {
                state.fail_round(leaving);
                Phase::Broken
            }
            Phase::Tripping(_) => Phase::Tripping(AfterTrip::FailThenBreak),
            Phase::Broken => Phase::Broken,
        };
        drop(state);
        self.wake_all();
    }

    /// How many callers each round needs.
    ///
    /// ```
    /// assert_eq!(ambisync::Barrier::new(2).parties(), 2);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many callers wait in the filling round.
    ///
    /// ```
    /// assert_eq!(ambisync::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        let state = self.state();
        if state.phase == Phase::Filling {
            state.inside
        } else {
            0
        }
    }

    /// Whether the barrier is broken (until [`reset`](Barrier::reset)).
    ///
    /// ```
    /// let barrier = ambisync::Barrier::new(2);
    /// assert!(!barrier.is_broken());
    /// barrier.abort();
    /// assert!(barrier.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(
            self.state().phase,
            Phase::Broken | Phase::Tripping(AfterTrip::FailThenBreak)
        )
    }

    /// The state (the action runs outside the lock, so no user code ever
    /// panics while it is held).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Joins the filling round; `None` while the last round's action runs.
    fn try_enter(&self) -> Option<Result<Arrival, BrokenBarrierError>> {
        let mut state = self.state();
        match state.phase {
            // Python's `_enter`: a broken barrier fails at once, also while
            // the aborted round's action still runs.
            Phase::Broken | Phase::Tripping(AfterTrip::FailThenBreak) => {
                Some(Err(BrokenBarrierError))
            }
            Phase::Tripping(_) => None,
            Phase::Filling => {
                let ticket = state.next_ticket;
                state.next_ticket += 1;
                state.inside += 1;
                let index = State::index_of(&state.withdrawn, ticket);
                if index + 1 == self.parties {
                    state.phase = Phase::Tripping(AfterTrip::Release);
                    Some(Ok(Arrival::Last(index)))
                } else {
                    Some(Ok(Arrival::Waiting(ticket, state.round)))
                }
            }
        }
    }

    /// A timed-out caller that could not even join a round (the last round's
    /// action was running) breaks the barrier, as in Python.
    fn expire_before_arrival(&self) -> BrokenBarrierError {
        self.break_barrier(0);
        BrokenBarrierError
    }

    /// The last arrival: runs the action, then releases the round (or fails
    /// it if the action panicked or the barrier was reset or aborted
    /// meanwhile), and leaves.
    fn trip(&self, index: usize) -> Result<usize, BrokenBarrierError> {
        let outcome = match &self.action {
            Some(action) => catch_unwind(AssertUnwindSafe(action)),
            None => Ok(()),
        };
        let mut state = self.state();
        // The others of the round learn the outcome later; this caller leaves.
        let waiting = state.inside - 1;
        let after = match state.phase {
            Phase::Tripping(after) => after,
            phase => unreachable!("the action ran in phase {phase:?}"),
        };
        let released = match (&outcome, after) {
            (Ok(()), AfterTrip::Release) => {
                state.trips = state.trips.wrapping_add(1);
                let withdrawn = std::mem::take(&mut state.withdrawn);
                state.end_round(Ended::Tripped { withdrawn }, waiting);
                state.phase = Phase::Filling;
                true
            }
            // The action panicked: the barrier breaks (Python).
            (Err(_), _) => {
                state.end_round(Ended::Failed, waiting);
                state.phase = Phase::Broken;
                false
            }
            // Reset or aborted while the action ran: the round fails.
            (Ok(()), AfterTrip::FailThenFill) => {
                state.end_round(Ended::Failed, waiting);
                state.phase = Phase::Filling;
                false
            }
            (Ok(()), AfterTrip::FailThenBreak) => {
                state.end_round(Ended::Failed, waiting);
                state.phase = Phase::Broken;
                false
            }
        };
        drop(state);
        self.wake_all();
        match outcome {
            Err(panic) => resume_unwind(panic),
            Ok(()) if released => Ok(index),
            Ok(()) => Err(BrokenBarrierError),
        }
    }
}

/// Why a timed barrier wait always has a result: at the deadline it breaks
/// the barrier, or learns the outcome of its round, or (while the action
/// runs) waits for that outcome without a deadline.
const DECIDES: &str = "a barrier wait decides at its deadline";

/// One [`Barrier::wait`]: enter the filling round (waiting while the last
/// round's action runs), then wait for the round's outcome.
struct BarrierWait<'a> {
    barrier: &'a Barrier,
    stage: Stage<'a>,
    retry: Retry,
}

enum Stage<'a> {
    Entering,
    Waiting(Waiter<'a>),
    Done,
}

impl<'a> BarrierWait<'a> {
    fn new(barrier: &'a Barrier) -> Self {
        BarrierWait {
            barrier,
            stage: Stage::Entering,
            // Every change wakes everybody: nothing to pass on.
            retry: Retry::new(PassOn::Nothing),
        }
    }
}

impl WaitOp for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrierError>;

    fn poll_op(&mut self, wakeup: Wakeup<'_>) -> Poll<Self::Output> {
        let barrier = self.barrier;
        let list = barrier.waiters.get_or_init();
        loop {
            match &mut self.stage {
                Stage::Entering => {
                    let arrival =
                        std::task::ready!(self.retry.poll(list, wakeup, || barrier.try_enter()));
                    match arrival {
                        Err(broken) => {
                            self.stage = Stage::Done;
                            return Poll::Ready(Err(broken));
                        }
                        Ok(Arrival::Last(index)) => {
                            self.stage = Stage::Done;
                            return Poll::Ready(barrier.trip(index));
                        }
                        Ok(Arrival::Waiting(ticket, round)) => {
                            self.stage = Stage::Waiting(Waiter::new(barrier, ticket, round));
                        }
                    }
                }
                Stage::Waiting(waiter) => {
                    let outcome =
                        std::task::ready!(self.retry.poll(list, wakeup, || waiter.try_leave()));
                    self.stage = Stage::Done;
                    return Poll::Ready(outcome);
                }
                Stage::Done => panic!("a barrier wait polled after it completed"),
            }
        }
    }

    fn expire(&mut self) -> Poll<Option<Self::Output>> {
        let list = self.barrier.waiters.get_or_init();
        match &mut self.stage {
            Stage::Entering => {
                // Still waiting for the last round's action: break it, as a
                // Python waiter in `_enter` would on timeout.
                self.retry.cancel(list);
                self.stage = Stage::Done;
                Poll::Ready(Some(Err(self.barrier.expire_before_arrival())))
            }
            Stage::Waiting(waiter) => match waiter.expire() {
                Some(outcome) => {
                    self.retry.cancel(list);
                    self.stage = Stage::Done;
                    Poll::Ready(Some(outcome))
                }
                // The action is running: the round is complete, wait for it.
                None => Poll::Pending,
            },
            Stage::Done => Poll::Pending,
        }
    }

    fn woken(&self) -> bool {
        self.barrier
            .waiters
            .get()
            .is_none_or(|list| self.retry.woken(list))
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some(list) = self.barrier.waiters.get() {
            self.retry.cancel(list);
        }
        // A `Waiter` still in the stage withdraws or leaves as it drops.
    }
}

/// A caller waiting in a round. Dropped before it left (its future was
/// cancelled), it withdraws its arrival or stops counting as a waiter of its
/// ended round.
struct Waiter<'a> {
    barrier: &'a Barrier,
    ticket: usize,
    /// The number of the round this caller arrived in.
    round: u64,
    left: bool,
}

impl<'a> Waiter<'a> {
    fn new(barrier: &'a Barrier, ticket: usize, round: u64) -> Self {
        Waiter {
            barrier,
            ticket,
            round,
            left: false,
        }
    }

    /// Leaves with the round's outcome once there is one.
    fn try_leave(&mut self) -> Option<Result<usize, BrokenBarrierError>> {
        let mut state = self.barrier.state();
        if state.round == self.round {
            // Still filling, or complete while the action runs.
            return None;
        }
        self.left = true;
        Some(state.learn(self.round, self.ticket))
    }

    /// The caller's timeout expired: a round still filling breaks (Python);
    /// one already decided gives its outcome. `None` while the action runs.
    fn expire(&mut self) -> Option<Result<usize, BrokenBarrierError>> {
        let state = self.barrier.state();
        if state.round != self.round {
            drop(state);
            return self.try_leave();
        }
        if state.phase != Phase::Filling {
            return None;
        }
        drop(state);
        self.left = true;
        self.barrier.break_barrier(1);
        Some(Err(BrokenBarrierError))
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.left {
            return;
        }
        let mut state = self.barrier.state();
        if state.round != self.round {
            state.forget(self.round);
            return;
        }
        state.inside -= 1;
        if state.phase == Phase::Filling {
            // Withdraw: the round goes on without this caller.
            state.withdrawn.push(self.ticket);
        }
        // While the action runs the arrival counts; only its look at the
        // outcome is gone.
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("phase", &state.phase)
            .field("inside", &state.inside)
            .field("rounds_tripped", &state.trips)
            .field("ended_rounds_pending", &state.ended.len())
            .field("has_action", &self.action.is_some())
            .finish()
    }
}
