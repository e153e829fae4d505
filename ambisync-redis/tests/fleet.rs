//! Queue and Barrier failure tests across processes: the test binary
//! re-executes itself as producer, consumer and barrier-party processes
//! (see `support::child`), and the parent kills them, restarts Redis, and
//! checks what was acknowledged. Every wait is bounded.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ambisync_redis::{Barrier, Error, Queue, QueueOptions, Redis};
use support::child::{Child, child_runtime, env, env_u64, run_role, say};
use support::{Options, Persistence, RedisServer, Rng, run, unique, within};

const SECOND: Duration = Duration::from_secs(1);

/// The entry point of every child role; a no-op in a normal test run.
#[test]
fn child_role() {
    run_role(|role| {
        child_runtime().block_on(async {
            match role {
                "consumer" => consumer().await,
                "producer" => producer().await,
                "storm-producer" => storm_producer().await,
                "storm-consumer" => storm_consumer().await,
                "barrier-party" => barrier_party().await,
                other => panic!("unknown role {other}"),
            }
        });
    });
}

fn options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(Duration::from_millis(env_u64("VISIBILITY_MS")))
}

async fn queue() -> (Redis, Queue<String>) {
    let redis = Redis::connect(env("REDIS_URL")).await.unwrap();
    let queue = Queue::with_options(&redis, &env("NAME"), options()).unwrap();
    (redis, queue)
}

/// Takes items and acknowledges them, saying `ACK id deliveries` for each,
/// until the queue is shut down (`DONE`). With `HOLD=n` it takes n items,
/// says `HOLDING`, and never acknowledges them (it waits to be killed).
async fn consumer() {
    let (_redis, queue) = queue().await;
    let hold = std::env::var("HOLD")
        .ok()
        .and_then(|h| h.parse::<usize>().ok());
    if let Some(hold) = hold {
        let mut held = Vec::new();
        for _ in 0..hold {
            held.push(queue.get().await.unwrap());
        }
        let ids: Vec<String> = held.iter().map(|d| d.id().to_string()).collect();
        say(format!("HOLDING {}", ids.join(",")));
        tokio::time::sleep(Duration::from_secs(120)).await;
        return;
    }
    loop {
        match queue.get().await {
            Ok(delivery) => {
                let (id, count) = (delivery.id(), delivery.delivery_count());
                // A short piece of "work".
                tokio::time::sleep(Duration::from_millis(2)).await;
                match delivery.task_done().await {
                    Ok(()) => say(format!("ACK {id} {count}")),
                    Err(e) => say(format!("NACK {id} {e}")),
                }
            }
            Err(Error::ShutDown) => break,
            Err(e) => panic!("consumer: {e}"),
        }
    }
    say("DONE");
}

/// A payload that shows whether it arrived whole: `seq:filler:checksum`.
fn payload(seq: u64) -> String {
    let filler: String = (0..2_000)
        .map(|i| (b'a' + ((seq + i) % 26) as u8) as char)
        .collect();
    let sum: u64 = filler.bytes().map(u64::from).sum::<u64>() + seq;
    format!("{seq}:{filler}:{sum}")
}

fn check_payload(text: &str) -> Option<u64> {
    let mut parts = text.split(':');
    let seq: u64 = parts.next()?.parse().ok()?;
    let filler = parts.next()?;
    let sum: u64 = parts.next()?.parse().ok()?;
    (parts.next().is_none()
        && filler.len() == 2_000
        && filler.bytes().map(u64::from).sum::<u64>() + seq == sum)
        .then_some(seq)
}

/// Puts large items as fast as it can, saying `PUT seq` after each, until
/// killed.
async fn producer() {
    let (_redis, queue) = queue().await;
    for seq in 0.. {
        queue.put(&payload(seq)).await.unwrap();
        say(format!("PUT {seq}"));
    }
}

