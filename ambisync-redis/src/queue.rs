//! Fleet-wide `Queue`, `LifoQueue` and `PriorityQueue` with at-least-once
//! delivery: in-flight lists per consumer, heartbeats, a visibility timeout,
//! a redelivery limit and a dead-letter list.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::{Inner, Redis, bounded, random_token};
use crate::error::{Error, Result};
use crate::lease::{Lease, LeaseFuture, Leased, Target};
use crate::notify::Listener;
use crate::scripts;
use crate::semaphore::check_name;
use crate::wait::{self, Attempt, UNKNOWN_EXPIRY_RETRY};

/// A value that can travel through a fleet-wide queue: it is stored in
/// Redis as bytes.
///
/// Implemented for `Vec<u8>`, `String` and the integer types; implement it
/// for your own types (with serde, a protobuf, ...).
///
/// # Examples
///
/// ```
/// use ambisync_redis::Item;
///
/// struct Job { id: u32 }
///
/// impl Item for Job {
///     fn encode(&self) -> Vec<u8> {
///         self.id.to_be_bytes().to_vec()
///     }
///     fn decode(bytes: &[u8]) -> Result<Self, String> {
///         let id = bytes.try_into().map_err(|_| "not 4 bytes".to_owned())?;
///         Ok(Job { id: u32::from_be_bytes(id) })
///     }
/// }
/// assert_eq!(Job::decode(&Job { id: 7 }.encode()).unwrap().id, 7);
/// ```
pub trait Item: Sized + Send + 'static {
    /// The bytes stored in Redis.
    fn encode(&self) -> Vec<u8>;
    /// The value back from its bytes, or why not.
    ///
    /// # Errors
    ///
    /// When `bytes` is not an encoding of `Self` (reported to the caller of
    /// `get` as [`Error::Decode`]).
    fn decode(bytes: &[u8]) -> std::result::Result<Self, String>;
}

impl Item for Vec<u8> {
    fn encode(&self) -> Vec<u8> {
        self.clone()
    }
    fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        Ok(bytes.to_vec())
    }
}

impl Item for String {
    fn encode(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    }
}

macro_rules! number_items {
    ($($ty:ty),*) => {$(
        impl Item for $ty {
            fn encode(&self) -> Vec<u8> {
                self.to_string().into_bytes()
            }
            fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
                std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("not a {}", stringify!($ty)))
            }
        }
    )*};
}

number_items!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

/// Settings of a queue handle. Every process must use the same `maxsize`
/// and `max_deliveries` for one queue name.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(redis: ambisync_redis::Redis) -> Result<(), ambisync_redis::Error> {
/// use std::time::Duration;
/// use ambisync_redis::{Queue, QueueOptions};
///
/// let options = QueueOptions::new()
///     .maxsize(100)
///     .visibility_timeout(Duration::from_secs(30))
///     .max_deliveries(3);
/// let jobs: Queue<String> = Queue::with_options(&redis, "jobs", options)?;
/// # drop(jobs); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct QueueOptions {
    maxsize: Option<usize>,
    visibility_timeout: Option<Duration>,
    max_deliveries: u32,
}

/// Default [`QueueOptions::max_deliveries`].
pub const DEFAULT_MAX_DELIVERIES: u32 = 5;

impl Default for QueueOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl QueueOptions {
    /// Unbounded, the client's lease as the visibility timeout, and
    /// [`DEFAULT_MAX_DELIVERIES`].
    pub fn new() -> Self {
        QueueOptions {
            maxsize: None,
            visibility_timeout: None,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
        }
    }

    /// At most `maxsize` items wait in the queue (not counting items in
    /// flight); a `put` on a full queue waits, fleet-wide.
    pub fn maxsize(mut self, maxsize: usize) -> Self {
        self.maxsize = Some(maxsize);
        self
    }

    /// How long a consumer's heartbeat may lapse before its unacknowledged
    /// items go back to the queue (default: the client's lease). The
    /// heartbeat renews it every third of it while the handle lives.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = Some(timeout);
        self
    }

    /// After this many deliveries that ended without an acknowledgement (a
    /// consumer died, or dropped or [`requeue`](Delivery::requeue)d the
    /// delivery), an item goes to the dead-letter list instead of back to
    /// the queue (default 5; 1 means it is never delivered twice).
    pub fn max_deliveries(mut self, n: u32) -> Self {
        self.max_deliveries = n;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fifo,
    Lifo,
    Priority,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Fifo => "f",
            Kind::Lifo => "l",
            Kind::Priority => "p",
        }
    }
}

/// The Redis names of one queue, and what a consumer's heartbeat needs.
struct Keys {
    kind: Kind,
    ready: String,
    seq: String,
    unfinished: String,
    state: String,
    consumers: String,
    dead: String,
    inflight_prefix: String,
    get_channel: String,
    put_channel: String,
    join_channel: String,
    max_deliveries: u32,
    /// How long a lapsed consumer stays listed (see `QUEUE_HEARTBEAT`).
    grace: Duration,
}

impl Keys {
    fn inflight(&self, consumer: &str) -> String {
        format!("{}{consumer}", self.inflight_prefix)
    }

    async fn heartbeat(
        &self,
        client: &Inner,
        consumer: &str,
        lease: Duration,
        mode: &str,
    ) -> Result<bool> {
        let mut conn = client.conn();
        let alive: i64 = scripts::QUEUE_HEARTBEAT
            .key(&self.consumers)
            .key(&self.ready)
            .key(&self.dead)
            .key(&self.unfinished)
            .arg(consumer)
            .arg(lease.as_millis() as u64)
            .arg(self.kind.code())
            .arg(self.max_deliveries)
            .arg(&self.inflight_prefix)
            .arg(self.grace.as_millis() as u64)
            .arg(&self.get_channel)
            .arg(&self.join_channel)
            .arg(mode)
            .invoke_async(&mut conn)
            .await?;
        Ok(alive == 1)
    }

    /// Takes `envelope` out of `consumer`'s in-flight list and puts it back
    /// in the queue: `counted` as a delivery (it may go to the dead letters)
    /// or not (a get cancelled before the item reached its caller).
    async fn give_back(
        &self,
        client: &Inner,
        consumer: &str,
        envelope: &[u8],
        counted: bool,
        max_deliveries: u32,
    ) -> Result<bool> {
        let mut conn = client.conn();
        let held: i64 = bounded(
            client.op_timeout,
            scripts::QUEUE_RETURN
                .key(&self.ready)
                .key(self.inflight(consumer))
                .key(&self.dead)
                .key(&self.unfinished)
                .arg(self.kind.code())
                .arg(envelope)
                .arg(if counted { "1" } else { "0" })
                .arg(max_deliveries)
                .arg(&self.get_channel)
                .arg(&self.join_channel)
                .invoke_async(&mut conn),
        )
        .await??;
        Ok(held == 1)
    }
}

