// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use ambisync::{Event, Queue};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::gate::{Gate, GateKind, GatePermit};
use super::protocol::{Command, LINGER, Line, LineReader, MAX_LINE, write_line};

/// The pause after a failed `accept` (out of file descriptors, say), so the
/// accept loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

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
