//! Fleet-wide `Semaphore` and `BoundedSemaphore` with leased permits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::{Inner, Redis, bounded, random_token};
use crate::error::{Error, Result};
use crate::lease::{InFlight, Lease, Target};
use crate::notify::Listener;
use crate::scripts;
use crate::wait::{self, Attempt};

pub(crate) struct Core {
    client: Arc<Inner>,
    name: String,
    permits: u64,
    lease: Duration,
    holders: String,
    adjust: String,
    channel: String,
    listener: Listener,
}

impl Core {
    fn new(
        redis: &Redis,
        name: &str,
        permits: usize,
        lease: Option<Duration>,
    ) -> Result<Arc<Core>> {
        check_name(name)?;
        let client = redis.inner.clone();
        let lease = lease.unwrap_or(client.lease);
        if lease < Duration::from_millis(30) {
            return Err(Error::InvalidArgument("lease shorter than 30 ms"));
        }
        let permits = u64::try_from(permits)
            .ok()
            .filter(|&p| p <= (1 << 50))
            .ok_or(Error::InvalidArgument("more than 2^50 permits"))?;
        let channel = client.key(name, "sem:released");
        Ok(Arc::new(Core {
            holders: client.key(name, "sem"),
            adjust: client.key(name, "sem:adjust"),
            listener: client.notifier.listener(channel.clone()),
            channel,
            client,
            name: name.to_owned(),
            permits,
            lease,
        }))
    }

    fn target(&self) -> Target {
        Target::Permit {
            holders: self.holders.clone(),
            adjust: self.adjust.clone(),
            channel: self.channel.clone(),
        }
    }

    async fn attempt(self: &Arc<Self>, token: &str, budget: Duration) -> Result<Attempt<Permit>> {
        let target = self.target();
        let in_flight = InFlight::new(&self.client, &target, token);
        let sent = Instant::now();
        let mut conn = self.client.conn();
        let (granted, wait_ms): (i64, i64) = bounded(
            budget,
            scripts::SEM_ACQUIRE
                .key(&self.holders)
                .key(&self.adjust)
                .arg(self.permits)
                .arg(self.lease.as_millis() as u64)
                .arg(token)
                .invoke_async(&mut conn),
        )
        .await??;
        in_flight.disarm();
        if granted == 1 {
            let lease = Lease::start(&self.client, target, token.to_owned(), self.lease, sent);
            return Ok(Attempt::Granted(Permit {
                lease,
                core: self.clone(),
            }));
        }
        Ok(Attempt::Busy(
            u64::try_from(wait_ms).ok().map(Duration::from_millis),
        ))
    }

    async fn acquire_until(self: Arc<Self>, deadline: Option<Instant>) -> Result<Option<Permit>> {
        let token = random_token();
        wait::acquire(&self.client, &self.listener, deadline, |budget| {
            self.attempt(&token, budget)
        })
        .await
    }

    async fn available(self: Arc<Self>) -> Result<(usize, usize)> {
        let mut conn = self.client.conn();
        let (free, held): (u64, u64) = bounded(
            self.client.op_timeout,
            scripts::SEM_AVAILABLE
                .key(&self.holders)
                .key(&self.adjust)
                .arg(self.permits)
                .invoke_async(&mut conn),
        )
        .await??;
        Ok((free as usize, held as usize))
    }

    async fn add(self: Arc<Self>, n: usize, bounded_release: bool) -> Result<()> {
        let mut conn = self.client.conn();
        let done: i64 = bounded(
            self.client.op_timeout,
            scripts::SEM_ADD
                .key(&self.adjust)
                .arg(n as u64)
                .arg(&self.channel)
                .arg(if bounded_release { "1" } else { "0" })
                .invoke_async(&mut conn),
        )
        .await??;
        if done == 1 {
            Ok(())
        } else {
            Err(Error::TooManyReleases)
        }
    }
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidArgument("empty name"));
    }
    if name.contains(['{', '}']) {
        return Err(Error::InvalidArgument("name with '{' or '}'"));
    }
    Ok(())
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("name", &self.name)
            .field("permits", &self.permits)
            .field("lease", &self.lease)
            .field("key", &self.holders)
            .finish()
    }
}

