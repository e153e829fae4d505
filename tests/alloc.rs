//! No heap allocation on uncontended paths: a counting global allocator
//! watches lock/unlock, acquire/release, set/wait and notify with nobody
//! waiting. (event-listener allocates its list on first `notify` or
//! `listen`; the primitives must not reach it while nobody waits.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use ambisync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};

/// Counts allocations made by the current thread while counting is on, so
/// that the test harness's own threads do not disturb the count.
struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the thread
// locals it touches are const-initialized and need no allocation.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many allocations it made on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

fn run<F: Future>(fut: F) -> F::Output {
    futures::executor::block_on(fut)
}

#[test]
fn uncontended_operations_do_not_allocate() {
    let lock = Lock::new(0u64);
    let rlock = RLock::new(0u64);
    let condition = Condition::new();
    let event = Event::new();
    let semaphore = Semaphore::new(2);
    let bounded = BoundedSemaphore::new(2);
    let barrier = Barrier::new(1);
    let arc_lock = Arc::new(Lock::new(()));
    let arc_sem = Arc::new(Semaphore::new(1));
    let round = || {
        *lock.try_lock().unwrap() += 1;
        *lock.lock_blocking() += 1;
        run(async { *lock.lock().await += 1 });
        drop(rlock.lock_blocking());
        run(async {
            let outer = rlock.lock().await;
            let inner = rlock.lock().await;
            drop((inner, outer));
        });
        let guard = lock.lock_blocking();
        assert_eq!(condition.notify(1), 0);
        assert_eq!(condition.notify_all(), 0);
        drop(guard);
        event.set();
        event.wait_blocking();
        run(event.wait());
        event.clear();
        drop(semaphore.try_acquire().unwrap());
        drop(semaphore.acquire_blocking());
        run(async { drop(semaphore.acquire().await) });
        semaphore.release();
        semaphore.try_acquire().unwrap().forget();
        bounded.try_acquire().unwrap().forget();
        bounded.release().unwrap();
        assert_eq!(barrier.wait_blocking(), Ok(0));
        drop(arc_lock.try_lock_owned().unwrap());
        drop(arc_sem.try_acquire_owned().unwrap());
    };
    // The first round initializes thread locals (the executor's waker, the
    // owner identity) outside the count; every later round must not allocate.
    round();
    let count = allocations_in(|| (0..100).for_each(|_| round()));
    assert_eq!(count, 0, "uncontended operations allocated {count} times");
    assert_eq!(*lock.lock_blocking(), 303);
}

/// Once a primitive's waiter list exists, a task that has to wait allocates
/// nothing: listeners live inside the wait future, and `Event` reuses its
/// slots.
#[test]
fn contended_async_waits_allocate_nothing_after_the_first() {
    let lock = Lock::new(0u64);
    let semaphore = Semaphore::new(1);
    let event = Event::new();
    // A no-op context of futures-test: polling with it allocates nothing
    // (tokio-test's mock task would allocate a box and a waker per future).
    let mut cx = futures_test::task::noop_context();
    let mut round = || {
        let held = lock.try_lock().unwrap();
        let mut wait = pin!(lock.lock());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        drop(held);
        let Poll::Ready(mut guard) = wait.as_mut().poll(&mut cx) else {
            panic!("the lock was released");
        };
        *guard += 1;
        drop(guard);

        let permit = semaphore.try_acquire().unwrap();
        let mut wait = pin!(semaphore.acquire());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        drop(permit);
        assert!(wait.as_mut().poll(&mut cx).is_ready());

        let mut wait = pin!(event.wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        event.set();
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        event.clear();
    };
    // The first rounds allocate the waiter lists (`Event`'s has two slot
    // vectors that take turns).
    round();
    round();
    let count = allocations_in(|| (0..100).for_each(|_| round()));
    assert_eq!(count, 0, "contended waits allocated {count} times");
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    let count = allocations_in(|| drop(std::hint::black_box(Box::new(1u8))));
    assert_eq!(count, 1);
}
