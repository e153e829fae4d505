//! A real tokio TCP server that caps concurrent requests with an
//! `ambisync::BoundedSemaphore`, shuts down gracefully, and load-tests itself.
//!
//! The server listens on loopback and speaks a line protocol:
//!
//! ```text
//! ECHO text   -> OK text                 a request: takes a permit
//! WORK ms     -> OK worked ms ms         a request: holds a permit for ms (0..=10000)
//! STATS       -> STATS gate=ambisync limit=16 available=16 in_flight=0 ...
//! QUIT        -> OK bye                  and the server closes the connection
//! SHUTDOWN    -> OK shutting down        and the server drains and stops
//! ```
//!
//! - One task per connection reads lines. A request (`ECHO`, `WORK`) takes an
//!   owned permit from the gate and runs in a spawned task that owns the
//!   permit, so the permit goes back when that task ends — finished, panicked
//!   or aborted. `STATS`, `QUIT` and `SHUTDOWN` are never gated: monitoring
//!   works when every permit is taken.
//! - The in-flight count goes down *before* the permit is given back, so the
//!   high-water mark can exceed the limit only if the semaphore lets too many
//!   requests through.
//! - A client that hangs up while its request waits for a permit or runs is
//!   noticed (the connection keeps reading) and its request is dropped, which
//!   gives the permit back at once. As in hyper's default, end-of-file counts
//!   as hanging up: half-closed clients are not supported.
//! - Shutdown (Ctrl-C or a `SHUTDOWN` line) sets an `ambisync::Event`: the
//!   accept loop stops and closes the listener, so new connections are
//!   refused; idle connections close; requests still waiting for a permit get
//!   `ERR shutting down`; admitted requests run to completion. Every
//!   connection and request is an item in an `ambisync::Queue` used as a wait
//!   group, and the drain is the queue's `join()`.
//!
//! With no arguments it runs a demo of about a second: server, load with live
//! `STATS`, then a `SHUTDOWN` that drains three slow requests.
//!
//! ```text
//! cargo run --example connection_limit
//! cargo run --example connection_limit -- --serve --port 7878 --limit 16
//! cargo run --example connection_limit -- --load 20000 --concurrency 64 --addr 127.0.0.1:7878
//! cargo run --release --example connection_limit -- --compare --load 20000 --concurrency 64
//! ```
//!
//! `tests/server.rs` includes this file as a module to test the server under
//! load, so the server and client are plain `pub` items and `main` is small.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ambisync::{Barrier, BoundedSemaphore, Event, OwnedSemaphorePermit, Queue};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The longest request line the server accepts, without its line ending.
pub const MAX_LINE: usize = 4096;
/// The longest `WORK` a request may ask for, in milliseconds.
pub const MAX_WORK_MS: u64 = 10_000;
/// A reply that cannot be written for this long means the client stopped
/// reading; the connection is closed so that it cannot stall a drain.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a load client waits for one reply before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause after a failed `accept` (out of file descriptors, say), so the
/// accept loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// How long a connection closed for a too-long line discards input, so that
/// its last reply is not destroyed by a reset...
const LINGER: Duration = Duration::from_secs(1);
/// ...and how many bytes at most.
const LINGER_BYTES: usize = 64 * 1024;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 1024;

// ---------------------------------------------------------------------------
// The gate: ambisync's BoundedSemaphore, or tokio's Semaphore for comparison.
// ---------------------------------------------------------------------------

/// Which semaphore caps the requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateKind {
    /// `ambisync::BoundedSemaphore`.
    Ambisync,
    /// `tokio::sync::Semaphore`, the baseline.
    Tokio,
}