/// A consumer's heartbeat is a lease: renewing it also returns the items of
/// lapsed consumers; giving it back returns this consumer's own.
impl Leased for Keys {
    fn renew<'a>(&'a self, client: &'a Inner, token: &'a str, lease: Duration) -> LeaseFuture<'a> {
        Box::pin(self.heartbeat(client, token, lease, "renew"))
    }

    fn release<'a>(&'a self, client: &'a Inner, token: &'a str) -> LeaseFuture<'a> {
        Box::pin(async move {
            let mut conn = client.conn();
            let alive: i64 = scripts::QUEUE_LEAVE
                .key(&self.consumers)
                .key(self.inflight(token))
                .key(&self.ready)
                .key(&self.dead)
                .key(&self.unfinished)
                .arg(token)
                .arg(self.kind.code())
                .arg(self.max_deliveries)
                .arg(&self.get_channel)
                .arg(&self.join_channel)
                .invoke_async(&mut conn)
                .await?;
            Ok(alive == 1)
        })
    }
}

/// This handle's registration as a consumer: its in-flight list and the
/// heartbeat that keeps it.
///
/// A consumer whose in-flight list may hold an item nobody knows of (a take
/// whose reply was lost, a give-back that failed) is *retired*: the handle
/// registers a new one for its next get, and when the retired one's last
/// delivery is done, its leave returns whatever is left in its list.
struct Consumer {
    id: String,
    inflight: String,
    heartbeat: Lease,
    retired: AtomicBool,
}

impl Consumer {
    fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }
}

/// What one take (a get attempt) found.
enum Taken {
    Item(Vec<u8>),
    Empty,
    ShutDown,
    Unregistered,
}

pub(crate) struct Core {
    client: Arc<Inner>,
    name: String,
    maxsize: u64,
    visibility: Duration,
    keys: Arc<Keys>,
    get_listener: Listener,
    put_listener: Listener,
    join_listener: Listener,
    consumer: tokio::sync::Mutex<Option<Arc<Consumer>>>,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let consumer = self
            .consumer
            .try_lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.id.clone()));
        f.debug_struct("Queue")
            .field("name", &self.name)
            .field("kind", &self.keys.kind)
            .field("maxsize", &self.maxsize)
            .field("visibility_timeout", &self.visibility)
            .field("max_deliveries", &self.keys.max_deliveries)
            .field("key", &self.keys.ready)
            .field("consumer", &consumer)
            .finish()
    }
}

/// Reads `{code, bytes?}` from a queue script's reply.
fn code_and_bytes(reply: Value) -> Result<(i64, Option<Vec<u8>>)> {
    let protocol = |what: &Value| Error::Protocol(format!("{what:?}"));
    let Value::Array(items) = &reply else {
        return Err(protocol(&reply));
    };
    let code = match items.first() {
        Some(Value::Int(code)) => *code,
        _ => return Err(protocol(&reply)),
    };
    let bytes = match items.get(1) {
        Some(Value::BulkString(bytes)) => Some(bytes.clone()),
        Some(Value::Int(n)) => Some(n.to_string().into_bytes()),
        None => None,
        Some(_) => return Err(protocol(&reply)),
    };
    Ok((code, bytes))
}

/// An envelope's header: id, earlier deliveries, priority, and where the
/// payload starts.
fn parse_envelope(envelope: &[u8]) -> Result<(u64, u32, i64, usize)> {
    let bad = || {
        Error::Protocol(format!(
            "bad envelope {:?}",
            String::from_utf8_lossy(envelope)
        ))
    };
    let mut fields = [0usize; 3];
    let mut start = 0;
    for field in &mut fields {
        let colon = envelope[start..]
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(bad)?;
        start += colon + 1;
        *field = start;
    }
    let text = |from: usize, to: usize| std::str::from_utf8(&envelope[from..to - 1]).ok();
    let id = text(0, fields[0])
        .and_then(|t| t.parse().ok())
        .ok_or_else(bad)?;
    let deliveries = text(fields[0], fields[1])
        .and_then(|t| t.parse().ok())
        .ok_or_else(bad)?;
    let priority = text(fields[1], fields[2])
        .and_then(|t| t.parse().ok())
        .ok_or_else(bad)?;
    Ok((id, deliveries, priority, fields[2]))
}

/// Priorities travel as sorted-set scores: doubles, exact up to 2^53.
const MAX_PRIORITY: i64 = 1 << 53;

impl Core {
    fn new(redis: &Redis, name: &str, kind: Kind, options: QueueOptions) -> Result<Arc<Core>> {
        check_name(name)?;
        let client = redis.inner.clone();
        let visibility = options.visibility_timeout.unwrap_or(client.lease);
        if visibility < Duration::from_millis(30) {
            return Err(Error::InvalidArgument(
                "visibility timeout shorter than 30 ms",
            ));
        }
        if options.maxsize == Some(0) {
            return Err(Error::InvalidArgument("maxsize 0 (leave it unset)"));
        }
        if options.max_deliveries == 0 {
            return Err(Error::InvalidArgument("max_deliveries 0"));
        }
        let key = |suffix: &str| client.key(name, suffix);
        let keys = Keys {
            kind,
            ready: key("q"),
            seq: key("q:seq"),
            unfinished: key("q:unfinished"),
            state: key("q:shutdown"),
            consumers: key("q:consumers"),
            dead: key("q:dead"),
            inflight_prefix: key("q:inflight:"),
            get_channel: key("q:wake-getters"),
            put_channel: key("q:wake-putters"),
            join_channel: key("q:wake-joiners"),
            max_deliveries: options.max_deliveries,
            grace: visibility * 2,
        };
        Ok(Arc::new(Core {
            get_listener: client.notifier.listener(keys.get_channel.clone()),
            put_listener: client.notifier.listener(keys.put_channel.clone()),
            join_listener: client.notifier.listener(keys.join_channel.clone()),
            keys: Arc::new(keys),
            maxsize: options.maxsize.map_or(0, |m| m as u64),
            visibility,
            client,
            name: name.to_owned(),
            consumer: tokio::sync::Mutex::new(None),
        }))
    }

    // --- put ---------------------------------------------------------------

