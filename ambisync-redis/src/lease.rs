//! A held lease: the keeper that renews it, the lost signal, the release
//! on drop, and the clean-up of an acquire cancelled in flight.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::client::{Inner, bounded};
use crate::error::{Error, Result};
use crate::scripts;

/// What a lease is on, with its keys.
#[derive(Clone)]
pub(crate) enum Target {
    Permit {
        holders: String,
        adjust: String,
        channel: String,
    },
    Lock {
        key: String,
        channel: String,
    },
    /// A lease of another kind (a queue consumer's heartbeat, a barrier
    /// party's arrival), with its own renew and release.
    Other(Arc<dyn Leased>),
}

/// A boxed future of a lease operation.
pub(crate) type LeaseFuture<'a> = Pin<Box<dyn Future<Output = Result<bool>> + Send + 'a>>;

/// The renew and release of a lease that is not a permit or a lock.
pub(crate) trait Leased: Send + Sync + 'static {
    /// Renews `token`'s lease; `Ok(false)` when it is no longer held.
    fn renew<'a>(&'a self, client: &'a Inner, token: &'a str, lease: Duration) -> LeaseFuture<'a>;
    /// Gives `token`'s lease back; `Ok(false)` when it was not held.
    fn release<'a>(&'a self, client: &'a Inner, token: &'a str) -> LeaseFuture<'a>;
}

impl Target {
    /// Renews `token`'s lease; `Ok(false)` when it is no longer held.
    async fn renew(&self, client: &Inner, token: &str, lease: Duration) -> Result<bool> {
        let ms = lease.as_millis() as u64;
        let mut conn = client.conn();
        let held: i64 = match self {
            Target::Permit { holders, .. } => {
                scripts::SEM_RENEW
                    .key(holders)
                    .arg(token)
                    .arg(ms)
                    .invoke_async(&mut conn)
                    .await?
            }
            Target::Lock { key, .. } => {
                scripts::LOCK_RENEW
                    .key(key)
                    .arg(token)
                    .arg(ms)
                    .invoke_async(&mut conn)
                    .await?
            }
            Target::Other(other) => return other.renew(client, token, lease).await,
        };
        Ok(held == 1)
    }

    /// Releases (or forgets) `token`'s lease; `Ok(false)` when it was not held.
    pub(crate) async fn release(&self, client: &Inner, token: &str, forget: bool) -> Result<bool> {
        let mut conn = client.conn();
        let held: i64 = match self {
            Target::Permit {
                holders,
                adjust,
                channel,
            } => {
                scripts::SEM_RELEASE
                    .key(holders)
                    .key(adjust)
                    .arg(token)
                    .arg(channel)
                    .arg(if forget { "1" } else { "0" })
                    .invoke_async(&mut conn)
                    .await?
            }
            Target::Lock { key, channel } => {
                scripts::LOCK_RELEASE
                    .key(key)
                    .arg(token)
                    .arg(channel)
                    .invoke_async(&mut conn)
                    .await?
            }
            Target::Other(other) => return other.release(client, token).await,
        };
        Ok(held == 1)
    }
}

/// Releases `token` in the background when dropped armed: an acquire whose
/// future was dropped while its request was in flight (Redis may have granted
/// it) cleans up after itself. If that release cannot reach Redis, the lease
/// expires.
pub(crate) struct InFlight {
    client: Option<Arc<Inner>>,
    target: Target,
    token: String,
}

impl InFlight {
    pub(crate) fn new(client: &Arc<Inner>, target: &Target, token: &str) -> Self {
        InFlight {
            client: Some(client.clone()),
            target: target.clone(),
            token: token.to_owned(),
        }
    }

    /// The reply arrived: nothing to clean up.
    pub(crate) fn disarm(mut self) {
        self.client = None;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let target = self.target.clone();
            let token = std::mem::take(&mut self.token);
            let inner = client.clone();
            client.spawn_background(async move {
                let _ = bounded(inner.op_timeout, target.release(&inner, &token, false)).await;
            });
        }
    }
}

