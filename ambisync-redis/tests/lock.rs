//! Lock, fencing tokens, and what happens when Redis itself fails.

mod support;

use std::time::{Duration, Instant};

use ambisync_redis::{Error, Lock, Redis};
use support::{Options, Persistence, RedisServer, run, unique, within};

const LIMIT: Duration = Duration::from_secs(40);
const SECOND: Duration = Duration::from_secs(1);

async fn connect(server: &RedisServer) -> Redis {
    Redis::connect(server.url()).await.expect("connect")
}

#[test]
fn fencing_tokens_strictly_increase() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let a = connect(&server).await;
        let b = connect(&server).await;
        let name = unique("fence");
        let locks = [Lock::new(&a, &name).unwrap(), Lock::new(&b, &name).unwrap()];
        let mut last = 0;
        for i in 0..40 {
            let guard = locks[i % 2].lock().await.unwrap();
            assert!(
                guard.fencing_token() > last,
                "{} after {last}",
                guard.fencing_token()
            );
            last = guard.fencing_token();
            assert!(
                locks[(i + 1) % 2].try_lock().await.unwrap().is_none(),
                "exclusive"
            );
            guard.release().await.unwrap();
        }
        assert_eq!(locks[0].last_token().await.unwrap(), last);
        assert!(!locks[0].is_locked().await.unwrap());
    });
}

#[test]
fn a_waiter_is_woken_by_release_not_by_the_lease() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("wake");
        let a = connect(&server).await;
        let b = connect(&server).await;
        let holder = Lock::with_lease(&a, &name, Duration::from_secs(30)).unwrap();
        let waiter = Lock::with_lease(&b, &name, Duration::from_secs(30)).unwrap();
        let guard = holder.lock().await.unwrap();
        let task = tokio::spawn(async move { waiter.lock_timeout(Duration::from_secs(20)).await });
        let channel = format!("ambisync:{{{name}}}:lock:released");
        within(10 * SECOND, "waiter subscribed", async {
            while server.numsub(&channel) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let first = guard.fencing_token();
        let released = Instant::now();
        guard.release().await.unwrap();
        let second = within(10 * SECOND, "waiter", task)
            .await
            .unwrap()
            .unwrap()
            .expect("got it");
        assert!(
            released.elapsed() < Duration::from_secs(3),
            "not woken by the 30 s lease"
        );
        assert!(second.fencing_token() > first);
    });
}

#[test]
fn only_the_holders_secret_releases() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(&server).await;
        let name = unique("secret");
        let lock = Lock::with_lease(&redis, &name, Duration::from_millis(400)).unwrap();
        let first = lock.lock().await.unwrap();
        // Lose the first lease (as after a failover) and let someone else in.
        server.command(&["DEL", &format!("ambisync:{{{name}}}:lock")]);
        let second = lock
            .lock_timeout(5 * SECOND)
            .await
            .unwrap()
            .expect("free after the loss");
        within(5 * SECOND, "first reports lost", first.lost()).await;
        // The first guard's secret cannot free the second holder's lock.
        assert!(matches!(first.release().await, Err(Error::NotHeld)));
        assert!(lock.is_locked().await.unwrap(), "still held by the second");
        // The key holds a 128-bit random secret, not a name or a counter.
        let owner = server.command(&["HGET", &format!("ambisync:{{{name}}}:lock"), "owner"]);
        assert!(owner.starts_with("$32\r\n"), "{owner:?}");
        second.release().await.unwrap();
    });
}

/// Redis lost the fence counter (and a client's clock view may be behind):
/// the handle's floor still keeps tokens increasing.
#[test]
fn tokens_increase_when_redis_loses_the_counter() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(&server).await;
        let name = unique("floor");
        let lock = Lock::new(&redis, &name).unwrap();
        let fence = format!("ambisync:{{{name}}}:lock:fence");
        // A counter far ahead of the clock (as if the clock stepped back).
        let ahead = 4_000_000_000_000_000u64;
        server.command(&["SET", &fence, &ahead.to_string()]);
        let guard = lock.lock().await.unwrap();
        assert_eq!(guard.fencing_token(), ahead + 1);
        guard.release().await.unwrap();
        server.command(&["FLUSHALL"]);
        let guard = lock.lock().await.unwrap();
        assert!(
            guard.fencing_token() > ahead + 1,
            "floor kept: {}",
            guard.fencing_token()
        );
        guard.release().await.unwrap();
    });
}

/// No persistence: a restart loses the lock. Documented outcome: another
/// client gets it at once (two holders until the old one's next renewal),
/// the old guard reports lost, and tokens still increase (server time).
#[test]
fn restart_without_persistence_loses_the_lock_but_tokens_increase() {
    let mut server = RedisServer::start();
    let old_client = Redis::connect_blocking(server.url()).unwrap();
    let name = unique("restart-none");
    let lock = Lock::with_lease(&old_client, &name, Duration::from_secs(3)).unwrap();
    let old = lock.lock_blocking().unwrap();
    server.restart();
    // A fresh client (no floor: it never saw the old token).
    let new_client = Redis::connect_blocking(server.url()).unwrap();
    let other = Lock::new(&new_client, &name).unwrap();
    let new = other
        .lock_timeout_blocking(Duration::ZERO)
        .unwrap()
        .expect("the restart lost the lock: granted at once");
    assert!(
        new.fencing_token() > old.fencing_token(),
        "{} > {}",
        new.fencing_token(),
        old.fencing_token()
    );
    // The old guard learns: its renewal finds the lock taken by another secret.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !old.is_lost() {
        assert!(Instant::now() < deadline, "old guard never reported lost");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(old.release_blocking(), Err(Error::NotHeld)));
    new.release_blocking().unwrap();
}