    /// One put attempt: `Granted(id)`, or `Busy` when full.
    async fn put_once(
        &self,
        priority: i64,
        payload: &[u8],
        budget: Duration,
    ) -> Result<Attempt<u64>> {
        let keys = &self.keys;
        let mut conn = self.client.conn();
        let id: i64 = bounded(
            budget,
            scripts::QUEUE_PUT
                .key(&keys.ready)
                .key(&keys.seq)
                .key(&keys.unfinished)
                .key(&keys.state)
                .arg(keys.kind.code())
                .arg(self.maxsize)
                .arg(priority)
                .arg(payload)
                .arg(&keys.get_channel)
                .invoke_async(&mut conn),
        )
        .await??;
        match id {
            -1 => Err(Error::ShutDown),
            0 => Ok(Attempt::Busy(None)),
            id => Ok(Attempt::Granted(id as u64)),
        }
    }

    async fn put_until(
        &self,
        priority: i64,
        payload: Vec<u8>,
        deadline: Option<Instant>,
    ) -> Result<Option<u64>> {
        if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&priority) {
            return Err(Error::InvalidArgument("priority beyond ±2^53"));
        }
        let payload = &payload;
        wait::acquire(&self.client, &self.put_listener, deadline, |budget| {
            self.put_once(priority, payload, budget)
        })
        .await
    }

    // --- get ---------------------------------------------------------------

    /// This handle's consumer registration: the current one, or a new one
    /// when there is none or its heartbeat lapsed.
    async fn consumer(&self, budget: Duration) -> Result<Arc<Consumer>> {
        let mut slot = self.consumer.lock().await;
        if let Some(consumer) = slot.as_ref()
            && !consumer.heartbeat.is_lost()
            && !consumer.retired.load(Ordering::Relaxed)
        {
            return Ok(consumer.clone());
        }
        let id = random_token();
        let sent = Instant::now();
        bounded(
            budget,
            self.keys
                .heartbeat(&self.client, &id, self.visibility, "register"),
        )
        .await??;
        let heartbeat = Lease::start(
            &self.client,
            Target::Other(self.keys.clone()),
            id.clone(),
            self.visibility,
            sent,
        );
        let consumer = Arc::new(Consumer {
            inflight: self.keys.inflight(&id),
            id,
            heartbeat,
            retired: AtomicBool::new(false),
        });
        *slot = Some(consumer.clone());
        Ok(consumer)
    }

    /// Forgets `consumer` (Redis no longer lists it) so that the next get
    /// registers anew.
    async fn drop_consumer(&self, consumer: &Arc<Consumer>) {
        let mut slot = self.consumer.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, consumer)) {
            *slot = None;
        }
    }

    async fn take_script(&self, consumer: &Consumer, budget: Duration) -> Result<Taken> {
        let keys = &self.keys;
        let mut conn = self.client.conn();
        let reply: Value = bounded(
            budget,
            scripts::QUEUE_GET
                .key(&keys.ready)
                .key(&consumer.inflight)
                .key(&keys.state)
                .key(&keys.consumers)
                .arg(keys.kind.code())
                .arg(&consumer.id)
                .arg(self.maxsize)
                .arg(&keys.put_channel)
                .invoke_async(&mut conn),
        )
        .await??;
        match code_and_bytes(reply)? {
            (1, Some(envelope)) => Ok(Taken::Item(envelope)),
            (0, _) => Ok(Taken::Empty),
            (-1, _) => Ok(Taken::ShutDown),
            (-2, _) => Ok(Taken::Unregistered),
            other => Err(Error::Protocol(format!("queue get gave {other:?}"))),
        }
    }

    /// `BLMOVE` on a dedicated connection for at most `block` (> 0).
    async fn take_blocking(
        &self,
        consumer: &Consumer,
        mut dedicated: crate::client::Dedicated,
        block: Duration,
    ) -> Result<Taken> {
        let from = if self.keys.kind == Kind::Fifo {
            "RIGHT"
        } else {
            "LEFT"
        };
        let reply = bounded(
            block + self.client.op_timeout,
            redis::cmd("BLMOVE")
                .arg(&self.keys.ready)
                .arg(&consumer.inflight)
                .arg(from)
                .arg("LEFT")
                .arg(format!("{:.3}", block.as_secs_f64()))
                .query_async::<Option<Vec<u8>>>(&mut dedicated.conn),
        )
        .await??;
        self.client.give_back(dedicated);
        match reply {
            Some(envelope) => {
                if self.maxsize > 0 {
                    // Wake putters of a bounded queue (the Lua get does it
                    // inside its script).
                    let mut conn = self.client.conn();
                    let _ = bounded(
                        self.client.op_timeout,
                        redis::cmd("PUBLISH")
                            .arg(&self.keys.put_channel)
                            .arg("1")
                            .exec_async(&mut conn),
                    )
                    .await;
                }
                Ok(Taken::Item(envelope))
            }
            None => Ok(Taken::Empty),
        }
    }

    /// One take, for the caller to poll ([`Pending::reply`]). It waits for
    /// Redis's answer with the full op timeout even when the caller's
    /// deadline is nearer: the caller may give up sooner, and then the take
    /// finishes in the background (see [`Pending`]'s drop), learning what
    /// Redis did.
    fn start_take(
        self: &Arc<Self>,
        consumer: &Arc<Consumer>,
        blocking: Option<(crate::client::Dedicated, Duration)>,
    ) -> Pending {
        let unblock = blocking.as_ref().map(|(d, _)| d.id);
        let core = self.clone();
        let taker = consumer.clone();
        let take = Box::pin(async move {
            let result = match blocking {
                None => core.take_script(&taker, core.client.op_timeout).await,
                Some((dedicated, block)) => core.take_blocking(&taker, dedicated, block).await,
            };
            if result.is_err() {
                // Redis may have moved an item into the list all the same.
                taker.retire();
            }
            result
        });
        Pending {
            take: Some(take),
            polled: false,
            core: self.clone(),
            consumer: consumer.clone(),
            unblock,
        }
    }

    /// Gives `envelope` back from `consumer`'s in-flight list in the
    /// background: counted as a delivery that ended without an
    /// acknowledgement when `max_deliveries` is given (a dropped delivery;
    /// after that many it is a dead letter), or not counted (a get cancelled
    /// before the item reached its caller). If that fails, the consumer is
    /// retired, and its leave returns the item.
    fn give_back_later(
        self: &Arc<Self>,
        consumer: &Arc<Consumer>,
        envelope: Vec<u8>,
        max_deliveries: Option<u32>,
    ) {
        let core = self.clone();
        let consumer = consumer.clone();
        self.client.spawn_background(async move {
            let counted = max_deliveries.is_some();
            let max = max_deliveries.unwrap_or(u32::MAX);
            let given = core
                .keys
                .give_back(&core.client, &consumer.id, &envelope, counted, max)
                .await;
            if given.is_err() {
                consumer.retire();
            }
        });
    }

    /// Whether `error` is a round trip that ran out of a budget the
    /// caller's deadline had cut below the op timeout: the caller's timeout
    /// expired with no item (an item the take moved meanwhile goes back, see
    /// [`Pending`]), which it learns as `Ok(None)`, not an error. A round
    /// trip that had the full op timeout keeps its error.
    fn ran_out(&self, error: &Error, budget: Duration) -> bool {
        matches!(error, Error::Timeout(_)) && budget < self.client.op_timeout
    }

    async fn get_until(
        self: &Arc<Self>,
        deadline: Option<Instant>,
    ) -> Result<Option<(Vec<u8>, Arc<Consumer>)>> {
        let mut wake = self.get_listener.receiver();
        let mut subscribed = false;
        let mut budget = self.client.first_budget(deadline);
        let passed = || deadline.is_some_and(|d| Instant::now() >= d);
        loop {
            wake.borrow_and_update();
            let consumer = match self.consumer(budget).await {
                Err(e) if self.ran_out(&e, budget) => return Ok(None),
                consumer => consumer?,
            };
            let taken = match bounded(budget, self.start_take(&consumer, None).reply()).await {
                Ok(taken) => taken,
                Err(e) => Err(e),
            };
            let taken = match taken {
                Err(e) if self.ran_out(&e, budget) => return Ok(None),
                taken => taken?,
            };
            match taken {
                Taken::Item(envelope) => return Ok(Some((envelope, consumer))),
                Taken::ShutDown => return Err(Error::ShutDown),
                Taken::Unregistered => {
                    self.drop_consumer(&consumer).await;
                    budget = self.client.first_budget(deadline);
                    continue;
                }
                Taken::Empty => {}
            }
            if passed() {
                return Ok(None);
            }
            budget = self.client.budget(deadline);
            if !subscribed {
                // Look once more once subscribed: a shutdown may have been
                // published before the subscription took effect.
                self.get_listener.subscribe(budget).await?;
                subscribed = true;
                budget = self.client.budget(deadline);
                continue;
            }
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if self.keys.kind == Kind::Priority {
                // Woken by puts, returned items and shutdown (pub/sub).
                let nap = left.min(UNKNOWN_EXPIRY_RETRY);
                tokio::select! {
                    _ = wake.changed() => {}
                    _ = tokio::time::sleep(nap) => {}
                }
            } else {
                // The block is bounded by the visibility timeout: a lapsed
                // consumer stays listed for twice that, so an item a late
                // BLMOVE moves into its list is still returned.
                let block = left.min(self.visibility);
                if block >= Duration::from_millis(1)
                    && let Some(envelope) =
                        self.block(&consumer, block, &mut wake, deadline).await?
                {
                    return Ok(Some((envelope, consumer)));
                }
            }
            if passed() {
                return Ok(None);
            }
            budget = self.client.budget(deadline);
        }
    }

    /// Waits in `BLMOVE` for at most `block`; interrupted (`CLIENT UNBLOCK`)
    /// when the getters' channel says so (shutdown, or the notifier
    /// reconnected).
    async fn block(
        self: &Arc<Self>,
        consumer: &Arc<Consumer>,
        block: Duration,
        wake: &mut watch::Receiver<u64>,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<u8>>> {
        // Connecting is not part of the wait: it gets the full op timeout,
        // and the caller's deadline ends it as "no item".
        let connect = self.client.dedicated(self.client.op_timeout);
        let dedicated = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, connect).await {
                Ok(dedicated) => dedicated?,
                Err(_) => return Ok(None),
            },
            None => connect.await?,
        };
        let id = dedicated.id;
        let mut pending = self.start_take(consumer, Some((dedicated, block)));
        // A little past the deadline the server has answered a working
        // BLMOVE; a frozen server does not keep the caller waiting.
        let give_up = deadline.map(|d| d + Duration::from_millis(50));
        let wait = async {
            tokio::select! {
                taken = pending.reply() => taken,
                _ = wake.changed() => {
                    let mut may_unblock = true;
                    loop {
                        if may_unblock {
                            // Refused (an ACL user without `client|unblock`):
                            // the block ends by its own timeout.
                            may_unblock = self.client.unblock(id).await.is_ok();
                        }
                        tokio::select! {
                            taken = pending.reply() => break taken,
                            // Not blocked yet: the BLMOVE may still be on
                            // its way; unblock again shortly.
                            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                        }
                    }
                }
            }
        };
        let taken = match give_up {
            Some(at) => match tokio::time::timeout_at(at, wait).await {
                Ok(taken) => taken?,
                Err(_) => return Ok(None),
            },
            None => wait.await?,
        };
        match taken {
            Taken::Item(envelope) => Ok(Some(envelope)),
            _ => Ok(None),
        }
    }

    // --- acknowledgements ----------------------------------------------------

    async fn ack(&self, consumer: &Consumer, envelope: &[u8]) -> Result<bool> {
        let mut conn = self.client.conn();
        let held: i64 = bounded(
            self.client.op_timeout,
            scripts::QUEUE_ACK
                .key(&consumer.inflight)
                .key(&self.keys.unfinished)
                .arg(envelope)
                .arg(&self.keys.join_channel)
                .invoke_async(&mut conn),
        )
        .await??;
        Ok(held == 1)
    }

    // --- join, state, shutdown ------------------------------------------------

    async fn join_until(&self, deadline: Option<Instant>) -> Result<bool> {
        let done = wait::acquire(
            &self.client,
            &self.join_listener,
            deadline,
            |budget| async move {
                let left = bounded(budget, self.state()).await??.1;
                Ok(if left == 0 {
                    Attempt::Granted(())
                } else {
                    Attempt::Busy(None)
                })
            },
        )
        .await?;
        Ok(done.is_some())
    }

    /// {len, unfinished, shut down, dead letters}.
    async fn state(&self) -> Result<(usize, usize, bool, usize)> {
        let keys = &self.keys;
        let mut conn = self.client.conn();
        let (len, unfinished, shut, dead): (u64, u64, i64, u64) = bounded(
            self.client.op_timeout,
            scripts::QUEUE_STATE
                .key(&keys.ready)
                .key(&keys.unfinished)
                .key(&keys.state)
                .key(&keys.dead)
                .arg(keys.kind.code())
                .invoke_async(&mut conn),
        )
        .await??;
        Ok((len as usize, unfinished as usize, shut == 1, dead as usize))
    }

    async fn shutdown(&self, immediate: bool) -> Result<Vec<Vec<u8>>> {
        let keys = &self.keys;
        let mut conn = self.client.conn();
        let mut drained: Vec<Vec<u8>> = bounded(
            self.client.op_timeout,
            scripts::QUEUE_SHUTDOWN
                .key(&keys.state)
                .key(&keys.ready)
                .key(&keys.unfinished)
                .arg(keys.kind.code())
                .arg(if immediate { "1" } else { "0" })
                .arg(&keys.get_channel)
                .arg(&keys.put_channel)
                .arg(&keys.join_channel)
                .invoke_async(&mut conn),
        )
        .await??;
        if keys.kind == Kind::Fifo {
            // The list holds them newest first; gets take the oldest.
            drained.reverse();
        }
        Ok(drained)
    }

    async fn dead_letters(&self) -> Result<Vec<Vec<u8>>> {
        let mut conn = self.client.conn();
        Ok(bounded(
            self.client.op_timeout,
            redis::cmd("LRANGE")
                .arg(&self.keys.dead)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn),
        )
        .await??)
    }
}

