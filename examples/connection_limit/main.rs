//! A real tokio TCP server that caps concurrent requests with an
//! `ambisync::BoundedSemaphore`, shuts down gracefully, and load-tests itself.
//!
//! Python lesson: the `threading.BoundedSemaphore` example of the Python docs
//! (`pool_sema = BoundedSemaphore(maxconnections)`, `with pool_sema:` around
//! each connection), grown into a server with an `Event` for shutdown and a
//! `Queue`'s `join()` to drain.
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
//! What to look for in the demo's output: under load, `in_flight` and
//! `high_water` never exceed `limit=16` while `queued` requests wait for a
//! permit; after the load, `available` is back to 16; after `SHUTDOWN` the
//! three slow requests still get their answer, new connections are refused,
//! and the last line confirms every permit came back.
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

pub mod gate;
pub mod load;
pub mod modes;
pub mod protocol;
pub mod server;

use std::net::{SocketAddr, ToSocketAddrs};

use modes::{Log, run_compare, run_demo, run_load_mode, run_serve};
use protocol::MAX_WORK_MS;

// What `tests/server.rs` uses, besides the command line below.
pub use gate::GateKind;
pub use load::{Client, LoadSpec, load_in_process};
pub use protocol::MAX_LINE;
pub use server::{Config, Server, StatsSnapshot, bind_loopback, serve};

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