/// AOF `always`: a restart keeps the lock; the holder keeps it (renewals
/// resume), nobody else gets in, and tokens keep increasing.
#[test]
fn restart_with_aof_always_keeps_the_lock() {
    let mut server = RedisServer::with(Options {
        persistence: Persistence::AofAlways,
        ..Options::default()
    });
    let client = Redis::connect_blocking(server.url()).unwrap();
    let name = unique("restart-aof");
    let lock = Lock::with_lease(&client, &name, Duration::from_secs(6)).unwrap();
    let held = lock.lock_blocking().unwrap();
    server.restart();
    let other_client = Redis::connect_blocking(server.url()).unwrap();
    let other = Lock::new(&other_client, &name).unwrap();
    assert!(
        other
            .lock_timeout_blocking(Duration::ZERO)
            .unwrap()
            .is_none(),
        "the lock survived the restart"
    );
    // Renewals reach the new server: still held after more than a lease.
    std::thread::sleep(Duration::from_secs(7));
    assert!(!held.is_lost(), "renewed across the restart");
    let first = held.fencing_token();
    held.release_blocking().unwrap();
    let next = other
        .lock_timeout_blocking(Duration::from_secs(5))
        .unwrap()
        .expect("free");
    assert!(next.fencing_token() > first);
    next.release_blocking().unwrap();
}

/// A Redis that is down gives a clear error within the caller's timeout,
/// and a frozen one (SIGSTOP) gives a timeout error by the deadline.
#[test]
fn redis_down_or_frozen_is_an_error_in_time() {
    let mut server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(&server).await;
        let lock = Lock::new(&redis, &unique("down")).unwrap();
        lock.lock().await.unwrap().release().await.unwrap();

        server.pause();
        let started = Instant::now();
        let result = lock.lock_timeout(Duration::from_millis(500)).await;
        assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
        assert!(result.unwrap_err().is_unavailable());
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        server.resume();

        server.kill();
        let started = Instant::now();
        let result = lock.lock_timeout(Duration::from_secs(2)).await;
        let error = result.expect_err("redis is down");
        assert!(error.is_unavailable(), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(!error.to_string().is_empty());

        // And connecting to a Redis that is down fails, not hangs.
        let started = Instant::now();
        let result = Redis::builder(server.url())
            .op_timeout(Duration::from_secs(1))
            .connect()
            .await;
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
    });
}

/// `CLIENT KILL TYPE pubsub` kills the notification connection; waiters are
/// still woken by a release, whether it comes after the reconnection or
/// while the subscription is down.
#[test]
fn waiters_wake_after_the_pubsub_connection_is_killed() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("pubsub");
        let holder_client = connect(&server).await;
        let waiter_client = connect(&server).await;
        let lease = Duration::from_secs(30);
        let holder = Lock::with_lease(&holder_client, &name, lease).unwrap();
        let waiter = Lock::with_lease(&waiter_client, &name, lease).unwrap();
        let channel = format!("ambisync:{{{name}}}:lock:released");

        for release_during_outage in [false, true] {
            let guard = holder.lock().await.unwrap();
            let task = tokio::spawn({
                let waiter = waiter.clone();
                async move { waiter.lock_timeout(Duration::from_secs(25)).await }
            });
            within(10 * SECOND, "subscribed", async {
                while server.numsub(&channel) == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
            let before = waiter_client.resubscriptions();
            let killed = server.int(&["CLIENT", "KILL", "TYPE", "pubsub"]);
            assert!(killed >= 1, "killed {killed} pubsub clients");
            if !release_during_outage {
                within(10 * SECOND, "resubscribed", async {
                    while waiter_client.resubscriptions() == before {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
                .await;
            }
            let released = Instant::now();
            guard.release().await.unwrap();
            let next = within(20 * SECOND, "woken waiter", task)
                .await
                .unwrap()
                .unwrap()
                .expect("waiter got the lock");
            assert!(
                released.elapsed() < Duration::from_secs(5),
                "woken after {:?} (lease 30 s)",
                released.elapsed()
            );
            next.release().await.unwrap();
        }
    });
}

/// A partition (a proxy that passes nothing) between the holder and Redis:
/// the holder cannot renew, so its guard reports the lease lost by its own
/// clock, without any answer from Redis; a client on the other side gets the
/// lock after the lease with a higher token.
#[test]
fn a_partitioned_holder_reports_its_lease_lost() {
    use support::proxy::{Mode, Proxy};
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    run(LIMIT, async {
        let name = unique("partition");
        let lease = Duration::from_millis(1500);
        let cut_off = Redis::builder(proxy.url())
            .op_timeout(Duration::from_millis(500))
            .connect()
            .await
            .unwrap();
        let direct = connect(&server).await;
        let old = Lock::with_lease(&cut_off, &name, lease)
            .unwrap()
            .lock()
            .await
            .unwrap();
        proxy.set_mode(Mode::Blackhole);
        let cut = Instant::now();
        within(10 * SECOND, "lost() by the local clock", old.lost()).await;
        assert!(old.is_lost());
        assert!(cut.elapsed() <= lease + SECOND, "{:?}", cut.elapsed());
        let new = Lock::new(&direct, &name)
            .unwrap()
            .lock_timeout(10 * SECOND)
            .await
            .unwrap()
            .expect("the partitioned holder's lease expires");
        assert!(new.fencing_token() > old.fencing_token());
        proxy.set_mode(Mode::Forward);
        // Its late renewals and its release cannot take the lock back.
        let result = old.release().await;
        assert!(result.is_err(), "{result:?}");
        assert!(!new.is_lost());
        new.release().await.unwrap();
    });
}