/// A take in progress, polled by its caller. Dropped before it finished
/// (the get future was dropped, or its deadline came), it hands the
/// unfinished request to a task that waits for Redis's answer and gives back
/// an item taken for nobody, uncounted, and it interrupts a blocked
/// `BLMOVE`: a cancelled get loses nothing. The hot path spawns nothing.
struct Pending {
    take: Option<Pin<Box<dyn Future<Output = Result<Taken>> + Send>>>,
    /// Whether the request may have been sent (the take was polled).
    polled: bool,
    core: Arc<Core>,
    consumer: Arc<Consumer>,
    unblock: Option<i64>,
}

impl Pending {
    async fn reply(&mut self) -> Result<Taken> {
        let take = self
            .take
            .as_mut()
            .ok_or(Error::Protocol("take reply read twice".into()))?;
        self.polled = true;
        let taken = take.await;
        self.take = None;
        taken
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(take) = self.take.take() else {
            return;
        };
        if !self.polled {
            return;
        }
        let client = &self.core.client;
        if let Some(id) = self.unblock {
            let unblocker = client.clone();
            client.handle.spawn(async move {
                let _ = unblocker.unblock(id).await;
            });
        }
        let core = self.core.clone();
        let consumer = self.consumer.clone();
        client.spawn_background(async move {
            if let Ok(Taken::Item(envelope)) = take.await {
                core.give_back_later(&consumer, envelope, None);
            }
        });
    }
}

