//! Failure tests across processes: the test binary re-executes itself as
//! child processes with a role (see `support::child`), and the parent kills,
//! pauses and counts them. Every wait is bounded.

mod support;

use std::time::{Duration, Instant};

use ambisync_redis::{BoundedSemaphore, Lock, Redis};
use support::child::{Child, child_runtime, env, env_u64, hear, run_role, say};
use support::shared_file::{FencedResource, HolderCount, SharedFile};
use support::{RedisServer, Rng, run, unique, within};

const SECOND: Duration = Duration::from_secs(1);

/// The entry point of every child role; a no-op in a normal test run.
#[test]
fn child_role() {
    run_role(|role| {
        child_runtime().block_on(async {
            match role {
                "hold-lock" => hold_lock().await,
                "hold-permit" => hold_permit().await,
                "storm" => storm().await,
                other => panic!("unknown role {other}"),
            }
        });
    });
}

/// Takes the lock, says its token, then answers `check` by writing to the
/// fenced resource with that token and reporting whether the guard knows
/// it lost the lease.
async fn hold_lock() {
    let redis = Redis::connect(env("REDIS_URL")).await.unwrap();
    let lease = Duration::from_millis(env_u64("LEASE_MS"));
    let lock = Lock::with_lease(&redis, &env("NAME"), lease).unwrap();
    let guard = lock.lock().await.unwrap();
    say(format!("TOKEN {}", guard.fencing_token()));
    let resource = FencedResource(SharedFile::new(env("RESOURCE")));
    while let Some(command) = tokio::task::spawn_blocking(hear).await.unwrap() {
        if command == "check" {
            let lost_at_once = guard.is_lost();
            let accepted = resource.write(guard.fencing_token());
            let lost = tokio::time::timeout(5 * SECOND, guard.lost()).await.is_ok();
            say(format!(
                "CHECK lost_at_once={lost_at_once} lost={lost} accepted={accepted}"
            ));
        }
    }
}

/// Takes a permit, says so, and waits to be killed.
async fn hold_permit() {
    let redis = Redis::connect(env("REDIS_URL")).await.unwrap();
    let lease = Duration::from_millis(env_u64("LEASE_MS"));
    let sem = BoundedSemaphore::with_lease(&redis, &env("NAME"), 1, lease).unwrap();
    let permit = sem.acquire().await.unwrap();
    say("HELD");
    tokio::time::sleep(Duration::from_secs(60)).await;
    drop(permit);
}

/// 8 tasks hammer one BoundedSemaphore for STORM_MS, cancelling acquires
/// at random points; every holder is counted in a file outside Redis.
async fn storm() {
    let redis = Redis::connect(env("REDIS_URL")).await.unwrap();
    let permits = env_u64("PERMITS") as usize;
    let sem = BoundedSemaphore::with_lease(&redis, &env("NAME"), permits, Duration::from_secs(10))
        .unwrap();
    let count = HolderCount(SharedFile::new(env("COUNT")));
    let stop = Instant::now() + Duration::from_millis(env_u64("STORM_MS"));
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let sem = sem.clone();
        let count = count.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(std::process::id() as u64 * 1_000_003 + task * 7919);
            let (mut held, mut cancelled, mut lost, mut over) = (0u64, 0u64, 0u64, 0u64);
            while Instant::now() < stop {
                // A random timeout cancels the acquire anywhere: before the
                // request, in flight (after the grant), or while waiting.
                let patience = Duration::from_micros(rng.below(30_000));
                let permit = match tokio::time::timeout(patience, sem.acquire()).await {
                    Err(_) => {
                        cancelled += 1;
                        continue;
                    }
                    Ok(permit) => permit.expect("acquire"),
                };
                let inside = {
                    let count = count.clone();
                    tokio::task::spawn_blocking(move || count.enter())
                        .await
                        .unwrap()
                };
                if inside > permits as i64 {
                    over += 1;
                }
                tokio::time::sleep(Duration::from_micros(rng.below(5_000))).await;
                if permit.is_lost() {
                    lost += 1;
                }
                {
                    let count = count.clone();
                    tokio::task::spawn_blocking(move || count.leave())
                        .await
                        .unwrap();
                }
                held += 1;
                match rng.below(3) {
                    0 => drop(permit),
                    1 => permit.release().await.expect("release"),
                    // A release future cancelled at once: the permit is
                    // either released or released in the background.
                    _ => {
                        let _ = tokio::time::timeout(Duration::ZERO, permit.release()).await;
                    }
                }
            }
            (held, cancelled, lost, over)
        }));
    }
    let mut totals = (0, 0, 0, 0);
    for task in tasks {
        let (h, c, l, o) = task.await.unwrap();
        totals = (totals.0 + h, totals.1 + c, totals.2 + l, totals.3 + o);
    }
    within(20 * SECOND, "flush", redis.flush()).await;
    say(format!(
        "DONE {} {} {} {}",
        totals.0, totals.1, totals.2, totals.3
    ));
}

