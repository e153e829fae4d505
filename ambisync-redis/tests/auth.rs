//! Nobody gets in who does not belong: passwords, an ACL user limited to
//! the key prefix, TLS.

mod support;

use std::time::Duration;

use ambisync_redis::{Barrier, BoundedSemaphore, Error, Event, Lock, Queue, QueueOptions, Redis};
use support::{Options, RedisServer, run, unique, within};

const LIMIT: Duration = Duration::from_secs(40);

/// Locks and semaphores, with a waiter woken through pub/sub, under `redis`.
async fn exercise(redis: &Redis) {
    let name = unique("auth");
    let lock = Lock::new(redis, &name).unwrap();
    let guard = lock.lock().await.unwrap();
    let waiter = tokio::spawn({
        let lock = lock.clone();
        async move { lock.lock_timeout(Duration::from_secs(20)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    guard.release().await.unwrap();
    let next = within(Duration::from_secs(5), "waiter woken", waiter)
        .await
        .unwrap()
        .unwrap()
        .expect("lock");
    next.release().await.unwrap();
    let sem = BoundedSemaphore::new(redis, &name, 1).unwrap();
    sem.acquire().await.unwrap().release().await.unwrap();

    // A queue: a get blocked in BLMOVE for up to 20 s is interrupted by the
    // shutdown (CLIENT UNBLOCK) at once.
    let options = QueueOptions::new().visibility_timeout(Duration::from_secs(20));
    let queue: Queue<String> = Queue::with_options(redis, &name, options).unwrap();
    queue.put(&"one".to_owned()).await.unwrap();
    queue.get().await.unwrap().task_done().await.unwrap();
    assert!(queue.join_timeout(Duration::from_secs(5)).await.unwrap());
    let getter = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await.map(drop) }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    queue.shutdown().await.unwrap();
    let got = within(Duration::from_secs(5), "get woken by shutdown", getter)
        .await
        .unwrap();
    assert!(matches!(got, Err(Error::ShutDown)), "{got:?}");

    let event = Event::new(redis, &name).unwrap();
    event.set().await.unwrap();
    assert!(event.wait_timeout(Duration::from_secs(5)).await.unwrap());
    let barrier = Barrier::new(redis, &name, 1).unwrap();
    assert_eq!(barrier.wait().await.unwrap(), 0);
}

#[test]
fn requirepass_is_needed_and_enough() {
    let server = RedisServer::with(Options {
        password: Some("s3cret".into()),
        ..Options::default()
    });
    run(LIMIT, async {
        let url = server.url();
        let without = url.replace(":s3cret@", "");
        let error = Redis::connect(&without)
            .await
            .map(|_| ())
            .expect_err("no password");
        // Connecting may succeed lazily on some servers; then the first
        // command fails. Either way it is an error value, not a panic.
        assert!(matches!(error, Error::Redis(_)), "{error}");
        let wrong = url.replace("s3cret", "wrong");
        assert!(Redis::connect(&wrong).await.is_err());
        let redis = Redis::connect(&url).await.unwrap();
        exercise(&redis).await;
    });
}

#[test]
fn an_acl_user_limited_to_the_prefix_is_enough() {
    let server = RedisServer::with(Options {
        password: Some("admin".into()),
        acl_users: vec![
            // As the crate docs advise: `client|unblock` lets a queue
            // shutdown interrupt blocked gets.
            "user app on >app-pw resetkeys ~app:* resetchannels &app:* +@all -@dangerous +client|unblock"
                .into(),
        ],
        ..Options::default()
    });
    run(LIMIT, async {
        let url = server.url_for("app", "app-pw");
        let redis = Redis::builder(&url).prefix("app:").connect().await.unwrap();
        exercise(&redis).await;
        // Outside its prefix the same user is refused, with a typed error.
        let outside = Redis::builder(&url)
            .prefix("other:")
            .connect()
            .await
            .unwrap();
        let lock = Lock::new(&outside, "x").unwrap();
        let error = lock.try_lock().await.expect_err("NOPERM");
        assert!(matches!(error, Error::Redis(_)), "{error}");
        assert!(!error.is_unavailable());
        assert!(error.to_string().to_lowercase().contains("perm"), "{error}");
    });
}

/// Needs the `tls` feature (on by default) for `tls_root_cert`.
#[cfg(feature = "tls")]
#[test]
fn tls_with_a_throwaway_ca() {
    let server = RedisServer::with(Options {
        tls: true,
        ..Options::default()
    });
    run(LIMIT, async {
        let url = server.url();
        assert!(url.starts_with("rediss://"));
        let untrusted = Redis::builder(&url)
            .op_timeout(Duration::from_secs(3))
            .connect()
            .await;
        assert!(
            untrusted.is_err(),
            "a certificate of an unknown CA is refused"
        );
        let redis = Redis::builder(&url)
            .tls_root_cert(server.ca_pem())
            .connect()
            .await
            .unwrap();
        exercise(&redis).await;
    });
}
