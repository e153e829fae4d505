//! Event and Barrier against a real redis-server, several clients in one
//! process (a killed barrier party is in `fleet.rs`).

mod support;

use std::time::{Duration, Instant};

use ambisync_redis::{Barrier, Error, Event, Redis};
use support::{RedisServer, run, unique, within};

const LIMIT: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);

async fn connect(server: &RedisServer) -> Redis {
    Redis::connect(server.url()).await.expect("connect")
}

/// Waits until `channel` has at least `n` subscribers: the waiters have made
/// their first check and subscribed.
async fn subscribers(server: &RedisServer, channel: &str, n: i64) {
    within(10 * SECOND, "waiters subscribed", async {
        while server.numsub(channel) < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[test]
fn event_set_wakes_waiters_of_other_clients() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("event");
        let a = connect(&server).await;
        let b = connect(&server).await;
        let ea = Event::new(&a, &name).unwrap();
        let eb = Event::new(&b, &name).unwrap();
        assert!(!eb.is_set().await.unwrap());
        assert!(!eb.wait_timeout(Duration::from_millis(50)).await.unwrap());
        let waiter = tokio::spawn({
            let eb = eb.clone();
            async move {
                eb.wait().await.unwrap();
                Instant::now()
            }
        });
        subscribers(&server, &format!("ambisync:{{{name}}}:event:set"), 1).await;
        let set_at = Instant::now();
        ea.set().await.unwrap();
        let woke = within(5 * SECOND, "waiter", waiter).await.unwrap();
        let lag = woke.saturating_duration_since(set_at);
        assert!(lag < Duration::from_millis(500), "woke {lag:?} after set");
        assert!(eb.is_set().await.unwrap());
        assert!(
            eb.wait_timeout(Duration::ZERO).await.unwrap(),
            "set: at once"
        );
        ea.clear().await.unwrap();
        assert!(!eb.is_set().await.unwrap());
    });
}

/// Python's test_set_and_clear: every waiter present at `set` wakes even
/// though `clear` follows at once; a waiter that starts after the clear
/// does not.
#[test]
fn set_then_clear_at_once_still_wakes_every_waiter() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("set-clear");
        let setter = connect(&server).await;
        let event = Event::new(&setter, &name).unwrap();
        let mut waiters = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..3 {
            let client = connect(&server).await;
            let e = Event::new(&client, &name).unwrap();
            clients.push(client);
            waiters.push(tokio::spawn(
                async move { e.wait_timeout(20 * SECOND).await },
            ));
        }
        subscribers(&server, &format!("ambisync:{{{name}}}:event:set"), 3).await;
        event.set().await.unwrap();
        event.clear().await.unwrap();
        for waiter in waiters {
            let woke = within(10 * SECOND, "waiter", waiter)
                .await
                .unwrap()
                .unwrap();
            assert!(woke, "a waiter present at set() did not wake");
        }
        assert!(
            !event
                .wait_timeout(Duration::from_millis(100))
                .await
                .unwrap()
        );
    });
}

/// The waiter's pub/sub connection is killed, and while it is down the
/// event is set and cleared: the waiter still wakes, by comparing the
/// generation after it resubscribed.
#[test]
fn a_waiter_wakes_for_a_set_missed_while_its_pubsub_was_down() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("missed");
        let setter = connect(&server).await;
        let waiting = connect(&server).await;
        let event = Event::new(&setter, &name).unwrap();
        let e = Event::new(&waiting, &name).unwrap();
        let before = waiting.resubscriptions();
        let waiter = tokio::spawn(async move { e.wait_timeout(30 * SECOND).await });
        let channel = format!("ambisync:{{{name}}}:event:set");
        subscribers(&server, &channel, 1).await;
        // Freeze nothing: kill the pub/sub connections and set + clear
        // before the client has subscribed again.
        let killed = server.int(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        assert!(killed >= 1);
        event.set().await.unwrap();
        event.clear().await.unwrap();
        let woke = within(10 * SECOND, "waiter", waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(woke, "the set was missed");
        assert!(
            waiting.resubscriptions() > before,
            "the notifier reconnected"
        );
    });
}

#[test]
fn event_blocking_forms_from_a_plain_thread() {
    let server = RedisServer::start();
    let name = unique("blocking");
    let redis = Redis::connect_blocking(server.url()).unwrap();
    let event = Event::new(&redis, &name).unwrap();
    assert!(
        !event
            .wait_timeout_blocking(Duration::from_millis(50))
            .unwrap()
    );
    let waiter = std::thread::spawn({
        let event = event.clone();
        move || event.wait_blocking()
    });
    run(LIMIT, async {
        subscribers(&server, &format!("ambisync:{{{name}}}:event:set"), 1).await;
        let other = connect(&server).await;
        Event::new(&other, &name).unwrap().set().await.unwrap();
    });
    let deadline = Instant::now() + 10 * SECOND;
    while !waiter.is_finished() {
        assert!(Instant::now() < deadline, "wait_blocking did not return");
        std::thread::sleep(Duration::from_millis(5));
    }
    waiter.join().unwrap().unwrap();
    assert!(event.wait_timeout_blocking(Duration::ZERO).unwrap());
}