/// SIGKILL a holder: the others get the permit (or lock) when its lease
/// expires, not before, and not much later (woken by the lease deadline).
#[test]
fn a_killed_holders_permit_and_lock_come_back_at_lease_expiry() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    for kind in ["permit", "lock"] {
        let name = unique(kind);
        let lease_ms = 2_500u64;
        let mut child = Child::spawn(
            &format!("hold-{kind}"),
            &[
                ("REDIS_URL", server.url()),
                ("NAME", name.clone()),
                ("LEASE_MS", lease_ms.to_string()),
                ("RESOURCE", dir.path().join("unused").display().to_string()),
            ],
        );
        child.expect(if kind == "lock" { "TOKEN" } else { "HELD" }, 30 * SECOND);
        child.kill();
        let key = if kind == "lock" {
            format!("ambisync:{{{name}}}:lock")
        } else {
            format!("ambisync:{{{name}}}:sem")
        };
        run(30 * SECOND, async {
            let redis = Redis::connect(server.url()).await.unwrap();
            // The server's view of the lease left (at least 2/3 of it, since
            // the watchdog renews every third).
            let left = Duration::from_millis(server.int(&["PTTL", &key]).max(0) as u64);
            let started = Instant::now();
            let got = if kind == "lock" {
                let lock = Lock::new(&redis, &name).unwrap();
                assert!(
                    lock.try_lock().await.unwrap().is_none(),
                    "the dead holder's lease still runs"
                );
                lock.lock_timeout(10 * SECOND)
                    .await
                    .unwrap()
                    .map(drop)
                    .is_some()
            } else {
                let sem = BoundedSemaphore::new(&redis, &name, 1).unwrap();
                assert!(
                    sem.try_acquire().await.unwrap().is_none(),
                    "the dead holder's lease still runs"
                );
                sem.acquire_timeout(10 * SECOND)
                    .await
                    .unwrap()
                    .map(drop)
                    .is_some()
            };
            let waited = started.elapsed();
            assert!(got, "{kind} never came back");
            assert!(
                waited + Duration::from_millis(50) >= left,
                "{kind} came back after {waited:?}, before the lease ({left:?} left)"
            );
            assert!(
                waited < left + 2 * SECOND,
                "{kind} came back after {waited:?}, long after the lease ({left:?} left)"
            );
            redis.flush().await;
        });
    }
}

/// SIGSTOP a lock holder past its lease: a second holder gets in with a
/// higher token and writes; on SIGCONT the old guard reports lost, and the
/// resource refuses the old holder's write.
#[test]
fn a_paused_holder_is_fenced_off() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let resource_path = dir.path().join("resource");
    let resource = FencedResource(SharedFile::new(&resource_path));
    let name = unique("paused");
    let mut child = Child::spawn(
        "hold-lock",
        &[
            ("REDIS_URL", server.url()),
            ("NAME", name.clone()),
            ("LEASE_MS", "1500".into()),
            ("RESOURCE", resource_path.display().to_string()),
        ],
    );
    let old_token: u64 = child.expect("TOKEN", 30 * SECOND).parse().unwrap();
    assert!(resource.write(old_token), "the first holder writes");
    child.stop();
    let new_token = run(30 * SECOND, async {
        let redis = Redis::connect(server.url()).await.unwrap();
        let lock = Lock::new(&redis, &name).unwrap();
        let guard = lock
            .lock_timeout(10 * SECOND)
            .await
            .unwrap()
            .expect("the paused holder's lease expires");
        assert!(guard.fencing_token() > old_token);
        assert!(
            resource.write(guard.fencing_token()),
            "the new holder writes"
        );
        let token = guard.fencing_token();
        // Keep holding while the old one wakes up.
        child.cont();
        child.send("check");
        let report = tokio::task::spawn_blocking(move || {
            let report = child.expect("CHECK", 30 * SECOND);
            (report, child)
        })
        .await
        .unwrap();
        let (report, _child) = report;
        assert!(report.contains("lost=true"), "old guard: {report}");
        assert!(report.contains("accepted=false"), "old write: {report}");
        assert!(!guard.is_lost(), "the new holder is undisturbed");
        guard.release().await.unwrap();
        token
    });
    let [highest, accepted, refused, _] = resource.0.read();
    assert_eq!(highest as u64, new_token);
    assert_eq!((accepted, refused), (2, 1));
}

/// 4 processes x 8 tasks on one BoundedSemaphore(3) with random
/// cancellation: never more than 3 holders (counted in a file, outside
/// Redis), and every permit is back at the end (not by lease expiry: the
/// lease is 10 s and the check is immediate).
#[test]
fn invariant_storm_across_processes() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let count_path = dir.path().join("count");
    let name = unique("storm");
    let permits = 3;
    let mut children: Vec<Child> = (0..4)
        .map(|_| {
            Child::spawn(
                "storm",
                &[
                    ("REDIS_URL", server.url()),
                    ("NAME", name.clone()),
                    ("PERMITS", permits.to_string()),
                    ("COUNT", count_path.display().to_string()),
                    ("STORM_MS", "4000".into()),
                ],
            )
        })
        .collect();
    let mut held = 0;
    let mut cancelled = 0;
    for child in &mut children {
        let done = child.expect("DONE", 90 * SECOND);
        let numbers: Vec<u64> = done.split(' ').map(|n| n.parse().unwrap()).collect();
        assert_eq!(numbers[2], 0, "a permit was lost in the storm: {done}");
        assert_eq!(numbers[3], 0, "more than {permits} holders seen: {done}");
        held += numbers[0];
        cancelled += numbers[1];
    }
    for child in &mut children {
        assert!(child.wait(30 * SECOND), "a storm child failed");
    }
    let [inside, most, entries, _] = HolderCount(SharedFile::new(&count_path)).0.read();
    assert_eq!(inside, 0);
    assert!(most <= permits as i64, "{most} holders at once");
    assert_eq!(entries as u64, held);
    assert!(held >= 20, "too little progress: {held} holds");
    assert!(cancelled >= 20, "too few cancellations: {cancelled}");
    let key = format!("ambisync:{{{name}}}:sem");
    assert_eq!(server.int(&["ZCARD", &key]), 0, "every permit back");
    eprintln!("storm: {held} holds, {cancelled} cancelled acquires, at most {most} inside");
}
