//! Fleet-wide `Lock` with a lease, a watchdog and fencing tokens.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::client::{Inner, Redis, bounded, random_token};
use crate::error::{Error, Result};
use crate::lease::{InFlight, Lease, Target};
use crate::notify::Listener;
use crate::scripts;
use crate::semaphore::check_name;
use crate::wait::{self, Attempt};

struct Core {
    client: Arc<Inner>,
    name: String,
    lease: Duration,
    key: String,
    fence: String,
    channel: String,
    listener: Listener,
    /// The highest fencing token this handle has seen (sent to Redis as a
    /// floor for the next one).
    floor: AtomicU64,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("name", &self.name)
            .field("lease", &self.lease)
            .field("key", &self.key)
            .field("highest_token_seen", &self.floor.load(Ordering::Relaxed))
            .finish()
    }
}

impl Core {
    fn target(&self) -> Target {
        Target::Lock {
            key: self.key.clone(),
            channel: self.channel.clone(),
        }
    }

    async fn attempt(
        self: &Arc<Self>,
        secret: &str,
        budget: Duration,
    ) -> Result<Attempt<LockGuard>> {
        let target = self.target();
        let in_flight = InFlight::new(&self.client, &target, secret);
        let sent = Instant::now();
        let mut conn = self.client.conn();
        let (granted, value): (i64, String) = bounded(
            budget,
            scripts::LOCK_ACQUIRE
                .key(&self.key)
                .key(&self.fence)
                .arg(self.lease.as_millis() as u64)
                .arg(secret)
                .arg(self.floor.load(Ordering::Relaxed))
                .invoke_async(&mut conn),
        )
        .await??;
        in_flight.disarm();
        let number: i64 = value
            .parse()
            .map_err(|_| Error::Protocol(format!("not a number: {value:?}")))?;
        if granted != 1 {
            return Ok(Attempt::Busy(
                u64::try_from(number).ok().map(Duration::from_millis),
            ));
        }
        let token = u64::try_from(number)
            .map_err(|_| Error::Protocol(format!("negative fencing token {number}")))?;
        self.floor.fetch_max(token, Ordering::Relaxed);
        let lease = Lease::start(&self.client, target, secret.to_owned(), self.lease, sent);
        Ok(Attempt::Granted(LockGuard {
            lease,
            token,
            core: self.clone(),
        }))
    }

    async fn acquire_until(
        self: Arc<Self>,
        deadline: Option<Instant>,
    ) -> Result<Option<LockGuard>> {
        let secret = random_token();
        wait::acquire(&self.client, &self.listener, deadline, |budget| {
            self.attempt(&secret, budget)
        })
        .await
    }
}

/// A lock shared by every process connected to one Redis, with a lease and
/// a **fencing token**.
///
/// Each successful acquire returns a token strictly greater than every earlier
/// one of this lock: give it to the resource you protect and have the resource
/// refuse writes with a token lower than the highest it has seen. That, not
/// the lock alone, is what keeps a paused or partitioned former holder from
/// doing harm (see the crate docs on what Redis can and cannot promise).
///
/// The token is the largest of the server's time in microseconds, the last
/// token + 1 and this handle's highest seen + 1; so it keeps increasing when
/// Redis lost its data (a restart without persistence) unless the server
/// clock stepped back by more than the restart took.
///
/// There is no Python-style raw `acquire`/`release` by anyone: only the
/// holder's secret (inside the [`LockGuard`]) can release or renew the lease.
/// Reentrancy (an `RLock`) is not offered.
///
/// Cloning gives another handle on the same lock.
#[derive(Clone)]
pub struct Lock {
    core: Arc<Core>,
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lock").field(&self.core).finish()
    }
}

impl Lock {
    /// A handle on the fleet-wide lock `name`, with the client's default
    /// lease. Makes no round trip.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an empty name or one with `{` or `}`.
    pub fn new(redis: &Redis, name: &str) -> Result<Lock> {
        Self::make(redis, name, None)
    }

    /// As [`new`](Self::new), with a lease of its own (at least 30 ms).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and for a lease under 30 ms.
    pub fn with_lease(redis: &Redis, name: &str, lease: Duration) -> Result<Lock> {
        Self::make(redis, name, Some(lease))
    }

    fn make(redis: &Redis, name: &str, lease: Option<Duration>) -> Result<Lock> {
        check_name(name)?;
        let client = redis.inner.clone();
        let lease = lease.unwrap_or(client.lease);
        if lease < Duration::from_millis(30) {
            return Err(Error::InvalidArgument("lease shorter than 30 ms"));
        }
        let channel = client.key(name, "lock:released");
        Ok(Lock {
            core: Arc::new(Core {
                key: client.key(name, "lock"),
                fence: client.key(name, "lock:fence"),
                listener: client.notifier.listener(channel.clone()),
                channel,
                client,
                name: name.to_owned(),
                lease,
                floor: AtomicU64::new(0),
            }),
        })
    }

