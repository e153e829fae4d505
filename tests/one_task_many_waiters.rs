//! Many waiting futures polled by one task (`join!`, `select!`, a vector of
//! futures): wake-ups reach the right task when waiters of one task and of
//! others are mixed in line, when one leaves, and when one is polled again
//! by another task; a wake-all wakes a run of one task's waiters once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use ambisync::{Event, Lock, Semaphore};
use futures_test::task::{AwokenCount, new_count_waker};

/// A counting waker standing for one task.
struct Task {
    waker: Waker,
    woken: AwokenCount,
}

impl Task {
    fn new() -> Task {
        let (waker, woken) = new_count_waker();
        Task { waker, woken }
    }

    fn poll<F: Future + ?Sized>(&self, future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(&self.waker))
    }

    fn woken(&self) -> usize {
        self.woken.get()
    }
}

#[test]
fn a_set_wakes_each_task_once_and_releases_every_future() {
    let event = Event::new();
    let (a, b) = (Task::new(), Task::new());
    let mut of_a: Vec<_> = (0..100).map(|_| Box::pin(event.wait())).collect();
    let mut of_b = Box::pin(event.wait());
    for (i, wait) in of_a.iter_mut().enumerate() {
        assert!(a.poll(wait.as_mut()).is_pending());
        if i == 50 {
            // One of another task in the middle of the run.
            assert!(b.poll(of_b.as_mut()).is_pending());
        }
    }
    assert_eq!(event.waiters(), 101);
    event.set();
    assert!(
        a.woken() >= 1 && a.woken() <= 2,
        "task a woken {} times",
        a.woken()
    );
    assert_eq!(b.woken(), 1);
    for wait in &mut of_a {
        assert!(a.poll(wait.as_mut()).is_ready());
    }
    assert!(b.poll(of_b.as_mut()).is_ready());
    assert_eq!(event.waiters(), 0);
}

#[test]
fn grants_reach_the_right_task_when_a_sharing_waiter_leaves() {
    let sem = Semaphore::new(0);
    let (a, b) = (Task::new(), Task::new());
    let mut a1 = Box::pin(sem.acquire());
    let mut a2 = Box::pin(sem.acquire());
    let mut b1 = Box::pin(sem.acquire());
    let mut a3 = Box::pin(sem.acquire());
    assert!(a.poll(a1.as_mut()).is_pending());
    assert!(a.poll(a2.as_mut()).is_pending());
    assert!(b.poll(b1.as_mut()).is_pending());
    assert!(a.poll(a3.as_mut()).is_pending());
    // The first of the run that shares a's waker leaves: the next keeps it.
    drop(a1);
    sem.release();
    assert_eq!((a.woken(), b.woken()), (1, 0));
    let a2 = a.poll(a2.as_mut());
    assert!(a2.is_ready());
    sem.release();
    assert_eq!((a.woken(), b.woken()), (1, 1));
    assert!(b.poll(b1.as_mut()).is_ready());
    sem.release();
    assert_eq!((a.woken(), b.woken()), (2, 1));
    assert!(a.poll(a3.as_mut()).is_ready());
}

#[test]
fn a_waiter_polled_again_by_another_task_is_woken_there_and_the_rest_stay() {
    let lock = Lock::new(0);
    let held = lock.try_lock().unwrap();
    let (a, c) = (Task::new(), Task::new());
    let mut first = Box::pin(lock.lock());
    let mut second = Box::pin(lock.lock());
    assert!(a.poll(first.as_mut()).is_pending());
    assert!(a.poll(second.as_mut()).is_pending());
    // `first` moves to task c; `second` still shares a's waker.
    assert!(c.poll(first.as_mut()).is_pending());
    drop(held);
    assert_eq!((a.woken(), c.woken()), (0, 1));
    let Poll::Ready(guard) = c.poll(first.as_mut()) else {
        panic!("the woken waiter finds the lock free");
    };
    drop(guard);
    assert_eq!((a.woken(), c.woken()), (1, 1));
    assert!(a.poll(second.as_mut()).is_ready());
}

#[test]
fn a_waiter_polled_again_by_its_own_task_keeps_sharing() {
    let sem = Semaphore::new(0);
    let a = Task::new();
    let mut waits: Vec<_> = (0..4).map(|_| Box::pin(sem.acquire())).collect();
    for _ in 0..3 {
        for wait in &mut waits {
            assert!(a.poll(wait.as_mut()).is_pending());
        }
    }
    sem.release_n(4);
    assert_eq!(a.woken(), 4, "one wake-up per grant");
    for wait in &mut waits {
        assert!(a.poll(wait.as_mut()).is_ready());
    }
}
