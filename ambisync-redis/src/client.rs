//! The connection to Redis that every primitive of the crate shares.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, IntoConnectionInfo, ProtocolVersion};
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::error::{Error, Result};
use crate::lease::Keeper;
use crate::notify::Notifier;

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "ambisync:";
/// Default lease of a permit or lock.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// Default bound of one round trip to Redis.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(5);

/// How to connect: URL, key prefix, default lease, timeouts, TLS root.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), ambisync_redis::Error> {
/// use std::time::Duration;
/// use ambisync_redis::Redis;
///
/// let redis = Redis::builder("redis://app:secret@127.0.0.1:6379/")
///     .prefix("billing:")
///     .lease(Duration::from_secs(30))
///     .connect()
///     .await?;
/// # drop(redis); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Builder {
    url: String,
    prefix: String,
    lease: Duration,
    op_timeout: Duration,
    root_cert: Option<Vec<u8>>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .field("op_timeout", &self.op_timeout)
            .field("root_cert", &self.root_cert.is_some())
            .finish()
    }
}

/// The URL without its password, for `Debug`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Builder {
    /// All keys and channels of this client start with `prefix` (default
    /// `"ambisync:"`), so several applications can share one Redis and an ACL
    /// user can be limited to `~prefix*` and `&prefix*`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Default lease of the permits and locks made through this client
    /// (default 10 s); each primitive may set its own.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The longest one round trip to Redis may take (default 5 s), also the
    /// connect timeout. A call with a timeout of its own never waits past it.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// Trust this PEM certificate (a CA or the server's own) for `rediss://`
    /// instead of the system's roots.
    #[cfg(feature = "tls")]
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_cert = Some(pem.into());
        self
    }

    fn check(&self) -> Result<()> {
        if self.lease < Duration::from_millis(30) {
            return Err(Error::InvalidArgument("lease shorter than 30 ms"));
        }
        if self.op_timeout.is_zero() {
            return Err(Error::InvalidArgument("zero op_timeout"));
        }
        Ok(())
    }

    fn client(&self, protocol: ProtocolVersion) -> Result<redis::Client> {
        let info = self.url.as_str().into_connection_info()?;
        let settings = info.redis_settings().clone().set_protocol(protocol);
        let info = info.set_redis_settings(settings);
        #[cfg(feature = "tls")]
        if let Some(root) = &self.root_cert {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            };
            return Ok(redis::Client::build_with_tls(info, certs)?);
        }
        Ok(redis::Client::open(info)?)
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.op_timeout))
            .set_connection_timeout(Some(self.op_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200))
    }

    /// Connects inside the current tokio runtime, which from then on drives
    /// the client's connections, watchdogs and background releases.
    ///
    /// # Errors
    ///
    /// [`Error::Redis`] when Redis refuses the connection or the credentials,
    /// [`Error::Timeout`] when it does not answer within the op timeout.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (use [`connect_blocking`](Self::connect_blocking)).
    pub async fn connect(self) -> Result<Redis> {
        self.check()?;
        let handle = Handle::try_current()
            .expect("`Builder::connect` must run inside a tokio runtime; use `connect_blocking`");
        self.connect_on(handle, None).await
    }

    /// Connects from a plain thread: the client starts a small tokio runtime
    /// of its own (one worker thread) that drives its connections; every
    /// `_blocking` method works without any other runtime.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime (a task or `block_on`), where blocking would stall it.
    pub fn connect_blocking(self) -> Result<Redis> {
        crate::blocking::assert_may_block("connect_blocking");
        self.check()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ambisync-redis")
            .enable_all()
            .build()
            .map_err(|e| Error::Redis(e.into()))?;
        let handle = runtime.handle().clone();
        let own = OwnRuntime(Some(runtime));
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        handle.spawn({
            let handle = handle.clone();
            async move {
                let _ = sender.send(self.connect_on(handle, None).await);
            }
        });
        let mut redis = receiver.recv().map_err(|_| Error::RuntimeGone)??;
        Arc::get_mut(&mut redis.inner)
            .expect("no other handle to a client that was just made")
            .runtime = own;
        Ok(redis)
    }

    async fn connect_on(self, handle: Handle, runtime: Option<OwnRuntime>) -> Result<Redis> {
        let op_timeout = self.op_timeout;
        let commands = self.client(ProtocolVersion::RESP2)?;
        let conn = bounded(
            op_timeout,
            commands.get_connection_manager_with_config(self.manager_config()),
        )
        .await??;
        let pubsub = self.client(ProtocolVersion::RESP3)?;
        let notifier = Notifier::start(&pubsub, self.manager_config(), op_timeout, &handle).await?;
        Ok(Redis {
            inner: Arc::new(Inner {
                conn,
                commands,
                dedicated: std::sync::Mutex::new(Vec::new()),
                notifier,
                keeper: Keeper::start(&handle),
                handle,
                runtime: runtime.unwrap_or(OwnRuntime(None)),
                tracker: TaskTracker::new(),
                prefix: self.prefix,
                lease: self.lease,
                op_timeout,
                id: random_token(),
            }),
        })
    }
}