impl GateKind {
    /// The name used on the command line and in `STATS`.
    pub fn name(self) -> &'static str {
        match self {
            GateKind::Ambisync => "ambisync",
            GateKind::Tokio => "tokio",
        }
    }

    /// The semaphore type, for reports.
    pub fn type_name(self) -> &'static str {
        match self {
            GateKind::Ambisync => "ambisync::BoundedSemaphore",
            GateKind::Tokio => "tokio::sync::Semaphore",
        }
    }

    /// The inverse of [`name`](GateKind::name).
    pub fn from_name(name: &str) -> Option<GateKind> {
        [GateKind::Ambisync, GateKind::Tokio]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// The semaphore that caps concurrent requests.
#[derive(Clone, Debug)]
pub enum Gate {
    /// Gated by ambisync; its bound is the limit.
    Ambisync(Arc<BoundedSemaphore>),
    /// Gated by tokio, which has no bound of its own, so the limit is kept.
    Tokio {
        /// The semaphore.
        semaphore: Arc<tokio::sync::Semaphore>,
        /// The permits it was created with.
        limit: usize,
    },
}

/// A permit from either gate; dropping it gives the permit back.
#[derive(Debug)]
pub enum GatePermit {
    /// Held only for its `Drop`.
    Ambisync(OwnedSemaphorePermit),
    /// Held only for its `Drop`.
    Tokio(tokio::sync::OwnedSemaphorePermit),
}

impl Gate {
    /// A gate of `kind` with `limit` permits.
    pub fn new(kind: GateKind, limit: usize) -> Gate {
        match kind {
            GateKind::Ambisync => Gate::Ambisync(Arc::new(BoundedSemaphore::new(limit))),
            GateKind::Tokio => Gate::Tokio {
                semaphore: Arc::new(tokio::sync::Semaphore::new(limit)),
                limit,
            },
        }
    }

    /// Which semaphore this is.
    pub fn kind(&self) -> GateKind {
        match self {
            Gate::Ambisync(_) => GateKind::Ambisync,
            Gate::Tokio { .. } => GateKind::Tokio,
        }
    }

    /// How many requests may run at once.
    pub fn limit(&self) -> usize {
        match self {
            Gate::Ambisync(semaphore) => semaphore.bound(),
            Gate::Tokio { limit, .. } => *limit,
        }
    }

    /// Permits free right now.
    pub fn available(&self) -> usize {
        match self {
            Gate::Ambisync(semaphore) => semaphore.available_permits(),
            Gate::Tokio { semaphore, .. } => semaphore.available_permits(),
        }
    }

    /// Takes a permit if one is free.
    pub fn try_acquire(&self) -> Option<GatePermit> {
        match self {
            Gate::Ambisync(semaphore) => semaphore.try_acquire_owned().map(GatePermit::Ambisync),
            Gate::Tokio { semaphore, .. } => Arc::clone(semaphore)
                .try_acquire_owned()
                .ok()
                .map(GatePermit::Tokio),
        }
    }

    /// Waits for a permit. Cancel safe with both semaphores: a dropped
    /// acquire holds no permit.
    pub async fn acquire(&self) -> GatePermit {
        match self {
            Gate::Ambisync(semaphore) => GatePermit::Ambisync(semaphore.acquire_owned().await),
            Gate::Tokio { semaphore, .. } => GatePermit::Tokio(
                Arc::clone(semaphore)
                    .acquire_owned()
                    .await
                    .expect("the gate semaphore is never closed"),
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/// Live counters, updated with atomics by every connection and request.
#[derive(Debug, Default)]
struct Stats {
    /// Requests holding a permit.
    in_flight: AtomicUsize,
    /// The most requests ever holding a permit at once.
    high_water: AtomicUsize,
    /// Requests read and waiting for a permit.
    queued: AtomicUsize,
    /// Requests that found no free permit and had to wait (or gave up).
    waited: AtomicU64,
    /// Requests whose work completed.
    served: AtomicU64,
    /// Requests dropped because their client hung up first.
    abandoned: AtomicU64,
    /// Requests turned away with `ERR shutting down`.
    refused: AtomicU64,
    /// Connections open now.
    connections: AtomicUsize,
}

/// The counters at one moment, as `STATS` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// The gate in use.
    pub gate: GateKind,
    /// The most requests allowed to run at once.
    pub limit: usize,
    /// Free permits.
    pub available: usize,
    /// Requests holding a permit.
    pub in_flight: usize,
    /// The most requests ever holding a permit at once.
    pub high_water: usize,
    /// Requests read and waiting for a permit.
    pub queued: usize,
    /// Requests that found no free permit and had to wait (or gave up).
    pub waited: u64,
    /// Requests whose work completed.
    pub served: u64,
    /// Requests dropped because their client hung up first.
    pub abandoned: u64,
    /// Requests turned away because the server was stopping.
    pub refused: u64,
    /// Open connections.
    pub connections: usize,
}

impl fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gate={} limit={} available={} in_flight={} high_water={} queued={} waited={} \
             served={} abandoned={} refused={} connections={}",
            self.gate.name(),
            self.limit,
            self.available,
            self.in_flight,
            self.high_water,
            self.queued,
            self.waited,
            self.served,
            self.abandoned,
            self.refused,
            self.connections
        )
    }
}

impl StatsSnapshot {
    /// Parses a `STATS ...` reply; `None` if any field is missing or malformed.
    pub fn parse(reply: &str) -> Option<StatsSnapshot> {
        let fields = reply.strip_prefix("STATS ")?;
        let field = |name: &str| {
            fields
                .split(' ')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        };
        let number = |name: &str| field(name)?.parse::<u64>().ok();
        let count = |name: &str| usize::try_from(number(name)?).ok();
        Some(StatsSnapshot {
            gate: GateKind::from_name(field("gate")?)?,
            limit: count("limit")?,
            available: count("available")?,
            in_flight: count("in_flight")?,
            high_water: count("high_water")?,
            queued: count("queued")?,
            waited: number("waited")?,
            served: number("served")?,
            abandoned: number("abandoned")?,
            refused: number("refused")?,
            connections: count("connections")?,
        })
    }
}

// ---------------------------------------------------------------------------
// The protocol
// ---------------------------------------------------------------------------

/// A request that needs a permit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Reply with the text.
    Echo(String),
    /// Hold the permit this long (simulated I/O-bound work).
    Work(Duration),
}

/// One line from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `ECHO` or `WORK`: gated.
    Request(Request),
    /// Report the counters.
    Stats,
    /// Close this connection.
    Quit,
    /// Stop the server gracefully.
    Shutdown,
}

impl Command {
    /// Parses a line (verbs are case-insensitive); `Err` is the reason, sent
    /// back after `ERR `.
    pub fn parse(line: &str) -> Result<Command, String> {
        let (verb, argument) = line.split_once(' ').unwrap_or((line, ""));
        let is = |name: &str| verb.eq_ignore_ascii_case(name);
        let no_argument = |command: Command| {
            if argument.trim().is_empty() {
                Ok(command)
            } else {
                Err(format!("{} takes no argument", verb.to_ascii_uppercase()))
            }
        };
        if is("ECHO") {
            Ok(Command::Request(Request::Echo(argument.to_owned())))
        } else if is("WORK") {
            argument
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&ms| ms <= MAX_WORK_MS)
                .map(|ms| Command::Request(Request::Work(Duration::from_millis(ms))))
                .ok_or_else(|| format!("WORK takes whole milliseconds from 0 to {MAX_WORK_MS}"))
        } else if is("STATS") {
            no_argument(Command::Stats)
        } else if is("QUIT") {
            no_argument(Command::Quit)
        } else if is("SHUTDOWN") {
            no_argument(Command::Shutdown)
        } else if verb.is_empty() {
            Err("empty request (try ECHO text, WORK ms, STATS, QUIT, SHUTDOWN)".to_owned())
        } else {
            Err("unknown command (try ECHO text, WORK ms, STATS, QUIT, SHUTDOWN)".to_owned())
        }
    }
}

impl Request {
    /// Does the work and returns the reply.
    async fn execute(self) -> String {
        match self {
            Request::Echo(text) if text.is_empty() => "OK".to_owned(),
            Request::Echo(text) => format!("OK {text}"),
            Request::Work(duration) => {
                tokio::time::sleep(duration).await;
                format!("OK worked {} ms", duration.as_millis())
            }
        }
    }
}

/// What [`LineReader::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its line ending.
    Text(String),
    /// A line longer than the reader's limit.
    TooLong,
    /// A complete line that is not UTF-8.
    NotUtf8,
    /// The peer closed the connection (or it failed) before a complete line.
    Closed,
}

