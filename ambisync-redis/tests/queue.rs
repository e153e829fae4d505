//! Queue, LifoQueue and PriorityQueue against a real redis-server, with
//! several clients in one process (the failure tests across processes are
//! in `fleet.rs`).

mod support;

use std::time::{Duration, Instant};

use ambisync_redis::{Error, LifoQueue, PriorityQueue, Queue, QueueOptions, Redis};
use support::proxy::{Mode, Proxy};
use support::{RedisServer, run, unique, within};

const LIMIT: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);

async fn connect(url: String) -> Redis {
    Redis::connect(url).await.expect("connect")
}

#[test]
fn fifo_lifo_and_priority_order() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(server.url()).await;
        let fifo: Queue<u32> = Queue::new(&redis, &unique("fifo")).unwrap();
        let lifo: LifoQueue<u32> = LifoQueue::new(&redis, &unique("lifo")).unwrap();
        let prio: PriorityQueue<String> = PriorityQueue::new(&redis, &unique("prio")).unwrap();
        for n in 1..=4 {
            fifo.put(&n).await.unwrap();
            lifo.put(&n).await.unwrap();
        }
        for (priority, item) in [
            (5, "e"),
            (1, "a1"),
            (3, "c1"),
            (1, "a2"),
            (3, "c2"),
            (-2, "z"),
        ] {
            prio.put(priority, &item.to_owned()).await.unwrap();
        }
        assert_eq!(fifo.len().await.unwrap(), 4);
        assert_eq!(fifo.unfinished_tasks().await.unwrap(), 4);
        let mut got = Vec::new();
        for _ in 0..4 {
            let d = fifo.get().await.unwrap();
            got.push(*d);
            d.task_done().await.unwrap();
        }
        assert_eq!(got, [1, 2, 3, 4]);
        let mut got = Vec::new();
        while let Some(d) = lifo.try_get().await.unwrap() {
            got.push(*d);
            d.task_done().await.unwrap();
        }
        assert_eq!(got, [4, 3, 2, 1]);
        let mut got = Vec::new();
        while let Some(d) = prio.try_get().await.unwrap() {
            got.push((d.priority(), d.item().clone()));
            d.task_done().await.unwrap();
        }
        let want: Vec<(i64, String)> = [
            (-2, "z"),
            (1, "a1"),
            (1, "a2"),
            (3, "c1"),
            (3, "c2"),
            (5, "e"),
        ]
        .into_iter()
        .map(|(p, s)| (p, s.to_owned()))
        .collect();
        assert_eq!(got, want, "smallest first, FIFO among equals");
        assert!(prio.join_timeout(SECOND).await.unwrap());
        assert!(fifo.is_empty().await.unwrap());
        assert_eq!(fifo.unfinished_tasks().await.unwrap(), 0);
    });
}

/// `join` waits until every item is acknowledged, and returns at the last
/// acknowledgement (woken by pub/sub, measured well under the 1 s safety
/// net).
#[test]
fn join_waits_for_every_acknowledgement() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("join");
        let producer = connect(server.url()).await;
        let consumer = connect(server.url()).await;
        let q: Queue<u32> = Queue::new(&producer, &name).unwrap();
        let c: Queue<u32> = Queue::new(&consumer, &name).unwrap();
        for n in 0..3 {
            q.put(&n).await.unwrap();
        }
        assert!(!q.join_timeout(Duration::from_millis(100)).await.unwrap());
        let a = c.get().await.unwrap();
        let b = c.get().await.unwrap();
        let last = c.get().await.unwrap();
        a.task_done().await.unwrap();
        b.task_done().await.unwrap();
        assert_eq!(q.unfinished_tasks().await.unwrap(), 1);
        assert!(c.try_get().await.unwrap().is_none());
        let joiner = tokio::spawn({
            let q = q.clone();
            async move {
                q.join().await.unwrap();
                Instant::now()
            }
        });
        // The joiner is subscribed once the channel has a subscriber.
        within(10 * SECOND, "joiner subscribed", async {
            while server.numsub(&format!("ambisync:{{{name}}}:q:wake-joiners")) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(
            !joiner.is_finished(),
            "join returned with a task unfinished"
        );
        let acked = Instant::now();
        last.task_done().await.unwrap();
        let joined = within(10 * SECOND, "join", joiner).await.unwrap();
        let lag = joined.saturating_duration_since(acked);
        assert!(
            lag < Duration::from_millis(500),
            "join woke {lag:?} after the last ack"
        );
        assert_eq!(q.unfinished_tasks().await.unwrap(), 0);
    });
}