/// One held lease, shared by its guard and the client's [`Keeper`].
struct Held {
    client: Arc<Inner>,
    target: Target,
    token: String,
    lease: Duration,
    /// Local estimate of the lease's end: the send time of the last request
    /// that Redis answered with "held", plus the lease. It is never later than
    /// the server's expiry (the server stamped it after we sent).
    expires: Mutex<Instant>,
    lost: CancellationToken,
    /// Set when the guard gave the lease back: no more renewals.
    stop: CancellationToken,
    /// Where the keeper has this lease's next renewal, if anywhere.
    slot: Mutex<Option<(Instant, u64)>>,
}

impl Held {
    fn expires(&self) -> Instant {
        *self.expires.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_lost(&self) -> bool {
        if self.lost.is_cancelled() {
            return true;
        }
        if Instant::now() >= self.expires() {
            self.lost.cancel();
            return true;
        }
        false
    }
}

/// The renewal schedule of one client: one task renews every lease when it
/// is due (every third of it), instead of a task per lease. Taking a lease
/// costs a map insertion; the task is woken only when a new lease is due
/// before the time it sleeps until.
pub(crate) struct Keeper {
    state: Mutex<Schedule>,
    wake: Notify,
    stop: CancellationToken,
}

#[derive(Default)]
struct Schedule {
    due: BTreeMap<(Instant, u64), Arc<Held>>,
    next_id: u64,
    /// When the keeper task will look next (`None`: it waits for a wake).
    armed: Option<Instant>,
}

impl Keeper {
    pub(crate) fn start(handle: &tokio::runtime::Handle) -> Arc<Keeper> {
        let keeper = Arc::new(Keeper {
            state: Mutex::new(Schedule::default()),
            wake: Notify::new(),
            stop: CancellationToken::new(),
        });
        handle.spawn(keep(keeper.clone()));
        keeper
    }

    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }

    fn schedule(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `held`'s next renewal at `at`.
    fn insert(&self, held: &Arc<Held>, at: Instant) {
        let mut schedule = self.schedule();
        if held.stop.is_cancelled() {
            return;
        }
        schedule.next_id += 1;
        let key = (at, schedule.next_id);
        schedule.due.insert(key, held.clone());
        *held.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        if schedule.armed.is_none_or(|armed| at < armed) {
            schedule.armed = Some(at);
            self.wake.notify_one();
        }
    }

    /// Takes `held` off the schedule.
    fn remove(&self, held: &Held) {
        let mut schedule = self.schedule();
        if let Some(key) = held.slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
            schedule.due.remove(&key);
        }
    }
}

/// The keeper task: sleeps until the first renewal is due, starts the due
/// renewals, repeats.
async fn keep(keeper: Arc<Keeper>) {
    loop {
        let woken = keeper.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let next = {
            let mut schedule = keeper.schedule();
            let next = schedule.due.first_key_value().map(|(key, _)| key.0);
            schedule.armed = next;
            next
        };
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = keeper.stop.cancelled() => return,
            _ = woken => continue,
            _ = sleep => {}
        }
        let now = Instant::now();
        let due: Vec<Arc<Held>> = {
            let mut schedule = keeper.schedule();
            let mut due = Vec::new();
            while let Some(entry) = schedule.due.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let held = entry.remove();
                *held.slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
                due.push(held);
            }
            due
        };
        for held in due {
            if !held.stop.is_cancelled() {
                tokio::spawn(renew(keeper.clone(), held));
            }
        }
    }
}