/// Reads `\n`-terminated lines (dropping a `\r` before the `\n`) with a
/// length limit.
///
/// Cancel safe: the only await is tokio's `read_buf`, which reads nothing when
/// it is cancelled, and whatever was read stays in `buffer`. So `next_line`
/// and `hung_up` can lose a `select!` without losing a byte.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    buffer: Vec<u8>,
    max_line: usize,
    /// The peer closed its side or the connection failed: no more bytes.
    closed: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader that rejects lines longer than `max_line` bytes.
    pub fn new(reader: R, max_line: usize) -> LineReader<R> {
        LineReader {
            reader,
            buffer: Vec::with_capacity(READ_CHUNK),
            max_line,
            closed: false,
        }
    }

    /// The next line.
    pub async fn next_line(&mut self) -> Line {
        loop {
            if let Some(end) = self.buffer.iter().position(|&byte| byte == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > self.max_line {
                    return Line::TooLong;
                }
                return String::from_utf8(line).map_or(Line::NotUtf8, Line::Text);
            }
            // No line end yet; the +1 leaves room for the `\r` of a line of
            // exactly `max_line` bytes.
            if self.buffer.len() > self.max_line + 1 {
                return Line::TooLong;
            }
            if !self.read_more().await {
                return Line::Closed;
            }
        }
    }

    /// Completes when the peer hangs up. Until then it reads ahead, keeping
    /// pipelined requests for `next_line`, but only about one line's worth:
    /// then it stops reading and never completes, so a client that floods
    /// cannot make the server buffer without bound.
    pub async fn hung_up(&mut self) {
        while self.buffer.len() <= self.max_line + 1 {
            if !self.read_more().await {
                return;
            }
        }
        std::future::pending().await
    }

    /// Reads and drops input until the peer closes (or, at most, `LINGER_BYTES`).
    pub async fn discard_input(&mut self) {
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            discarded += self.buffer.len();
            self.buffer.clear();
            if !self.read_more().await {
                return;
            }
        }
    }

    /// Appends what the socket has; `false` once no more bytes will come.
    async fn read_more(&mut self) -> bool {
        if self.closed {
            return false;
        }
        self.buffer.reserve(READ_CHUNK);
        match self.reader.read_buf(&mut self.buffer).await {
            Ok(0) | Err(_) => {
                self.closed = true;
                false
            }
            Ok(_) => true,
        }
    }
}

/// Writes `reply` and a line end, giving up after [`WRITE_TIMEOUT`].
async fn write_line(writer: &mut OwnedWriteHalf, reply: &str) -> io::Result<()> {
    let mut line = String::with_capacity(reply.len() + 1);
    line.push_str(reply);
    line.push('\n');
    tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(line.as_bytes()))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading"))?
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// How to run the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The most requests that may run at once.
    pub limit: usize,
    /// Which semaphore enforces it.
    pub gate: GateKind,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limit: 16,
            gate: GateKind::Ambisync,
        }
    }
}

/// What every connection and request of one server shares.
struct Shared {
    gate: Gate,
    stats: Stats,
    /// Set once to stop the server: the accept loop and idle connections end.
    stop: Event,
    /// The wait group: one item per connection or request not yet finished.
    unfinished: Queue<()>,
}

impl Shared {
    fn snapshot(&self) -> StatsSnapshot {
        let stats = &self.stats;
        StatsSnapshot {
            gate: self.gate.kind(),
            limit: self.gate.limit(),
            available: self.gate.available(),
            in_flight: stats.in_flight.load(Ordering::Acquire),
            high_water: stats.high_water.load(Ordering::Acquire),
            queued: stats.queued.load(Ordering::Relaxed),
            waited: stats.waited.load(Ordering::Relaxed),
            served: stats.served.load(Ordering::Relaxed),
            abandoned: stats.abandoned.load(Ordering::Relaxed),
            refused: stats.refused.load(Ordering::Relaxed),
            connections: stats.connections.load(Ordering::Relaxed),
        }
    }
}

/// One unfinished connection or request, as an item of the wait-group queue:
/// `put` when it starts, `get` + `task_done` when it ends (also by unwinding
/// or by an aborted task's drop), so `join()` returns once all are done.
struct Unfinished(Arc<Shared>);

impl Unfinished {
    fn start(shared: &Arc<Shared>) -> Unfinished {
        shared
            .unfinished
            .try_put(())
            .expect("the wait-group queue is unbounded and never shut down");
        Unfinished(Arc::clone(shared))
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        // Each live `Unfinished` put one item, so both calls succeed; they
        // are not unwrapped because a panic in a drop during unwinding aborts.
        let taken = self.0.unfinished.try_get();
        let done = self.0.unfinished.task_done();
        debug_assert!(taken.is_ok() && done.is_ok(), "wait group out of step");
    }
}

/// An admitted request: holds the permit and counts itself in `in_flight`.
struct InFlight {
    /// `Some` until the drop gives it back.
    permit: Option<GatePermit>,
    unfinished: Unfinished,
}

impl InFlight {
    fn admit(shared: &Arc<Shared>, permit: GatePermit) -> InFlight {
        // Registered while the connection's own item is still unfinished, so
        // the wait group never reads zero in between.
        let unfinished = Unfinished::start(shared);
        let now = shared.stats.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        shared.stats.high_water.fetch_max(now, Ordering::AcqRel);
        InFlight {
            permit: Some(permit),
            unfinished,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Leave the in-flight count before giving the permit back: the next
        // holder of this permit counts itself only after this, so the count
        // (and the high-water mark) stays within the limit.
        self.unfinished
            .0
            .stats
            .in_flight
            .fetch_sub(1, Ordering::AcqRel);
        drop(self.permit.take());
        // `unfinished` drops after this body: the wait group hears of the end
        // only once the permit is back.
    }
}

/// A running server: its address, live stats, and the way to stop it.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Binds `127.0.0.1:port` (0: any free port).
pub async fn bind_loopback(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await
}

/// Starts serving `listener` on the current tokio runtime and returns at once.
pub fn serve(listener: TcpListener, config: Config) -> io::Result<Server> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        gate: Gate::new(config.gate, config.limit),
        stats: Stats::default(),
        stop: Event::new(),
        unfinished: Queue::unbounded(),
    });
    let accept_loop = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
    Ok(Server {
        addr,
        shared,
        accept_loop,
    })
}