/// A get on an empty queue blocks (BLMOVE) and is woken by a put from
/// another client; a put on a full queue waits for a get.
#[test]
fn waiting_get_and_put_are_woken_across_clients() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("wake");
        let a = connect(server.url()).await;
        let b = connect(server.url()).await;
        let qa: Queue<String> = Queue::bounded(&a, &name, 2).unwrap();
        let qb: Queue<String> = Queue::bounded(&b, &name, 2).unwrap();
        let getter = tokio::spawn(async move {
            let d = qb.get().await.unwrap();
            let at = Instant::now();
            let item = d.item().clone();
            d.task_done().await.unwrap();
            (item, at, qb)
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!getter.is_finished());
        let put_at = Instant::now();
        qa.put(&"hello".to_owned()).await.unwrap();
        let (item, got_at, qb) = within(10 * SECOND, "woken get", getter).await.unwrap();
        assert_eq!(item, "hello");
        let lag = got_at.saturating_duration_since(put_at);
        assert!(
            lag < Duration::from_millis(500),
            "get woke {lag:?} after the put"
        );

        qa.put(&"1".to_owned()).await.unwrap();
        assert!(qa.try_put(&"2".to_owned()).await.unwrap());
        assert!(qa.is_full().await.unwrap());
        assert!(!qa.try_put(&"3".to_owned()).await.unwrap(), "full");
        assert!(
            !qa.put_timeout(&"3".to_owned(), Duration::from_millis(100))
                .await
                .unwrap()
        );
        let putter = tokio::spawn({
            let qa = qa.clone();
            async move { qa.put(&"3".to_owned()).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!putter.is_finished(), "put on a full queue waits");
        let first = qb.get().await.unwrap();
        assert_eq!(*first, "1");
        first.task_done().await.unwrap();
        within(5 * SECOND, "woken put", putter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(qa.len().await.unwrap(), 2);
    });
}

/// Shutdown wakes a get blocked in BLMOVE (no timeout of its own) and a
/// put waiting on a full queue at once; gets drain, then fail.
#[test]
fn shutdown_wakes_blocked_getters_and_putters() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("shutdown");
        let a = connect(server.url()).await;
        let b = connect(server.url()).await;
        // A long visibility timeout: the BLMOVE blocks up to 30 s, so only
        // CLIENT UNBLOCK can wake it in time.
        let options = QueueOptions::new().visibility_timeout(30 * SECOND);
        let empty: Queue<u32> =
            Queue::with_options(&b, &format!("{name}-empty"), options.clone()).unwrap();
        let getter = tokio::spawn({
            let empty = empty.clone();
            async move { empty.get().await.map(|d| *d) }
        });
        within(10 * SECOND, "getter blocked", async {
            loop {
                let reply = server.command(&["CLIENT", "LIST", "TYPE", "normal"]);
                if reply.contains("cmd=blmove") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let full: Queue<u32> = Queue::with_options(&a, &name, options.clone().maxsize(1)).unwrap();
        full.put(&1).await.unwrap();
        let putter = tokio::spawn({
            let full = full.clone();
            async move { full.put(&2).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let closer: Queue<u32> = Queue::new(&a, &format!("{name}-empty")).unwrap();
        closer.shutdown().await.unwrap();
        full.shutdown().await.unwrap();
        let got = within(5 * SECOND, "getter woken by shutdown", getter)
            .await
            .unwrap();
        assert!(matches!(got, Err(Error::ShutDown)), "{got:?}");
        let put = within(5 * SECOND, "putter woken by shutdown", putter)
            .await
            .unwrap();
        assert!(matches!(put, Err(Error::ShutDown)), "{put:?}");
        assert!(
            started.elapsed() < 3 * SECOND,
            "woken by the shutdown, not a timeout"
        );
        // Gets drain what is left, then fail; puts fail.
        let other: Queue<u32> = Queue::new(&b, &name).unwrap();
        assert!(other.is_shutdown().await.unwrap());
        assert!(matches!(other.put(&3).await, Err(Error::ShutDown)));
        let last = other.get().await.unwrap();
        assert_eq!(*last, 1);
        last.task_done().await.unwrap();
        assert!(matches!(other.get().await, Err(Error::ShutDown)));
        assert!(matches!(other.try_get().await, Err(Error::ShutDown)));
        assert!(other.join_timeout(SECOND).await.unwrap());
    });
}

#[test]
fn shutdown_immediate_drains_in_get_order() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(server.url()).await;
        let fifo: Queue<u32> = Queue::new(&redis, &unique("imm-fifo")).unwrap();
        let lifo: LifoQueue<u32> = LifoQueue::new(&redis, &unique("imm-lifo")).unwrap();
        let prio: PriorityQueue<u32> = PriorityQueue::new(&redis, &unique("imm-prio")).unwrap();
        for n in 1..=3 {
            fifo.put(&n).await.unwrap();
            lifo.put(&n).await.unwrap();
            prio.put(10 - n as i64, &n).await.unwrap();
        }
        let held = fifo.get().await.unwrap();
        assert_eq!(fifo.shutdown_immediate().await.unwrap(), [2, 3]);
        assert_eq!(lifo.shutdown_immediate().await.unwrap(), [3, 2, 1]);
        assert_eq!(prio.shutdown_immediate().await.unwrap(), [3, 2, 1]);
        assert_eq!(
            fifo.unfinished_tasks().await.unwrap(),
            1,
            "the one in flight"
        );
        assert!(lifo.join_timeout(SECOND).await.unwrap());
        assert!(!fifo.join_timeout(Duration::from_millis(50)).await.unwrap());
        held.task_done().await.unwrap();
        assert!(fifo.join_timeout(SECOND).await.unwrap());
        assert!(matches!(fifo.get().await, Err(Error::ShutDown)));
    });
}

/// A delivery dropped or requeued goes back counted; after
/// `max_deliveries` the item is a dead letter and counts as done.
#[test]
fn redelivery_limit_moves_items_to_the_dead_letters() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(server.url()).await;
        let options = QueueOptions::new().max_deliveries(3);
        let q: Queue<String> = Queue::with_options(&redis, &unique("dead"), options).unwrap();
        q.put(&"poison".to_owned()).await.unwrap();
        q.put(&"fine".to_owned()).await.unwrap();
        let first = q.get().await.unwrap();
        assert_eq!((first.as_str(), first.delivery_count()), ("poison", 1));
        first.requeue().await.unwrap();
        let second = q.get().await.unwrap();
        assert_eq!((second.as_str(), second.delivery_count()), ("poison", 2));
        drop(second); // a panicking handler, say: given back in the background
        redis.flush().await;
        let third = within(10 * SECOND, "third delivery", q.get())
            .await
            .unwrap();
        assert_eq!((third.as_str(), third.delivery_count()), ("poison", 3));
        third.requeue().await.unwrap();
        let fine = q.get().await.unwrap();
        assert_eq!((fine.as_str(), fine.delivery_count()), ("fine", 1));
        fine.task_done().await.unwrap();
        assert_eq!(q.dead_letters().await.unwrap(), ["poison"]);
        assert_eq!(q.unfinished_tasks().await.unwrap(), 0);
        assert!(q.join_timeout(SECOND).await.unwrap());
        assert!(q.try_get().await.unwrap().is_none());
    });
}

