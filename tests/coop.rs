//! Every waiting operation takes part in tokio's cooperative scheduling: a
//! task that loops on always-ready operations still yields now and then, so
//! that the other tasks of its worker get to run (issue 9, scenario 1). One
//! test per primitive: a task loops 2000 times on an operation that never
//! has to wait, on a current-thread runtime where another task can run only
//! if the loop yields.
#![cfg(feature = "tokio")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ambisync::{Barrier, BoundedSemaphore, Condition, Event, Lock, Queue, RLock, Semaphore, Timer};

/// Runs `step` 2000 times in a task while another task waits to raise a
/// flag; the flag must be up before the loop ends.
fn yields_while_looping<S: Send + Sync + 'static>(
    what: &str,
    shared: S,
    step: for<'a> fn(&'a S) -> common::Relock<'a>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ran = runtime.block_on(async move {
        let other_ran = Arc::new(AtomicBool::new(false));
        let (start, started) = tokio::sync::oneshot::channel::<()>();
        let flag = Arc::clone(&other_ran);
        // Runnable only once the loop has started: it then gets to run only
        // if the loop yields.
        tokio::spawn(async move {
            started.await.unwrap();
            flag.store(true, Ordering::SeqCst);
        });
        let looping = tokio::spawn(async move {
            start.send(()).unwrap();
            for _ in 0..2000 {
                step(&shared).await;
                if other_ran.load(Ordering::SeqCst) {
                    return true;
                }
            }
            false
        });
        looping.await.unwrap()
    });
    assert!(ran, "{what}: 2000 ready operations in a row never yielded");
}

#[test]
fn lock_and_rlock_spend_the_budget() {
    yields_while_looping("Lock::lock", Lock::new(()), |lock| {
        Box::pin(async move { drop(lock.lock().await) })
    });
    yields_while_looping("RLock::lock", RLock::new(()), |lock| {
        Box::pin(async move { drop(lock.lock().await) })
    });
    yields_while_looping("Lock::acquire", Lock::new(()), |lock| {
        Box::pin(async move {
            lock.acquire().await;
            lock.release().unwrap();
        })
    });
}

#[test]
fn semaphores_spend_the_budget() {
    yields_while_looping("Semaphore::acquire", Semaphore::new(1), |sem| {
        Box::pin(async move { drop(sem.acquire().await) })
    });
    yields_while_looping(
        "BoundedSemaphore::acquire",
        BoundedSemaphore::new(1),
        |sem| Box::pin(async move { drop(sem.acquire().await) }),
    );
    yields_while_looping(
        "Semaphore::acquire_owned",
        Arc::new(Semaphore::new(1)),
        |sem| {
            let sem = Arc::clone(sem);
            Box::pin(async move { drop(sem.acquire_owned().await) })
        },
    );
}

#[test]
fn event_barrier_and_condition_spend_the_budget() {
    let event = Event::new();
    event.set();
    yields_while_looping("Event::wait", event, |event| Box::pin(event.wait()));
    yields_while_looping("Barrier::wait", Barrier::new(1), |barrier| {
        Box::pin(async move {
            barrier.wait().await.unwrap();
        })
    });
    yields_while_looping(
        "Condition::wait_for",
        (Lock::new(()), Condition::new()),
        |(lock, cond)| {
            Box::pin(async move {
                drop(cond.wait_for(lock.lock().await, |_| true).await);
            })
        },
    );
}

#[test]
fn queues_spend_the_budget() {
    yields_while_looping("Queue::put + get", Queue::unbounded(), |queue| {
        Box::pin(async move {
            queue.put(1).await.unwrap();
            queue.get().await.unwrap();
            queue.task_done().unwrap();
        })
    });
    yields_while_looping("Queue::join", Queue::<u8>::unbounded(), |queue| {
        Box::pin(queue.join())
    });
}

#[test]
fn timer_join_spends_the_budget() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let timer = runtime.block_on(async {
        let timer = Timer::after(std::time::Duration::ZERO, async {});
        timer.join().await;
        timer
    });
    yields_while_looping("Timer::join", timer, |timer| {
        Box::pin(async move {
            timer.join().await;
        })
    });
}

/// An event wait spends the budget only when it completes: woken while the
/// task's budget is spent, it yields first, and the wake-up stays its own
/// even if the flag is cleared before its next poll.
#[test]
fn a_woken_event_wait_keeps_its_wake_up_across_the_yield() {
    use std::future::{Future, poll_fn};
    use std::task::Poll;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let event = Event::new();
        let mut waiter = Box::pin(event.wait());
        assert!(futures::poll!(waiter.as_mut()).is_pending());
        event.set();
        event.clear();
        // Spend the whole budget, then poll the woken waiter in the same turn.
        let polled = poll_fn(|cx| {
            while let Poll::Ready(unit) = tokio::task::coop::poll_proceed(cx) {
                unit.made_progress();
            }
            Poll::Ready(waiter.as_mut().poll(cx))
        })
        .await;
        assert!(polled.is_pending(), "completed with the budget spent");
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
            .await
            .expect("the wake-up was lost across the yield");
    });
}
