//! ambisync's [`Semaphore`], [`BoundedSemaphore`], [`Lock`], [`Queue`],
//! [`LifoQueue`], [`PriorityQueue`], [`Event`] and [`Barrier`] across
//! processes and hosts, on one Redis server.
//!
//! The names and forms follow ambisync's naming rule (`acquire().await`,
//! `acquire_timeout(d).await`, `try_acquire()`, `acquire_blocking()`,
//! `acquire_timeout_blocking(d)`; `lock*`, `get*`, `put*`, `wait*`,
//! `join*` likewise), with owned guards.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ambisync_redis::Error> {
//! use ambisync_redis::{BoundedSemaphore, Redis};
//!
//! let redis = Redis::connect("redis://127.0.0.1:6379/").await?;
//! // Ten servers, one limit of 4 toward a fragile backend:
//! let backend = BoundedSemaphore::new(&redis, "backend", 4)?;
//! let permit = backend.acquire().await?;
//! // ... call the backend; `permit.lost()` completes if the lease is lost ...
//! permit.release().await?;
//! # Ok(()) }
//! ```
//!
//! A work queue shared by producer and consumer processes, with
//! at-least-once delivery that survives a dead consumer:
//!
//! ```no_run
//! # async fn demo(redis: ambisync_redis::Redis) -> Result<(), ambisync_redis::Error> {
//! use ambisync_redis::Queue;
//!
//! let jobs: Queue<String> = Queue::bounded(&redis, "jobs", 100)?;
//! jobs.put(&"thumbnail 17".to_owned()).await?;     // in a producer
//! let job = jobs.get().await?;                       // in a consumer
//! // ... handle it (idempotently: it may come again if we die here) ...
//! job.task_done().await?;
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! - **Leases, by the server's clock.** A permit or lock is a lease with a
//!   random 128-bit secret, stamped by Lua scripts with Redis's `TIME`; no
//!   client clock is ever compared with another. Only the secret, kept in the
//!   guard, can renew or release it.
//! - **Watchdog.** While a guard lives, a task renews its lease every third of
//!   it. When Redis says the lease is gone, or no renewal is confirmed before
//!   the lease runs out by the local clock (Redis unreachable, or the process
//!   was paused), the guard reports it: [`Permit::is_lost`] and the
//!   [`Permit::lost`] future (the same on [`LockGuard`]). A crashed holder's
//!   permit or lock comes back when its lease expires.
//! - **Waiters are woken, not polling.** A release publishes on the
//!   primitive's channel; a waiter sleeps until that message or the earliest
//!   lease expiry that Redis reported, whichever comes first. The pub/sub
//!   connection reconnects by itself; once it has subscribed again, every
//!   local waiter re-checks, so a release published during the outage is not
//!   missed.
//! - **Cancellation.** Dropping an acquire future while its request is in
//!   flight sends a release of that attempt's secret in the background (Redis
//!   processes it after the acquire, on the same connection); if it cannot
//!   reach Redis the lease expires. A dropped guard releases in the
//!   background the same way. [`Redis::flush`] waits for those releases.
//! - **Queues.** [`Queue::get`] moves an item atomically into the
//!   consumer's in-flight list (a Lua script, or `BLMOVE` on a dedicated
//!   connection while the queue is empty); [`Delivery::task_done`] removes
//!   it. Consumers heart-beat through the same renewal task as leases; a
//!   lapsed consumer's items go back to the queue (the visibility timeout),
//!   and after a number of deliveries to a dead-letter list. Handlers must be
//!   idempotent: see [`Queue`] for why exactly-once is not offered.
//!   `unfinished_tasks` changes in the same script as the items, so it is
//!   exact; `join` waits for a pub/sub message, not by polling.
//! - **Event and Barrier.** [`Event::set`] bumps a generation that waiters
//!   compare, so a `set` followed at once by `clear`, or published while a
//!   waiter's pub/sub connection was down, still wakes it. A waiting
//!   [`Barrier`] party holds a lease: a party that dies breaks the round.
//! - **Keys.** Everything lives under a configurable prefix
//!   (`"ambisync:"` by default): `{prefix}{name}:sem`, `...:lock`,
//!   `...:lock:fence`, `...:q`, `...:q:inflight:<consumer>`, `...:event`,
//!   `...:barrier`, channels such as `...:released`. Names and values reach
//!   the scripts only as `KEYS`/`ARGV` (a queue's scripts also derive its
//!   consumers' in-flight list names from an `ARGV` prefix, inside the
//!   queue's hash tag, so a cluster keeps them in one slot). An ACL user
//!   limited to `~prefix*` and `&prefix*` is enough; add `+client|unblock`
//!   if it has no `@admin`/`@dangerous` commands, so that a queue shutdown
//!   can interrupt blocked gets at once.
//! - **Errors are values.** Every call that talks to Redis returns
//!   [`Error`]; every round trip is bounded by the client's op timeout and by
//!   what is left of the caller's own timeout, so a Redis that is down or
//!   frozen gives an error in time, never a hang.
//!
//! # What is and is not guaranteed
//!
//! With one Redis server that keeps its data and processes that are not
//! paused longer than their lease, at most `permits` holders (one for a lock)
//! hold at any time. Beyond that, be aware:
//!
//! - **A paused holder** (GC, SIGSTOP, swapped out) can outlive its lease
//!   without running: another holder gets in, and the paused one only learns
//!   on resuming, through `is_lost()`/`lost()`. Between resuming and that check
//!   it may still act. **Fencing tokens** ([`LockGuard::fencing_token`]) are
//!   what makes a protected resource safe: it must refuse a token lower than
//!   the highest it has seen.
//! - **Redis replication is asynchronous.** After a failover to a replica
//!   that had not yet received a grant, or a restart without persistence
//!   (the data is gone), the same permit or lock can be granted twice. The
//!   old holder's next renewal fails and it reports the lease lost, but
//!   until then both hold. With AOF `appendfsync always`, a restart keeps
//!   the leases (they expire by their absolute server-time deadline).
//! - **Fencing tokens** stay strictly increasing across such a data loss as
//!   long as the server's clock does not step back by more than the outage
//!   (tokens embed the server time in microseconds), and in any case for a
//!   handle that saw the older tokens (it sends its highest as a floor).
//! - **No fairness across processes.** Woken waiters retry; one of them wins.
//! - **Queues** keep what Redis keeps: with AOF `appendfsync always` an
//!   acknowledged `put` survives a Redis crash; without persistence a
//!   restart empties the queue and its counters (see [`Queue`]).
//! - This is not Redlock: one Redis (or one primary) is the authority.
//!
//! # Requirements
//!
//! Redis 6 or later (the notifications use RESP3); tested with Debian's
//! redis-server 7.0. A tokio runtime drives the connections: either the one
//! [`Redis::connect`] runs in, or a small one of the client's own
//! ([`Redis::connect_blocking`]), which the `_blocking` forms use from plain
//! threads.
//!
//! # Owner identity and `RLock`
//!
//! A lease's owner is its random secret, held by the guard; nothing else
//! (process, host, task) is identity. A fleet-wide `RLock` is not offered:
//! its owner would have to be "this task in this process", but tokio task
//! ids are reused once a task ends and guards are owned (`'static`, they move
//! between tasks), so a reentrant acquire could not tell the owner from a
//! newcomer soundly.

#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

mod barrier;
mod blocking;
mod client;
mod error;
mod event;
mod lease;
mod lock;
mod notify;
mod queue;
mod scripts;
mod semaphore;
mod wait;

pub use barrier::Barrier;
pub use client::{Builder, DEFAULT_LEASE, DEFAULT_OP_TIMEOUT, DEFAULT_PREFIX, Redis};
pub use error::{Error, Result};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use queue::{
    DEFAULT_MAX_DELIVERIES, Delivery, Item, LifoQueue, PriorityQueue, Queue, QueueOptions,
};
pub use semaphore::{BoundedSemaphore, Permit, Semaphore};

/// The crate's Lua scripts, for the benchmark's floor (the same commands
/// sent bare). Not part of the API.
#[doc(hidden)]
pub mod __bench {
    /// The lock's acquire and release scripts.
    pub fn lock_scripts() -> [&'static redis::Script; 2] {
        [&crate::scripts::LOCK_ACQUIRE, &crate::scripts::LOCK_RELEASE]
    }
}
