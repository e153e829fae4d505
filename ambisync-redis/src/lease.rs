//! A held lease: the watchdog that renews it, the lost signal, the release
//! on drop, and the clean-up of an acquire cancelled in flight.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

struct Shared {
    /// Local estimate of the lease's end: the send time of the last request
    /// that Redis answered with "held", plus the lease. It is never later than
    /// the server's expiry (the server stamped it after we sent).
    expires: Mutex<Instant>,
    lost: CancellationToken,
}

impl Shared {
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

/// A held lease with its watchdog.
pub(crate) struct Lease {
    client: Arc<Inner>,
    target: Target,
    token: String,
    lease: Duration,
    shared: Arc<Shared>,
    /// Stops the watchdog.
    stop: CancellationToken,
    /// Whether the guard gave the lease back (or forgot it) already.
    done: bool,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let left = self
            .shared
            .expires()
            .saturating_duration_since(Instant::now());
        f.debug_struct("Lease")
            .field("lease", &self.lease)
            .field("lost", &self.shared.is_lost())
            .field("at_least_left", &left)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// Starts the watchdog of a lease granted to a request sent at `sent`.
    pub(crate) fn start(
        client: &Arc<Inner>,
        target: Target,
        token: String,
        lease: Duration,
        sent: Instant,
    ) -> Lease {
        let shared = Arc::new(Shared {
            expires: Mutex::new(sent + lease),
            lost: CancellationToken::new(),
        });
        let stop = CancellationToken::new();
        client.handle.spawn(watchdog(
            client.clone(),
            target.clone(),
            token.clone(),
            lease,
            shared.clone(),
            stop.clone(),
        ));
        Lease {
            client: client.clone(),
            target,
            token,
            lease,
            shared,
            stop,
            done: false,
        }
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.shared.is_lost()
    }

    pub(crate) fn lost(&self) -> WaitForCancellationFutureOwned {
        self.shared.lost.clone().cancelled_owned()
    }

    pub(crate) fn lease(&self) -> Duration {
        self.lease
    }

    pub(crate) fn client(&self) -> &Arc<Inner> {
        &self.client
    }

    /// Gives the lease back now (or, with `forget`, keeps the permit taken
    /// for good); `Err(NotHeld)` when it was lost first.
    ///
    /// The release runs as a task of its own, so dropping the returned future
    /// does not stop it: a cancelled `release()` still releases.
    pub(crate) fn finish(mut self, forget: bool) -> impl Future<Output = Result<()>> + Send + 'static {
        self.done = true;
        self.stop.cancel();
        let client = self.client.clone();
        let target = self.target.clone();
        let token = self.token.clone();
        let shared = self.shared.clone();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.client.spawn_background(async move {
            let result = bounded(client.op_timeout, target.release(&client, &token, forget)).await;
            shared.lost.cancel();
            let _ = sender.send(result);
        });
        async move {
            let held = receiver.await.map_err(|_| Error::RuntimeGone)???;
            if held { Ok(()) } else { Err(Error::NotHeld) }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.cancel();
        if !self.done {
            let client = self.client.clone();
            let target = self.target.clone();
            let token = std::mem::take(&mut self.token);
            let shared = self.shared.clone();
            self.client.spawn_background(async move {
                let _ = bounded(client.op_timeout, target.release(&client, &token, false)).await;
                shared.lost.cancel();
            });
        }
    }
}

/// Renews the lease every third of it until stopped; reports it lost when
/// Redis says it is not held, or when the local estimate of its end passes
/// without a confirmed renewal (Redis unreachable, or this process paused).
async fn watchdog(
    client: Arc<Inner>,
    target: Target,
    token: String,
    lease: Duration,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let period = lease / 3;
    let mut next = Instant::now() + period;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        if shared.is_lost() {
            return;
        }
        let sent = Instant::now();
        let budget = shared
            .expires()
            .saturating_duration_since(sent)
            .min(client.op_timeout);
        let result = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            r = bounded(budget, target.renew(&client, &token, lease)) => r,
        };
        match result {
            Ok(Ok(true)) => {
                *shared.expires.lock().unwrap_or_else(|e| e.into_inner()) = sent + lease;
                next = sent + period;
            }
            Ok(Ok(false)) => {
                shared.lost.cancel();
                return;
            }
            // Unreachable or refused: try again soon, until the lease is over.
            Ok(Err(_)) | Err(_) => {
                next = Instant::now() + (lease / 20).clamp(Duration::from_millis(10), Duration::from_millis(250));
            }
        }
    }
}
