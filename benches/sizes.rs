//! Not a timing benchmark: prints the size of each primitive next to its
//! peers', one `size <type> <bytes>` line each, for `benches/compare.sh`.
//! The target: `Lock<()>`, `Event` and `Semaphore` ≤ 16 bytes.
//! Then the size of each returned future next to tokio's equivalent, one
//! `future <name> <bytes> <peer> <peer bytes>` line each (issue 15: no
//! future larger than tokio's).
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
    futures();
}

/// The futures' sizes, each next to its tokio equivalent:
/// `future <name> <ambisync bytes> <tokio peer> <peer bytes>` lines.
fn futures() {
    use std::mem::size_of_val;
    use std::time::Duration;

    // tokio's `timeout` makes its `Sleep` at once: it needs a runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let d = Duration::from_secs(1);

    let lock = ambisync::Lock::new(());
    let tokio_mutex = tokio::sync::Mutex::new(());
    let sem = ambisync::Semaphore::new(1);
    let tokio_sem = tokio::sync::Semaphore::new(1);
    let event = ambisync::Event::new();
    let notify = tokio::sync::Notify::new();
    let barrier = ambisync::Barrier::new(2);
    let tokio_barrier = tokio::sync::Barrier::new(2);
    let queue = ambisync::Queue::<u64>::bounded(8);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(8);
    let cond = ambisync::Condition::new();
    let cond_lock = ambisync::Lock::new(());
    let guard = cond_lock.try_lock().unwrap();

    // `recv` borrows the receiver mutably: measured one at a time.
    let recv = size_of_val(&rx.recv());
    let recv_timeout = size_of_val(&tokio::time::timeout(d, rx.recv()));

    let rows = [
        (
            "lock",
            size_of_val(&lock.lock()),
            "tokio::sync::Mutex::lock",
            size_of_val(&tokio_mutex.lock()),
        ),
        (
            "lock_timeout",
            size_of_val(&lock.lock_timeout(d)),
            "tokio::time::timeout(Mutex::lock)",
            size_of_val(&tokio::time::timeout(d, tokio_mutex.lock())),
        ),
        (
            "acquire",
            size_of_val(&sem.acquire()),
            "tokio::sync::Semaphore::acquire",
            size_of_val(&tokio_sem.acquire()),
        ),
        (
            "acquire_timeout",
            size_of_val(&sem.acquire_timeout(d)),
            "tokio::time::timeout(Semaphore::acquire)",
            size_of_val(&tokio::time::timeout(d, tokio_sem.acquire())),
        ),
        (
            "event_wait",
            size_of_val(&event.wait()),
            "tokio::sync::Notify::notified",
            size_of_val(&notify.notified()),
        ),
        (
            "event_wait_timeout",
            size_of_val(&event.wait_timeout(d)),
            "tokio::time::timeout(Notify::notified)",
            size_of_val(&tokio::time::timeout(d, notify.notified())),
        ),
        (
            "barrier_wait",
            size_of_val(&barrier.wait()),
            "tokio::sync::Barrier::wait",
            size_of_val(&tokio_barrier.wait()),
        ),
        (
            "barrier_wait_timeout",
            size_of_val(&barrier.wait_timeout(d)),
            "tokio::time::timeout(Barrier::wait)",
            size_of_val(&tokio::time::timeout(d, tokio_barrier.wait())),
        ),
        // tokio has no condition variable: the nearest is a Notify wait.
        (
            "condition_wait",
            size_of_val(&cond.wait(guard)),
            "tokio::sync::Notify::notified",
            size_of_val(&notify.notified()),
        ),
        (
            "queue_get",
            size_of_val(&queue.get()),
            "tokio::sync::mpsc::Receiver::recv",
            recv,
        ),
        (
            "queue_get_timeout",
            size_of_val(&queue.get_timeout(d)),
            "tokio::time::timeout(Receiver::recv)",
            recv_timeout,
        ),
        (
            "queue_put",
            size_of_val(&queue.put(1)),
            "tokio::sync::mpsc::Sender::send",
            size_of_val(&tx.send(1)),
        ),
        (
            "queue_put_timeout",
            size_of_val(&queue.put_timeout(1, d)),
            "tokio::time::timeout(Sender::send)",
            size_of_val(&tokio::time::timeout(d, tx.send(1))),
        ),
    ];
    for (name, ours, peer, theirs) in rows {
        println!("future {name} {ours} {peer} {theirs}");
    }
}