    /// Waits until the lock is free and takes it.
    ///
    /// Woken by a pub/sub message on release, and when the holder's lease
    /// expires (a crashed holder). Waiters in different processes are not
    /// queued in order.
    ///
    /// # Errors
    ///
    /// Any failure to reach Redis or a refused command ends the wait with an
    /// [`Error`]; a Redis that is down fails the call within the op timeout.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future loses nothing: if it is dropped while an attempt
    /// is in flight (Redis may have granted it), a release of that attempt's
    /// secret is sent in the background; if that cannot reach Redis, the lock
    /// frees itself at lease expiry. [`Redis::flush`] waits for such releases.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: ambisync_redis::Redis) -> Result<(), ambisync_redis::Error> {
    /// let lock = ambisync_redis::Lock::new(&redis, "job-42")?;
    /// let guard = lock.lock().await?;
    /// // write to the resource, passing guard.fencing_token() along
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn lock(&self) -> Result<LockGuard> {
        let guard = self.core.clone().acquire_until(None).await?;
        guard.ok_or(Error::Protocol("lock without deadline timed out".into()))
    }

    /// As [`lock`](Self::lock), giving up after `timeout`: `Ok(None)` when the
    /// lock did not become free in time. Round trips are bounded by what is
    /// left of `timeout`, so an unresponsive Redis gives [`Error::Timeout`] by
    /// the deadline. A zero `timeout` makes exactly one attempt.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    ///
    /// # Cancel safety
    ///
    /// As [`lock`](Self::lock).
    pub async fn lock_timeout(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        let deadline = Instant::now() + timeout;
        self.core.clone().acquire_until(Some(deadline)).await
    }

    /// Takes the lock if it is free, without waiting for it; unlike the
    /// in-process `try_lock` this makes one round trip to Redis, so it is
    /// `async`.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    ///
    /// # Cancel safety
    ///
    /// As [`lock`](Self::lock).
    pub async fn try_lock(&self) -> Result<Option<LockGuard>> {
        self.lock_timeout(Duration::ZERO).await
    }

    /// [`lock`](Self::lock), blocking the calling thread.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock), and [`Error::RuntimeGone`].
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime (a task or `block_on`).
    pub fn lock_blocking(&self) -> Result<LockGuard> {
        let this = self.clone();
        self.core
            .client
            .block_on("lock_blocking", async move { this.lock().await })
    }

    /// [`lock_timeout`](Self::lock_timeout), blocking the calling thread.
    ///
    /// # Errors
    ///
    /// As [`lock_blocking`](Self::lock_blocking).
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime (a task or `block_on`).
    pub fn lock_timeout_blocking(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        let this = self.clone();
        self.core
            .client
            .block_on("lock_timeout_blocking", async move {
                this.lock_timeout(timeout).await
            })
    }

    /// Whether someone holds the lock right now (one round trip).
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn is_locked(&self) -> Result<bool> {
        Ok(self.state().await?.0)
    }

    /// The last fencing token handed out, as Redis has it (0 if none, or if
    /// Redis lost it).
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn last_token(&self) -> Result<u64> {
        Ok(self.state().await?.1)
    }

    async fn state(&self) -> Result<(bool, u64)> {
        let mut conn = self.core.client.conn();
        let (locked, _ttl, last): (i64, String, String) = bounded(
            self.core.client.op_timeout,
            scripts::LOCK_STATE
                .key(&self.core.key)
                .key(&self.core.fence)
                .invoke_async(&mut conn),
        )
        .await??;
        let last = last
            .parse()
            .map_err(|_| Error::Protocol(format!("not a token: {last:?}")))?;
        Ok((locked == 1, last))
    }

    /// The name given to [`new`](Self::new).
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The lease of this handle's guards.
    pub fn lease(&self) -> Duration {
        self.core.lease
    }
}

/// A held [`Lock`], with its fencing token. Owned (`'static`).
///
/// Dropping it releases the lock in the background (it expires if that
/// cannot reach Redis); [`release`](Self::release) does it now and reports
/// whether it was still held.
pub struct LockGuard {
    lease: Lease,
    token: u64,
    core: Arc<Core>,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", &self.core.name)
            .field("fencing_token", &self.token)
            .field("lease", &self.lease)
            .finish()
    }
}

impl LockGuard {
    /// This acquisition's fencing token: strictly greater than every token
    /// handed out before for this lock.
    pub fn fencing_token(&self) -> u64 {
        self.token
    }

    /// Whether the lease is lost: Redis said it is not held, or no renewal
    /// was confirmed before the lease ran out. Once true it stays true.
    pub fn is_lost(&self) -> bool {
        self.lease.is_lost()
    }

    /// Completes when the lease is lost (or released). Owned, so it can be
    /// raced against the protected work.
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.lease.lost()
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        self.lease.lease()
    }

    /// Releases the lock now and wakes waiters.
    ///
    /// # Errors
    ///
    /// [`Error::NotHeld`] when the lease was lost before (someone else may
    /// hold the lock now); errors of Redis.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it finished still gives the lock back: the
    /// release is retried in the background (or the lease expires).
    pub async fn release(self) -> Result<()> {
        self.lease.finish(false).await
    }

    /// [`release`](Self::release), blocking the calling thread.
    ///
    /// # Errors
    ///
    /// As [`release`](Self::release).
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime.
    pub fn release_blocking(self) -> Result<()> {
        let client = self.lease.client().clone();
        client.block_on("release_blocking", self.lease.finish(false))
    }
}