/// For STORM_MS: puts `P-seq` items on a bounded queue, cancelling put
/// futures at random points. Says `DONE confirmed;maybe` (comma-separated
/// items whose put returned Ok, and whose put was cancelled in flight).
async fn storm_producer() {
    let redis = Redis::connect(env("REDIS_URL")).await.unwrap();
    let queue: Queue<String> =
        Queue::with_options(&redis, &env("NAME"), options().maxsize(20)).unwrap();
    let me = env("ME");
    let stop = Instant::now() + Duration::from_millis(env_u64("STORM_MS"));
    let mut rng = Rng::new(std::process::id() as u64 * 7919);
    let (mut confirmed, mut maybe) = (Vec::new(), Vec::new());
    let mut seq = 0u64;
    while Instant::now() < stop {
        let item = format!("{me}-{seq}");
        seq += 1;
        let patience = Duration::from_micros(rng.below(3_000));
        match tokio::time::timeout(patience, queue.put(&item)).await {
            Ok(result) => {
                result.expect("put");
                confirmed.push(item);
            }
            Err(_) => maybe.push(item),
        }
    }
    say(format!("DONE {};{}", confirmed.join(","), maybe.join(",")));
}

/// Until shutdown: gets with random cancellation; acknowledges most items
/// (`ACK id item`), requeues some. Says `DONE cancelled requeued`.
async fn storm_consumer() {
    let (_redis, queue) = queue().await;
    let mut rng = Rng::new(std::process::id() as u64 * 104_729);
    let (mut cancelled, mut requeued) = (0u64, 0u64);
    loop {
        let patience = Duration::from_micros(rng.below(20_000));
        let delivery = match tokio::time::timeout(patience, queue.get()).await {
            Err(_) => {
                cancelled += 1;
                continue;
            }
            Ok(Err(Error::ShutDown)) => break,
            Ok(Err(e)) => panic!("storm consumer: {e}"),
            Ok(Ok(delivery)) => delivery,
        };
        if rng.below(10) == 0 {
            delivery.requeue().await.expect("requeue");
            requeued += 1;
            continue;
        }
        let (id, item) = (delivery.id(), delivery.item().clone());
        match delivery.task_done().await {
            Ok(()) => say(format!("ACK {id} {item}")),
            Err(e) => panic!("storm consumer ack: {e}"),
        }
    }
    say(format!("DONE {cancelled} {requeued}"));
}

/// Waits on the barrier (PARTIES, LEASE_MS); says `INDEX i` or `BROKEN`.
async fn barrier_party() {
    let redis = Redis::connect(env("REDIS_URL")).await.unwrap();
    let barrier = Barrier::with_lease(
        &redis,
        &env("NAME"),
        env_u64("PARTIES") as usize,
        Duration::from_millis(env_u64("LEASE_MS")),
    )
    .unwrap();
    match barrier.wait_timeout(60 * SECOND).await {
        Ok(index) => say(format!("INDEX {index}")),
        Err(Error::BrokenBarrier) => say("BROKEN"),
        Err(e) => panic!("barrier party: {e}"),
    }
}