/// One renewal of `held`; schedules the next, or reports the lease lost when
/// Redis says it is not held, or when the local estimate of its end passes
/// without a confirmed renewal (Redis unreachable, or this process paused).
async fn renew(keeper: Arc<Keeper>, held: Arc<Held>) {
    if held.is_lost() {
        return;
    }
    let client = &held.client;
    let sent = Instant::now();
    let budget = held
        .expires()
        .saturating_duration_since(sent)
        .min(client.op_timeout);
    let result = tokio::select! {
        biased;
        _ = held.stop.cancelled() => return,
        r = bounded(budget, held.target.renew(client, &held.token, held.lease)) => r,
    };
    match result {
        Ok(Ok(true)) => {
            *held.expires.lock().unwrap_or_else(|e| e.into_inner()) = sent + held.lease;
            keeper.insert(&held, sent + held.lease / 3);
        }
        Ok(Ok(false)) => held.lost.cancel(),
        // Unreachable or refused: try again soon, until the lease is over.
        Ok(Err(_)) | Err(_) => {
            let retry =
                (held.lease / 20).clamp(Duration::from_millis(10), Duration::from_millis(250));
            if held.is_lost() {
                return;
            }
            keeper.insert(&held, Instant::now() + retry);
        }
    }
}

/// A held lease, renewed by the client's keeper while it lives.
pub(crate) struct Lease {
    held: Arc<Held>,
    /// Whether the guard gave the lease back (or forgot it) already.
    done: bool,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let left = self
            .held
            .expires()
            .saturating_duration_since(Instant::now());
        f.debug_struct("Lease")
            .field("lease", &self.held.lease)
            .field("lost", &self.held.is_lost())
            .field("at_least_left", &left)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// Schedules the renewals of a lease granted to a request sent at `sent`.
    pub(crate) fn start(
        client: &Arc<Inner>,
        target: Target,
        token: String,
        lease: Duration,
        sent: Instant,
    ) -> Lease {
        let held = Arc::new(Held {
            client: client.clone(),
            target,
            token,
            lease,
            expires: Mutex::new(sent + lease),
            lost: CancellationToken::new(),
            stop: CancellationToken::new(),
            slot: Mutex::new(None),
        });
        client.keeper.insert(&held, sent + lease / 3);
        Lease { held, done: false }
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.held.is_lost()
    }

    pub(crate) fn lost(&self) -> WaitForCancellationFutureOwned {
        self.held.lost.clone().cancelled_owned()
    }

    pub(crate) fn lease(&self) -> Duration {
        self.held.lease
    }

    pub(crate) fn client(&self) -> &Arc<Inner> {
        &self.held.client
    }

    /// Stops the renewals without giving the lease back (Redis ended it
    /// already, e.g. a barrier round that tripped).
    pub(crate) fn end(mut self) {
        self.done = true;
        self.stop();
        self.held.lost.cancel();
    }

    /// Stops the renewals.
    fn stop(&self) {
        self.held.stop.cancel();
        self.held.client.keeper.remove(&self.held);
    }

    /// Gives the lease back now (or, with `forget`, keeps the permit taken
    /// for good); `Err(NotHeld)` when it was lost first.
    ///
    /// Dropping the returned future before it finished does not leak the
    /// lease: an [`InFlight`] guard then releases it in the background (a
    /// cancelled `forget` becomes a release).
    pub(crate) fn finish(
        mut self,
        forget: bool,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        self.done = true;
        self.stop();
        let held = self.held.clone();
        // Armed before the future is first polled: dropping it unpolled
        // releases too.
        let in_flight = InFlight::new(&held.client, &held.target, &held.token);
        async move {
            let client = &held.client;
            let result = bounded(
                client.op_timeout,
                held.target.release(client, &held.token, forget),
            )
            .await;
            held.lost.cancel();
            match result {
                Ok(Ok(held)) => {
                    in_flight.disarm();
                    if held { Ok(()) } else { Err(Error::NotHeld) }
                }
                // The release may not have happened: the armed guard tries
                // again in the background (the lease expires if that fails).
                Ok(Err(e)) | Err(e) => Err(e),
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop();
        if !self.done {
            let held = self.held.clone();
            self.held.client.spawn_background(async move {
                let client = &held.client;
                let _ = bounded(
                    client.op_timeout,
                    held.target.release(client, &held.token, false),
                )
                .await;
                held.lost.cancel();
            });
        }
    }
}