/// The acquire forms and queries that both semaphore types share.
macro_rules! semaphore_forms {
    ($ty:ident) => {
        impl $ty {
            /// A handle on the fleet-wide semaphore `name` with `permits`
            /// permits and the client's default lease. Every process must
            /// pass the same `permits` for one name. Makes no round trip.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidArgument`] for an empty name, a name with `{`
            /// or `}`, or more than 2^50 permits.
            pub fn new(redis: &Redis, name: &str, permits: usize) -> Result<Self> {
                Ok($ty {
                    core: Core::new(redis, name, permits, None)?,
                })
            }

            /// As [`new`](Self::new), with a lease of its own (at least 30 ms).
            ///
            /// # Errors
            ///
            /// As [`new`](Self::new), and for a lease under 30 ms.
            pub fn with_lease(
                redis: &Redis,
                name: &str,
                permits: usize,
                lease: Duration,
            ) -> Result<Self> {
                Ok($ty {
                    core: Core::new(redis, name, permits, Some(lease))?,
                })
            }

            /// Waits until a permit is free and takes it.
            ///
            /// Waiters are woken by a pub/sub message on release, and at the
            /// earliest lease expiry (a crashed holder's permit). Waiters in
            /// different processes are not queued in order: every woken waiter
            /// tries again and one of them wins.
            ///
            /// # Errors
            ///
            /// Any failure to reach Redis or a refused command ends the wait
            /// with an [`Error`]; it is not retried, so a Redis that is down
            /// fails the call within the client's op timeout.
            ///
            /// # Cancel safety
            ///
            /// Dropping the future loses nothing: if it is dropped while an
            /// attempt is in flight (Redis may have granted it), a release of
            /// that attempt's token is sent in the background; if that cannot
            /// reach Redis, the permit comes back at lease expiry.
            /// [`Redis::flush`] waits for such releases.
            ///
            /// # Examples
            ///
            /// ```no_run
            /// # async fn demo(redis: ambisync_redis::Redis) -> Result<(), ambisync_redis::Error> {
            #[doc = concat!("let limit = ambisync_redis::", stringify!($ty), "::new(&redis, \"backend\", 4)?;")]
            /// let permit = limit.acquire().await?;
            /// // ... at most 4 processes' tasks are here at once ...
            /// permit.release().await?;
            /// # Ok(()) }
            /// ```
            pub async fn acquire(&self) -> Result<Permit> {
                let permit = self.core.clone().acquire_until(None).await?;
                permit.ok_or(Error::Protocol("acquire without deadline timed out".into()))
            }

            /// As [`acquire`](Self::acquire), giving up after `timeout`:
            /// `Ok(None)` when no permit became free in time.
            ///
            /// Round trips are bounded by what is left of `timeout` too, so a
            /// Redis that does not answer gives [`Error::Timeout`] by the
            /// deadline, never later. A zero `timeout` makes exactly one
            /// attempt (as [`try_acquire`](Self::try_acquire)).
            ///
            /// # Errors
            ///
            /// As [`acquire`](Self::acquire).
            ///
            /// # Cancel safety
            ///
            /// As [`acquire`](Self::acquire).
            pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<Permit>> {
                let deadline = Instant::now() + timeout;
                self.core.clone().acquire_until(Some(deadline)).await
            }

            /// Takes a permit if one is free, without waiting for one.
            ///
            /// Unlike the in-process `try_acquire`, this makes one round trip
            /// to Redis (bounded by the op timeout), so it is `async`.
            ///
            /// # Errors
            ///
            /// As [`acquire`](Self::acquire).
            ///
            /// # Cancel safety
            ///
            /// As [`acquire`](Self::acquire).
            pub async fn try_acquire(&self) -> Result<Option<Permit>> {
                self.acquire_timeout(Duration::ZERO).await
            }

            /// [`acquire`](Self::acquire), blocking the calling thread; the
            /// client's runtime does the I/O.
            ///
            /// # Errors
            ///
            /// As [`acquire`](Self::acquire), and [`Error::RuntimeGone`]
            /// when the client's runtime has shut down.
            ///
            /// # Panics
            ///
            /// Inside a tokio runtime (a task or `block_on`).
            pub fn acquire_blocking(&self) -> Result<Permit> {
                let this = self.clone();
                self.core
                    .client
                    .block_on("acquire_blocking", async move { this.acquire().await })
            }

            /// [`acquire_timeout`](Self::acquire_timeout), blocking the
            /// calling thread. A zero `timeout` makes one attempt.
            ///
            /// # Errors
            ///
            /// As [`acquire_blocking`](Self::acquire_blocking).
            ///
            /// # Panics
            ///
            /// Inside a tokio runtime (a task or `block_on`).
            pub fn acquire_timeout_blocking(&self, timeout: Duration) -> Result<Option<Permit>> {
                let this = self.clone();
                self.core.client.block_on("acquire_timeout_blocking", async move {
                    this.acquire_timeout(timeout).await
                })
            }

            /// The permits free right now, fleet-wide (one round trip; expired
            /// leases are not counted as held).
            ///
            /// # Errors
            ///
            /// When Redis cannot be reached.
            pub async fn available_permits(&self) -> Result<usize> {
                Ok(self.core.clone().available().await?.0)
            }

            /// The leases held right now, fleet-wide (one round trip).
            ///
            /// # Errors
            ///
            /// When Redis cannot be reached.
            pub async fn holders(&self) -> Result<usize> {
                Ok(self.core.clone().available().await?.1)
            }

            /// The name given to [`new`](Self::new).
            pub fn name(&self) -> &str {
                &self.core.name
            }

            /// The lease of this handle's permits.
            pub fn lease(&self) -> Duration {
                self.core.lease
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.core).finish()
            }
        }
    };
}