/// A consumer cut off from Redis past its visibility timeout loses its
/// items to the others (delivered again, counted); its late
/// acknowledgement fails with `NotHeld` and does not count twice.
#[test]
fn a_lapsed_consumers_items_are_redelivered_and_its_ack_refused() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    run(LIMIT, async {
        let name = unique("lapse");
        let options = QueueOptions::new().visibility_timeout(Duration::from_millis(600));
        let cut = Redis::builder(proxy.url())
            .op_timeout(2 * SECOND)
            .connect()
            .await
            .unwrap();
        let healthy = connect(server.url()).await;
        let qc: Queue<u32> = Queue::with_options(&cut, &name, options.clone()).unwrap();
        let qh: Queue<u32> = Queue::with_options(&healthy, &name, options).unwrap();
        qh.put(&7).await.unwrap();
        let held = qc.get().await.unwrap();
        assert_eq!(held.delivery_count(), 1);
        proxy.set_mode(Mode::Blackhole);
        // The healthy consumer's heartbeat returns the item once the cut
        // one's lapsed.
        let again = within(10 * SECOND, "redelivery", qh.get()).await.unwrap();
        assert_eq!((*again, again.delivery_count()), (7, 2));
        proxy.set_mode(Mode::Forward);
        proxy.reset_all();
        // Once the client reaches Redis again, its late ack is refused.
        within(10 * SECOND, "reconnected", async {
            while qc.unfinished_tasks().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let late = held.task_done().await;
        assert!(matches!(late, Err(Error::NotHeld)), "{late:?}");
        again.task_done().await.unwrap();
        assert_eq!(qh.unfinished_tasks().await.unwrap(), 0);
        assert!(qh.join_timeout(SECOND).await.unwrap());
    });
}

/// The `_blocking` forms from plain threads, on a client with a runtime of
/// its own; and inside a runtime they refuse, naming the async form.
#[test]
fn blocking_forms_from_plain_threads() {
    let server = RedisServer::start();
    let redis = Redis::connect_blocking(server.url()).expect("connect_blocking");
    let name = unique("blocking");
    let q: Queue<u64> = Queue::bounded(&redis, &name, 1).unwrap();
    let prio: PriorityQueue<u64> = PriorityQueue::new(&redis, &unique("blocking-prio")).unwrap();
    assert!(
        q.get_timeout_blocking(Duration::from_millis(50))
            .unwrap()
            .is_none()
    );
    q.put_blocking(&1).unwrap();
    assert!(
        !q.put_timeout_blocking(&2, Duration::from_millis(50))
            .unwrap(),
        "full"
    );
    let consumer = std::thread::spawn({
        let q = q.clone();
        move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                let d = q.get_blocking().unwrap();
                got.push(*d);
                d.task_done_blocking().unwrap();
            }
            got
        }
    });
    q.put_blocking(&2).unwrap();
    assert!(q.join_timeout_blocking(30 * SECOND).unwrap());
    q.join_blocking().unwrap();
    assert_eq!(consumer.join().unwrap(), [1, 2]);
    prio.put_blocking(3, &30).unwrap();
    assert!(prio.put_timeout_blocking(1, &10, SECOND).unwrap());
    let first = prio.get_timeout_blocking(SECOND).unwrap().unwrap();
    assert_eq!((*first, first.priority()), (10, 1));
    first.task_done_blocking().unwrap();
    let panic = run(LIMIT, async {
        let q = q.clone();
        tokio::spawn(async move { q.get_blocking().map(drop) })
            .await
            .expect_err("get_blocking inside a runtime panics")
    });
    let message = panic.into_panic();
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        text.contains("get_blocking") && text.contains("get(..).await"),
        "{text}"
    );
}