/// An item taken from a fleet-wide queue and not yet acknowledged: it sits
/// in this consumer's in-flight list in Redis until
/// [`task_done`](Self::task_done).
///
/// Dereferences to the item. Dropping it without `task_done` gives the item
/// back to the queue (in the background), counted as a delivery; so does a
/// panicking handler. If this process dies instead, the item goes back when
/// its heartbeat lapses (the visibility timeout).
pub struct Delivery<T> {
    item: T,
    envelope: Vec<u8>,
    id: u64,
    deliveries: u32,
    priority: i64,
    core: Arc<Core>,
    consumer: Arc<Consumer>,
    done: bool,
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", &self.core.name)
            .field("id", &self.id)
            .field("delivery_count", &self.delivery_count())
            .field("item", &self.item)
            .finish()
    }
}

impl<T> std::ops::Deref for Delivery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.item
    }
}

impl<T> Delivery<T> {
    /// The item.
    pub fn item(&self) -> &T {
        &self.item
    }

    /// The item's id in its queue: 1 for the first item ever put, then
    /// increasing (unique while Redis keeps its data).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How many times the item has been delivered, this time included: 1
    /// on the first delivery, more after a consumer died, or dropped or
    /// requeued it, without acknowledging it.
    pub fn delivery_count(&self) -> u32 {
        self.deliveries.saturating_add(1)
    }

    /// The priority it was put with (0 for `Queue` and `LifoQueue`).
    pub fn priority(&self) -> i64 {
        self.priority
    }

    /// Acknowledges the item (Python's `task_done()` for this item):
    /// `unfinished_tasks` drops by one, and `join` returns when it reaches
    /// zero.
    ///
    /// # Errors
    ///
    /// [`Error::NotHeld`] when this consumer no longer holds the item: its
    /// heartbeat lapsed (the process was paused or cut off longer than the
    /// visibility timeout) and the item went back to the queue, to be
    /// delivered again; the acknowledgement did not count. Errors of Redis:
    /// then the item is given back in the background, unless the
    /// acknowledgement had reached Redis after all.
    ///
    /// # Cancel safety
    ///
    /// A future dropped before the reply gives the item back in the
    /// background, which does nothing if the acknowledgement was applied:
    /// the item is acknowledged once, or redelivered.
    pub async fn task_done(mut self) -> Result<()> {
        let held = self.core.ack(&self.consumer, &self.envelope).await?;
        self.done = true;
        if held { Ok(()) } else { Err(Error::NotHeld) }
    }

    /// [`task_done`](Self::task_done), blocking the calling thread.
    ///
    /// # Errors
    ///
    /// As [`task_done`](Self::task_done).
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime.
    pub fn task_done_blocking(self) -> Result<()>
    where
        T: Send + 'static,
    {
        let client = self.core.client.clone();
        client.block_on("task_done_blocking", self.task_done())
    }

    /// Gives the item back to the queue now, counted as a delivery (after
    /// `max_deliveries` it goes to the dead letters).
    ///
    /// # Errors
    ///
    /// [`Error::NotHeld`] when this consumer no longer held it; errors of
    /// Redis.
    pub async fn requeue(mut self) -> Result<()> {
        let core = self.core.clone();
        let held = core
            .keys
            .give_back(
                &core.client,
                &self.consumer.id,
                &self.envelope,
                true,
                core.keys.max_deliveries,
            )
            .await?;
        self.done = true;
        if held { Ok(()) } else { Err(Error::NotHeld) }
    }
}

impl<T> Drop for Delivery<T> {
    fn drop(&mut self) {
        if !self.done {
            let envelope = std::mem::take(&mut self.envelope);
            let max = self.core.keys.max_deliveries;
            self.core
                .give_back_later(&self.consumer, envelope, Some(max));
        }
    }
}

/// Decodes a delivery, or sends an undecodable item to the dead letters.
fn delivery<T: Item>(
    core: &Arc<Core>,
    envelope: Vec<u8>,
    consumer: Arc<Consumer>,
) -> Result<Delivery<T>> {
    let (id, deliveries, priority, start) = parse_envelope(&envelope)?;
    match T::decode(&envelope[start..]) {
        Ok(item) => Ok(Delivery {
            item,
            envelope,
            id,
            deliveries,
            priority,
            core: core.clone(),
            consumer,
            done: false,
        }),
        Err(why) => {
            // Straight to the dead letters: it would not decode next time.
            core.give_back_later(&consumer, envelope, Some(1));
            Err(Error::Decode(format!("item {id}: {why}")))
        }
    }
}

