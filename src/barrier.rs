//! [`Barrier`]: a cyclic meeting point with a broken state (Python `threading.Barrier`).

use parking_lot::{Mutex, MutexGuard};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use crate::core::{Signal, block_until, deadline_after, wait_until};
use crate::error::BrokenBarrierError;

/// Where the barrier is in its cycle (Python's `_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Arrivals are gathering for the current round.
    Filling,
    /// The last arrival is running the action; nobody is released yet.
    Tripping,
    /// The round tripped; its waiters are leaving. New arrivals wait.
    Draining,
    /// `reset()` broke the waiting round; when its waiters have left, the
    /// barrier fills again. New arrivals wait.
    Resetting,
    /// Broken until `reset()`: every wait fails at once.
    Broken,
}

struct State {
    phase: Phase,
    /// Callers inside the barrier: arrived in the current round (or, while
    /// draining, in the tripped round) and not yet left.
    inside: usize,
    /// Arrival tickets of the current round, in order.
    next_ticket: usize,
    /// Tickets of arrivals withdrawn from the current round (dropped waits),
    /// so that the indexes of a round stay exactly `0..parties`.
    withdrawn: Vec<usize>,
    /// How many rounds have tripped. A waiter whose round tripped leaves with
    /// its index even if the barrier broke (a later arrival's timeout, an
    /// `abort`) before it got to look: one round never has mixed outcomes.
    trips: u64,
    /// The trip count of a tripped round whose waiters must still leave
    /// because its indexes depend on `withdrawn`. A round without withdrawals
    /// does not drain: its indexes are its tickets, and the next round fills
    /// at once.
    draining: Option<u64>,
}

impl State {
    /// The round's index of the arrival with this ticket: its rank among the
    /// arrivals that stayed.
    fn index_of(&self, ticket: usize) -> usize {
        ticket - self.withdrawn.iter().filter(|&&w| w < ticket).count()
    }

    /// Starts a new round's bookkeeping.
    fn open_round(&mut self) {
        self.next_ticket = 0;
        self.withdrawn.clear();
        self.draining = None;
    }

    /// A caller leaves the barrier; the last to leave a drained or reset round
    /// opens the next. Returns whether waiters should be woken.
    fn leave(&mut self) -> bool {
        self.inside -= 1;
        if self.inside > 0 {
            return false;
        }
        match self.phase {
            Phase::Draining | Phase::Resetting => {
                self.phase = Phase::Filling;
                self.open_round();
                true
            }
            // Aborted while a tripped round drained: forget that round.
            Phase::Broken if self.draining.is_some() => {
                self.open_round();
                false
            }
            _ => false,
        }
    }
}

/// Where a waiting caller's round stands.
enum Round {
    /// Still filling: keep waiting (or withdraw).
    Filling,
    /// Complete, the action runs: keep waiting.
    Tripping,
    /// Broken or reset before it tripped.
    Failed,
    /// Tripped, and its waiters must leave (it had withdrawals).
    Draining,
    /// Tripped; the caller's index is its ticket and nothing is left to do.
    Released,
}

