//! Semaphore and BoundedSemaphore against a real redis-server.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ambisync_redis::{BoundedSemaphore, Error, Redis, Semaphore};
use support::proxy::{Mode, Proxy};
use support::{RedisServer, run, unique, within};

const LIMIT: Duration = Duration::from_secs(30);
const SECOND: Duration = Duration::from_secs(1);

async fn connect(server: &RedisServer) -> Redis {
    Redis::connect(server.url()).await.expect("connect")
}

#[test]
fn permits_are_limited_and_come_back() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(&server).await;
        let sem = BoundedSemaphore::new(&redis, &unique("limited"), 2).unwrap();
        assert_eq!(sem.available_permits().await.unwrap(), 2);
        let a = sem.acquire().await.unwrap();
        let b = sem
            .try_acquire()
            .await
            .unwrap()
            .expect("second permit free");
        assert!(sem.try_acquire().await.unwrap().is_none(), "a third permit");
        assert!(
            sem.acquire_timeout(Duration::from_millis(50))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(sem.available_permits().await.unwrap(), 0);
        assert_eq!(sem.holders().await.unwrap(), 2);
        a.release().await.unwrap();
        let c = sem
            .try_acquire()
            .await
            .unwrap()
            .expect("a released permit is free");
        drop(b);
        drop(c);
        redis.flush().await;
        assert_eq!(
            sem.available_permits().await.unwrap(),
            2,
            "dropped permits come back"
        );
    });
}

#[test]
fn a_release_wakes_a_waiter_in_another_client_quickly() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let name = unique("wake");
        let holder_client = connect(&server).await;
        let waiter_client = connect(&server).await;
        // A long lease: only the pub/sub message can wake the waiter soon.
        let holder =
            Semaphore::with_lease(&holder_client, &name, 1, Duration::from_secs(20)).unwrap();
        let waiter =
            Semaphore::with_lease(&waiter_client, &name, 1, Duration::from_secs(20)).unwrap();
        let permit = holder.acquire().await.unwrap();
        let task = tokio::spawn(async move {
            let permit = waiter.acquire().await.unwrap();
            (Instant::now(), permit)
        });
        // The waiter is subscribed once the channel has a subscriber.
        within(10 * SECOND, "waiter subscribed", async {
            while server.numsub(&format!("ambisync:{{{name}}}:sem:released")) == 0
                && !task.is_finished()
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let released = Instant::now();
        permit.release().await.unwrap();
        let (woke, permit) = within(10 * SECOND, "woken waiter", task).await.unwrap();
        assert!(
            woke - released < Duration::from_secs(3),
            "woken after {:?}, not by the lease",
            woke - released
        );
        permit.release().await.unwrap();
    });
}

#[test]
fn a_lost_lease_is_reported_and_its_release_is_an_error() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(&server).await;
        let name = unique("lost");
        let sem =
            BoundedSemaphore::with_lease(&redis, &name, 1, Duration::from_millis(600)).unwrap();
        let permit = sem.acquire().await.unwrap();
        assert!(!permit.is_lost());
        // Redis loses the lease (as after a failover): the next renewal says so.
        server.command(&["DEL", &format!("ambisync:{{{name}}}:sem")]);
        within(5 * SECOND, "lost() completes", permit.lost()).await;
        assert!(permit.is_lost());
        let other = sem
            .try_acquire()
            .await
            .unwrap()
            .expect("the permit is free again");
        assert!(matches!(permit.release().await, Err(Error::NotHeld)));
        other.release().await.unwrap();
    });
}

#[test]
fn the_watchdog_keeps_a_permit_past_its_lease() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(&server).await;
        let sem =
            Semaphore::with_lease(&redis, &unique("renew"), 1, Duration::from_millis(300)).unwrap();
        let permit = sem.acquire().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(!permit.is_lost(), "renewed every 100 ms");
        assert!(sem.try_acquire().await.unwrap().is_none(), "still held");
        permit.release().await.unwrap();
    });
}

#[test]
fn raw_release_and_forget_follow_python() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(&server).await;
        let sem = Semaphore::new(&redis, &unique("raw"), 1).unwrap();
        sem.release_n(2).await.unwrap();
        assert_eq!(
            sem.available_permits().await.unwrap(),
            3,
            "Semaphore.release adds"
        );
        let permit = sem.acquire().await.unwrap();
        permit.forget().await.unwrap();
        assert_eq!(
            sem.available_permits().await.unwrap(),
            2,
            "forget keeps it taken"
        );

        let bounded = BoundedSemaphore::new(&redis, &unique("bounded"), 1).unwrap();
        assert!(matches!(
            bounded.release().await,
            Err(Error::TooManyReleases)
        ));
        assert_eq!(
            Error::TooManyReleases.to_string(),
            "semaphore released too many times"
        );
        let permit = bounded.acquire().await.unwrap();
        permit.forget().await.unwrap();
        assert_eq!(bounded.available_permits().await.unwrap(), 0);
        bounded.release().await.unwrap();
        assert_eq!(bounded.available_permits().await.unwrap(), 1);
        assert!(matches!(
            bounded.release().await,
            Err(Error::TooManyReleases)
        ));
    });
}