#[test]
fn handles_deliveries_and_futures_are_send_and_static_and_debug() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    fn send<T: Send>(_: &T) {}
    send_sync_static::<Queue<String>>();
    send_sync_static::<LifoQueue<Vec<u8>>>();
    send_sync_static::<PriorityQueue<u64>>();
    send_sync_static::<ambisync_redis::Delivery<String>>();
    send_sync_static::<ambisync_redis::Event>();
    send_sync_static::<ambisync_redis::Barrier>();
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(server.url()).await;
        let q: Queue<String> = Queue::new(&redis, &unique("debug")).unwrap();
        let item = "x".to_owned();
        let put = q.put(&item);
        send(&put);
        put.await.unwrap();
        let get = q.get();
        send(&get);
        let delivery = get.await.unwrap();
        let shown = format!("{delivery:?} {q:?}");
        assert!(
            shown.contains("delivery_count: 1") && shown.contains("consumer: Some"),
            "{shown}"
        );
        let done = delivery.task_done();
        send(&done);
        done.await.unwrap();
        let join = q.join();
        send(&join);
        join.await.unwrap();
        let event = ambisync_redis::Event::new(&redis, &unique("debug")).unwrap();
        send(&event.wait_timeout(Duration::ZERO));
        let barrier = ambisync_redis::Barrier::new(&redis, &unique("debug"), 1).unwrap();
        let wait = barrier.wait();
        send(&wait);
        assert_eq!(wait.await.unwrap(), 0);
        assert!(format!("{event:?} {barrier:?}").contains("parties: 1"));
    });
}