fn decode_all<T: Item>(envelopes: Vec<Vec<u8>>) -> Result<Vec<T>> {
    envelopes
        .into_iter()
        .map(|envelope| {
            let (id, _, _, start) = parse_envelope(&envelope)?;
            T::decode(&envelope[start..]).map_err(|why| Error::Decode(format!("item {id}: {why}")))
        })
        .collect()
}

/// The forms every queue type shares: get, join, state, shutdown.
macro_rules! queue_forms {
    ($ty:ident, $kind:expr, $what:literal) => {
        impl<T: Item> $ty<T> {
            #[doc = concat!("A handle on the fleet-wide ", $what, " `name`, unbounded, with the")]
            /// default options. Makes no round trip.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidArgument`] for an empty name or one with `{`
            /// or `}`.
            pub fn new(redis: &Redis, name: &str) -> Result<Self> {
                Self::with_options(redis, name, QueueOptions::new())
            }

            /// As [`new`](Self::new), holding at most `maxsize` waiting
            /// items: `put` waits while it is full, fleet-wide.
            ///
            /// # Errors
            ///
            /// As [`new`](Self::new), and for `maxsize` 0.
            pub fn bounded(redis: &Redis, name: &str, maxsize: usize) -> Result<Self> {
                Self::with_options(redis, name, QueueOptions::new().maxsize(maxsize))
            }

            /// As [`new`](Self::new), with `options`.
            ///
            /// # Errors
            ///
            /// As [`new`](Self::new), and for a `maxsize` or
            /// `max_deliveries` of 0 or a visibility timeout under 30 ms.
            pub fn with_options(redis: &Redis, name: &str, options: QueueOptions) -> Result<Self> {
                Ok($ty {
                    core: Core::new(redis, name, $kind, options)?,
                    item: PhantomData,
                })
            }

            /// Waits for an item and takes it: it moves, atomically, into
            /// this consumer's in-flight list in Redis and stays there until
            /// [`Delivery::task_done`].
            ///
            /// Once the queue is shut down, gets take the items left and
            /// then fail with [`Error::ShutDown`].
            ///
            /// # Errors
            ///
            /// [`Error::ShutDown`] (shut down and empty), [`Error::Decode`]
            /// (the item went to the dead letters), errors of Redis.
            ///
            /// # Cancel safety
            ///
            /// Dropping the future loses nothing: an item taken for it
            /// after it was dropped goes back to the end of the queue that
            /// gets take from, not counted as a delivery, and a blocked
            /// `BLMOVE` is interrupted. Both happen in the background
            /// ([`Redis::flush`] waits for them); a get that runs before the
            /// item is back may take the next one first.
            pub async fn get(&self) -> Result<Delivery<T>> {
                let got = self.core.get_until(None).await?;
                let (envelope, consumer) =
                    got.ok_or(Error::Protocol("get without deadline timed out".into()))?;
                delivery(&self.core, envelope, consumer)
            }

            /// As [`get`](Self::get), giving up after `timeout`: `Ok(None)`
            /// when no item came in time. A zero `timeout` makes one attempt.
            ///
            /// # Errors
            ///
            /// As [`get`](Self::get).
            ///
            /// # Cancel safety
            ///
            /// As [`get`](Self::get).
            pub async fn get_timeout(&self, timeout: Duration) -> Result<Option<Delivery<T>>> {
                let deadline = Instant::now() + timeout;
                match self.core.get_until(Some(deadline)).await? {
                    Some((envelope, consumer)) => {
                        delivery(&self.core, envelope, consumer).map(Some)
                    }
                    None => Ok(None),
                }
            }

            /// Takes an item if one is waiting; one round trip, so `async`.
            ///
            /// # Errors
            ///
            /// As [`get`](Self::get).
            ///
            /// # Cancel safety
            ///
            /// As [`get`](Self::get).
            pub async fn try_get(&self) -> Result<Option<Delivery<T>>> {
                self.get_timeout(Duration::ZERO).await
            }

            /// [`get`](Self::get), blocking the calling thread.
            ///
            /// # Errors
            ///
            /// As [`get`](Self::get).
            ///
            /// # Panics
            ///
            /// Inside a tokio runtime.
            pub fn get_blocking(&self) -> Result<Delivery<T>> {
                let this = self.clone();
                self.core
                    .client
                    .block_on("get_blocking", async move { this.get().await })
            }

            /// [`get_timeout`](Self::get_timeout), blocking the calling
            /// thread.
            ///
            /// # Errors
            ///
            /// As [`get`](Self::get).
            ///
            /// # Panics
            ///
            /// Inside a tokio runtime.
            pub fn get_timeout_blocking(&self, timeout: Duration) -> Result<Option<Delivery<T>>> {
                let this = self.clone();
                self.core
                    .client
                    .block_on("get_timeout_blocking", async move {
                        this.get_timeout(timeout).await
                    })
            }

            /// Waits until every item ever put has been acknowledged (or
            /// dead-lettered, or drained by `shutdown_immediate`), fleet-wide:
            /// `unfinished_tasks` is 0. Woken by the pub/sub message of the
            /// acknowledgement that brought it to 0, not by polling (as every
            /// waiter of the crate, it also re-checks once a second as a
            /// safety net).
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: it changes nothing.
            pub async fn join(&self) -> Result<()> {
                self.core.join_until(None).await.map(drop)
            }

            /// As [`join`](Self::join), giving up after `timeout`: whether
            /// every task was done.
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            pub async fn join_timeout(&self, timeout: Duration) -> Result<bool> {
                self.core.join_until(Some(Instant::now() + timeout)).await
            }

            /// [`join`](Self::join), blocking the calling thread.
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            ///
            /// # Panics
            ///
            /// Inside a tokio runtime.
            pub fn join_blocking(&self) -> Result<()> {
                let this = self.clone();
                self.core
                    .client
                    .block_on("join_blocking", async move { this.join().await })
            }

            /// [`join_timeout`](Self::join_timeout), blocking the calling
            /// thread.
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            ///
            /// # Panics
            ///
            /// Inside a tokio runtime.
            pub fn join_timeout_blocking(&self, timeout: Duration) -> Result<bool> {
                let this = self.clone();
                self.core
                    .client
                    .block_on("join_timeout_blocking", async move {
                        this.join_timeout(timeout).await
                    })
            }

            /// Items waiting in the queue, fleet-wide (not counting items in
            /// flight). One round trip.
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            pub async fn len(&self) -> Result<usize> {
                Ok(self.core.state().await?.0)
            }

            /// Whether no item is waiting (one round trip).
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            pub async fn is_empty(&self) -> Result<bool> {
                Ok(self.len().await? == 0)
            }

            /// Whether `maxsize` items are waiting (one round trip).
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            pub async fn is_full(&self) -> Result<bool> {
                let len = self.len().await?;
                Ok(self.maxsize().is_some_and(|max| len >= max))
            }

            /// The bound given to [`bounded`](Self::bounded), if any.
            pub fn maxsize(&self) -> Option<usize> {
                (self.core.maxsize > 0).then_some(self.core.maxsize as usize)
            }

            /// Items put and not yet acknowledged, fleet-wide and exact: every
            /// put adds one and every acknowledgement (or dead letter, or
            /// item drained by `shutdown_immediate`) takes one, in the same
            /// Redis script as the change itself.
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            pub async fn unfinished_tasks(&self) -> Result<usize> {
                Ok(self.core.state().await?.1)
            }

            /// Whether the queue was shut down (by any process).
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            pub async fn is_shutdown(&self) -> Result<bool> {
                Ok(self.core.state().await?.2)
            }

            /// Shuts the queue down for every process (Python 3.13's
            /// `shutdown()`): puts fail with [`Error::ShutDown`]; gets take
            /// what is left, then fail with it. Every waiting putter and
            /// getter, in every process, wakes at once: a `get` blocked in
            /// `BLMOVE` is interrupted with `CLIENT UNBLOCK`. A queue name
            /// stays shut down.
            ///
            /// # Errors
            ///
            /// Errors of Redis.
            pub async fn shutdown(&self) -> Result<()> {
                self.core.shutdown(false).await.map(drop)
            }

            /// [`shutdown`](Self::shutdown) that also empties the queue and
            /// returns the waiting items, in the order gets would have
            /// taken them; they count as done, so `join` can return. Items
            /// in flight stay with their consumers.
            ///
            /// # Errors
            ///
            /// Errors of Redis; [`Error::Decode`] for an item that is not a
            /// `T` (the queue is shut down and drained all the same).
            pub async fn shutdown_immediate(&self) -> Result<Vec<T>> {
                decode_all(self.core.shutdown(true).await?)
            }

            /// Items that reached `max_deliveries` without an
            /// acknowledgement, oldest first. They stay there for you to
            /// inspect (delete the `...:q:dead` list to clear them).
            ///
            /// # Errors
            ///
            /// Errors of Redis, [`Error::Decode`].
            pub async fn dead_letters(&self) -> Result<Vec<T>> {
                decode_all(self.core.dead_letters().await?)
            }

            /// The name given to [`new`](Self::new).
            pub fn name(&self) -> &str {
                &self.core.name
            }

            /// The visibility timeout of this handle's deliveries.
            pub fn visibility_timeout(&self) -> Duration {
                self.core.visibility
            }
        }

        impl<T> Clone for $ty<T> {
            fn clone(&self) -> Self {
                $ty {
                    core: self.core.clone(),
                    item: PhantomData,
                }
            }
        }

        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.core).finish()
            }
        }
    };
}

