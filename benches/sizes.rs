//! Not a timing benchmark: prints the size of each primitive next to its
//! peers', one `size <type> <bytes>` line each, for `benches/compare.sh`.
//! The target: `Lock<()>`, `Event` and `Semaphore` ≤ 16 bytes.
//!
//! Run it alone with `cargo bench -p ambisync-benches --bench sizes`.

use std::mem::size_of;

fn main() {
    let sizes = [
        ("ambisync::Lock<()>", size_of::<ambisync::Lock<()>>()),
        ("ambisync::Event", size_of::<ambisync::Event>()),
        ("ambisync::Semaphore", size_of::<ambisync::Semaphore>()),
        (
            "ambisync::BoundedSemaphore",
            size_of::<ambisync::BoundedSemaphore>(),
        ),
        ("ambisync::RLock<()>", size_of::<ambisync::RLock<()>>()),
        ("ambisync::Condition", size_of::<ambisync::Condition>()),
        ("ambisync::Barrier", size_of::<ambisync::Barrier>()),
        ("ambisync::Queue<u64>", size_of::<ambisync::Queue<u64>>()),
        ("ambisync::RwLock<()>", size_of::<ambisync::RwLock<()>>()),
        (
            "tokio::sync::Mutex<()>",
            size_of::<tokio::sync::Mutex<()>>(),
        ),
        ("tokio::sync::Notify", size_of::<tokio::sync::Notify>()),
        (
            "tokio::sync::Semaphore",
            size_of::<tokio::sync::Semaphore>(),
        ),
        ("tokio::sync::Barrier", size_of::<tokio::sync::Barrier>()),
        (
            "tokio::sync::RwLock<()>",
            size_of::<tokio::sync::RwLock<()>>(),
        ),
        ("async_lock::Mutex<()>", size_of::<async_lock::Mutex<()>>()),
        ("async_lock::Semaphore", size_of::<async_lock::Semaphore>()),
        ("async_lock::Barrier", size_of::<async_lock::Barrier>()),
        (
            "async_lock::RwLock<()>",
            size_of::<async_lock::RwLock<()>>(),
        ),
        ("event_listener::Event", size_of::<event_listener::Event>()),
        ("std::sync::Mutex<()>", size_of::<std::sync::Mutex<()>>()),
        (
            "parking_lot::Mutex<()>",
            size_of::<parking_lot::Mutex<()>>(),
        ),
    ];
    for (name, bytes) in sizes {
        println!("size {name} {bytes}");
    }
}
