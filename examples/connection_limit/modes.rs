// ---------------------------------------------------------------------------
// The modes
// ---------------------------------------------------------------------------

use std::fmt;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ambisync::Event;
use tokio::net::TcpStream;

use super::Target;
use super::gate::GateKind;
use super::load::{Client, LoadReport, LoadSpec, load_in_process, millis, run_load};
use super::server::{Config, Server, StatsSnapshot, bind_loopback, serve};

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

/// Binds 127.0.0.1:`port` (0: any free port), starts the server and logs
/// where it listens.
async fn start_server(port: u16, config: Config, log: &Log) -> Result<Server, String> {
    let listener = bind_loopback(port)
        .await
        .map_err(|error| format!("cannot listen on 127.0.0.1:{port}: {error}"))?;
    let server = serve(listener, config).map_err(|error| error.to_string())?;
    log.line(
        "server",
        format!(
            "listening on {}; at most {} requests at once ({})",
            server.local_addr(),
            config.limit,
            config.gate.type_name()
        ),
    );
    Ok(server)
}

/// The self-contained demo: serve, load with live STATS, then SHUTDOWN while
/// slow requests run, and check that they finished and the port is closed.
pub(crate) async fn run_demo(config: Config, log: Log) -> Result<(), String> {
    const SLOW_REQUESTS: usize = 3;
    const SLOW_MS: u64 = 300;
    let spec = LoadSpec {
        requests: 2_000,
        concurrency: 32,
        work_ms: 1,
    };
    let server = start_server(0, config, &log).await?;
    let addr = server.local_addr();

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
pub(crate) async fn run_serve(port: u16, config: Config, log: Log) -> Result<(), String> {
    let server = start_server(port, config, &log).await?;
    let addr = server.local_addr();
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
pub(crate) async fn run_load_mode(spec: LoadSpec, target: Target, log: Log) -> Result<(), String> {
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
pub(crate) async fn run_compare(
    spec: LoadSpec,
    limit: usize,
    rounds: usize,
    log: Log,
) -> Result<(), String> {
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