/// What an arrival found.
enum Arrival {
    /// This caller completed the round and must run the action.
    Last(usize),
    /// This caller waits for the round, with this ticket; the second field is
    /// `State::trips` at arrival, to recognize when its round has tripped.
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
    signal: Signal,
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
                inside: 0,
                next_ticket: 0,
                withdrawn: Vec::new(),
                draining: None,
                trips: 0,
            }),
            signal: Signal::new(),
        }
    }

    /// Waits for the round to fill; returns this caller's index in it.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] if the barrier is or becomes broken (or is reset)
    /// before the round trips.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let barrier = ambisync::Barrier::new(1);
    /// assert_eq!(barrier.wait().await, Ok(0));
    /// # });
    /// ```
    pub async fn wait(&self) -> Result<usize, BrokenBarrierError> {
        let (ticket, trips) = match self.enter_async().await? {
            Arrival::Last(index) => return self.trip(index),
            Arrival::Waiting(ticket, trips) => (ticket, trips),
        };
        let mut waiter = Waiter::new(self, ticket, trips);
        wait_until(&self.signal.event, &self.signal, || waiter.try_leave()).await
    }

    /// [`wait`](Barrier::wait) for at most `timeout`. If it expires before the
    /// round trips, the barrier breaks for everybody (Python).
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
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrierError> {
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        let entering = self.enter_async();
        let arrival = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, entering).await {
                Ok(arrival) => arrival?,
                // Still waiting for the previous round to drain: break it, as
                // a Python waiter in `_enter` would on timeout.
                Err(_) => return Err(self.expire_before_arrival()),
            },
            None => entering.await?,
        };
        let (ticket, trips) = match arrival {
            Arrival::Last(index) => return self.trip(index),
            Arrival::Waiting(ticket, trips) => (ticket, trips),
        };
        let mut waiter = Waiter::new(self, ticket, trips);
        let released = wait_until(&self.signal.event, &self.signal, || waiter.try_leave());
        let outcome = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, released).await.ok(),
            None => Some(released.await),
        };
        match outcome {
            Some(outcome) => outcome,
            None => match waiter.expire() {
                Some(outcome) => outcome,
                // The action is running: the round is complete, wait for it.
                None => wait_until(&self.signal.event, &self.signal, || waiter.try_leave()).await,
            },
        }
    }

    /// [`wait`](Barrier::wait), blocking the thread.
    ///
    /// # Panics
    ///
    /// With the `tokio` feature, if it has to wait inside a tokio runtime.
    ///
    /// ```
    /// let barrier = ambisync::Barrier::new(1);
    /// assert_eq!(barrier.wait_blocking(), Ok(0));
    /// ```
    #[track_caller]
    pub fn wait_blocking(&self) -> Result<usize, BrokenBarrierError> {
        self.wait_deadline(None, "wait_blocking")
    }

    /// [`wait_timeout`](Barrier::wait_timeout), blocking the thread; needs no
    /// runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// let barrier = ambisync::Barrier::new(2);
    /// assert!(barrier.wait_timeout_blocking(Duration::from_millis(5)).is_err());
    /// assert!(barrier.is_broken());
    /// ```
    #[track_caller]
    pub fn wait_timeout_blocking(&self, timeout: Duration) -> Result<usize, BrokenBarrierError> {
        self.wait_deadline(deadline_after(timeout), "wait_timeout_blocking")
    }

    #[track_caller]
    fn wait_deadline(
        &self,
        deadline: Option<Instant>,
        method: &'static str,
    ) -> Result<usize, BrokenBarrierError> {
        let arrival = block_until(&self.signal.event, &self.signal, deadline, method, || {
            self.try_enter()
        });
        let (ticket, trips) = match arrival {
            None => return Err(self.expire_before_arrival()),
            Some(arrival) => match arrival? {
                Arrival::Last(index) => return self.trip(index),
                Arrival::Waiting(ticket, trips) => (ticket, trips),
            },
        };
        let mut waiter = Waiter::new(self, ticket, trips);
        let released = block_until(&self.signal.event, &self.signal, deadline, method, || {
            waiter.try_leave()
        });
        match released {
            Some(outcome) => outcome,
            None => match waiter.expire() {
                Some(outcome) => outcome,
                None => block_until(&self.signal.event, &self.signal, None, method, || {
                    waiter.try_leave()
                })
                .expect("waiting without a deadline cannot time out"),
            },
        }
    }

    /// Breaks the current round: its waiters fail with [`BrokenBarrierError`],
    /// and so do waits that arrive after it until their round drained; then
    /// the barrier is usable again. A barrier broken by `abort` or a timeout
    /// is made usable again the same way.
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
        if state.inside == 0 {
            state.phase = Phase::Filling;
            state.open_round();
        } else if state.draining.is_some() {
            // A tripped round is still leaving (perhaps aborted meanwhile):
            // it keeps its outcome and opens the next round when it is out.
            state.phase = Phase::Draining;
        } else {
            state.phase = Phase::Resetting;
        }
        drop(state);
        self.signal.notify_all();
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
        self.state().phase = Phase::Broken;
        self.signal.notify_all();
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
        self.state().phase == Phase::Broken
    }

    /// The state (the action runs outside the lock, so no user code ever
    /// panics while it is held).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    async fn enter_async(&self) -> Result<Arrival, BrokenBarrierError> {
        if let Some(arrival) = self.try_enter() {
            return arrival;
        }
        wait_until(&self.signal.event, &self.signal, || self.try_enter()).await
    }

    /// Joins the filling round; `None` while a previous round drains.
    fn try_enter(&self) -> Option<Result<Arrival, BrokenBarrierError>> {
        let mut state = self.state();
        match state.phase {
            Phase::Broken => Some(Err(BrokenBarrierError)),
            Phase::Tripping | Phase::Draining | Phase::Resetting => None,
            Phase::Filling => {
                let ticket = state.next_ticket;
                state.next_ticket += 1;
                state.inside += 1;
                let index = state.index_of(ticket);
                if index + 1 == self.parties {
                    state.phase = Phase::Tripping;
                    Some(Ok(Arrival::Last(index)))
                } else {
                    Some(Ok(Arrival::Waiting(ticket, state.trips)))
                }
            }
        }
    }

    /// A timed-out caller that could not even join a round (a previous round
    /// was still draining) breaks the barrier, as in Python.
    fn expire_before_arrival(&self) -> BrokenBarrierError {
        self.state().phase = Phase::Broken;
        self.signal.notify_all();
        BrokenBarrierError
    }

    /// The last arrival: runs the action, then releases the round (or breaks
    /// it if the action panicked), and leaves.
    fn trip(&self, index: usize) -> Result<usize, BrokenBarrierError> {
        let outcome = match &self.action {
            Some(action) => catch_unwind(AssertUnwindSafe(action)),
            None => Ok(()),
        };
        let mut state = self.state();
        let released = match (&outcome, state.phase) {
            (Ok(()), Phase::Tripping) => {
                state.trips = state.trips.wrapping_add(1);
                if state.withdrawn.is_empty() {
                    // Every index is its ticket: nobody needs the round's
                    // state any more, so the next round fills right away.
                    state.phase = Phase::Filling;
                    state.inside = 0;
                    state.open_round();
                } else {
                    state.phase = Phase::Draining;
                    state.draining = Some(state.trips);
                    state.leave();
                }
                true
            }
            (Err(_), _) => {
                state.phase = Phase::Broken;
                state.leave();
                false
            }
            // Reset or aborted while the action ran: the round is broken.
            (Ok(()), _) => {
                state.leave();
                false
            }
        };
        drop(state);
        self.signal.notify_all();
        match outcome {
            Err(panic) => resume_unwind(panic),
            Ok(()) if released => Ok(index),
            Ok(()) => Err(BrokenBarrierError),
        }
    }
}