/// The put forms of the FIFO and LIFO queues.
macro_rules! put_forms {
    ($ty:ident) => {
        impl<T: Item> $ty<T> {
            /// Puts `item` in the queue, waiting while it is full (a bounded
            /// queue). The item is encoded first, so the caller keeps it.
            ///
            /// # Errors
            ///
            /// [`Error::ShutDown`] after [`shutdown`](Self::shutdown);
            /// errors of Redis (then the item may or may not have been put).
            ///
            /// # Cancel safety
            ///
            /// The put is one atomic script: a dropped future has put the
            /// item whole, or not at all.
            pub async fn put(&self, item: &T) -> Result<()> {
                self.core.put_until(0, item.encode(), None).await.map(drop)
            }

            /// As [`put`](Self::put), giving up after `timeout`: whether it
            /// was put.
            ///
            /// # Errors
            ///
            /// As [`put`](Self::put).
            pub async fn put_timeout(&self, item: &T, timeout: Duration) -> Result<bool> {
                let deadline = Instant::now() + timeout;
                let id = self
                    .core
                    .put_until(0, item.encode(), Some(deadline))
                    .await?;
                Ok(id.is_some())
            }

            /// Puts `item` if there is room, without waiting; one round trip.
            ///
            /// # Errors
            ///
            /// As [`put`](Self::put).
            pub async fn try_put(&self, item: &T) -> Result<bool> {
                self.put_timeout(item, Duration::ZERO).await
            }

            /// [`put`](Self::put), blocking the calling thread.
            ///
            /// # Errors
            ///
            /// As [`put`](Self::put).
            ///
            /// # Panics
            ///
            /// Inside a tokio runtime.
            pub fn put_blocking(&self, item: &T) -> Result<()> {
                let core = self.core.clone();
                let payload = item.encode();
                self.core.client.block_on("put_blocking", async move {
                    core.put_until(0, payload, None).await.map(drop)
                })
            }

            /// [`put_timeout`](Self::put_timeout), blocking the calling
            /// thread.
            ///
            /// # Errors
            ///
            /// As [`put`](Self::put).
            ///
            /// # Panics
            ///
            /// Inside a tokio runtime.
            pub fn put_timeout_blocking(&self, item: &T, timeout: Duration) -> Result<bool> {
                let core = self.core.clone();
                let payload = item.encode();
                self.core
                    .client
                    .block_on("put_timeout_blocking", async move {
                        let deadline = Instant::now() + timeout;
                        Ok(core.put_until(0, payload, Some(deadline)).await?.is_some())
                    })
            }
        }
    };
}

