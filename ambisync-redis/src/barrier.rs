//! Fleet-wide `Barrier` with Python's broken-state semantics; a waiting
//! party holds a lease, so a party that dies breaks the round.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use tokio::time::Instant;

use crate::client::{Inner, Redis, bounded, random_token};
use crate::error::{Error, Result};
use crate::lease::{InFlight, Lease, LeaseFuture, Leased, Target};
use crate::notify::Listener;
use crate::scripts;
use crate::semaphore::check_name;
use crate::wait::{self, Attempt};

/// The Redis names of one barrier (the KEYS of every barrier script, in
/// order) and its channel.
struct Keys {
    state: String,
    order: String,
    leases: String,
    results: String,
    channel: String,
}

impl Keys {
    fn script<'a>(&self, script: &'a redis::Script) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.state)
            .key(&self.order)
            .key(&self.leases)
            .key(&self.results);
        invocation
    }

    /// Runs a barrier script whose reply is `{code, index?}`: `Ok(index)`,
    /// `Err(None)` for a broken round, `Err(Some(ms))` while waiting.
    async fn run(
        &self,
        client: &Inner,
        invocation: redis::ScriptInvocation<'_>,
        budget: Duration,
    ) -> Result<std::result::Result<usize, Option<u64>>> {
        let mut conn = client.conn();
        let reply: Value = bounded(budget, invocation.invoke_async(&mut conn)).await??;
        let numbers: Vec<i64> = redis::from_redis_value(reply.clone())
            .map_err(|_| Error::Protocol(format!("barrier script gave {reply:?}")))?;
        Ok(match numbers.as_slice() {
            [1, index] => Ok(*index as usize),
            [0, wait] => Err(Some((*wait).max(0) as u64)),
            [0] => Err(Some(0)),
            _ => Err(None),
        })
    }
}

/// A waiting party's arrival is a lease: renewed while it waits, withdrawn
/// when its wait is cancelled.
impl Leased for Keys {
    fn renew<'a>(&'a self, client: &'a Inner, token: &'a str, lease: Duration) -> LeaseFuture<'a> {
        Box::pin(async move {
            let mut conn = client.conn();
            let held: i64 = scripts::SEM_RENEW
                .key(&self.leases)
                .arg(token)
                .arg(lease.as_millis() as u64)
                .invoke_async(&mut conn)
                .await?;
            Ok(held == 1)
        })
    }

    fn release<'a>(&'a self, client: &'a Inner, token: &'a str) -> LeaseFuture<'a> {
        Box::pin(async move {
            let mut invocation = self.script(&scripts::BARRIER_LEAVE);
            invocation.arg(token).arg("0").arg(&self.channel);
            let left = self.run(client, invocation, client.op_timeout).await?;
            Ok(left.is_err())
        })
    }
}

struct Core {
    client: Arc<Inner>,
    name: String,
    parties: usize,
    lease: Duration,
    keys: Arc<Keys>,
    listener: Listener,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("name", &self.name)
            .field("parties", &self.parties)
            .field("lease", &self.lease)
            .field("key", &self.keys.state)
            .finish()
    }
}