/// A runtime the client owns (made by `connect_blocking`); shut down in the
/// background on drop, since the last handle may go away on one of its own
/// threads, where a blocking shutdown would panic.
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A connection to one Redis server, shared by every [`Semaphore`],
/// [`BoundedSemaphore`] and [`Lock`] made from it. Cloning is cheap (one
/// `Arc`).
///
/// It keeps two connections: one multiplexed connection for commands and one
/// RESP3 connection for the pub/sub notifications that wake waiters. Both
/// reconnect by themselves; after the pub/sub connection was re-established,
/// the client subscribes again and wakes every local waiter so it re-checks
/// (a release published while it was down is not lost).
///
/// [`Semaphore`]: crate::Semaphore
/// [`BoundedSemaphore`]: crate::BoundedSemaphore
/// [`Lock`]: crate::Lock
#[derive(Clone)]
pub struct Redis {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    conn: ConnectionManager,
    /// Makes the dedicated connections of blocking commands.
    commands: redis::Client,
    /// Idle dedicated connections, for the next blocking command.
    dedicated: std::sync::Mutex<Vec<Dedicated>>,
    pub(crate) notifier: Notifier,
    pub(crate) keeper: Arc<Keeper>,
    pub(crate) handle: Handle,
    runtime: OwnRuntime,
    tracker: TaskTracker,
    pub(crate) prefix: String,
    pub(crate) lease: Duration,
    pub(crate) op_timeout: Duration,
    id: String,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Redis")
            .field("id", &inner.id)
            .field("prefix", &inner.prefix)
            .field("lease", &inner.lease)
            .field("op_timeout", &inner.op_timeout)
            .field("own_runtime", &inner.runtime.0.is_some())
            .field("background_tasks", &inner.tracker.len())
            .field("notifier", &inner.notifier)
            .finish()
    }
}

impl Redis {
    /// A [`Builder`] for `url` (`redis://[user[:password]@]host[:port][/db]`,
    /// or `rediss://` for TLS with the `tls` feature).
    pub fn builder(url: impl Into<String>) -> Builder {
        Builder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            lease: DEFAULT_LEASE,
            op_timeout: DEFAULT_OP_TIMEOUT,
            root_cert: None,
        }
    }

    /// Connects with the defaults; see [`Builder::connect`].
    ///
    /// # Errors
    ///
    /// As [`Builder::connect`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), ambisync_redis::Error> {
    /// let redis = ambisync_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
    /// let lock = ambisync_redis::Lock::new(&redis, "nightly-report")?;
    /// let guard = lock.lock().await?;
    /// println!("fencing token {}", guard.fencing_token());
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: impl Into<String>) -> Result<Redis> {
        Self::builder(url).connect().await
    }

    /// Connects with the defaults from a plain thread; see
    /// [`Builder::connect_blocking`].
    ///
    /// # Errors
    ///
    /// As [`Builder::connect`].
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime.
    pub fn connect_blocking(url: impl Into<String>) -> Result<Redis> {
        Self::builder(url).connect_blocking()
    }

    /// The key prefix of this client.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Waits until the background work of dropped guards and cancelled
    /// acquires (their releases) has reached Redis. Call it before a process
    /// exits on purpose, or those permits come back only at lease expiry.
    pub async fn flush(&self) {
        let tracker = &self.inner.tracker;
        tracker.close();
        tracker.wait().await;
        tracker.reopen();
    }

    /// [`flush`](Self::flush), blocking the calling thread.
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime.
    pub fn flush_blocking(&self) {
        let this = self.clone();
        let _ = self.block_on("flush_blocking", async move {
            this.flush().await;
            Ok(())
        });
    }

    /// How many times the pub/sub connection was re-established and every
    /// local waiter woken to re-check (for tests and monitoring).
    pub fn resubscriptions(&self) -> u64 {
        self.inner.notifier.resubscriptions()
    }

    /// A connection for other commands (the same multiplexed one).
    pub fn connection(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    pub(crate) fn block_on<T: Send + 'static>(
        &self,
        method: &'static str,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.inner.block_on(method, fut)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.keeper.stop();
    }
}

