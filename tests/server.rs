//! The `connection_limit` example's server under load, in-process on
//! 127.0.0.1:0: the limit holds, every request is answered, every permit comes
//! back (also from clients that hang up mid-request), and shutdown drains the
//! admitted work before it refuses connections.
//!
//! Every wait is bounded, so a hang fails with a message instead of stalling CI.
//! The example uses only ambisync APIs that need no feature, so this file also
//! runs under `--no-default-features`.

// The example's `main` and command-line modes are not used here.
#[allow(dead_code)]
#[path = "../examples/connection_limit/main.rs"]
mod connection_limit;

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ambisync::Barrier;
use connection_limit::{
    Client, Config, GateKind, LoadSpec, Mode, Server, StatsSnapshot, Target, bind_loopback,
    load_in_process, parse_args, serve,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long any one step may take before the test is declared hung.
const STEP_LIMIT: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test after [`STEP_LIMIT`].
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(STEP_LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("still waiting for {what} after {STEP_LIMIT:?}"))
}

/// Polls the server's counters until `condition` holds, failing after `limit`.
async fn stats_until(
    server: &Server,
    what: &str,
    limit: Duration,
    condition: impl Fn(&StatsSnapshot) -> bool,
) -> StatsSnapshot {
    let deadline = Instant::now() + limit;
    loop {
        let stats = server.stats();
        if condition(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not so after {limit:?}; STATS {stats}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn start(gate: GateKind, limit: usize) -> Server {
    let listener = bind_loopback(0).await.expect("bind 127.0.0.1:0");
    serve(listener, Config { limit, gate }).expect("start the server")
}

async fn connect(addr: SocketAddr) -> Client {
    within("connect", Client::connect(addr))
        .await
        .expect("connect to the server")
}

/// Asserts that nothing accepts connections at `addr` any more.
async fn assert_refused(addr: SocketAddr) {
    match within("a refused connect", TcpStream::connect(addr)).await {
        Err(error) => assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}"),
        Ok(_) => panic!("{addr} still accepts connections after the shutdown"),
    }
}

/// Joins a spawned task, re-raising its panic with the original message.
async fn join<T>(what: &str, task: tokio::task::JoinHandle<T>) -> T {
    match within(what, task).await {
        Ok(value) => value,
        Err(failure) => std::panic::resume_unwind(failure.into_panic()),
    }
}

/// 300 clients connect, meet at a barrier, then each sends a mix of `ECHO`
/// and `WORK` requests, while a monitor polls `STATS`.
async fn flood(gate: GateKind) {
    const CLIENTS: usize = 300;
    const REQUESTS_PER_CLIENT: usize = 4;
    const LIMIT: usize = 16;
    let server = start(gate, LIMIT).await;
    let addr = server.local_addr();

    let go = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let go = Arc::clone(&go);
            tokio::spawn(async move {
                let connected = Client::connect(addr).await;
                // Connected (or failed) before anyone sends, so the flood
                // starts at once; a failed client still arrives, or the
                // others would wait for it.
                go.wait().await.expect("the start barrier is never broken");
                let mut client = connected.expect("connect to the server");
                for seq in 0..REQUESTS_PER_CLIENT {
                    let (request, expected) = if (id + seq) % 2 == 0 {
                        let text = format!("client {id} request {seq}");
                        (format!("ECHO {text}"), format!("OK {text}"))
                    } else {
                        let ms = 1 + (id + seq) % 3;
                        (format!("WORK {ms}"), format!("OK worked {ms} ms"))
                    };
                    let reply = client.request(&request).await.unwrap_or_else(|error| {
                        panic!("client {id}: `{request}` got no reply: {error}")
                    });
                    assert_eq!(reply, expected, "client {id}: wrong reply to `{request}`");
                }
            })
        })
        .collect();

    // STATS is not gated: it must keep answering under the flood, and what
    // it reports must stay within the limit at every sample.
    let monitor = tokio::spawn(async move {
        let mut client = Client::connect(addr).await.expect("monitor connects");
        let mut samples = Vec::new();
        loop {
            let stats = client.stats().await.expect("STATS under load");
            let idle = stats.served == (CLIENTS * REQUESTS_PER_CLIENT) as u64;
            samples.push(stats);
            if idle {
                return samples;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });

    for (id, client) in clients.into_iter().enumerate() {
        join(&format!("client {id}"), client).await;
    }
    let samples = join("the STATS monitor", monitor).await;
    for sample in &samples {
        assert!(
            sample.in_flight <= LIMIT && sample.high_water <= LIMIT,
            "STATS over the limit during the flood: {sample}"
        );
    }

    let stats = server.stats();
    assert!(
        stats.high_water <= LIMIT,
        "the high-water mark exceeded the limit: {stats}"
    );
    assert!(
        stats.high_water == LIMIT && stats.waited > 0,
        "the flood never filled the gate, so it tested nothing: {stats}"
    );
    assert_eq!(
        stats.served,
        (CLIENTS * REQUESTS_PER_CLIENT) as u64,
        "{stats}"
    );
    // A request gives its permit back before its reply is written, so with
    // every reply received, every permit is back: no waiting needed.
    assert_eq!(
        stats.available, LIMIT,
        "permits missing after the load: {stats}"
    );
    assert_eq!(stats.in_flight, 0, "{stats}");
    assert_eq!((stats.abandoned, stats.refused), (0, 0), "{stats}");

    let drained = within("the drain", server.shutdown()).await;
    assert_eq!(drained.available, LIMIT, "{drained}");
    assert_eq!(drained.connections, 0, "{drained}");
    assert_refused(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_through_ambisync_gate_stays_within_limit_and_answers_all() {
    flood(GateKind::Ambisync).await;
}

/// The same flood through tokio's semaphore: a control for the test itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_through_tokio_gate_stays_within_limit_and_answers_all() {
    flood(GateKind::Tokio).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_mid_request_give_their_permits_back() {
    const LIMIT: usize = 4;
    const QUITTERS: usize = 24;
    let server = start(GateKind::Ambisync, LIMIT).await;
    let addr = server.local_addr();

    // The longest work there is: if hanging up did not cancel it, the
    // permits would stay out for 10 s, far past the deadline below.
    let mut quitters = Vec::new();
    for _ in 0..QUITTERS {
        let mut client = connect(addr).await;
        client.send("WORK 10000").await.expect("send WORK");
        quitters.push(client);
    }
    let saturated = stats_until(
        &server,
        "4 requests admitted and 20 queued",
        STEP_LIMIT,
        |stats| stats.in_flight == LIMIT && stats.queued == QUITTERS - LIMIT,
    )
    .await;
    assert_eq!(saturated.available, 0, "{saturated}");

    // Every permit is taken, yet STATS answers at once: it is not gated.
    let mut monitor = connect(addr).await;
    let stats = tokio::time::timeout(Duration::from_secs(2), monitor.stats())
        .await
        .expect("STATS waited for a permit")
        .expect("STATS reply");
    assert_eq!((stats.in_flight, stats.available), (LIMIT, 0), "{stats}");

    // Two more kinds of early leavers: half a line, and nothing at all.
    let mut partial = TcpStream::connect(addr).await.expect("connect");
    partial.write_all(b"WORK 100").await.expect("write");
    let silent = TcpStream::connect(addr).await.expect("connect");

    let hung_up = Instant::now();
    drop(quitters);
    drop(partial);
    drop(silent);
    let after = stats_until(
        &server,
        "every permit back after the clients hung up",
        Duration::from_secs(5),
        |stats| {
            stats.available == LIMIT
                && stats.in_flight == 0
                && stats.queued == 0
                && stats.connections == 1 // the monitor
        },
    )
    .await;
    assert!(
        hung_up.elapsed() < Duration::from_secs(5),
        "permits came back only when the work ended"
    );
    assert_eq!(after.abandoned, QUITTERS as u64, "{after}");
    assert_eq!(after.waited, (QUITTERS - LIMIT) as u64, "{after}");
    assert_eq!(after.served, 0, "{after}");
    assert_eq!(after.high_water, LIMIT, "{after}");

    // The server is as good as new.
    let mut client = connect(addr).await;
    let reply = within("ECHO", client.request("ECHO still here")).await;
    assert_eq!(reply.expect("reply"), "OK still here");
    drop((client, monitor));
    let drained = within("the drain", server.shutdown()).await;
    assert_eq!(drained.available, LIMIT, "{drained}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_admitted_work_then_refuses_connections() {
    const LIMIT: usize = 4;
    const CLIENTS: usize = 8;
    const WORK_MS: u64 = 1_500;
    let server = start(GateKind::Ambisync, LIMIT).await;
    let addr = server.local_addr();

    let mut idle = connect(addr).await;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let mut client = Client::connect(addr).await.expect("connect");
                client.request(&format!("WORK {WORK_MS}")).await
            })
        })
        .collect();
    stats_until(
        &server,
        "4 requests admitted and 4 queued",
        STEP_LIMIT,
        |stats| stats.in_flight == LIMIT && stats.queued == CLIENTS - LIMIT,
    )
    .await;

    let drain = tokio::spawn(server.shutdown());
    // The listener closes as soon as the stop is seen, long before the
    // admitted work (1.5 s) can finish.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after the stop");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        !drain.is_finished(),
        "the drain ended before the admitted work could have"
    );

    // `served` counts finished work: the drain waited for all of it.
    let drained = join("the drain", drain).await;
    assert_eq!(
        drained.served, LIMIT as u64,
        "admitted work finished: {drained}"
    );
    assert_eq!(drained.refused, (CLIENTS - LIMIT) as u64, "{drained}");
    assert_eq!(drained.in_flight, 0, "{drained}");
    assert_eq!(drained.available, LIMIT, "{drained}");
    assert_eq!(drained.connections, 0, "{drained}");

    let mut replies = Vec::new();
    for (index, client) in clients.into_iter().enumerate() {
        let reply = join(&format!("client {index}"), client).await;
        replies.push(reply.unwrap_or_else(|error| panic!("client {index}: {error}")));
    }
    replies.sort();
    let mut expected = vec!["ERR shutting down".to_owned(); CLIENTS - LIMIT];
    expected.extend(vec![format!("OK worked {WORK_MS} ms"); LIMIT]);
    assert_eq!(
        replies, expected,
        "admitted requests finish, queued ones are refused"
    );

    // The idle connection was closed by the shutdown.
    let closed = within("the idle connection to close", idle.reply()).await;
    assert_eq!(
        closed.expect_err("a reply on an idle connection").kind(),
        ErrorKind::UnexpectedEof
    );
    assert_refused(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_line_stops_the_server() {
    let server = start(GateKind::Tokio, 2).await;
    let addr = server.local_addr();
    let mut admin = connect(addr).await;
    let reply = within("SHUTDOWN", admin.request("SHUTDOWN")).await;
    assert_eq!(reply.expect("reply"), "OK shutting down");
    let drained = within("the drain", server.wait()).await;
    assert_eq!(
        (drained.available, drained.connections),
        (2, 0),
        "{drained}"
    );
    assert_refused(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_replies_and_errors() {
    let server = start(GateKind::Ambisync, 2).await;
    let addr = server.local_addr();
    let mut client = connect(addr).await;
    for (request, expected) in [
        ("ECHO hello world", "OK hello world"),
        ("echo lower case", "OK lower case"),
        ("ECHO", "OK"),
        ("WORK 0", "OK worked 0 ms"),
        ("WORK 5", "OK worked 5 ms"),
        (
            "WORK -1",
            "ERR WORK takes whole milliseconds from 0 to 10000",
        ),
        (
            "WORK 10001",
            "ERR WORK takes whole milliseconds from 0 to 10000",
        ),
        ("STATS now", "ERR STATS takes no argument"),
        (
            "FROB",
            "ERR unknown command (try ECHO text, WORK ms, STATS, QUIT, SHUTDOWN)",
        ),
        (
            "",
            "ERR empty request (try ECHO text, WORK ms, STATS, QUIT, SHUTDOWN)",
        ),
    ] {
        let reply = within(request, client.request(request)).await;
        assert_eq!(reply.expect("reply"), expected, "reply to `{request}`");
    }
    let stats = within("STATS", client.stats()).await.expect("STATS");
    assert_eq!(
        (stats.gate, stats.limit, stats.served),
        (GateKind::Ambisync, 2, 5)
    );

    // CRLF line ends, pipelined requests (answered in order), and bytes
    // that are not UTF-8, all in one write.
    let mut raw = TcpStream::connect(addr).await.expect("connect");
    raw.write_all(b"ECHO crlf\r\nWORK 20\nECHO b\n\xff\xfe\nQUIT\n")
        .await
        .expect("write");
    let mut client = Client::from_stream(raw);
    for expected in [
        "OK crlf",
        "OK worked 20 ms",
        "OK b",
        "ERR request is not UTF-8",
        "OK bye",
    ] {
        let reply = within(expected, client.reply()).await;
        assert_eq!(reply.expect("reply"), expected);
    }
    let closed = within("QUIT to close", client.reply()).await;
    assert_eq!(closed.expect_err("closed").kind(), ErrorKind::UnexpectedEof);

    // A line over 4 KiB is refused and the connection closed.
    let mut client = connect(addr).await;
    let long = "ECHO ".to_owned() + &"x".repeat(5_000);
    let reply = within("the long line", client.request(&long)).await;
    assert_eq!(reply.expect("reply"), "ERR line too long");
    let closed = within("the close", client.reply()).await;
    assert_eq!(closed.expect_err("closed").kind(), ErrorKind::UnexpectedEof);
    // ...but a line of exactly 4 KiB is fine.
    let mut client = connect(addr).await;
    let longest = "ECHO ".to_owned() + &"y".repeat(connection_limit::MAX_LINE - 5);
    let reply = within("the longest line", client.request(&longest)).await;
    assert_eq!(reply.expect("reply"), format!("OK {}", &longest[5..]));

    within("the drain", server.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_mode_answers_every_request() {
    for (gate, work_ms) in [(GateKind::Ambisync, 0), (GateKind::Tokio, 1)] {
        let config = Config { limit: 8, gate };
        let spec = LoadSpec {
            requests: 500,
            concurrency: 50,
            work_ms,
        };
        let (report, stats) = within("the load", load_in_process(config, spec))
            .await
            .expect("start the server");
        assert!(report.all_completed(), "{report}");
        assert_eq!((report.completed, report.clients), (500, 50), "{report}");
        assert!(report.latency_percentile(50.0) <= report.latency_percentile(99.0));
        assert!(report.latency_percentile(99.0) <= report.latency_percentile(100.0));
        assert!(report.requests_per_second() > 0.0);
        assert_eq!(stats.served, 500, "{stats}");
        assert!(stats.high_water <= 8, "{stats}");
        assert_eq!(stats.available, 8, "{stats}");
    }
}

#[test]
fn command_line_is_validated() {
    let parse = |line: &str| parse_args(line.split_whitespace().map(str::to_owned));
    assert_eq!(parse(""), Ok(Mode::Demo(Config::default())));
    assert_eq!(
        parse("--serve --port 7878 --limit 4 --gate tokio"),
        Ok(Mode::Serve {
            port: 7878,
            config: Config {
                limit: 4,
                gate: GateKind::Tokio
            }
        })
    );
    assert_eq!(
        parse("--load 100 --concurrency 8"),
        Ok(Mode::Load {
            spec: LoadSpec {
                requests: 100,
                concurrency: 8,
                work_ms: 0
            },
            target: Target::InProcess(Config::default()),
        })
    );
    assert!(matches!(
        parse("--load 100 --addr 127.0.0.1:7878"),
        Ok(Mode::Load {
            target: Target::External(_, _),
            ..
        })
    ));
    assert_eq!(
        parse("--compare"),
        Ok(Mode::Compare {
            spec: LoadSpec {
                requests: 20_000,
                concurrency: 64,
                work_ms: 0
            },
            limit: 16,
            rounds: 3
        })
    );
    assert_eq!(parse("--help"), Err(String::new()));
    for bad in [
        "--load 0",
        "--load many",
        "--limit 0",
        "--concurrency 0 --load 5",
        "--gate mutex",
        "--port 70000",
        "--work-ms 10001 --load 5",
        "--rounds 0 --compare",
        "--serve --load 5",
        "--serve --compare",
        "--addr 127.0.0.1:7878",
        "--load 5 --addr nonsense",
        "--load 5 --addr 127.0.0.1:7878 --limit 3",
        "--compare --gate tokio",
        "--port 7878",
        "--limit",
        "--limit 4 --limit 5",
        "--bogus",
        "serve",
    ] {
        let problem = parse(bad).expect_err(bad);
        assert!(!problem.is_empty(), "`{bad}` gave no message");
    }
}