/// A get whose reply did not come in time (Redis moved the item, the client
/// gave up): the item is not stranded in a live consumer's in-flight list.
/// Either the take's task still got the reply and gave the item back, or it
/// did not, retired the consumer, and the retired one's leave returns it.
#[test]
fn an_item_whose_get_reply_was_lost_is_not_stranded() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    run(LIMIT, async {
        let name = unique("lost-reply");
        let slow = Redis::builder(proxy.url())
            .op_timeout(Duration::from_millis(300))
            .connect()
            .await
            .unwrap();
        let direct = connect(server.url()).await;
        let qs: Queue<u32> = Queue::new(&slow, &name).unwrap();
        let qd: Queue<u32> = Queue::new(&direct, &name).unwrap();
        assert!(
            qs.try_get().await.unwrap().is_none(),
            "registers the consumer"
        );
        qd.put(&1).await.unwrap();
        proxy.set_mode(Mode::HoldReplies);
        let lost = qs.try_get().await;
        assert!(matches!(&lost, Err(e) if e.is_unavailable()), "{lost:?}");
        proxy.set_mode(Mode::Forward);
        assert_eq!(qd.len().await.unwrap(), 0, "Redis moved the item");
        // The short op timeout may expire again on a loaded machine: retry
        // until the item is acknowledged (each failure is safe, see above).
        within(20 * SECOND, "the item again, acknowledged", async {
            loop {
                let again = match qs.get_timeout(SECOND).await {
                    Ok(Some(again)) => again,
                    Ok(None) => continue,
                    Err(e) if e.is_unavailable() => continue,
                    Err(e) => panic!("{e}"),
                };
                // Given back uncounted (the take's task got the late reply
                // after its caller had gone) or by a retired consumer's
                // leave (counted).
                assert_eq!(*again, 1);
                assert!(again.delivery_count() <= 3, "{again:?}");
                match again.task_done().await {
                    Ok(()) => break,
                    Err(e) if e.is_unavailable() => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .await;
        assert!(qd.join_timeout(SECOND).await.unwrap());
    });
}

/// A frozen Redis (SIGSTOP): every timed wait of the queue, the event and
/// the barrier returns by its deadline (no item, or an error value), also a
/// get that was blocked in BLMOVE when Redis froze.
#[test]
fn a_frozen_redis_never_holds_a_timed_wait_past_its_deadline() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = Redis::builder(server.url())
            .op_timeout(2 * SECOND)
            .connect()
            .await
            .unwrap();
        let name = unique("frozen");
        let q: Queue<u32> = Queue::bounded(&redis, &name, 1).unwrap();
        q.put(&1).await.unwrap();
        q.get().await.unwrap().task_done().await.unwrap();
        let blocked = tokio::spawn({
            let q = q.clone();
            async move {
                let started = Instant::now();
                let got = q.get_timeout(SECOND).await.map(|d| d.map(|d| *d));
                (got, started.elapsed())
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.pause();
        let limit = Duration::from_millis(600);
        let slack = Duration::from_millis(400);
        let timed = |what: &'static str, took: Duration, ok: bool| {
            assert!(ok, "{what}: not a timeout or unavailable error");
            assert!(took <= limit + slack, "{what} took {took:?}");
        };
        let started = Instant::now();
        let got = q.get_timeout(limit).await;
        timed(
            "get",
            started.elapsed(),
            matches!(&got, Ok(None)) || got.as_ref().is_err_and(|e| e.is_unavailable()),
        );
        let started = Instant::now();
        let put = q.put_timeout(&3, limit).await;
        timed(
            "put",
            started.elapsed(),
            matches!(put, Ok(false)) || put.is_err_and(|e| e.is_unavailable()),
        );
        let started = Instant::now();
        let join = q.join_timeout(limit).await;
        timed(
            "join",
            started.elapsed(),
            matches!(join, Ok(false)) || join.is_err_and(|e| e.is_unavailable()),
        );
        let event = ambisync_redis::Event::new(&redis, &name).unwrap();
        let started = Instant::now();
        let wait = event.wait_timeout(limit).await;
        timed(
            "event",
            started.elapsed(),
            matches!(wait, Ok(false)) || wait.is_err_and(|e| e.is_unavailable()),
        );
        let barrier = ambisync_redis::Barrier::new(&redis, &name, 2).unwrap();
        let started = Instant::now();
        let wait = barrier.wait_timeout(limit).await;
        timed(
            "barrier",
            started.elapsed(),
            wait.is_err_and(|e| e.is_unavailable() || matches!(e, Error::BrokenBarrier)),
        );
        let (got, took) = within(10 * SECOND, "blocked get", blocked).await.unwrap();
        assert!(took <= SECOND + slack, "blocked get took {took:?}");
        assert!(
            matches!(&got, Ok(None)) || got.as_ref().is_err_and(|e| e.is_unavailable()),
            "{got:?}"
        );
        server.resume();
    });
}