impl Inner {
    /// Runs `fut` on the client's runtime and blocks the calling thread for
    /// its result.
    pub(crate) fn block_on<T: Send + 'static>(
        &self,
        method: &'static str,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        crate::blocking::assert_may_block(method);
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = sender.send(fut.await);
        });
        receiver.recv().map_err(|_| Error::RuntimeGone)?
    }

    /// A copy of the command connection.
    pub(crate) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// A connection of its own for one blocking command (`BLMOVE`), which
    /// would stall every other caller of the shared connection: an idle one
    /// from the pool, or a new one (connected within `budget`).
    pub(crate) async fn dedicated(&self, budget: Duration) -> Result<Dedicated> {
        let idle = self
            .dedicated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        if let Some(idle) = idle {
            return Ok(idle);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(budget))
            // The blocking command's own timeout bounds it; the caller
            // bounds the wait for its reply.
            .set_response_timeout(None);
        let connect = async {
            let mut conn = self
                .commands
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let id: i64 = redis::cmd("CLIENT")
                .arg("ID")
                .query_async(&mut conn)
                .await?;
            Ok::<_, Error>(Dedicated { conn, id })
        };
        bounded(budget, connect).await?
    }

    /// Puts a dedicated connection whose last command was answered back
    /// into the pool.
    pub(crate) fn give_back(&self, dedicated: Dedicated) {
        let mut idle = self.dedicated.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_DEDICATED {
            idle.push(dedicated);
        }
    }

    /// Interrupts the blocking command of the dedicated connection `id`
    /// (`CLIENT UNBLOCK`); `Ok(false)` when it was not blocked (yet).
    pub(crate) async fn unblock(&self, id: i64) -> Result<bool> {
        let mut conn = self.conn();
        let unblocked: i64 = bounded(
            self.op_timeout,
            redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(id)
                .query_async(&mut conn),
        )
        .await??;
        Ok(unblocked == 1)
    }

    /// Runs `fut` in the background, tracked so that [`Redis::flush`] can wait
    /// for it.
    pub(crate) fn spawn_background(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn_on(fut, &self.handle);
    }

    /// The full key or channel name of `name` and `suffix`; the name sits in a
    /// hash tag so that every key of one primitive lands in one cluster slot.
    pub(crate) fn key(&self, name: &str, suffix: &str) -> String {
        format!("{}{{{name}}}:{suffix}", self.prefix)
    }

    /// The time budget of the first round trip of a call that must end by
    /// `deadline`: a deadline that has passed already (a zero timeout) still
    /// makes one attempt, with the full op timeout.
    pub(crate) fn first_budget(&self, deadline: Option<Instant>) -> Duration {
        match deadline {
            Some(d) if d <= Instant::now() => self.op_timeout,
            _ => self.budget(deadline),
        }
    }

    /// The time budget for one round trip that must end by `deadline`.
    pub(crate) fn budget(&self, deadline: Option<Instant>) -> Duration {
        match deadline {
            Some(deadline) => self
                .op_timeout
                .min(deadline.saturating_duration_since(Instant::now())),
            None => self.op_timeout,
        }
    }
}

/// Idle dedicated connections kept per client.
const MAX_IDLE_DEDICATED: usize = 16;

/// A connection used by one blocking command at a time, with its
/// `CLIENT ID` (to interrupt it with `CLIENT UNBLOCK`).
pub(crate) struct Dedicated {
    pub(crate) conn: MultiplexedConnection,
    pub(crate) id: i64,
}

/// `fut` bounded by `limit`.
pub(crate) async fn bounded<T>(limit: Duration, fut: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| Error::Timeout(limit))
}

/// 128 random bits in hex: a holder's secret.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source does not fail on the systems tokio supports; if it
    // did, a clock-and-counter token would still be unique per process.
    if getrandom::fill(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes[..8].copy_from_slice(&nanos.to_le_bytes());
        bytes[8..12].copy_from_slice(&std::process::id().to_le_bytes());
        bytes[12..]
            .copy_from_slice(&(COUNTER.fetch_add(1, Ordering::Relaxed) as u32).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:pw@h:1/"), "redis://u:***@h:1/");
        assert_eq!(redact("redis://:pw@h:1/"), "redis://:***@h:1/");
        assert_eq!(redact("redis://h:1/"), "redis://h:1/");
    }

    #[test]
    fn tokens_are_unique_hex() {
        let a = random_token();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_token());
    }
}