impl Core {
    async fn wait_until(&self, deadline: Option<Instant>) -> Result<usize> {
        let client = &self.client;
        let keys = &self.keys;
        let token = random_token();
        let target = Target::Other(keys.clone());
        // Dropped while the arrival is in flight: withdraw it.
        let in_flight = InFlight::new(client, &target, &token);
        let sent = Instant::now();
        let mut arrive = keys.script(&scripts::BARRIER_ARRIVE);
        arrive
            .arg(&token)
            .arg(self.parties)
            .arg(self.lease.as_millis() as u64)
            .arg(&keys.channel);
        let arrived = keys
            .run(client, arrive, client.first_budget(deadline))
            .await?;
        in_flight.disarm();
        match arrived {
            Ok(index) => return Ok(index),
            Err(None) => return Err(Error::BrokenBarrier),
            Err(Some(_)) => {}
        }
        // Waiting: the lease keeps the arrival alive; dropping it (a
        // cancelled wait, or an error) withdraws the arrival.
        let lease = Lease::start(client, target, token.clone(), self.lease, sent);
        let token = &token;
        let outcome = wait::acquire(client, &self.listener, deadline, |budget| async move {
            let mut check = keys.script(&scripts::BARRIER_CHECK);
            check.arg(token).arg(&keys.channel);
            Ok(match keys.run(client, check, budget).await? {
                Ok(index) => Attempt::Granted(Some(index)),
                Err(None) => Attempt::Granted(None),
                Err(Some(ms)) => Attempt::Busy(Some(Duration::from_millis(ms))),
            })
        })
        .await?;
        let index = match outcome {
            Some(index) => index,
            None => {
                // Timed out: that breaks the barrier for everyone (Python),
                // unless the round tripped in the meantime.
                let mut leave = keys.script(&scripts::BARRIER_LEAVE);
                leave.arg(token).arg("1").arg(&keys.channel);
                keys.run(client, leave, client.op_timeout).await?.ok()
            }
        };
        lease.end();
        index.ok_or(Error::BrokenBarrier)
    }

    async fn state(&self) -> Result<(usize, bool)> {
        let mut conn = self.client.conn();
        let (waiting, broken): (u64, i64) = bounded(
            self.client.op_timeout,
            self.keys
                .script(&scripts::BARRIER_STATE)
                .invoke_async(&mut conn),
        )
        .await??;
        Ok((waiting as usize, broken == 1))
    }

    async fn reset(&self, abort: bool) -> Result<()> {
        let mut conn = self.client.conn();
        let mut reset = self.keys.script(&scripts::BARRIER_RESET);
        reset
            .arg(if abort { "1" } else { "0" })
            .arg(&self.keys.channel);
        let _: i64 = bounded(self.client.op_timeout, reset.invoke_async(&mut conn)).await??;
        Ok(())
    }
}

/// A barrier shared by every process connected to one Redis (Python's
/// `threading.Barrier` across processes).
///
/// It trips when `parties` callers, in any processes, wait on it; each gets
/// its index in arrival order, `0..parties` (the first arrival gets 0),
/// and the barrier is ready for the next round. As in Python:
///
/// - a `wait_timeout` that expires **breaks** the barrier for everyone:
///   every waiting party gets [`Error::BrokenBarrier`], and so does every
///   later `wait` until [`reset`](Self::reset);
/// - [`abort`](Self::abort) breaks it; [`reset`](Self::reset) breaks the
///   waiting round (its parties get [`Error::BrokenBarrier`]) and makes it
///   usable again.
///
/// Across processes, also: **a party that dies breaks the round.** A
/// waiting party holds a lease (renewed every third of it while it waits);
/// when a party's lease lapses (its process died or froze), the other
/// parties, woken at that expiry, break the barrier and get
/// [`Error::BrokenBarrier`] — within their own timeout, never a hang. A
/// `wait` future that is dropped withdraws its arrival without breaking the
/// barrier (asyncio's rule, as in-process).
///
/// There is no `with_action`: a callback cannot run "in the last arriver
/// before anyone is released" across processes without a second round of
/// messages; run the action after `wait` where the index is 0.
///
/// Every process must pass the same `parties` for one name. Cloning gives
/// another handle on the same barrier.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(redis: ambisync_redis::Redis) -> Result<(), ambisync_redis::Error> {
/// // The same line in each of 3 worker processes:
/// let start = ambisync_redis::Barrier::new(&redis, "start-together", 3)?;
/// let index = start.wait().await?;
/// if index == 0 {
///     println!("all 3 workers are ready");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Barrier {
    core: Arc<Core>,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Barrier").field(&self.core).finish()
    }
}

impl Barrier {
    /// A handle on the fleet-wide barrier `name` for `parties` parties, with
    /// the client's lease for waiting parties. Makes no round trip.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for 0 parties, an empty name or one with
    /// `{` or `}`.
    pub fn new(redis: &Redis, name: &str, parties: usize) -> Result<Barrier> {
        Self::make(redis, name, parties, None)
    }

