// ---------------------------------------------------------------------------
// The client and the load generator
// ---------------------------------------------------------------------------

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ambisync::Barrier;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::protocol::{Line, LineReader, MAX_LINE, write_line};
use super::server::{Config, StatsSnapshot, bind_loopback, serve};

/// How long a load client waits for one reply before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

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

pub(crate) fn millis(duration: Duration) -> String {
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
