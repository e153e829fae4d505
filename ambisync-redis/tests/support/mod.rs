//! Test machinery shared by the test files (and, through `#[path]`, the
//! example and the benchmark): a real `redis-server` per test, child
//! processes that re-execute the test binary with a role, signals, a TCP
//! proxy, and state shared outside Redis.

#![allow(dead_code)]

pub mod child;
pub mod proxy;
pub mod server;
pub mod shared_file;

use std::future::Future;
use std::time::Duration;

#[allow(unused_imports)]
pub use server::{Options, Persistence, RedisServer};

/// Runs `fut` on a fresh multi-thread runtime, failing the test if it takes
/// longer than `limit` (a deadlock fails fast with a message, never hangs).
pub fn run<T>(limit: Duration, fut: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async { tokio::time::timeout(limit, fut).await });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result.unwrap_or_else(|_| panic!("test did not finish within {limit:?}"))
}

/// `fut` must finish within `limit`; panics naming `what` otherwise.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {limit:?}"))
}

/// A unique name per call, so tests sharing a server never collide.
pub fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A tiny xorshift generator: enough randomness for cancellation points.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