impl Server {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.snapshot()
    }

    /// Starts a graceful shutdown, as a `SHUTDOWN` line does.
    pub fn stop(&self) {
        self.shared.stop.set();
    }

    /// Waits until a shutdown starts.
    pub async fn stopped(&self) {
        self.shared.stop.wait().await;
    }

    /// Waits until a shutdown starts, then until it has drained: the listener
    /// is closed and every connection and admitted request has finished.
    pub async fn wait(self) -> StatsSnapshot {
        self.shared.stop.wait().await;
        if let Err(failure) = self.accept_loop.await {
            std::panic::resume_unwind(failure.into_panic());
        }
        self.shared.unfinished.join().await;
        self.shared.snapshot()
    }

    /// Stops the server and waits for the drain.
    pub async fn shutdown(self) -> StatsSnapshot {
        self.stop();
        self.wait().await
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // One wait for the whole loop, polled by each `select!`: it stays
    // registered with the event instead of registering again per accept.
    let mut stop = pin!(shared.stop.wait());
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                // Counted before the task exists, so a drain that starts now
                // waits for it.
                let unfinished = Unfinished::start(&shared);
                tokio::spawn(connection(stream, Arc::clone(&shared), unfinished));
            }
            Err(error) => {
                eprintln!("accept failed: {error}");
                tokio::select! {
                    biased;
                    () = &mut stop => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    // Closing the listener makes the kernel refuse new connections while the
    // admitted requests drain.
    drop(listener);
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, unfinished: Unfinished) {
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    serve_connection(stream, &shared).await;
    shared.stats.connections.fetch_sub(1, Ordering::Relaxed);
    // The socket is closed by now; only then does the drain count this
    // connection as done.
    drop(unfinished);
}

/// How waiting for a permit ended.
enum Admission {
    Admitted(GatePermit),
    Stopping,
    HungUp,
}

/// Serves one connection until the client leaves, asks to, or the server
/// stops; requests are answered one at a time, in order.
async fn serve_connection(stream: TcpStream, shared: &Arc<Shared>) {
    // Every reply is small and the client waits for it: don't let Nagle's
    // algorithm hold it back. Best effort; failure only costs latency.
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut lines = LineReader::new(reader, MAX_LINE);
    // As in the accept loop: one wait for the connection's lifetime. Each
    // branch that sees it complete returns, so it is never polled again.
    let mut stop = pin!(shared.stop.wait());
    loop {
        let line = tokio::select! {
            biased;
            () = &mut stop => return,
            line = lines.next_line() => line,
        };
        let command = match line {
            Line::Text(text) => Command::parse(&text),
            Line::NotUtf8 => Err("request is not UTF-8".to_owned()),
            Line::TooLong => {
                // The rest of the line is unread and unbounded: close. Closing
                // a socket with unread input makes the kernel send a reset,
                // which can destroy the reply before the client reads it; so
                // half-close, then discard input for a moment first.
                if write_line(&mut writer, "ERR line too long").await.is_ok() {
                    let _ = writer.shutdown().await;
                    let _ = tokio::time::timeout(LINGER, lines.discard_input()).await;
                }
                return;
            }
            Line::Closed => return,
        };
        let reply = match command {
            Err(problem) => format!("ERR {problem}"),
            Ok(Command::Stats) => format!("STATS {}", shared.snapshot()),
            Ok(Command::Quit) => {
                let _ = write_line(&mut writer, "OK bye").await;
                return;
            }
            Ok(Command::Shutdown) => {
                shared.stop.set();
                let _ = write_line(&mut writer, "OK shutting down").await;
                return;
            }
            Ok(Command::Request(request)) => {
                let admission = if let Some(permit) = shared.gate.try_acquire() {
                    Admission::Admitted(permit)
                } else {
                    // None free: wait, unless the server stops or the client
                    // hangs up first; the losing acquire is dropped, which
                    // holds no permit (both semaphores are cancel safe).
                    shared.stats.waited.fetch_add(1, Ordering::Relaxed);
                    shared.stats.queued.fetch_add(1, Ordering::Relaxed);
                    let admission = tokio::select! {
                        biased;
                        () = &mut stop => Admission::Stopping,
                        () = lines.hung_up() => Admission::HungUp,
                        permit = shared.gate.acquire() => Admission::Admitted(permit),
                    };
                    shared.stats.queued.fetch_sub(1, Ordering::Relaxed);
                    admission
                };
                let permit = match admission {
                    Admission::Admitted(permit) => permit,
                    Admission::Stopping => {
                        shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                        let _ = write_line(&mut writer, "ERR shutting down").await;
                        return;
                    }
                    Admission::HungUp => {
                        shared.stats.abandoned.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
                // The permit moves into the task that does the work and lives
                // exactly as long as it: it is back before the reply is even
                // written, so a slow reader never holds one.
                let admitted = InFlight::admit(shared, permit);
                let served = Arc::clone(shared);
                let mut work = tokio::spawn(async move {
                    let reply = request.execute().await;
                    served.stats.served.fetch_add(1, Ordering::Relaxed);
                    // In this task, before the reply goes anywhere.
                    drop(admitted);
                    reply
                });
                // Admitted work runs to completion even when the server
                // stops; only a client that hangs up cancels it.
                tokio::select! {
                    biased;
                    finished = &mut work => finished.unwrap_or_else(|failure| {
                        eprintln!("request task failed: {failure}");
                        "ERR internal error".to_owned()
                    }),
                    () = lines.hung_up() => {
                        // Dropping the task's future drops its permit.
                        work.abort();
                        shared.stats.abandoned.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        };
        if write_line(&mut writer, &reply).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// The client and the load generator
// ---------------------------------------------------------------------------

/// A connection to the server, one request at a time.
#[derive(Debug)]
pub struct Client {
    lines: LineReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client::from_stream(stream))
    }

    /// A client over a connected stream.
    pub fn from_stream(stream: TcpStream) -> Client {
        let (reader, writer) = stream.into_split();
        Client {
            // Replies echo up to MAX_LINE bytes of text after a short prefix.
            lines: LineReader::new(reader, MAX_LINE + 64),
            writer,
        }
    }

    /// Sends one line.
    pub async fn send(&mut self, line: &str) -> io::Result<()> {
        write_line(&mut self.writer, line).await
    }

    /// Reads one reply line.
    pub async fn reply(&mut self) -> io::Result<String> {
        match self.lines.next_line().await {
            Line::Text(reply) => Ok(reply),
            Line::Closed => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad reply: {other:?}"),
            )),
        }
    }

    /// Sends `line` and reads the reply.
    pub async fn request(&mut self, line: &str) -> io::Result<String> {
        self.send(line).await?;
        self.reply().await
    }

    /// Asks for `STATS` and parses it.
    pub async fn stats(&mut self) -> io::Result<StatsSnapshot> {
        let reply = self.request("STATS").await?;
        StatsSnapshot::parse(&reply).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("bad STATS: {reply}"))
        })
    }
}

/// What the load generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSpec {
    /// Requests in all.
    pub requests: usize,
    /// Clients (connections) sending them at once, each one request at a time.
    pub concurrency: usize,
    /// 0: `ECHO` requests; otherwise `WORK work_ms`.
    pub work_ms: u64,
}