#[test]
fn blocking_forms_from_plain_threads() {
    let server = RedisServer::start();
    let redis = Redis::connect_blocking(server.url()).expect("connect_blocking");
    let sem = BoundedSemaphore::new(&redis, &unique("blocking"), 1).unwrap();
    let permit = sem.acquire_blocking().unwrap();
    assert!(
        sem.acquire_timeout_blocking(Duration::ZERO)
            .unwrap()
            .is_none()
    );
    let started = Instant::now();
    assert!(
        sem.acquire_timeout_blocking(Duration::from_millis(200))
            .unwrap()
            .is_none()
    );
    assert!(started.elapsed() >= Duration::from_millis(190));
    let inside = Arc::new(AtomicUsize::new(0));
    let thread = std::thread::spawn({
        let sem = sem.clone();
        let inside = inside.clone();
        move || {
            let permit = sem
                .acquire_timeout_blocking(Duration::from_secs(20))
                .unwrap()
                .unwrap();
            inside.fetch_add(1, Ordering::SeqCst);
            permit.release_blocking().unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(inside.load(Ordering::SeqCst), 0);
    permit.release_blocking().unwrap();
    thread.join().unwrap();
    assert_eq!(inside.load(Ordering::SeqCst), 1);
    redis.flush_blocking();
}

#[test]
fn a_blocking_call_inside_a_runtime_panics_naming_the_async_form() {
    let server = RedisServer::start();
    let redis = Redis::connect_blocking(server.url()).unwrap();
    let sem = Semaphore::new(&redis, &unique("panics"), 1).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async { sem.acquire_blocking() })
    }))
    .expect_err("must panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("acquire_blocking") && message.contains("acquire(..).await"),
        "{message}"
    );
}

/// The acquire reaches Redis and is granted, but its reply is held back by
/// a proxy; the caller gives up (timeout) before the reply arrives. The
/// cancelled acquire must release what Redis granted, not leak it until the
/// lease (here 60 s) expires.
#[test]
fn an_acquire_cancelled_after_the_grant_cleans_up() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    run(LIMIT, async {
        let name = unique("cancel");
        let through_proxy = Redis::connect(proxy.url()).await.unwrap();
        let sem = BoundedSemaphore::with_lease(&through_proxy, &name, 1, Duration::from_secs(60))
            .unwrap();
        let key = format!("ambisync:{{{name}}}:sem");
        // Load the scripts first (EVALSHA's first NOSCRIPT answer would be held).
        sem.acquire().await.unwrap().release().await.unwrap();
        proxy.set_mode(Mode::HoldReplies);
        let attempt = tokio::spawn({
            let sem = sem.clone();
            async move { sem.acquire().await }
        });
        // Redis granted it (seen directly, not through the proxy).
        within(10 * SECOND, "grant reaches redis", async {
            while server.int(&["ZCARD", &key]) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        attempt.abort();
        let _ = attempt.await;
        // The clean-up release goes out (its reply is held too), and Redis
        // applies it: the permit is back long before the 60 s lease.
        within(10 * SECOND, "cancelled grant released", async {
            while server.int(&["ZCARD", &key]) != 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        proxy.set_mode(Mode::Forward);
        within(10 * SECOND, "flush", through_proxy.flush()).await;
        let permit = sem.try_acquire().await.unwrap().expect("free");
        permit.release().await.unwrap();
    });
}

#[test]
fn invalid_arguments_are_errors() {
    let server = RedisServer::start();
    run(LIMIT, async {
        let redis = connect(&server).await;
        assert!(matches!(
            Semaphore::new(&redis, "", 1),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Semaphore::new(&redis, "a{b}", 1),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Semaphore::with_lease(&redis, "x", 1, Duration::from_millis(1)),
            Err(Error::InvalidArgument(_))
        ));
    });
}

#[test]
fn guards_and_futures_are_send_and_static_and_debug_hides_secrets() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    fn send<T: Send>(_: &T) {}
    send_sync_static::<ambisync_redis::Permit>();
    send_sync_static::<ambisync_redis::LockGuard>();
    send_sync_static::<Semaphore>();
    send_sync_static::<BoundedSemaphore>();
    send_sync_static::<ambisync_redis::Lock>();
    send_sync_static::<Redis>();
    send_sync_static::<Error>();
    let server = RedisServer::start();
    run(LIMIT, async {
        let url = format!("redis://:hunter2@127.0.0.1:{}/", server.port());
        let builder = Redis::builder(&url);
        assert!(!format!("{builder:?}").contains("hunter2"), "{builder:?}");
        let redis = connect(&server).await;
        let sem = Semaphore::new(&redis, &unique("debug"), 1).unwrap();
        let acquire = sem.acquire();
        send(&acquire);
        let permit = acquire.await.unwrap();
        let shown = format!("{permit:?} {sem:?} {redis:?}");
        assert!(shown.contains("lost: false"), "{shown}");
        send(&permit.lost());
        let release = permit.release();
        send(&release);
        release.await.unwrap();
    });
}