fn spawn(role: &str, server: &RedisServer, name: &str, extra: &[(&str, String)]) -> Child {
    let mut env = vec![
        ("REDIS_URL", server.url()),
        ("NAME", name.to_owned()),
        ("VISIBILITY_MS", "1000".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    Child::spawn(role, &env)
}

/// Reads a child's lines until one starts with `last`; returns the others.
fn lines_until(child: &mut Child, last: &str, timeout: Duration) -> (Vec<String>, String) {
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    loop {
        let line = child.next_line(deadline.saturating_duration_since(Instant::now()));
        if let Some(rest) = line.strip_prefix(last) {
            return (lines, rest.trim().to_owned());
        }
        lines.push(line);
    }
}

/// A consumer SIGKILLed while it holds items: the survivors get those
/// items once its heartbeat lapses (delivery count 2), every item is
/// acknowledged exactly once, and `join` returns.
#[test]
fn a_killed_consumers_items_are_acknowledged_once_by_the_survivors() {
    let server = RedisServer::start();
    let name = unique("killed-consumer");
    const ITEMS: u64 = 60;
    run(20 * SECOND, async {
        let redis = Redis::connect(server.url()).await.unwrap();
        let q: Queue<String> = Queue::new(&redis, &name).unwrap();
        for n in 0..ITEMS {
            q.put(&format!("item {n}")).await.unwrap();
        }
    });
    let mut victim = spawn("consumer", &server, &name, &[("HOLD", "5".into())]);
    let held: BTreeSet<u64> = victim
        .expect("HOLDING", 30 * SECOND)
        .split(',')
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(held.len(), 5);
    let mut survivors: Vec<Child> = (0..2)
        .map(|_| spawn("consumer", &server, &name, &[]))
        .collect();
    victim.kill();
    let killed_at = Instant::now();
    run(60 * SECOND, async {
        let redis = Redis::connect(server.url()).await.unwrap();
        let q: Queue<String> = Queue::new(&redis, &name).unwrap();
        assert!(
            q.join_timeout(30 * SECOND).await.unwrap(),
            "join did not return: {} unfinished",
            q.unfinished_tasks().await.unwrap()
        );
        let joined = killed_at.elapsed();
        // The held items came back after the visibility timeout (1 s), not
        // at some much later time.
        assert!(joined < 10 * SECOND, "join took {joined:?} after the kill");
        assert_eq!(q.unfinished_tasks().await.unwrap(), 0);
        assert_eq!(q.len().await.unwrap(), 0);
        q.shutdown().await.unwrap();
    });
    let mut acks: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for survivor in &mut survivors {
        let (lines, _) = lines_until(survivor, "DONE", 30 * SECOND);
        for line in lines {
            let mut words = line.split(' ');
            assert_eq!(words.next(), Some("ACK"), "{line}");
            let id: u64 = words.next().unwrap().parse().unwrap();
            let count: u32 = words.next().unwrap().parse().unwrap();
            acks.entry(id).or_default().push(count);
        }
        assert!(survivor.wait(30 * SECOND), "a survivor failed");
    }
    let ids: BTreeSet<u64> = acks.keys().copied().collect();
    assert_eq!(ids, (1..=ITEMS).collect(), "every item acknowledged");
    for (id, counts) in &acks {
        assert_eq!(counts.len(), 1, "item {id} acknowledged {counts:?} times");
        let want = if held.contains(id) { 2 } else { 1 };
        assert_eq!(counts[0], want, "deliveries of item {id}");
    }
}

/// A producer SIGKILLed in the middle of a burst of large puts: every item
/// in the queue is whole, the ids have no gap, and the unfinished count
/// matches the items (a put is one script: all of it or nothing).
#[test]
fn a_producer_killed_mid_burst_leaves_nothing_half_written() {
    let server = RedisServer::start();
    let name = unique("killed-producer");
    let mut producer = spawn("producer", &server, &name, &[]);
    producer.expect("PUT 50", 30 * SECOND);
    producer.kill();
    run(60 * SECOND, async {
        let redis = Redis::connect(server.url()).await.unwrap();
        let q: Queue<String> = Queue::new(&redis, &name).unwrap();
        let len = q.len().await.unwrap();
        assert!(len >= 51, "{len} items");
        assert_eq!(
            q.unfinished_tasks().await.unwrap(),
            len,
            "a counted put without its item"
        );
        let mut seqs = Vec::new();
        while let Some(delivery) = q.try_get().await.unwrap() {
            let seq = check_payload(&delivery)
                .unwrap_or_else(|| panic!("item {} is not whole", delivery.id()));
            assert_eq!(delivery.id(), seq + 1, "ids follow the puts");
            seqs.push(seq);
            delivery.task_done().await.unwrap();
        }
        assert_eq!(
            seqs,
            (0..len as u64).collect::<Vec<_>>(),
            "no gap, no duplicate"
        );
        assert!(q.join_timeout(SECOND).await.unwrap());
    });
}

/// AOF `always`: Redis SIGKILLed and restarted while a producer puts; every
/// put that returned Ok is there afterwards, and an item in flight can still
/// be acknowledged.
#[test]
fn restart_with_aof_always_loses_no_acknowledged_put() {
    let mut server = RedisServer::with(Options {
        persistence: Persistence::AofAlways,
        ..Options::default()
    });
    let name = unique("aof");
    run(90 * SECOND, async {
        let redis = Redis::builder(server.url())
            .op_timeout(2 * SECOND)
            .connect()
            .await
            .unwrap();
        let q: Queue<u64> = Queue::new(&redis, &name).unwrap();
        for n in 0..20 {
            q.put(&n).await.unwrap();
        }
        let held = q.get().await.unwrap();
        assert_eq!(*held, 0);
        let producer = tokio::spawn({
            let q = q.clone();
            async move {
                let (mut confirmed, mut failed) = (vec![], 0);
                for n in 20..2_000u64 {
                    match q.put(&n).await {
                        Ok(()) => confirmed.push(n),
                        Err(e) if e.is_unavailable() => failed += 1,
                        Err(e) => panic!("put: {e}"),
                    }
                    if failed > 0 && confirmed.len() > 400 {
                        break;
                    }
                }
                (confirmed, failed)
            }
        });
        within(10 * SECOND, "puts going", async {
            while q.len().await.unwrap() < 100 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        tokio::task::block_in_place(|| server.restart());
        let (mut confirmed, failed) = within(30 * SECOND, "producer", producer).await.unwrap();
        eprintln!(
            "{} puts confirmed, {failed} failed around the restart",
            confirmed.len()
        );
        confirmed.splice(0..0, 1..20);
        // The delivery made before the restart is still in flight and can
        // be acknowledged (the consumer's heartbeat outlived the restart).
        held.task_done().await.unwrap();
        let mut got = BTreeSet::new();
        while let Some(delivery) = q.try_get().await.unwrap() {
            assert!(got.insert(*delivery), "{} twice", *delivery);
            delivery.task_done().await.unwrap();
        }
        let missing: Vec<u64> = confirmed
            .iter()
            .filter(|n| !got.contains(n))
            .copied()
            .collect();
        assert!(missing.is_empty(), "acknowledged puts lost: {missing:?}");
        assert_eq!(q.unfinished_tasks().await.unwrap(), 0);
        assert!(q.join_timeout(SECOND).await.unwrap());
    });
}

/// No persistence: a restart loses the queue. The documented outcome: no
/// items, `unfinished_tasks` 0 (so `join` returns), an acknowledgement of an
/// earlier delivery fails with `NotHeld`, and the queue works again.
#[test]
fn restart_without_persistence_loses_the_queue_as_documented() {
    let mut server = RedisServer::start();
    let name = unique("no-persistence");
    run(60 * SECOND, async {
        let redis = Redis::connect(server.url()).await.unwrap();
        let q: Queue<u64> = Queue::new(&redis, &name).unwrap();
        for n in 0..10 {
            q.put(&n).await.unwrap();
        }
        let held = q.get().await.unwrap();
        tokio::task::block_in_place(|| server.restart());
        let state = within(10 * SECOND, "redis back", async {
            loop {
                match (q.len().await, q.unfinished_tasks().await) {
                    (Ok(len), Ok(unfinished)) => break (len, unfinished),
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
        .await;
        assert_eq!(state, (0, 0), "the items and counters are gone");
        assert!(q.join_timeout(SECOND).await.unwrap(), "join returns");
        let late = held.task_done().await;
        assert!(matches!(late, Err(Error::NotHeld)), "{late:?}");
        q.put(&99).await.unwrap();
        let again = within(10 * SECOND, "get after restart", q.get())
            .await
            .unwrap();
        assert_eq!((*again, again.id()), (99, 1), "ids start over");
        again.task_done().await.unwrap();
    });
}

/// 4 producer processes and 4 consumer processes for a bounded time, with
/// puts and gets cancelled at random points: the items acknowledged are
/// exactly the items put (each id once, every confirmed put among them, no
/// item that was never put), `join` returns once all are acknowledged, and
/// shutdown wakes the consumers blocked in `get`.
#[test]
fn storm_of_four_producers_and_four_consumers() {
    let server = RedisServer::start();
    let name = unique("storm");
    let mut producers: Vec<Child> = (0..4)
        .map(|p| {
            spawn(
                "storm-producer",
                &server,
                &name,
                &[("ME", format!("p{p}")), ("STORM_MS", "3000".into())],
            )
        })
        .collect();
    let mut consumers: Vec<Child> = (0..4)
        .map(|_| spawn("storm-consumer", &server, &name, &[]))
        .collect();
    let mut confirmed = Vec::new();
    let mut maybe = BTreeSet::new();
    for producer in &mut producers {
        let done = producer.expect("DONE", 90 * SECOND);
        let (yes, perhaps) = done.split_once(';').unwrap();
        confirmed.extend(yes.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
        maybe.extend(
            perhaps
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        assert!(producer.wait(30 * SECOND), "a producer failed");
    }
    let seq = run(90 * SECOND, async {
        let redis = Redis::connect(server.url()).await.unwrap();
        let q: Queue<String> = Queue::new(&redis, &name).unwrap();
        assert!(
            q.join_timeout(60 * SECOND).await.unwrap(),
            "join did not return: {} unfinished",
            q.unfinished_tasks().await.unwrap()
        );
        assert_eq!(q.unfinished_tasks().await.unwrap(), 0);
        assert_eq!(q.len().await.unwrap(), 0);
        let started = Instant::now();
        q.shutdown().await.unwrap();
        let reply = server.command(&["GET", &format!("ambisync:{{{name}}}:q:seq")]);
        let seq: u64 = reply
            .lines()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("seq {reply:?}"));
        (seq, started)
    });
    let (seq, shut_at) = seq;
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let (mut cancelled, mut requeued) = (0u64, 0u64);
    for consumer in &mut consumers {
        let (lines, done) = lines_until(consumer, "DONE", 30 * SECOND);
        for line in lines {
            let mut words = line.splitn(3, ' ');
            assert_eq!(words.next(), Some("ACK"), "{line}");
            let id: u64 = words.next().unwrap().parse().unwrap();
            let item = words.next().unwrap().to_owned();
            assert!(
                acked.insert(id, item).is_none(),
                "item {id} acknowledged twice"
            );
        }
        let numbers: Vec<u64> = done.split(' ').map(|n| n.parse().unwrap()).collect();
        cancelled += numbers[0];
        requeued += numbers[1];
        assert!(consumer.wait(30 * SECOND), "a consumer failed");
    }
    let woken = shut_at.elapsed();
    assert!(
        woken < 15 * SECOND,
        "consumers took {woken:?} to see the shutdown"
    );
    let ids: Vec<u64> = acked.keys().copied().collect();
    assert_eq!(
        ids,
        (1..=seq).collect::<Vec<_>>(),
        "every item put acknowledged once"
    );
    let items: BTreeSet<&String> = acked.values().collect();
    assert_eq!(
        items.len(),
        acked.len(),
        "an item acknowledged under two ids"
    );
    for item in &confirmed {
        assert!(
            items.contains(item),
            "confirmed put {item} never acknowledged"
        );
    }
    for item in &items {
        assert!(
            confirmed.contains(*item) || maybe.contains(*item),
            "{item} acknowledged but never put"
        );
    }
    assert!(
        confirmed.len() >= 100,
        "too little progress: {} puts",
        confirmed.len()
    );
    assert!(cancelled >= 20, "too few cancelled gets: {cancelled}");
    eprintln!(
        "storm: {seq} items, {} confirmed puts, {} cancelled puts, {cancelled} cancelled gets, {requeued} requeued",
        confirmed.len(),
        maybe.len()
    );
}

/// A barrier party SIGKILLed while it waits breaks the round: the other
/// party gets `BrokenBarrier` soon after the dead one's lease, long before
/// its own timeout. Before that, parties in three processes trip it with
/// indexes 0..3.
#[test]
fn a_killed_barrier_party_breaks_the_round_for_the_others() {
    let server = RedisServer::start();
    let name = unique("barrier");
    let party = |parties: &str| {
        spawn(
            "barrier-party",
            &server,
            &name,
            &[("PARTIES", parties.into()), ("LEASE_MS", "1000".into())],
        )
    };
    // A round across three processes trips with indexes 0..3.
    let mut children = [party("3"), party("3")];
    let mine = run(60 * SECOND, async {
        let redis = Redis::connect(server.url()).await.unwrap();
        let barrier = Barrier::with_lease(&redis, &name, 3, SECOND).unwrap();
        barrier.wait_timeout(30 * SECOND).await.unwrap()
    });
    let mut indexes = vec![mine];
    for child in &mut children {
        indexes.push(child.expect("INDEX", 30 * SECOND).parse().unwrap());
    }
    indexes.sort();
    assert_eq!(indexes, [0, 1, 2]);

    let mut doomed = party("3");
    run(60 * SECOND, async {
        let redis = Redis::connect(server.url()).await.unwrap();
        let barrier = Barrier::with_lease(&redis, &name, 3, SECOND).unwrap();
        within(30 * SECOND, "the doomed party waits", async {
            while barrier.n_waiting().await.unwrap() < 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        doomed.kill();
        let started = Instant::now();
        let got = barrier.wait_timeout(30 * SECOND).await;
        let took = started.elapsed();
        assert!(matches!(got, Err(Error::BrokenBarrier)), "{got:?}");
        assert!(
            took < 10 * SECOND,
            "broken after {took:?}, not by the lease"
        );
        assert!(barrier.is_broken().await.unwrap());
    });
}