/// What the load generator measured.
#[derive(Clone, Debug)]
pub struct LoadReport {
    /// Clients that took part.
    pub clients: usize,
    /// Requests answered with the expected reply.
    pub completed: usize,
    /// Requests that failed or got a wrong reply.
    pub failed: usize,
    /// Requests never sent because their clients failed.
    pub unsent: usize,
    /// From the moment every client was connected until the last finished.
    pub elapsed: Duration,
    /// The first failure, for the report.
    pub first_failure: Option<String>,
    /// Latency of each completed request, sorted.
    latencies: Vec<Duration>,
}

impl LoadReport {
    /// Completed requests per second.
    pub fn requests_per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which `percent` of the completed requests fall
    /// (nearest rank); zero if none completed.
    pub fn latency_percentile(&self, percent: f64) -> Duration {
        let rank = (percent / 100.0 * self.latencies.len() as f64).ceil() as usize;
        self.latencies
            .get(rank.clamp(1, self.latencies.len().max(1)) - 1)
            .copied()
            .unwrap_or_default()
    }

    /// Whether every request was answered as expected.
    pub fn all_completed(&self) -> bool {
        self.failed == 0 && self.unsent == 0
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests from {} clients in {:.3} s: {:.0} req/s; latency p50 {}, p90 {}, \
             p99 {}, max {}; failed {}, unsent {}",
            self.completed,
            self.clients,
            self.elapsed.as_secs_f64(),
            self.requests_per_second(),
            millis(self.latency_percentile(50.0)),
            millis(self.latency_percentile(90.0)),
            millis(self.latency_percentile(99.0)),
            millis(self.latency_percentile(100.0)),
            self.failed,
            self.unsent
        )?;
        if let Some(failure) = &self.first_failure {
            write!(f, " (first failure: {failure})")?;
        }
        Ok(())
    }
}

/// What one load client did.
#[derive(Default)]
struct ClientOutcome {
    latencies: Vec<Duration>,
    failed: usize,
    first_failure: Option<String>,
}

impl ClientOutcome {
    fn fail(&mut self, why: String) {
        self.failed += 1;
        self.first_failure.get_or_insert(why);
    }
}

/// Takes one request from the shared budget; `false` when none is left.
fn take_ticket(tickets: &AtomicUsize) -> bool {
    tickets
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(1)
        })
        .is_ok()
}

async fn load_client(
    addr: SocketAddr,
    id: usize,
    spec: LoadSpec,
    tickets: Arc<AtomicUsize>,
    start: Arc<Barrier>,
) -> ClientOutcome {
    let connected = Client::connect(addr).await;
    // Everyone connects before the clock starts; a client that failed to
    // connect still arrives, or the others would wait for it forever.
    start
        .wait()
        .await
        .expect("nothing breaks the start barrier");
    let mut outcome = ClientOutcome::default();
    let mut client = match connected {
        Ok(client) => client,
        Err(error) => {
            outcome.first_failure = Some(format!("connect: {error}"));
            return outcome;
        }
    };
    let mut seq = 0;
    while take_ticket(&tickets) {
        seq += 1;
        let (request, expected) = if spec.work_ms == 0 {
            let text = format!("client {id} request {seq}");
            (format!("ECHO {text}"), format!("OK {text}"))
        } else {
            let ms = spec.work_ms;
            (format!("WORK {ms}"), format!("OK worked {ms} ms"))
        };
        let sent = Instant::now();
        match tokio::time::timeout(REPLY_TIMEOUT, client.request(&request)).await {
            Ok(Ok(reply)) if reply == expected => outcome.latencies.push(sent.elapsed()),
            Ok(Ok(reply)) => outcome.fail(format!("`{request}` got `{reply}`")),
            Ok(Err(error)) => {
                outcome.fail(format!("`{request}`: {error}"));
                break;
            }
            Err(_) => {
                outcome.fail(format!("`{request}`: no reply in {REPLY_TIMEOUT:?}"));
                break;
            }
        }
    }
    outcome
}

/// Sends `spec.requests` requests to `addr` from `spec.concurrency` clients at
/// once (fewer if there are fewer requests) and measures them.
pub async fn run_load(addr: SocketAddr, spec: LoadSpec) -> LoadReport {
    let clients = spec.concurrency.clamp(1, spec.requests.max(1));
    let tickets = Arc::new(AtomicUsize::new(spec.requests));
    // The clients and this task: the clock starts when all have arrived.
    let start = Arc::new(Barrier::new(clients + 1));
    let tasks: Vec<_> = (0..clients)
        .map(|id| {
            tokio::spawn(load_client(
                addr,
                id,
                spec,
                Arc::clone(&tickets),
                Arc::clone(&start),
            ))
        })
        .collect();
    start
        .wait()
        .await
        .expect("nothing breaks the start barrier");
    let started = Instant::now();
    let mut report = LoadReport {
        clients,
        completed: 0,
        failed: 0,
        unsent: 0,
        elapsed: Duration::ZERO,
        first_failure: None,
        latencies: Vec::with_capacity(spec.requests),
    };
    for task in tasks {
        let outcome = match task.await {
            Ok(outcome) => outcome,
            Err(failure) => std::panic::resume_unwind(failure.into_panic()),
        };
        report.failed += outcome.failed;
        report.latencies.extend(outcome.latencies);
        if report.first_failure.is_none() {
            report.first_failure = outcome.first_failure;
        }
    }
    report.elapsed = started.elapsed();
    report.completed = report.latencies.len();
    report.unsent = tickets.load(Ordering::Relaxed);
    report.latencies.sort_unstable();
    report
}

/// Starts a server on a free loopback port, loads it, shuts it down, and
/// returns the load report and the server's final counters.
pub async fn load_in_process(
    config: Config,
    spec: LoadSpec,
) -> io::Result<(LoadReport, StatsSnapshot)> {
    let server = serve(bind_loopback(0).await?, config)?;
    let report = run_load(server.local_addr(), spec).await;
    let stats = server.shutdown().await;
    Ok((report, stats))
}

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

