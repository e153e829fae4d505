//! Every future ambisync returns is no larger than tokio's equivalent
//! (issue 15): a task holding one across an `.await` carries its bytes.
//! `benches/sizes.rs` prints the same comparisons.
#![cfg(feature = "tokio")]

use std::mem::size_of_val;
use std::time::Duration;

/// `ours` fits in `theirs`, with both in the message when it does not.
fn no_larger(what: &str, ours: usize, theirs: usize) {
    assert!(
        ours <= theirs,
        "{what}: ambisync's future is {ours} bytes, tokio's {theirs}"
    );
}

#[tokio::test]
async fn futures_are_no_larger_than_tokios() {
    let d = Duration::from_secs(1);

    let lock = ambisync::Lock::new(());
    let mutex = tokio::sync::Mutex::new(());
    no_larger(
        "lock",
        size_of_val(&lock.lock()),
        size_of_val(&mutex.lock()),
    );
    no_larger(
        "lock_timeout",
        size_of_val(&lock.lock_timeout(d)),
        size_of_val(&tokio::time::timeout(d, mutex.lock())),
    );

    let sem = ambisync::Semaphore::new(1);
    let tokio_sem = tokio::sync::Semaphore::new(1);
    no_larger(
        "acquire",
        size_of_val(&sem.acquire()),
        size_of_val(&tokio_sem.acquire()),
    );
    no_larger(
        "acquire_timeout",
        size_of_val(&sem.acquire_timeout(d)),
        size_of_val(&tokio::time::timeout(d, tokio_sem.acquire())),
    );

    let event = ambisync::Event::new();
    let notify = tokio::sync::Notify::new();
    no_larger(
        "Event::wait",
        size_of_val(&event.wait()),
        size_of_val(&notify.notified()),
    );
    no_larger(
        "Event::wait_timeout",
        size_of_val(&event.wait_timeout(d)),
        size_of_val(&tokio::time::timeout(d, notify.notified())),
    );

    let barrier = ambisync::Barrier::new(2);
    let tokio_barrier = tokio::sync::Barrier::new(2);
    no_larger(
        "Barrier::wait",
        size_of_val(&barrier.wait()),
        size_of_val(&tokio_barrier.wait()),
    );
    no_larger(
        "Barrier::wait_timeout",
        size_of_val(&barrier.wait_timeout(d)),
        size_of_val(&tokio::time::timeout(d, tokio_barrier.wait())),
    );

    let queue = ambisync::Queue::<u64>::bounded(8);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(8);
    no_larger(
        "Queue::put",
        size_of_val(&queue.put(1)),
        size_of_val(&tx.send(1)),
    );
    no_larger(
        "Queue::put_timeout",
        size_of_val(&queue.put_timeout(1, d)),
        size_of_val(&tokio::time::timeout(d, tx.send(1))),
    );
    let recv = size_of_val(&rx.recv());
    let recv_timeout = size_of_val(&tokio::time::timeout(d, rx.recv()));
    no_larger("Queue::get", size_of_val(&queue.get()), recv);
    no_larger(
        "Queue::get_timeout",
        size_of_val(&queue.get_timeout(d)),
        recv_timeout,
    );
}