    /// As [`new`](Self::new), with a lease of its own (at least 30 ms): how
    /// long after a waiting party died the others learn it.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and for a lease under 30 ms.
    pub fn with_lease(
        redis: &Redis,
        name: &str,
        parties: usize,
        lease: Duration,
    ) -> Result<Barrier> {
        Self::make(redis, name, parties, Some(lease))
    }

    fn make(redis: &Redis, name: &str, parties: usize, lease: Option<Duration>) -> Result<Barrier> {
        check_name(name)?;
        if parties == 0 {
            return Err(Error::InvalidArgument("a barrier of 0 parties"));
        }
        let client = redis.inner.clone();
        let lease = lease.unwrap_or(client.lease);
        if lease < Duration::from_millis(30) {
            return Err(Error::InvalidArgument("lease shorter than 30 ms"));
        }
        let keys = Keys {
            state: client.key(name, "barrier"),
            order: client.key(name, "barrier:order"),
            leases: client.key(name, "barrier:leases"),
            results: client.key(name, "barrier:results"),
            channel: client.key(name, "barrier:changed"),
        };
        Ok(Barrier {
            core: Arc::new(Core {
                listener: client.notifier.listener(keys.channel.clone()),
                keys: Arc::new(keys),
                client,
                name: name.to_owned(),
                parties,
                lease,
            }),
        })
    }

    /// Waits until `parties` callers wait, fleet-wide; returns this
    /// caller's arrival index (`0..parties`).
    ///
    /// # Errors
    ///
    /// [`Error::BrokenBarrier`] when the barrier is broken or breaks while
    /// this caller waits (a timeout, a dead party, `reset`, `abort`);
    /// errors of Redis.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future withdraws this caller's arrival (in the
    /// background) without breaking the barrier; if the withdrawal cannot
    /// reach Redis, the arrival's lease lapses, which breaks the round.
    pub async fn wait(&self) -> Result<usize> {
        self.core.wait_until(None).await
    }

    /// As [`wait`](Self::wait), giving up after `timeout`, which breaks the
    /// barrier for every party (Python): [`Error::BrokenBarrier`].
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Self::wait).
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.core.wait_until(Some(Instant::now() + timeout)).await
    }

    /// [`wait`](Self::wait), blocking the calling thread.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime.
    pub fn wait_blocking(&self) -> Result<usize> {
        let this = self.clone();
        self.core
            .client
            .block_on("wait_blocking", async move { this.wait().await })
    }

    /// [`wait_timeout`](Self::wait_timeout), blocking the calling thread.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime.
    pub fn wait_timeout_blocking(&self, timeout: Duration) -> Result<usize> {
        let this = self.clone();
        self.core
            .client
            .block_on("wait_timeout_blocking", async move {
                this.wait_timeout(timeout).await
            })
    }

    /// Breaks the waiting round (its parties get [`Error::BrokenBarrier`])
    /// and makes the barrier usable again.
    ///
    /// # Errors
    ///
    /// Errors of Redis.
    pub async fn reset(&self) -> Result<()> {
        self.core.reset(false).await
    }

    /// Breaks the barrier: waiting and later parties get
    /// [`Error::BrokenBarrier`] until [`reset`](Self::reset).
    ///
    /// # Errors
    ///
    /// Errors of Redis.
    pub async fn abort(&self) -> Result<()> {
        self.core.reset(true).await
    }

    /// The number of parties needed to trip it.
    pub fn parties(&self) -> usize {
        self.core.parties
    }

    /// Parties waiting now, fleet-wide (one round trip).
    ///
    /// # Errors
    ///
    /// Errors of Redis.
    pub async fn n_waiting(&self) -> Result<usize> {
        Ok(self.core.state().await?.0)
    }

    /// Whether the barrier is broken (one round trip).
    ///
    /// # Errors
    ///
    /// Errors of Redis.
    pub async fn is_broken(&self) -> Result<bool> {
        Ok(self.core.state().await?.1)
    }

    /// The name given to [`new`](Self::new).
    pub fn name(&self) -> &str {
        &self.core.name
    }
}