/// Where `--load` sends its requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A server started in this process.
    InProcess(Config),
    /// A server elsewhere, as given and as resolved.
    External(String, SocketAddr),
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No mode flag: the self-contained demo.
    Demo(Config),
    /// `--serve`: run a server until Ctrl-C or `SHUTDOWN`.
    Serve {
        /// 0: any free port.
        port: u16,
        /// Limit and gate.
        config: Config,
    },
    /// `--load N`: measure a server.
    Load {
        /// The load.
        spec: LoadSpec,
        /// Where it goes.
        target: Target,
    },
    /// `--compare`: the same load against each gate, in alternating rounds.
    Compare {
        /// The load of each round.
        spec: LoadSpec,
        /// The limit of both gates.
        limit: usize,
        /// Rounds per gate.
        rounds: usize,
    },
}

/// The usage text.
pub const USAGE: &str = "\
usage: connection_limit                         demo: serve, load, SHUTDOWN, drain (about 1 s)
       connection_limit --serve [--port P] [--limit L] [--gate G]
       connection_limit --load N [--concurrency C] [--work-ms MS] [--limit L] [--gate G]
       connection_limit --load N [--concurrency C] [--work-ms MS] --addr HOST:PORT
       connection_limit --compare [--load N] [--concurrency C] [--work-ms MS] [--limit L] [--rounds R]

  --serve            serve on 127.0.0.1 until Ctrl-C or a SHUTDOWN line
  --port P           port to listen on, 0 = any free port (default 0)
  --limit L          requests allowed to run at once, 1..=100000 (default 16)
  --gate G           ambisync or tokio: the semaphore enforcing the limit (default ambisync)
  --load N           send N requests, 1..=100000000, and report req/s and latency percentiles;
                     without --addr, to a server started in this process
  --concurrency C    clients sending at once, one request at a time each, 1..=5000 (default 64)
  --work-ms MS       send `WORK MS` instead of `ECHO`, 0..=10000 (default 0: ECHO)
  --addr HOST:PORT   the server to load
  --compare          run the load against the ambisync gate and the tokio gate back to back
                     (default --load 20000) and print req/s of each and the ratio
  --rounds R         rounds per gate for --compare, alternating the order, 1..=20 (default 3)

protocol (one line each): ECHO text | WORK ms | STATS | QUIT | SHUTDOWN";

/// Collected flags, before they are checked against the mode.
#[derive(Default)]
struct Flags {
    /// Every flag given, in order, to check which apply to the mode.
    given: Vec<&'static str>,
    serve: bool,
    compare: bool,
    port: Option<u16>,
    limit: Option<usize>,
    gate: Option<GateKind>,
    load: Option<usize>,
    concurrency: Option<usize>,
    work_ms: Option<u64>,
    addr: Option<String>,
    rounds: Option<usize>,
}

/// A whole number within `range`, for `flag`.
fn number<T: TryFrom<u64>>(
    flag: &str,
    value: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<T, String> {
    let out_of_range = || {
        format!(
            "{flag} must be a whole number from {} to {}, not `{value}`",
            range.start(),
            range.end()
        )
    };
    let parsed: u64 = value.parse().map_err(|_| out_of_range())?;
    if !range.contains(&parsed) {
        return Err(out_of_range());
    }
    T::try_from(parsed).map_err(|_| out_of_range())
}

/// Parses the arguments (without the program name). `Err("")` asks for help;
/// any other `Err` is a usage error.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Mode, String> {
    const FLAGS: [&str; 11] = [
        "--serve",
        "--compare",
        "--port",
        "--limit",
        "--gate",
        "--load",
        "--concurrency",
        "--work-ms",
        "--addr",
        "--rounds",
        "--help",
    ];
    let mut flags = Flags::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(&flag) = FLAGS.iter().find(|&&known| known == arg) else {
            return Err(if arg == "-h" {
                String::new()
            } else {
                format!("unknown option `{arg}`")
            });
        };
        if flag == "--help" {
            return Err(String::new());
        }
        if flags.given.contains(&flag) {
            return Err(format!("{flag} given twice"));
        }
        flags.given.push(flag);
        if flag == "--serve" {
            flags.serve = true;
            continue;
        }
        if flag == "--compare" {
            flags.compare = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag {
            "--port" => flags.port = Some(number(flag, &value, 0..=65_535)?),
            "--limit" => flags.limit = Some(number(flag, &value, 1..=100_000)?),
            "--load" => flags.load = Some(number(flag, &value, 1..=100_000_000)?),
            "--concurrency" => flags.concurrency = Some(number(flag, &value, 1..=5_000)?),
            "--work-ms" => flags.work_ms = Some(number(flag, &value, 0..=MAX_WORK_MS)?),
            "--rounds" => flags.rounds = Some(number(flag, &value, 1..=20)?),
            "--gate" => {
                flags.gate = Some(GateKind::from_name(&value).ok_or_else(|| {
                    format!("--gate must be `ambisync` or `tokio`, not `{value}`")
                })?);
            }
            "--addr" => flags.addr = Some(value),
            _ => unreachable!("every flag that takes a value is matched"),
        }
    }

    if flags.addr.is_some() && flags.load.is_none() {
        return Err("--addr needs --load N".to_owned());
    }
    let config = Config {
        limit: flags.limit.unwrap_or(Config::default().limit),
        gate: flags.gate.unwrap_or(Config::default().gate),
    };
    let spec = |default_requests| LoadSpec {
        requests: flags.load.unwrap_or(default_requests),
        concurrency: flags.concurrency.unwrap_or(64),
        work_ms: flags.work_ms.unwrap_or(0),
    };
    let (mode, name, allowed): (Mode, &str, &[&str]) = if flags.serve {
        let mode = Mode::Serve {
            port: flags.port.unwrap_or(0),
            config,
        };
        (mode, "--serve", &["--serve", "--port", "--limit", "--gate"])
    } else if flags.compare {
        let mode = Mode::Compare {
            spec: spec(20_000),
            limit: config.limit,
            rounds: flags.rounds.unwrap_or(3),
        };
        let allowed = &[
            "--compare",
            "--load",
            "--concurrency",
            "--work-ms",
            "--limit",
            "--rounds",
        ];
        (mode, "--compare (it runs both gates)", allowed)
    } else if let Some(requests) = flags.load {
        if let Some(addr) = flags.addr.clone() {
            let resolved = addr
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| format!("--addr must be HOST:PORT of a server, not `{addr}`"))?;
            let mode = Mode::Load {
                spec: spec(requests),
                target: Target::External(addr, resolved),
            };
            let allowed = &["--load", "--concurrency", "--work-ms", "--addr"];
            (
                mode,
                "--addr (that server has its own limit and gate)",
                allowed,
            )
        } else {
            let mode = Mode::Load {
                spec: spec(requests),
                target: Target::InProcess(config),
            };
            let allowed = &["--load", "--concurrency", "--work-ms", "--limit", "--gate"];
            (mode, "--load", allowed)
        }
    } else {
        let allowed = &["--limit", "--gate"];
        (
            Mode::Demo(config),
            "the demo (no --serve, --load or --compare)",
            allowed,
        )
    };
    if let Some(flag) = flags.given.iter().find(|flag| !allowed.contains(flag)) {
        return Err(format!(
            "{flag} does not go with {name}; that takes {}",
            allowed.join(", ")
        ));
    }
    Ok(mode)
}