/// A semaphore shared by every process connected to one Redis: at most
/// `permits` leases are held at once, fleet-wide.
///
/// A permit is a lease with a random secret token, recorded in a sorted set
/// with its expiry by the server's clock. While the [`Permit`] lives, a
/// watchdog renews it every third of the lease; a crashed or paused holder's
/// permit comes back when its lease expires. Only the holder's token can
/// release or renew it.
///
/// As Python's `threading.Semaphore`, a raw [`release`](Self::release) adds a
/// permit even if none was taken, and [`Permit::forget`] keeps one taken for
/// good (both persisted in Redis). The count of extra permits lives in Redis,
/// so a restart without persistence resets it.
///
/// Cloning gives another handle on the same semaphore.
#[derive(Clone)]
pub struct Semaphore {
    core: Arc<Core>,
}

semaphore_forms!(Semaphore);

impl Semaphore {
    /// Adds one permit, fleet-wide (Python's `release()`): always allowed.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn release(&self) -> Result<()> {
        self.release_n(1).await
    }

    /// Adds `n` permits, fleet-wide, and wakes waiters.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn release_n(&self, n: usize) -> Result<()> {
        self.core.clone().add(n, false).await
    }
}

/// A [`Semaphore`] that never holds more than its initial permits: a raw
/// [`release`](Self::release) only gives back permits that a
/// [`Permit::forget`] kept, and fails with [`Error::TooManyReleases`]
/// otherwise; a permit's own release fails with [`Error::NotHeld`] when its
/// lease was lost.
#[derive(Clone)]
pub struct BoundedSemaphore {
    core: Arc<Core>,
}

semaphore_forms!(BoundedSemaphore);

impl BoundedSemaphore {
    /// Gives back one permit that a [`Permit::forget`] kept taken.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyReleases`] ("semaphore released too many times") when
    /// that would exceed the bound; nothing changes then. Also when Redis
    /// cannot be reached.
    pub async fn release(&self) -> Result<()> {
        self.core.clone().add(1, true).await
    }
}

/// A held permit of a [`Semaphore`] or [`BoundedSemaphore`]. Owned
/// (`'static`): it may move into a spawned task or thread.
///
/// Dropping it releases it in the background (the lease expires if that
/// cannot reach Redis); [`release`](Self::release) does it now and reports
/// whether it was still held.
pub struct Permit {
    lease: Lease,
    core: Arc<Core>,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("semaphore", &self.core.name)
            .field("lease", &self.lease)
            .finish()
    }
}

impl Permit {
    /// Whether the lease is lost: Redis said it is not held, or no renewal
    /// was confirmed before the lease ran out (Redis unreachable, or this
    /// process was paused). Once true it stays true.
    pub fn is_lost(&self) -> bool {
        self.lease.is_lost()
    }

    /// Completes when the lease is lost (see [`is_lost`](Self::is_lost)), or
    /// when the permit was released. Owned, so it can be raced against the
    /// work the permit protects.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(limit: ambisync_redis::Semaphore) -> Result<(), ambisync_redis::Error> {
    /// let permit = limit.acquire().await?;
    /// tokio::select! {
    ///     _ = permit.lost() => eprintln!("lease lost: stop touching the backend"),
    ///     _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
    /// }
    /// # Ok(()) }
    /// ```
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.lease.lost()
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        self.lease.lease()
    }

    /// Releases the permit now and wakes waiters.
    ///
    /// # Errors
    ///
    /// [`Error::NotHeld`] when the lease was lost before (it may have been
    /// granted to someone else since); errors of Redis.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it finished still gives the permit back: the
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

    /// Keeps the permit taken for good (Python: `acquire()` without
    /// `release()`): the semaphore has one permit less, also after this
    /// process is gone, until a raw `release`.
    ///
    /// # Errors
    ///
    /// [`Error::NotHeld`] when the lease was lost before; errors of Redis.
    pub async fn forget(self) -> Result<()> {
        self.lease.finish(true).await
    }
}