/// Three clients trip a barrier twice: each round's indexes are exactly
/// 0..3.
#[test]
fn barrier_trips_with_indexes_per_round() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("barrier");
        let mut barriers = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..3 {
            let client = connect(&server).await;
            barriers.push(Barrier::new(&client, &name, 3).unwrap());
            clients.push(client);
        }
        assert_eq!(barriers[0].parties(), 3);
        for round in 0..2 {
            let mut tasks = Vec::new();
            for barrier in &barriers {
                let barrier = barrier.clone();
                tasks.push(tokio::spawn(async move {
                    barrier.wait_timeout(20 * SECOND).await
                }));
            }
            let mut indexes = Vec::new();
            for task in tasks {
                indexes.push(within(20 * SECOND, "party", task).await.unwrap().unwrap());
            }
            indexes.sort();
            assert_eq!(indexes, [0, 1, 2], "round {round}");
        }
        assert_eq!(barriers[0].n_waiting().await.unwrap(), 0);
        assert!(!barriers[0].is_broken().await.unwrap());
    });
}

/// A wait that times out breaks the barrier for every party (Python);
/// while broken, waits fail at once; `reset` makes it usable again.
#[test]
fn a_timeout_breaks_the_barrier_for_everyone_until_reset() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("timeout");
        let a = connect(&server).await;
        let b = connect(&server).await;
        let ba = Barrier::new(&a, &name, 3).unwrap();
        let bb = Barrier::new(&b, &name, 3).unwrap();
        let patient = tokio::spawn({
            let bb = bb.clone();
            async move { bb.wait_timeout(30 * SECOND).await }
        });
        within(10 * SECOND, "first party waits", async {
            while ba.n_waiting().await.unwrap() < 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let started = Instant::now();
        let impatient = ba.wait_timeout(Duration::from_millis(200)).await;
        assert!(
            matches!(impatient, Err(Error::BrokenBarrier)),
            "{impatient:?}"
        );
        let other = within(5 * SECOND, "patient party", patient).await.unwrap();
        assert!(matches!(other, Err(Error::BrokenBarrier)), "{other:?}");
        assert!(started.elapsed() < 5 * SECOND);
        assert!(ba.is_broken().await.unwrap());
        assert!(
            matches!(bb.wait().await, Err(Error::BrokenBarrier)),
            "broken: at once"
        );
        ba.reset().await.unwrap();
        assert!(!bb.is_broken().await.unwrap());
        let two = Barrier::new(&b, &name, 1).unwrap();
        assert_eq!(two.wait().await.unwrap(), 0, "usable again");
    });
}

#[test]
fn reset_and_abort_break_the_waiting_round() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("abort");
        let a = connect(&server).await;
        let b = connect(&server).await;
        let ba = Barrier::new(&a, &name, 2).unwrap();
        let bb = Barrier::new(&b, &name, 2).unwrap();
        for abort in [false, true] {
            let waiter = tokio::spawn({
                let bb = bb.clone();
                async move { bb.wait_timeout(30 * SECOND).await }
            });
            within(10 * SECOND, "party waits", async {
                while ba.n_waiting().await.unwrap() < 1 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
            if abort {
                ba.abort().await.unwrap();
            } else {
                ba.reset().await.unwrap();
            }
            let got = within(5 * SECOND, "woken party", waiter).await.unwrap();
            assert!(
                matches!(got, Err(Error::BrokenBarrier)),
                "abort={abort}: {got:?}"
            );
            assert_eq!(ba.is_broken().await.unwrap(), abort);
        }
        assert!(matches!(ba.wait().await, Err(Error::BrokenBarrier)));
        ba.reset().await.unwrap();
        let (x, y) = tokio::join!(ba.wait_timeout(10 * SECOND), bb.wait_timeout(10 * SECOND));
        let mut indexes = [x.unwrap(), y.unwrap()];
        indexes.sort();
        assert_eq!(indexes, [0, 1]);
    });
}

/// A cancelled wait withdraws its arrival without breaking the barrier; the
/// next round's indexes are still 0..parties.
#[test]
fn a_cancelled_wait_withdraws_without_breaking() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("withdraw");
        let a = connect(&server).await;
        let b = connect(&server).await;
        let ba = Barrier::new(&a, &name, 2).unwrap();
        let bb = Barrier::new(&b, &name, 2).unwrap();
        let cancelled = tokio::time::timeout(Duration::from_millis(300), ba.wait()).await;
        assert!(cancelled.is_err(), "nobody else came");
        a.flush().await;
        assert_eq!(ba.n_waiting().await.unwrap(), 0, "withdrawn");
        assert!(!ba.is_broken().await.unwrap());
        let (x, y) = tokio::join!(ba.wait_timeout(10 * SECOND), bb.wait_timeout(10 * SECOND));
        let mut indexes = [x.unwrap(), y.unwrap()];
        indexes.sort();
        assert_eq!(indexes, [0, 1]);
    });
}

#[test]
fn bad_arguments_are_errors() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(&server).await;
        assert!(matches!(
            Barrier::new(&redis, "b", 0),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Event::new(&redis, ""),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            ambisync_redis::Queue::<u8>::bounded(&redis, "q", 0),
            Err(Error::InvalidArgument(_))
        ));
        let prio = ambisync_redis::PriorityQueue::<u8>::new(&redis, "p").unwrap();
        assert!(matches!(
            prio.put(i64::MAX, &1).await,
            Err(Error::InvalidArgument(_))
        ));
    });
}