// ---------------------------------------------------------------------------
// The modes
// ---------------------------------------------------------------------------

/// Timestamped logging, as in the other examples.
#[derive(Clone, Copy, Debug)]
pub struct Log {
    start: Instant,
}

impl Log {
    /// A log whose clock starts now.
    pub fn starting_now() -> Log {
        Log {
            start: Instant::now(),
        }
    }

    /// Prints one line: time since start, who, what.
    pub fn line(&self, who: &str, what: impl fmt::Display) {
        println!(
            "{:>8.3}s  {who:<10} {what}",
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Polls `condition` every few milliseconds for up to `limit`.
async fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

/// Asks for `STATS` on its own connection every `every` until `done` is set:
/// they are never gated, so they answer while every permit is taken.
async fn monitor(addr: SocketAddr, log: Log, done: Arc<Event>, every: Duration) {
    let mut client = match Client::connect(addr).await {
        Ok(client) => client,
        Err(error) => return log.line("monitor", format!("cannot connect: {error}")),
    };
    let mut done = pin!(done.wait());
    loop {
        tokio::select! {
            biased;
            () = &mut done => return,
            () = tokio::time::sleep(every) => {}
        }
        match client.stats().await {
            Ok(stats) => log.line("monitor", format!("STATS {stats}")),
            Err(error) => return log.line("monitor", format!("STATS failed: {error}")),
        }
    }
}

/// The self-contained demo: serve, load with live STATS, then SHUTDOWN while
/// slow requests run, and check that they finished and the port is closed.
async fn run_demo(config: Config, log: Log) -> Result<(), String> {
    const SLOW_REQUESTS: usize = 3;
    const SLOW_MS: u64 = 300;
    let spec = LoadSpec {
        requests: 2_000,
        concurrency: 32,
        work_ms: 1,
    };
    let listener = bind_loopback(0)
        .await
        .map_err(|error| format!("cannot listen on 127.0.0.1: {error}"))?;
    let server = serve(listener, config).map_err(|error| error.to_string())?;
    let addr = server.local_addr();
    log.line(
        "server",
        format!(
            "listening on {addr}; at most {} requests at once ({})",
            config.limit,
            config.gate.type_name()
        ),
    );

    log.line(
        "load",
        format!(
            "{} clients send {} requests of `WORK {}`",
            spec.concurrency, spec.requests, spec.work_ms
        ),
    );
    let load_done = Arc::new(Event::new());
    let monitor = tokio::spawn(monitor(
        addr,
        log,
        Arc::clone(&load_done),
        Duration::from_millis(100),
    ));
    let report = run_load(addr, spec).await;
    load_done.set();
    let _ = monitor.await;
    log.line("load", &report);
    log.line("server", format!("STATS {}", server.stats()));

    log.line(
        "main",
        format!("{SLOW_REQUESTS} clients send `WORK {SLOW_MS}`, then an admin sends SHUTDOWN"),
    );
    let slow: Vec<_> = (0..SLOW_REQUESTS)
        .map(|_| {
            tokio::spawn(async move {
                Client::connect(addr)
                    .await?
                    .request(&format!("WORK {SLOW_MS}"))
                    .await
            })
        })
        .collect();
    if !poll_until(Duration::from_secs(10), || {
        server.stats().in_flight == SLOW_REQUESTS
    })
    .await
    {
        return Err(format!("the slow requests never ran: {}", server.stats()));
    }
    let mut admin = Client::connect(addr)
        .await
        .map_err(|error| format!("admin cannot connect: {error}"))?;
    let reply = admin
        .request("SHUTDOWN")
        .await
        .map_err(|error| format!("SHUTDOWN failed: {error}"))?;
    log.line("admin", format!("SHUTDOWN -> {reply}"));
    let stats = tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .map_err(|_| "the drain did not finish in 20 s".to_owned())?;
    log.line("server", format!("drained: STATS {stats}"));
    let mut problems = Vec::new();
    for (index, client) in slow.into_iter().enumerate() {
        match client.await {
            Ok(Ok(reply)) => log.line(&format!("slow {}", index + 1), format!("got `{reply}`")),
            Ok(Err(error)) => problems.push(format!("slow request {}: {error}", index + 1)),
            Err(failure) => std::panic::resume_unwind(failure.into_panic()),
        }
    }
    match TcpStream::connect(addr).await {
        Err(error) => log.line("main", format!("a new connection is refused: {error}")),
        Ok(_) => problems.push("a connection was accepted after the shutdown".to_owned()),
    }

    if !report.all_completed() {
        problems.push(format!("the load did not complete: {report}"));
    }
    if stats.high_water > stats.limit {
        problems.push(format!("the high-water mark exceeded the limit: {stats}"));
    }
    if stats.available != stats.limit || stats.in_flight != 0 {
        problems.push(format!("permits are missing after the drain: {stats}"));
    }
    if problems.is_empty() {
        log.line(
            "main",
            format!(
                "ok: {} requests served, never more than {} of {} at once, every permit back",
                stats.served, stats.high_water, stats.limit
            ),
        );
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// `--serve`: runs until Ctrl-C or a `SHUTDOWN` line, then drains.
async fn run_serve(port: u16, config: Config, log: Log) -> Result<(), String> {
    let listener = bind_loopback(port)
        .await
        .map_err(|error| format!("cannot listen on 127.0.0.1:{port}: {error}"))?;
    let server = serve(listener, config).map_err(|error| error.to_string())?;
    let addr = server.local_addr();
    log.line(
        "server",
        format!(
            "listening on {addr}; at most {} requests at once ({})",
            config.limit,
            config.gate.type_name()
        ),
    );
    log.line(
        "server",
        format!(
            "try `nc {} {}` and type ECHO hi, WORK 500, STATS, QUIT or SHUTDOWN; Ctrl-C stops",
            addr.ip(),
            addr.port()
        ),
    );
    tokio::select! {
        signal = tokio::signal::ctrl_c() => {
            signal.map_err(|error| format!("cannot listen for Ctrl-C: {error}"))?;
            log.line("server", "Ctrl-C: shutting down");
            server.stop();
        }
        () = server.stopped() => log.line("server", "SHUTDOWN received"),
    }
    let stats = server.stats();
    log.line(
        "server",
        format!(
            "no longer accepting; waiting for {} in-flight requests on {} connections \
             (Ctrl-C again to quit at once)",
            stats.in_flight, stats.connections
        ),
    );
    tokio::select! {
        stats = server.wait() => {
            log.line("server", format!("drained: STATS {stats}"));
            Ok(())
        }
        _ = tokio::signal::ctrl_c() => {
            log.line("server", "second Ctrl-C: quitting without waiting");
            std::process::exit(130);
        }
    }
}

/// `--load`: measures a server, in this process or at `--addr`.
async fn run_load_mode(spec: LoadSpec, target: Target, log: Log) -> Result<(), String> {
    let report = match target {
        Target::InProcess(config) => {
            log.line(
                "load",
                format!(
                    "{} requests from {} clients to an in-process server, limit {} ({})",
                    spec.requests,
                    spec.concurrency,
                    config.limit,
                    config.gate.type_name()
                ),
            );
            let (report, stats) = load_in_process(config, spec)
                .await
                .map_err(|error| format!("cannot start the server: {error}"))?;
            log.line("server", format!("drained: STATS {stats}"));
            report
        }
        Target::External(name, addr) => {
            log.line(
                "load",
                format!(
                    "{} requests from {} clients to {name} ({addr})",
                    spec.requests, spec.concurrency
                ),
            );
            let report = run_load(addr, spec).await;
            match Client::connect(addr).await {
                Ok(mut client) => match client.stats().await {
                    Ok(stats) => log.line("server", format!("STATS {stats}")),
                    Err(error) => log.line("server", format!("STATS failed: {error}")),
                },
                Err(error) => log.line("server", format!("cannot connect for STATS: {error}")),
            }
            report
        }
    };
    log.line("load", &report);
    if report.all_completed() {
        Ok(())
    } else {
        Err("some requests failed".to_owned())
    }
}

/// `--compare`: the same load against each gate, alternating which goes first
/// each round; prints the median req/s of each and the ratio.
async fn run_compare(spec: LoadSpec, limit: usize, rounds: usize, log: Log) -> Result<(), String> {
    let gates = [GateKind::Ambisync, GateKind::Tokio];
    let request = if spec.work_ms == 0 {
        "ECHO".to_owned()
    } else {
        format!("WORK {}", spec.work_ms)
    };
    log.line(
        "compare",
        format!(
            "{} `{request}` requests from {} clients, limit {limit}, {rounds} rounds per gate",
            spec.requests, spec.concurrency
        ),
    );
    let mut results: [Vec<(LoadReport, StatsSnapshot)>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=rounds {
        let order = if round % 2 == 1 { [0, 1] } else { [1, 0] };
        for index in order {
            let config = Config {
                limit,
                gate: gates[index],
            };
            let (report, stats) = load_in_process(config, spec)
                .await
                .map_err(|error| format!("cannot start the server: {error}"))?;
            log.line(
                &format!("{} #{round}", gates[index].name()),
                format!(
                    "{report}; high-water {}, waited {}",
                    stats.high_water, stats.waited
                ),
            );
            if !report.all_completed() || stats.high_water > limit {
                return Err(format!("round {round} failed: {report}; STATS {stats}"));
            }
            results[index].push((report, stats));
        }
    }
    // The round with the median req/s stands for each gate.
    let median = |runs: &mut Vec<(LoadReport, StatsSnapshot)>| {
        runs.sort_by(|a, b| {
            a.0.requests_per_second()
                .total_cmp(&b.0.requests_per_second())
        });
        runs[runs.len() / 2].clone()
    };
    let medians = [median(&mut results[0]), median(&mut results[1])];
    println!();
    println!(
        "| gate | req/s (median of {rounds}) | p50 latency | p99 latency | high-water / limit \
         | requests that waited for a permit |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (kind, (report, stats)) in gates.iter().zip(&medians) {
        println!(
            "| `{}` | {:.0} | {} | {} | {} / {} | {:.1} % |",
            kind.type_name(),
            report.requests_per_second(),
            millis(report.latency_percentile(50.0)),
            millis(report.latency_percentile(99.0)),
            stats.high_water,
            stats.limit,
            100.0 * stats.waited as f64 / stats.served.max(1) as f64
        );
    }
    println!();
    println!(
        "requests/s ratio ambisync / tokio: {:.3}",
        medians[0].0.requests_per_second() / medians[1].0.requests_per_second()
    );
    Ok(())
}

fn main() {
    let mode = match parse_args(std::env::args().skip(1)) {
        Ok(mode) => mode,
        Err(problem) if problem.is_empty() => {
            println!("{USAGE}");
            return;
        }
        Err(problem) => {
            eprintln!("error: {problem}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let log = Log::starting_now();
    let outcome = runtime.block_on(async {
        match mode {
            Mode::Demo(config) => run_demo(config, log).await,
            Mode::Serve { port, config } => run_serve(port, config, log).await,
            Mode::Load { spec, target } => run_load_mode(spec, target, log).await,
            Mode::Compare {
                spec,
                limit,
                rounds,
            } => run_compare(spec, limit, rounds, log).await,
        }
    });
    if let Err(problem) = outcome {
        eprintln!("error: {problem}");
        std::process::exit(1);
    }
}