/// A caller waiting in a round. Dropped before it left (its future was
/// cancelled), it withdraws its arrival or leaves its finished round.
struct Waiter<'a> {
    barrier: &'a Barrier,
    ticket: usize,
    /// `State::trips` when this caller arrived.
    trips: u64,
    left: bool,
}

impl<'a> Waiter<'a> {
    fn new(barrier: &'a Barrier, ticket: usize, trips: u64) -> Self {
        Waiter {
            barrier,
            ticket,
            trips,
            left: false,
        }
    }

    fn round(&self, state: &State) -> Round {
        if state.trips == self.trips {
            return match state.phase {
                Phase::Filling => Round::Filling,
                Phase::Tripping => Round::Tripping,
                Phase::Draining | Phase::Resetting | Phase::Broken => Round::Failed,
            };
        }
        if state.draining == Some(self.trips.wrapping_add(1)) {
            Round::Draining
        } else {
            Round::Released
        }
    }

    /// Leaves with the round's outcome once there is one.
    fn try_leave(&mut self) -> Option<Result<usize, BrokenBarrierError>> {
        let state = self.barrier.state();
        match self.round(&state) {
            Round::Filling | Round::Tripping => None,
            Round::Failed => {
                self.leave(state);
                Some(Err(BrokenBarrierError))
            }
            Round::Draining => {
                let index = state.index_of(self.ticket);
                self.leave(state);
                Some(Ok(index))
            }
            Round::Released => {
                self.left = true;
                Some(Ok(self.ticket))
            }
        }
    }

    /// The caller's timeout expired: a round still filling breaks (Python);
    /// one already decided gives its outcome. `None` while the action runs.
    fn expire(&mut self) -> Option<Result<usize, BrokenBarrierError>> {
        let mut state = self.barrier.state();
        match self.round(&state) {
            Round::Tripping => None,
            Round::Filling => {
                state.phase = Phase::Broken;
                self.leave(state);
                // Everybody in the round fails now.
                self.barrier.signal.notify_all();
                Some(Err(BrokenBarrierError))
            }
            Round::Failed | Round::Draining | Round::Released => {
                drop(state);
                self.try_leave()
            }
        }
    }

    fn leave(&mut self, mut state: MutexGuard<'_, State>) {
        self.left = true;
        let next_round_opens = state.leave();
        drop(state);
        if next_round_opens {
            // Arrivals that waited for the drain may enter now.
            self.barrier.signal.notify_all();
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.left {
            return;
        }
        let mut state = self.barrier.state();
        match self.round(&state) {
            Round::Filling => {
                // Withdraw: the round goes on without this caller.
                state.inside -= 1;
                state.withdrawn.push(self.ticket);
            }
            Round::Tripping | Round::Failed | Round::Draining => self.leave(state),
            Round::Released => {}
        }
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
            .field("has_action", &self.action.is_some())
            .finish()
    }
}
