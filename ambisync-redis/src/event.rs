//! Fleet-wide `Event`: a flag in Redis with a generation that every `set`
//! bumps, so that a waiter wakes for a `set` even if a `clear` follows at
//! once.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::client::{Inner, Redis, bounded};
use crate::error::Result;
use crate::notify::Listener;
use crate::scripts;
use crate::semaphore::check_name;
use crate::wait::{self, Attempt};

struct Core {
    client: Arc<Inner>,
    name: String,
    key: String,
    channel: String,
    listener: Listener,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name)
            .field("key", &self.key)
            .finish()
    }
}

/// "Not read yet", for the generation a waiter began at.
const UNREAD: u64 = u64::MAX;

impl Core {
    /// {set, generation}.
    async fn read(&self, budget: Duration) -> Result<(bool, u64)> {
        let mut conn = self.client.conn();
        let (set, generation): (Option<String>, Option<u64>) = bounded(
            budget,
            redis::cmd("HMGET")
                .arg(&self.key)
                .arg("set")
                .arg("gen")
                .query_async(&mut conn),
        )
        .await??;
        Ok((set.as_deref() == Some("1"), generation.unwrap_or(0)))
    }

    async fn wait_until(&self, deadline: Option<Instant>) -> Result<bool> {
        // The generation when this waiter first looked: any later `set`
        // bumped it, whether or not a `clear` followed.
        let began = AtomicU64::new(UNREAD);
        let began = &began;
        let woken = wait::acquire(
            &self.client,
            &self.listener,
            deadline,
            |budget| async move {
                let (set, generation) = self.read(budget).await?;
                let first = began
                    .compare_exchange(UNREAD, generation, Ordering::Relaxed, Ordering::Relaxed)
                    .unwrap_or_else(|seen| seen);
                Ok(if set || generation > first {
                    Attempt::Granted(())
                } else {
                    Attempt::Busy(None)
                })
            },
        )
        .await?;
        Ok(woken.is_some())
    }
}

/// An event flag shared by every process connected to one Redis (Python's
/// `threading.Event` across processes).
///
/// [`set`](Self::set) wakes every waiter of every process that had begun
/// waiting (its first look reached Redis) before the `set`, even if a
/// [`clear`](Self::clear) follows at once and even if the waiter's pub/sub
/// connection was re-established in between: every `set` of a clear event
/// bumps a generation counter in the same script, and a waiter compares the
/// generation it began at with the one it sees when woken, or when it
/// re-checks after its notifier reconnected. The generation is at least the
/// server time in microseconds, so it keeps increasing after Redis lost its
/// data.
///
/// `set`, `clear` and `is_set` make one round trip each, so they are
/// `async`. Cloning gives another handle on the same event.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(redis: ambisync_redis::Redis) -> Result<(), ambisync_redis::Error> {
/// let ready = ambisync_redis::Event::new(&redis, "config-loaded")?;
/// // In one process:
/// ready.set().await?;
/// // In the others:
/// ready.wait().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Event {
    core: Arc<Core>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Event").field(&self.core).finish()
    }
}

impl Event {
    /// A handle on the fleet-wide event `name` (clear until someone sets
    /// it). Makes no round trip.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an empty name or one with `{` or `}`.
    pub fn new(redis: &Redis, name: &str) -> Result<Event> {
        check_name(name)?;
        let client = redis.inner.clone();
        let channel = client.key(name, "event:set");
        Ok(Event {
            core: Arc::new(Core {
                key: client.key(name, "event"),
                listener: client.notifier.listener(channel.clone()),
                channel,
                client,
                name: name.to_owned(),
            }),
        })
    }

    /// Sets the flag and wakes every waiter, in every process.
    ///
    /// # Errors
    ///
    /// Errors of Redis.
    pub async fn set(&self) -> Result<()> {
        let core = &self.core;
        let mut conn = core.client.conn();
        let _: i64 = bounded(
            core.client.op_timeout,
            scripts::EVENT_SET
                .key(&core.key)
                .arg(&core.channel)
                .invoke_async(&mut conn),
        )
        .await??;
        Ok(())
    }

    /// Clears the flag: later waiters wait for the next `set`.
    ///
    /// # Errors
    ///
    /// Errors of Redis.
    pub async fn clear(&self) -> Result<()> {
        let core = &self.core;
        let mut conn = core.client.conn();
        bounded(
            core.client.op_timeout,
            redis::cmd("HSET")
                .arg(&core.key)
                .arg("set")
                .arg("0")
                .exec_async(&mut conn),
        )
        .await??;
        Ok(())
    }

    /// Whether the flag is set (one round trip).
    ///
    /// # Errors
    ///
    /// Errors of Redis.
    pub async fn is_set(&self) -> Result<bool> {
        Ok(self.core.read(self.core.client.op_timeout).await?.0)
    }

    /// Waits until the flag is set (returns at once if it is).
    ///
    /// # Errors
    ///
    /// Errors of Redis end the wait.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: waiting changes nothing in Redis.
    pub async fn wait(&self) -> Result<()> {
        self.core.wait_until(None).await.map(drop)
    }

    /// As [`wait`](Self::wait), giving up after `timeout`: `true` if the
    /// flag was set (Python's `wait(timeout)`). A zero timeout makes one
    /// round trip.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait); an unresponsive Redis gives
    /// [`Error::Timeout`](crate::Error::Timeout) by the deadline.
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Self::wait).
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
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
    pub fn wait_blocking(&self) -> Result<()> {
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
    pub fn wait_timeout_blocking(&self, timeout: Duration) -> Result<bool> {
        let this = self.clone();
        self.core
            .client
            .block_on("wait_timeout_blocking", async move {
                this.wait_timeout(timeout).await
            })
    }

    /// The name given to [`new`](Self::new).
    pub fn name(&self) -> &str {
        &self.core.name
    }
}