/// A FIFO queue shared by every process connected to one Redis, with
/// at-least-once delivery (Python's `queue.Queue` across processes).
///
/// # Delivery
///
/// - **At least once.** [`get`](Self::get) moves the item, atomically, from
///   the queue into this consumer's in-flight list; [`Delivery::task_done`]
///   removes it from there. A consumer heart-beats while its handle lives
///   (every third of the visibility timeout, through the client's renewal
///   task); when a consumer's heartbeat lapses (its process died, froze, or
///   lost Redis), the next heartbeat of any other consumer puts its
///   unacknowledged items back in the queue, with their delivery count
///   raised. After `max_deliveries` an item goes to the dead-letter list
///   ([`dead_letters`](Self::dead_letters)) instead. (Only consumers return
///   items: with no live consumer, a dead one's items wait for the next
///   consumer to register.) A handle that is dropped gives its consumer's
///   items back at once.
/// - **Handlers must be idempotent.** An item can be processed twice: a
///   consumer that did the work but died (or froze past the visibility
///   timeout) before its acknowledgement reached Redis has its item
///   delivered again. Exactly-once processing is not offered because it
///   cannot be, with any queue: the work and the acknowledgement are two
///   separate effects, and a crash between them leaves Redis unable to tell
///   "done, not acknowledged" from "not done". What *is* exact: each item is
///   acknowledged at most once (an acknowledgement from a consumer that no
///   longer holds the item fails with [`Error::NotHeld`]), and
///   [`unfinished_tasks`](Self::unfinished_tasks) counts exactly the items
///   put and not yet acknowledged. Make the handler's effect idempotent
///   (keyed by [`Delivery::id`], or by a key inside the item) and every item
///   takes effect once.
/// - **What Redis can lose.** With AOF `appendfsync always`, an acknowledged
///   `put` survives a crash of Redis. Without persistence, a restart loses
///   the queue, its counters and in-flight lists: items are gone,
///   `unfinished_tasks` is 0 (so `join` returns), and acknowledgements of
///   earlier deliveries fail with [`Error::NotHeld`]. Replication is
///   asynchronous: a failover can lose the last puts and acknowledgements.
///
/// # Waiting
///
/// A `get` on an empty queue blocks in `BLMOVE` on a dedicated connection
/// (woken by the put itself, no polling); [`shutdown`](Self::shutdown)
/// interrupts it with `CLIENT UNBLOCK` (an ACL user needs `+client|unblock`
/// for that; without it a blocked get sees the shutdown when its block ends,
/// at most one visibility timeout later). `put` on a full queue and `join`
/// wait for pub/sub messages.
///
/// Items are encoded with [`Item`]; `put` takes the item by reference, so
/// it is never lost in an error. Every process must create the queue with
/// the same options. Cloning gives another handle with the same consumer
/// registration.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(redis: ambisync_redis::Redis) -> Result<(), ambisync_redis::Error> {
/// use ambisync_redis::Queue;
///
/// let jobs: Queue<String> = Queue::bounded(&redis, "jobs", 100)?;
/// jobs.put(&"resize photo 17".to_owned()).await?;
///
/// // In any process:
/// let job = jobs.get().await?;
/// println!("working on {} (delivery {})", *job, job.delivery_count());
/// job.task_done().await?;
///
/// jobs.join().await?; // every job put so far is acknowledged
/// # Ok(()) }
/// ```
pub struct Queue<T = Vec<u8>> {
    core: Arc<Core>,
    item: PhantomData<fn() -> T>,
}

queue_forms!(Queue, Kind::Fifo, "FIFO queue");
put_forms!(Queue);

/// A LIFO queue (a stack) shared by every process connected to one Redis:
/// [`Queue`] with the newest item taken first (Python's `queue.LifoQueue`).
/// Delivery, waiting and failure semantics are those of [`Queue`].
pub struct LifoQueue<T = Vec<u8>> {
    core: Arc<Core>,
    item: PhantomData<fn() -> T>,
}

queue_forms!(LifoQueue, Kind::Lifo, "LIFO queue");
put_forms!(LifoQueue);

/// A priority queue shared by every process connected to one Redis: the
/// item with the smallest priority is taken first, and among equal
/// priorities the one put first (Python's `queue.PriorityQueue` with
/// `(priority, item)` entries). Delivery and failure semantics are those of
/// [`Queue`].
///
/// It lives in a sorted set (score: the priority, a whole number within
/// ±2^53); equal scores sort by the item's id, which is what keeps them
/// FIFO. Redis has no blocking move out of a sorted set, so a waiting `get`
/// sleeps until a pub/sub message (a put, an item given back, a shutdown),
/// re-checking once a second as a safety net.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(redis: ambisync_redis::Redis) -> Result<(), ambisync_redis::Error> {
/// let tasks: ambisync_redis::PriorityQueue<String> =
///     ambisync_redis::PriorityQueue::new(&redis, "tasks")?;
/// tasks.put(5, &"later".to_owned()).await?;
/// tasks.put(1, &"first".to_owned()).await?;
/// let next = tasks.get().await?;
/// assert_eq!((next.priority(), next.as_str()), (1, "first"));
/// next.task_done().await?;
/// # Ok(()) }
/// ```
pub struct PriorityQueue<T = Vec<u8>> {
    core: Arc<Core>,
    item: PhantomData<fn() -> T>,
}

queue_forms!(PriorityQueue, Kind::Priority, "priority queue");

impl<T: Item> PriorityQueue<T> {
    /// Puts `item` with `priority` (smallest first; within ±2^53), waiting
    /// while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::ShutDown`] after shutdown; [`Error::InvalidArgument`] for a
    /// priority beyond ±2^53; errors of Redis (then the item may or may not
    /// have been put).
    ///
    /// # Cancel safety
    ///
    /// One atomic script: a dropped future has put the item whole or not at
    /// all.
    pub async fn put(&self, priority: i64, item: &T) -> Result<()> {
        self.core
            .put_until(priority, item.encode(), None)
            .await
            .map(drop)
    }

    /// As [`put`](Self::put), giving up after `timeout`: whether it was put.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    pub async fn put_timeout(&self, priority: i64, item: &T, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let id = self
            .core
            .put_until(priority, item.encode(), Some(deadline))
            .await?;
        Ok(id.is_some())
    }

    /// Puts `item` if there is room, without waiting; one round trip.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    pub async fn try_put(&self, priority: i64, item: &T) -> Result<bool> {
        self.put_timeout(priority, item, Duration::ZERO).await
    }

    /// [`put`](Self::put), blocking the calling thread.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime.
    pub fn put_blocking(&self, priority: i64, item: &T) -> Result<()> {
        self.put_timeout_blocking_inner("put_blocking", priority, item, None)
            .map(drop)
    }

    /// [`put_timeout`](Self::put_timeout), blocking the calling thread.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime.
    pub fn put_timeout_blocking(&self, priority: i64, item: &T, timeout: Duration) -> Result<bool> {
        self.put_timeout_blocking_inner("put_timeout_blocking", priority, item, Some(timeout))
    }

    fn put_timeout_blocking_inner(
        &self,
        method: &'static str,
        priority: i64,
        item: &T,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let core = self.core.clone();
        let payload = item.encode();
        self.core.client.block_on(method, async move {
            let deadline = timeout.map(|t| Instant::now() + t);
            Ok(core.put_until(priority, payload, deadline).await?.is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_parse() {
        let (id, deliveries, priority, start) =
            parse_envelope(b"00000000000000000042:3:-7:a:b").unwrap();
        assert_eq!((id, deliveries, priority), (42, 3, -7));
        assert_eq!(&b"00000000000000000042:3:-7:a:b"[start..], b"a:b");
        assert!(parse_envelope(b"42:3").is_err());
    }

    #[test]
    fn items_round_trip() {
        assert_eq!(u64::decode(&17u64.encode()), Ok(17));
        assert_eq!(i32::decode(&(-5i32).encode()), Ok(-5));
        assert!(u8::decode(b"300").is_err());
        assert_eq!(String::decode(&"été".to_owned().encode()).unwrap(), "été");
        assert!(String::decode(&[0xff]).is_err());
    }
}
