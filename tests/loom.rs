//! loom model tests of every primitive's state machine: the waiter list
//! itself, `Lock` (with its starvation guard), `RLock`, `Condition`, `Event`,
//! `Barrier`, the queue core and the semaphores. loom runs each model under
//! every interleaving of its threads (and every value a weak load may read),
//! up to a bound on forced thread switches, so a lost wake-up shows up as a
//! deadlock, a lost or made-up unit as a failed assertion, and two holders
//! of a lock as a concurrent access to a `loom::cell::UnsafeCell` (which also
//! catches a missing happens-before between holders).
//!
//! Run with (`.ci/run` does, with `LOOM_MAX_PREEMPTIONS=3`):
//!
//! ```text
//! RUSTFLAGS="--cfg ambisync_loom" CARGO_TARGET_DIR=target/loom \
//!     LOOM_MAX_PREEMPTIONS=3 cargo test --release --no-default-features --test loom
//! ```
//!
//! Under `--cfg ambisync_loom` every atomic, mutex and park of the crate is
//! loom's (`src/wait/sync.rs`), and `ambisync::model` opens the waiter list
//! and picks what the starvation clock says (loom needs replayable runs).
//!
//! Each model was checked to fail when the protocol is broken on purpose;
//! "catches" names such a mutation (each one made in a scratch edit, seen
//! failing, reverted):
//!
//! | model | property | catches |
//! | --- | --- | --- |
//! | **WaitList** (`ambisync::model::List`) | | |
//! | `list_notify_racing_leave_wakes_exactly_one` | `notify(1)` racing the first waiter's `leave`: exactly one of two gets it, `leave` says which | `leave` checking "notified?" outside the list's lock |
//! | `list_wake_all_with_nobody_in_line_still_moves_the_mark` | a wake-all between reading the mark and joining is seen (`Event::enter`'s protocol: it also stands for the former `set_then_clear_releases_a_counted_thread_not_yet_listed`, whose "counted, not yet listed" state no longer exists) | `wake_all` not moving the mark when nobody waits |
//! | **Lock** | | |
//! | `lock_excludes_a_thread_and_a_task` | one holder at a time, each sees the last one's writes | unlock `Relaxed`; no re-check after joining the line |
//! | `lock_an_unlock_reaches_a_waiter_joining_the_line` | no lost wake-up | no re-check in `RawLockWait::poll`; unlock `Relaxed` |
//! | `lock_an_unlock_after_a_barging_relock_still_wakes_the_waiter` (found a weak-memory lost wake-up when the "woken" mark lived in the list, fixed then with fences; the mark is now a flag of the state word) | a woken waiter beaten by a barger is woken by the barger's unlock | the woken waiter not clearing `WOKEN` before its try |
//! | `lock_unlocks_wake_nobody_else_while_a_woken_waiter_has_not_run` | one wake-up at a time: relocks and unlocks before the woken waiter runs wake nobody, its unlock wakes the next | `must_wake` ignoring `WOKEN` |
//! | `lock_a_woken_waiter_dropped_passes_the_wake_up_on` | a cancelled woken waiter passes its wake-up on | no pass-on in `RawLockWait::cancel`; `pass_on` not clearing `WOKEN` |
//! | `lock_a_starving_waiter_that_gives_up_clears_the_flag` | claiming then giving up the starvation flag leaves the lock usable | `give_up` keeping the flag; a starving take not clearing it |
//! | `lock_a_wake_up_is_passed_along_to_a_starving_waiter` | a woken waiter that may not take the reserved lock passes the wake-up to the starving one | no pass-along in `FairWaiter::attempt`; flag not cleared |
//! | `lock_a_newcomer_gives_a_reserved_lock_back` (found a thread passing its own wake-up back to itself, spinning until the starving task ran; fixed with `WaitList::reserve`) | a newcomer whose `lock bts` took a lock reserved for a starving waiter gives it back, the starving waiter gets it first, nobody spins or sleeps on the free lock | `try_lock_fair` ignoring `STARVING`; `pass_along` waking whoever is first (spins); the starving waiter not reserving its place (deadlock); `WOKEN` set before the line is looked at and cleared again (deadlock, was an intermediate version) |
//! | **RLock** | | |
//! | `rlock_excludes_a_reentering_thread_and_a_task` | re-entry, levels, exclusion | owner identity from a std thread-local (one owner for all loom threads) |
//! | `rlock_raw_and_guard_levels_end_the_hold_together` | a raw `release` never gives back a guard's level | `release` freeing a hold that has guard levels |
//! | `rlock_a_guard_dropped_on_another_thread_races_reentry` | re-entry never joins the next owner's hold | no owner re-check in `reenter`; `drop_level` without Acquire (was the code) |
//! | `condition_wait_blocking_on_an_rlock_releases_and_restores_every_level` | the wait releases all levels and restores them | releasing one level; restoring one level |
//! | **Condition** | | |
//! | `condition_a_notify_reaches_a_waiter_joining_at_the_same_time` | no lost notification | joining the line after releasing the lock |
//! | `condition_notify_n_wakes_exactly_the_n_oldest_waiters` | `notify(2)` wakes the two oldest, never one joining meanwhile | waking `n + 1` |
//! | `condition_a_notified_waiter_dropped_passes_the_notification_on` | a cancelled notified waiter passes it on | no pass-on in `CondWait`'s drop |
//! | `condition_a_waiter_dropped_while_relocking_passes_the_notification_on` | the same while it waits for the lock | as above; no pass-on in `RawLockWait::cancel` |
//! | **Event** | | |
//! | `set_releases_*` (3), `set_then_clear_releases_a_listed_waiter` | every waiter that began before a `set` wakes | `set` not waking |
//! | `a_wait_dropped_while_set_runs_leaves_a_consistent_list` | a cancelled wait leaves the list usable | `leave` checking outside the lock |
//! | **Barrier** | | |
//! | `barrier_a_round_of_a_thread_and_a_task_trips_with_indexes_0_and_1` | a round trips with indexes 0..parties | trip without wake-all; no second try in `Retry::poll` |
//! | `barrier_an_arrival_withdrawn_while_another_arrives_is_not_counted` | a withdrawn arrival counts for nothing | withdrawal not recorded; indexes ignoring withdrawals |
//! | `barrier_abort_racing_a_wait_breaks_it` | abort reaches a waiter | abort without wake-all |
//! | `barrier_reset_racing_a_wait_fails_only_the_old_round` | reset fails the old round, the next one trips | reset without wake-all |
//! | `barrier_a_kept_but_unpolled_waiter_does_not_stall_the_next_round` | issue 9, 1.5 | a round that waits for the last round's waiters to leave |
//! | **Queue core** | | |
//! | `queue_a_put_reaches_a_getter_joining_the_line` | no lost item wake-up | no second try in `Retry::poll`; put not waking a getter |
//! | `queue_a_bounded_queue_hands_over_every_item_once_in_order` | every item once, in order, through a full queue | get not waking a putter |
//! | `queue_a_woken_getter_dropped_passes_the_item_on` | a cancelled woken getter passes the item on | no pass-on in `Retry::cancel` |
//! | `queue_join_returns_exactly_when_the_last_task_is_done` | `join` returns when `unfinished` hits 0, not before | `task_done` not waking joiners; `join` done at 1 |
//! | `queue_shutdown_wakes_a_waiting_getter_and_putter` | shutdown wakes every waiter | shutdown not waking getters, or putters |
//! | `queue_shutdown_racing_a_put_into_a_freed_slot_loses_nothing` | a spinning or waiting put either gets in or hands its item back; the length and shutdown read without the mutex agree | put not woken by the get; shutdown not published to the length hint |
//! | `queue_shutdown_immediate_racing_a_blocking_get_hands_the_item_out_once` | the item goes to the getter or into the drained list, never both, never neither; `unfinished` exact | drain not counting items done; a getter left waiting; the drain not written to the length hint (checked: fails) |
//! | `queue_ring_two_putters_and_a_getter_through_one_slot_lose_nothing` | the ring: concurrent claims through one slot, every lap; every item once | a stamp not advanced a lap; the full check ignoring a get half-way |
//! | `queue_ring_shutdown_immediate_racing_a_put_hands_the_item_out_once` | the ring's shutdown mark against a claiming put: put and drained, or refused | a put landing after the mark; a drain not waiting for a put half-way |
//! | `queue_ring_a_refused_put_does_not_strand_a_joiner` | a put counted in and out again wakes a joiner that saw it | the undo not waking joiners |
//! | **Semaphores** | | |
//! | `a_release_reaches_a_thread_queueing_up_at_the_same_time`, `two_releases_reach_two_waiters_queueing_up_at_the_same_time` | FIFO hand-off, no lost permit | `release` without hand-off |
//! | `a_permit_drop_reaches_a_task_queueing_up_at_the_same_time` | a dropped permit reaches a waiter | permit drop without hand-off |
//! | `a_waiter_cancelled_as_the_permit_is_handed_to_it_loses_nothing`, `a_permit_granted_to_a_cancelled_waiter_moves_on_to_the_next` | a grant to a cancelled waiter goes on | cancel not giving permits back |
//! | `a_waiter_for_two_permits_is_served_by_two_single_releases` | the head wanting 2 is served by two releases of 1 | a grant without enough permits; no hand-off |
//! | `a_waiter_for_two_permits_cancelled_after_the_grant_gives_both_back` | both permits come back | cancel giving back one permit |
//! | **RwLock** (own section at the end) | | |
//! | `rwlock_a_reader_and_a_writer_racing_both_finish`, `rwlock_a_writer_leaving_reaches_a_reader_task_joining_the_line` | a reader held back by a writer is woken when it leaves | readers joining their line without `PARKED`, a release checking `anybody_waiting` (was the code, while that fence was `std`'s); the last reader not waking a writer |
//! | `rwlock_the_last_reader_leaving_reaches_a_writer_counting_in` | no lost wake-up of a waiting writer | the last reader not waking a writer |
//! | `rwlock_a_woken_writer_dropped_lets_the_held_back_reader_in` | a writer woken and dropped stops holding readers back | no `count_out` in `RwWait::cancel` |
//! | `rwlock_a_woken_writer_dropped_passes_the_turn_to_the_next_writer` | its wake-up goes to the next writer | no pass-on in `Place::leave` |
//! | `rwlock_an_upgrade_is_reached_by_the_last_other_reader_leaving` | an upgrade is woken by the last other reader | the upgrader woken only if `anybody_waiting` (was the code, while that fence was `std`'s) |
//! | `rwlock_a_reader_held_back_by_an_upgrade_enters_after_the_upgraded_writer` | readers held back by an upgrade are woken after it | the upgrade dropping `PARKED` (was the code, found by `examples/config_cache.rs`) |
#![cfg(ambisync_loom)]

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::pin;
// Owned guards and permits need std's `Arc` (loom's only adds leak tracking).
use std::sync::Arc as StdArc;
use std::task::{Context, Poll};

use ambisync::model::{List, starve_after};
use ambisync::{
    Barrier, Condition, Event, GetError, Lock, PutError, Queue, RLock, ReleaseError, Semaphore,
};
use futures_test::task::{new_count_waker, noop_context};
use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

// ============================================================ shared helpers

/// `loom::model` with at most `preemptions` forced thread switches per
/// execution: models with three threads and two locks are too large to
/// explore in full, and bugs needing more preemptions than that are rare
/// (loom's own advice). `LOOM_MAX_PREEMPTIONS` lowers it further in CI.
fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(
        builder
            .preemption_bound
            .map_or(preemptions, |env| env.min(preemptions)),
    );
    builder.check(f);
}

/// Runs a task on this thread with a fair executor: a task that woke itself
/// is polled again only after the other threads had a turn. (loom's
/// `block_on` polls it again at once, which loom takes for a spin loop when
/// a waiter passes a wake-up to itself while another thread is about to
/// take the lock.)
fn run_fair<F: Future>(future: F) -> F::Output {
    struct Wakeup(loom::sync::Notify);
    impl std::task::Wake for Wakeup {
        fn wake(self: StdArc<Self>) {
            self.0.notify();
        }
    }
    let wakeup = StdArc::new(Wakeup(loom::sync::Notify::new()));
    let waker = std::task::Waker::from(StdArc::clone(&wakeup));
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return out;
        }
        thread::yield_now();
        wakeup.0.wait();
    }
}

/// What only a lock's holder may touch: loom reports two holders touching
/// it at once, or a holder that does not see the previous one's write.
type Shared = loom::cell::UnsafeCell<usize>;

fn bump(shared: &Shared) {
    // SAFETY: only a holder of the lock calls it, which is what the models
    // check (loom reports the access otherwise).
    shared.with_mut(|count| unsafe { *count += 1 });
}

fn count(shared: &Shared) -> usize {
    // SAFETY: as in `bump`.
    shared.with(|count| unsafe { *count })
}

// ================================================================= WaitList

#[test]
fn list_notify_racing_leave_wakes_exactly_one() {
    loom::model(|| {
        let list = Arc::new(List::new());
        let waker = futures::task::noop_waker();
        let first = list.enqueue(Some(&waker));
        let second = list.enqueue(Some(&waker));
        let notifier = thread::spawn({
            let list = Arc::clone(&list);
            move || list.notify(1)
        });
        let left = list.leave(first);
        assert_eq!(notifier.join().unwrap(), 1);
        // Left before the notification: it went to the second waiter; else
        // the first one had it (and `leave` said so).
        assert_eq!(list.is_notified(second), left);
        assert_eq!(list.len(), usize::from(!left));
        if !left {
            assert!(list.leave(second));
        }
        assert!(list.is_empty());
    });
}

#[test]
fn list_wake_all_with_nobody_in_line_still_moves_the_mark() {
    // Event's protocol: read the mark, look at the state, join unless the
    // mark moved. A wake-all between the look and the join must be seen.
    loom::model(|| {
        let list = Arc::new(List::new());
        let set = Arc::new(AtomicBool::new(false));
        let waiter = thread::spawn({
            let (list, set) = (Arc::clone(&list), Arc::clone(&set));
            move || {
                let mark = list.last_notified();
                if set.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(ticket) = list.enqueue_unless(None, || list.last_notified() != mark) {
                    list.park_until_notified(ticket);
                }
            }
        });
        set.store(true, Ordering::SeqCst);
        list.wake_all();
        waiter.join().unwrap();
        assert!(list.is_empty());
    });
}

// ===================================================================== Lock

#[test]
fn lock_excludes_a_thread_and_a_task() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(Shared::new(0)));
        let thread = thread::spawn({
            let lock = Arc::clone(&lock);
            move || bump(&lock.lock_blocking())
        });
        block_on(async { bump(&*lock.lock().await) });
        thread.join().unwrap();
        assert_eq!(count(&lock.try_lock().unwrap()), 2);
        assert_eq!(lock.waiters(), 0);
    });
}

#[test]
fn lock_an_unlock_reaches_a_waiter_joining_the_line() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(Shared::new(0)));
        let held = lock.try_lock().unwrap();
        let waiter = thread::spawn({
            let lock = Arc::clone(&lock);
            move || bump(&lock.lock_blocking())
        });
        bump(&held);
        drop(held);
        waiter.join().unwrap();
        assert_eq!(count(&lock.try_lock().unwrap()), 2);
        assert_eq!(lock.waiters(), 0);
    });
}

#[test]
fn lock_an_unlock_after_a_barging_relock_still_wakes_the_waiter() {
    // The unlock wakes the waiting task; this thread takes the lock again
    // before the task runs (barging), and unlocks again: the task, which
    // failed and went back in line, must be woken by that second unlock.
    loom::model(|| {
        let lock = Arc::new(Lock::new(Shared::new(0)));
        let held = lock.try_lock().unwrap();
        let waiter = thread::spawn({
            let lock = Arc::clone(&lock);
            move || block_on(async { bump(&*lock.lock().await) })
        });
        while lock.waiters() == 0 {
            thread::yield_now();
        }
        drop(held);
        if let Some(again) = lock.try_lock() {
            bump(&again);
        }
        waiter.join().unwrap();
        assert_eq!(lock.waiters(), 0);
    });
}

#[test]
fn lock_unlocks_wake_nobody_else_while_a_woken_waiter_has_not_run() {
    loom::model(|| {
        let lock = StdArc::new(Lock::new(Shared::new(0)));
        let held = lock.try_lock_owned().unwrap();
        let (first_waker, first_woken) = new_count_waker();
        let (second_waker, second_woken) = new_count_waker();
        let mut first = Box::pin(lock.lock());
        let mut second = Box::pin(lock.lock());
        assert!(
            first
                .as_mut()
                .poll(&mut Context::from_waker(&first_waker))
                .is_pending()
        );
        assert!(
            second
                .as_mut()
                .poll(&mut Context::from_waker(&second_waker))
                .is_pending()
        );
        let unlocker = thread::spawn({
            let lock = StdArc::clone(&lock);
            move || {
                drop(held); // wakes `first`...
                for _ in 0..2 {
                    // ...and these barging turns wake nobody else.
                    if let Some(again) = lock.try_lock() {
                        bump(&again);
                    }
                }
            }
        });
        unlocker.join().unwrap();
        assert_eq!((first_woken.get(), second_woken.get()), (1, 0));
        let guard = first.as_mut().poll(&mut Context::from_waker(&first_waker));
        assert!(guard.is_ready(), "the woken waiter finds the lock free");
        drop(guard);
        assert_eq!(second_woken.get(), 1, "its unlock wakes the next");
        let guard = second
            .as_mut()
            .poll(&mut Context::from_waker(&second_waker));
        assert!(matches!(guard, Poll::Ready(ref guard) if count(guard) == 2));
        drop(guard);
        assert_eq!(lock.waiters(), 0);
    });
}

#[test]
fn lock_a_woken_waiter_dropped_passes_the_wake_up_on() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(Shared::new(0)));
        let held = lock.try_lock().unwrap();
        let mut first = Box::pin(lock.lock());
        assert!(first.as_mut().poll(&mut noop_context()).is_pending());
        let second = thread::spawn({
            let lock = Arc::clone(&lock);
            move || bump(&lock.lock_blocking())
        });
        drop(held); // wakes `first`, the oldest waiter...
        drop(first); // ...which gives up: the wake-up must reach `second`
        second.join().unwrap();
        assert_eq!(count(&lock.try_lock().unwrap()), 1);
        assert_eq!(lock.waiters(), 0);
    });
}

#[test]
fn lock_a_starving_waiter_that_gives_up_clears_the_flag() {
    loom::model(|| {
        // Every waiting call starves at its first failed try.
        starve_after(Some(1));
        let lock = Arc::new(Lock::new(Shared::new(0)));
        let held = lock.try_lock().unwrap();
        // Takes the starvation flag, then gives up.
        let mut starving = Box::pin(lock.lock());
        assert!(starving.as_mut().poll(&mut noop_context()).is_pending());
        let other = thread::spawn({
            let lock = Arc::clone(&lock);
            move || bump(&lock.lock_blocking())
        });
        drop(starving);
        drop(held);
        other.join().unwrap();
        // No flag left behind: a waiting call takes the free lock at once.
        let guard = pin!(lock.lock()).poll(&mut noop_context());
        assert!(matches!(guard, Poll::Ready(ref guard) if count(guard) == 1));
        drop(guard);
        assert_eq!(lock.waiters(), 0);
        starve_after(None);
    });
}

#[test]
fn lock_a_wake_up_is_passed_along_to_a_starving_waiter() {
    loom::model(|| {
        let lock = StdArc::new(Lock::new(Shared::new(0)));
        let held = lock.try_lock().unwrap();
        // In line first, not starving.
        starve_after(None);
        let mut first = Box::pin(lock.lock_owned());
        assert!(first.as_mut().poll(&mut noop_context()).is_pending());
        // In line second, starving from its first failed try: it owns the
        // flag, so `first` may not take the lock when woken.
        starve_after(Some(1));
        let mut starving = Box::pin(lock.lock_owned());
        assert!(starving.as_mut().poll(&mut noop_context()).is_pending());
        starve_after(None);
        let starving = thread::spawn(move || bump(&run_fair(starving)));
        // Wakes `first`, which must pass the wake-up along to `starving`.
        drop(held);
        bump(&run_fair(first));
        starving.join().unwrap();
        assert_eq!(count(&lock.try_lock().unwrap()), 2);
        assert_eq!(lock.waiters(), 0);
    });
}

#[test]
fn lock_a_newcomer_gives_a_reserved_lock_back() {
    loom::model(|| {
        let lock = StdArc::new(Lock::new(Shared::new(0)));
        let held = lock.try_lock().unwrap();
        // Starving from its first failed try: the next turn is its own.
        starve_after(Some(1));
        let mut starving = Box::pin(lock.lock_owned());
        assert!(starving.as_mut().poll(&mut noop_context()).is_pending());
        starve_after(None);
        let newcomer = thread::spawn({
            let lock = StdArc::clone(&lock);
            move || {
                let guard = lock.lock_blocking();
                assert_eq!(count(&guard), 1, "the starving waiter went first");
                bump(&guard);
            }
        });
        drop(held);
        let guard = run_fair(starving);
        assert_eq!(count(&guard), 0);
        bump(&guard);
        drop(guard);
        newcomer.join().unwrap();
        assert_eq!(count(&lock.try_lock().unwrap()), 2);
        assert_eq!(lock.waiters(), 0);
    });
}

// ==================================================================== RLock

#[test]
fn rlock_excludes_a_reentering_thread_and_a_task() {
    loom::model(|| {
        let lock = Arc::new(RLock::new(Shared::new(0)));
        let thread = thread::spawn({
            let lock = Arc::clone(&lock);
            move || {
                let outer = lock.lock_blocking();
                let inner = lock.lock_blocking();
                assert_eq!(lock.recursion_count(), 2);
                bump(&inner);
                drop(outer);
                assert_eq!(lock.recursion_count(), 1);
                drop(inner);
            }
        });
        block_on(async { bump(&*lock.lock().await) });
        thread.join().unwrap();
        assert_eq!(count(&lock.try_lock().unwrap()), 2);
        assert!(!lock.is_locked());
        assert_eq!(lock.waiters(), 0);
    });
}

#[test]
fn rlock_raw_and_guard_levels_end_the_hold_together() {
    loom::model(|| {
        let shared = Arc::new((RLock::new(()), Shared::new(0)));
        let thread = thread::spawn({
            let shared = Arc::clone(&shared);
            move || {
                let (lock, counter) = &*shared;
                lock.acquire_blocking();
                let guard = lock.lock_blocking();
                // The raw level goes; the guard's keeps the lock.
                lock.release().unwrap();
                bump(counter);
                drop(guard);
            }
        });
        let (lock, counter) = &*shared;
        let guard = lock.lock_blocking();
        bump(counter);
        // A guard's level is not a raw one: `release` may not give it back.
        assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
        drop(guard);
        thread.join().unwrap();
        assert_eq!(count(counter), 2);
        assert!(!lock.is_locked());
    });
}

#[test]
fn rlock_a_guard_dropped_on_another_thread_races_reentry() {
    // The owner re-enters while its only guard, moved to another thread, is
    // dropped there and that thread takes the lock: the re-entry must not
    // join the other thread's hold (`reenter` re-checks the owner).
    loom::model(|| {
        let lock = StdArc::new(RLock::new(Shared::new(0)));
        let guard = lock.lock_owned_blocking();
        let other = thread::spawn({
            let lock = StdArc::clone(&lock);
            move || {
                drop(guard);
                if let Some(guard) = lock.try_lock() {
                    bump(&guard);
                }
            }
        });
        if let Some(guard) = lock.try_lock() {
            bump(&guard);
        }
        other.join().unwrap();
        assert!(count(&lock.try_lock().unwrap()) >= 1);
        assert_eq!(lock.recursion_count(), 0);
        assert!(!lock.is_locked());
    });
}

#[test]
fn condition_wait_blocking_on_an_rlock_releases_and_restores_every_level() {
    loom::model(|| {
        let shared = Arc::new((RLock::new(Cell::new(false)), Condition::new()));
        let waiter = thread::spawn({
            let shared = Arc::clone(&shared);
            move || {
                let (lock, cond) = &*shared;
                let outer = lock.lock_blocking();
                let mut inner = lock.lock_blocking();
                while !inner.get() {
                    inner = cond.wait_blocking(inner);
                }
                assert_eq!(lock.recursion_count(), 2);
                drop(inner);
                assert_eq!(lock.recursion_count(), 1);
                drop(outer);
            }
        });
        let (lock, cond) = &*shared;
        {
            // Only possible once the waiter released both of its levels.
            let guard = lock.lock_blocking();
            guard.set(true);
            cond.notify(1);
        }
        waiter.join().unwrap();
        assert!(!lock.is_locked());
        assert_eq!(lock.try_lock().map(|_| lock.recursion_count()), Some(1));
    });
}

// ================================================================ Condition

#[test]
fn condition_a_notify_reaches_a_waiter_joining_at_the_same_time() {
    loom::model(|| {
        let shared = Arc::new((Lock::new(false), Condition::new()));
        let waiter = thread::spawn({
            let shared = Arc::clone(&shared);
            move || {
                block_on(async {
                    let (lock, cond) = &*shared;
                    let mut guard = lock.lock().await;
                    while !*guard {
                        guard = cond.wait(guard).await;
                    }
                });
            }
        });
        let (lock, cond) = &*shared;
        {
            let mut guard = lock.lock_blocking();
            *guard = true;
            cond.notify(1);
        }
        waiter.join().unwrap();
        assert_eq!(cond.waiters(), 0);
        assert!(!lock.is_locked());
    });
}

#[test]
fn condition_notify_n_wakes_exactly_the_n_oldest_waiters() {
    loom::model(|| {
        let shared = Arc::new((Lock::new(()), Condition::new()));
        let (lock, cond) = &*shared;
        let mut first = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(first.as_mut().poll(&mut noop_context()).is_pending());
        let mut second = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(second.as_mut().poll(&mut noop_context()).is_pending());
        let notifier = thread::spawn({
            let shared = Arc::clone(&shared);
            move || shared.1.notify(2)
        });
        // Joins while `notify(2)` runs: never one of the two woken.
        let mut third = Box::pin(cond.wait(lock.lock_blocking()));
        assert!(third.as_mut().poll(&mut noop_context()).is_pending());
        assert_eq!(notifier.join().unwrap(), 2);
        assert!(first.as_mut().poll(&mut noop_context()).is_ready());
        assert!(second.as_mut().poll(&mut noop_context()).is_ready());
        assert!(third.as_mut().poll(&mut noop_context()).is_pending());
        assert_eq!(cond.waiters(), 1);
    });
}

/// A waiter on a thread, waiting until the flag under the lock is set.
fn flag_waiter(shared: &Arc<(Lock<bool>, Condition)>) -> thread::JoinHandle<()> {
    let shared = Arc::clone(shared);
    thread::spawn(move || {
        let (lock, cond) = &*shared;
        let mut guard = lock.lock_blocking();
        while !*guard {
            guard = cond.wait_blocking(guard);
        }
    })
}

#[test]
fn condition_a_notified_waiter_dropped_passes_the_notification_on() {
    loom::model(|| {
        let shared = Arc::new((Lock::new(false), Condition::new()));
        let (lock, cond) = &*shared;
        let mut first = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(first.as_mut().poll(&mut noop_context()).is_pending());
        let second = flag_waiter(&shared);
        {
            let mut guard = lock.lock_blocking();
            *guard = true;
            cond.notify(1); // reaches `first`, the oldest
        }
        drop(first); // which must pass it on to `second` if it waits
        second.join().unwrap();
        assert_eq!(cond.waiters(), 0);
        assert!(!lock.is_locked());
    });
}

#[test]
fn condition_a_waiter_dropped_while_relocking_passes_the_notification_on() {
    loom::model(|| {
        let shared = Arc::new((Lock::new(false), Condition::new()));
        let (lock, cond) = &*shared;
        let mut first = Box::pin(cond.wait(lock.try_lock().unwrap()));
        assert!(first.as_mut().poll(&mut noop_context()).is_pending());
        let second = flag_waiter(&shared);
        {
            let mut guard = lock.lock_blocking();
            *guard = true;
            cond.notify(1); // reaches `first`, the oldest...
            // ...which waits to take the lock back, and is dropped.
            assert!(first.as_mut().poll(&mut noop_context()).is_pending());
            drop(first);
        }
        second.join().unwrap();
        assert_eq!(cond.waiters(), 0);
        assert!(!lock.is_locked());
        assert_eq!(lock.waiters(), 0);
    });
}

// ==================================================================== Event

/// Polls `event.wait()` once and raises `listed` if it is waiting, then
/// waits it out.
async fn wait_and_report(event: &Event, listed: &AtomicBool) {
    let mut wait = pin!(event.wait());
    let mut first = true;
    poll_fn(|cx| {
        let poll = wait.as_mut().poll(cx);
        if std::mem::take(&mut first) && poll.is_pending() {
            listed.store(true, Ordering::SeqCst);
        }
        poll
    })
    .await
}

/// A thread that waits with `wait_blocking`.
fn blocked_thread(event: &Arc<Event>) -> thread::JoinHandle<()> {
    let event = Arc::clone(event);
    thread::spawn(move || event.wait_blocking())
}

/// A thread that runs a task awaiting `wait()`.
fn waiting_task(event: &Arc<Event>) -> thread::JoinHandle<()> {
    let event = Arc::clone(event);
    thread::spawn(move || loom::future::block_on(event.wait()))
}

/// Sets the event, joins the waiters, and checks nobody is counted any more.
fn set_and_join(event: &Event, waiters: Vec<thread::JoinHandle<()>>) {
    event.set();
    for waiter in waiters {
        waiter.join().unwrap();
    }
    assert_eq!(event.waiters(), 0);
}

#[test]
fn set_releases_a_blocked_thread() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        set_and_join(&event, vec![blocked_thread(&event)]);
    });
}

#[test]
fn set_releases_a_waiting_task() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        set_and_join(&event, vec![waiting_task(&event)]);
    });
}

#[test]
fn set_releases_a_thread_and_a_task_entering_together() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let waiters = vec![blocked_thread(&event), waiting_task(&event)];
        set_and_join(&event, waiters);
    });
}

#[test]
fn set_then_clear_releases_a_listed_waiter() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let listed = Arc::new(AtomicBool::new(false));
        let waiter = thread::spawn({
            let (event, listed) = (Arc::clone(&event), Arc::clone(&listed));
            move || loom::future::block_on(wait_and_report(&event, &listed))
        });
        while !listed.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        event.set();
        event.clear();
        waiter.join().unwrap();
        assert!(!event.is_set());
        assert_eq!(event.waiters(), 0);
    });
}

#[test]
fn a_wait_dropped_while_set_runs_leaves_a_consistent_list() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let leaver = thread::spawn({
            let event = Arc::clone(&event);
            move || {
                let mut wait = Box::pin(event.wait());
                let _ = wait.as_mut().poll(&mut noop_context());
                drop(wait);
            }
        });
        event.set();
        leaver.join().unwrap();
        assert_eq!(event.waiters(), 0);
        // The list still works: a new waiter is listed, then released.
        event.clear();
        let mut wait = Box::pin(event.wait());
        let mut cx = noop_context();
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(event.waiters(), 1);
        event.set();
        assert_eq!(event.waiters(), 0);
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(()));
    });
}

// ================================================================== Barrier

#[test]
fn barrier_a_round_of_a_thread_and_a_task_trips_with_indexes_0_and_1() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(2));
        let thread = thread::spawn({
            let barrier = Arc::clone(&barrier);
            move || barrier.wait_blocking().unwrap()
        });
        let mine = block_on(barrier.wait()).unwrap();
        let theirs = thread.join().unwrap();
        assert_eq!((mine.min(theirs), mine.max(theirs)), (0, 1));
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn barrier_an_arrival_withdrawn_while_another_arrives_is_not_counted() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(3));
        // Arrives, then withdraws (the round cannot trip without a third).
        let withdrawing = thread::spawn({
            let barrier = Arc::clone(&barrier);
            move || assert!(pin!(barrier.wait()).poll(&mut noop_context()).is_pending())
        });
        let mut first = Box::pin(barrier.wait());
        assert!(first.as_mut().poll(&mut noop_context()).is_pending());
        withdrawing.join().unwrap();
        // Two more arrivals complete the round; the withdrawn one counts
        // for nothing, whenever it came and went.
        let mut second = Box::pin(barrier.wait());
        assert!(second.as_mut().poll(&mut noop_context()).is_pending());
        assert_eq!(barrier.n_waiting(), 2);
        assert_eq!(
            pin!(barrier.wait()).poll(&mut noop_context()),
            Poll::Ready(Ok(2))
        );
        assert_eq!(first.as_mut().poll(&mut noop_context()), Poll::Ready(Ok(0)));
        assert_eq!(
            second.as_mut().poll(&mut noop_context()),
            Poll::Ready(Ok(1))
        );
    });
}

#[test]
fn barrier_abort_racing_a_wait_breaks_it() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(2));
        let waiter = thread::spawn({
            let barrier = Arc::clone(&barrier);
            move || barrier.wait_blocking()
        });
        barrier.abort();
        assert!(waiter.join().unwrap().is_err());
        assert!(barrier.is_broken());
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn barrier_reset_racing_a_wait_fails_only_the_old_round() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(2));
        // Fails if it arrived before the reset, then tries the next round.
        let waiter = thread::spawn({
            let barrier = Arc::clone(&barrier);
            move || match barrier.wait_blocking() {
                Ok(index) => index,
                Err(_) => barrier.wait_blocking().unwrap(),
            }
        });
        barrier.reset();
        let mine = barrier.wait_blocking().unwrap();
        let theirs = waiter.join().unwrap();
        assert_eq!((mine.min(theirs), mine.max(theirs)), (0, 1));
        assert!(!barrier.is_broken());
    });
}

#[test]
fn barrier_a_kept_but_unpolled_waiter_does_not_stall_the_next_round() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(2));
        // A round with a withdrawal, whose waiter is kept unpolled after
        // the round trips.
        assert!(pin!(barrier.wait()).poll(&mut noop_context()).is_pending()); // withdrawn
        let mut kept = Box::pin(barrier.wait());
        assert!(kept.as_mut().poll(&mut noop_context()).is_pending());
        assert_eq!(
            pin!(barrier.wait()).poll(&mut noop_context()),
            Poll::Ready(Ok(1))
        );
        // The next round: a thread and this thread.
        let thread = thread::spawn({
            let barrier = Arc::clone(&barrier);
            move || barrier.wait_blocking().unwrap()
        });
        let mine = barrier.wait_blocking().unwrap();
        let theirs = thread.join().unwrap();
        assert_eq!((mine.min(theirs), mine.max(theirs)), (0, 1));
        // The kept waiter still learns its round's outcome.
        assert_eq!(kept.as_mut().poll(&mut noop_context()), Poll::Ready(Ok(0)));
    });
}

// ==================================================================== Queue

#[test]
fn queue_a_put_reaches_a_getter_joining_the_line() {
    loom::model(|| {
        let queue = Arc::new(Queue::unbounded());
        let getter = thread::spawn({
            let queue = Arc::clone(&queue);
            move || queue.get_blocking().unwrap()
        });
        block_on(queue.put(7)).unwrap();
        assert_eq!(getter.join().unwrap(), 7);
        assert!(queue.is_empty());
        assert_eq!(queue.waiting_getters(), 0);
    });
}

#[test]
fn queue_a_bounded_queue_hands_over_every_item_once_in_order() {
    loom::model(|| {
        let queue = Arc::new(Queue::bounded(1));
        let putter = thread::spawn({
            let queue = Arc::clone(&queue);
            move || {
                queue.put_blocking(1).unwrap();
                queue.put_blocking(2).unwrap();
            }
        });
        let first = block_on(queue.get()).unwrap();
        let second = queue.get_blocking().unwrap();
        putter.join().unwrap();
        assert_eq!((first, second), (1, 2));
        assert!(queue.is_empty());
        assert_eq!(queue.unfinished_tasks(), 2);
        assert_eq!((queue.waiting_getters(), queue.waiting_putters()), (0, 0));
    });
}

#[test]
fn queue_a_woken_getter_dropped_passes_the_item_on() {
    loom::model(|| {
        let queue = Arc::new(Queue::unbounded());
        let mut first = Box::pin(queue.get());
        assert!(first.as_mut().poll(&mut noop_context()).is_pending());
        let second = thread::spawn({
            let queue = Arc::clone(&queue);
            move || queue.get_blocking().unwrap()
        });
        queue.try_put(7).unwrap(); // wakes `first`, the oldest getter...
        drop(first); // ...which gives up: the wake-up must reach `second`
        assert_eq!(second.join().unwrap(), 7);
        assert_eq!(queue.waiting_getters(), 0);
    });
}

#[test]
fn queue_join_returns_exactly_when_the_last_task_is_done() {
    loom::model(|| {
        let queue = Arc::new(Queue::unbounded());
        let done = Arc::new(AtomicBool::new(false));
        queue.try_put(7).unwrap();
        let worker = thread::spawn({
            let (queue, done) = (Arc::clone(&queue), Arc::clone(&done));
            move || {
                assert_eq!(queue.get_blocking(), Ok(7));
                done.store(true, Ordering::Relaxed);
                queue.task_done().unwrap();
            }
        });
        queue.join_blocking();
        // Not before the task was done (the queue's mutex orders the two).
        assert!(done.load(Ordering::Relaxed));
        assert_eq!(queue.unfinished_tasks(), 0);
        worker.join().unwrap();
    });
}

#[test]
fn queue_shutdown_wakes_a_waiting_getter_and_putter() {
    model_bounded(3, || {
        let empty = Arc::new(Queue::<u8>::unbounded());
        let full = Arc::new(Queue::bounded(1));
        full.try_put(1).unwrap();
        let getter = thread::spawn({
            let empty = Arc::clone(&empty);
            move || empty.get_blocking()
        });
        let putter = thread::spawn({
            let full = Arc::clone(&full);
            move || full.put_blocking(2)
        });
        empty.shutdown();
        full.shutdown();
        assert_eq!(getter.join().unwrap(), Err(GetError::ShutDown));
        assert!(matches!(putter.join().unwrap(), Err(PutError::ShutDown(2))));
        // The item put before the shutdown is still there to get.
        assert_eq!(full.try_get(), Ok(1));
        assert_eq!(full.try_get(), Err(GetError::ShutDown));
    });
}

#[test]
fn queue_shutdown_racing_a_put_into_a_freed_slot_loses_nothing() {
    model_bounded(3, || {
        let queue = Arc::new(Queue::bounded(1));
        queue.try_put(1).unwrap();
        // Spins (one retry in the model), then waits in line.
        let putter = thread::spawn({
            let queue = Arc::clone(&queue);
            move || queue.put_blocking(2)
        });
        assert_eq!(queue.try_get(), Ok(1));
        queue.shutdown();
        let put = putter.join().unwrap();
        // The length and the flag are read without the queue's mutex.
        assert!(queue.is_shutdown());
        match put {
            Ok(()) => {
                assert_eq!((queue.len(), queue.is_full()), (1, true));
                assert_eq!(queue.try_get(), Ok(2));
            }
            Err(err) => assert!(matches!(err, PutError::ShutDown(2))),
        }
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.try_get(), Err(GetError::ShutDown));
        assert_eq!(queue.waiting_putters(), 0);
    });
}

#[test]
fn queue_shutdown_immediate_racing_a_blocking_get_hands_the_item_out_once() {
    model_bounded(3, || {
        let queue = Arc::new(Queue::unbounded());
        let getter = thread::spawn({
            let queue = Arc::clone(&queue);
            move || queue.get_blocking()
        });
        queue.try_put(1).unwrap();
        let drained = queue.shutdown_immediate();
        let got = getter.join().unwrap();
        match got {
            Ok(item) => {
                assert_eq!((item, drained.len()), (1, 0));
                assert_eq!(queue.unfinished_tasks(), 1);
            }
            Err(err) => {
                assert_eq!((err, drained), (GetError::ShutDown, vec![1]));
                assert_eq!(queue.unfinished_tasks(), 0);
            }
        }
        assert!(queue.is_shutdown() && queue.is_empty());
        assert_eq!(queue.waiting_getters(), 0);
    });
}

/// The bounded FIFO queue's lock-free ring (`src/queue/ring.rs`): two
/// putters claim slots at once through a one-slot ring (every put starts a
/// new lap), a getter takes both.
#[test]
fn queue_ring_two_putters_and_a_getter_through_one_slot_lose_nothing() {
    model_bounded(2, || {
        let queue = Arc::new(Queue::bounded(1));
        let putters: Vec<_> = [1, 2]
            .into_iter()
            .map(|item| {
                let queue = Arc::clone(&queue);
                thread::spawn(move || queue.put_blocking(item).unwrap())
            })
            .collect();
        let first = queue.get_blocking().unwrap();
        let second = queue.get_blocking().unwrap();
        for putter in putters {
            putter.join().unwrap();
        }
        let mut got = [first, second];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert_eq!((queue.len(), queue.unfinished_tasks()), (0, 2));
        assert_eq!(queue.try_get(), Err(GetError::Empty));
    });
}

/// The ring's shutdown mark against a put claiming its slot: the item is put
/// and then drained, or refused; never lost, never both; `unfinished` exact.
#[test]
fn queue_ring_shutdown_immediate_racing_a_put_hands_the_item_out_once() {
    model_bounded(3, || {
        let queue = Arc::new(Queue::bounded(2));
        let putter = thread::spawn({
            let queue = Arc::clone(&queue);
            move || queue.try_put(1)
        });
        let drained = queue.shutdown_immediate();
        match putter.join().unwrap() {
            Ok(()) => assert_eq!(drained, vec![1]),
            Err(err) => {
                assert!(matches!(err, PutError::ShutDown(1)), "{err:?}");
                assert!(drained.is_empty());
            }
        }
        assert_eq!((queue.len(), queue.unfinished_tasks()), (0, 0));
        assert_eq!(queue.try_get(), Err(GetError::ShutDown));
    });
}

/// A joiner against a put refused by a full ring: the put counts its item in
/// before it tries and out again when refused; when that undo is what brings
/// the count to 0 (the last `task_done` ran in between), it must wake the
/// joiner.
#[test]
fn queue_ring_a_refused_put_does_not_strand_a_joiner() {
    model_bounded(3, || {
        let queue = Arc::new(Queue::bounded(1));
        queue.try_put(1).unwrap();
        assert_eq!(queue.try_get(), Ok(1));
        queue.try_put(2).unwrap();
        // Done ahead for the item still in the queue (Python allows it).
        queue.task_done().unwrap();
        let putter = thread::spawn({
            let queue = Arc::clone(&queue);
            move || assert!(matches!(queue.try_put(3), Err(PutError::Full(3))))
        });
        let worker = thread::spawn({
            let queue = Arc::clone(&queue);
            move || queue.task_done().unwrap()
        });
        block_on(queue.join());
        putter.join().unwrap();
        worker.join().unwrap();
        assert_eq!((queue.len(), queue.unfinished_tasks()), (1, 0));
    });
}

// ================================================================= Semaphore

/// Polls `sem.acquire()` once with a no-op waker and drops it: a waiter that
/// queues up (if no permit is free) and then gives up.
fn acquire_and_cancel(sem: &Semaphore) {
    let mut acquire = Box::pin(sem.acquire());
    let _ = acquire.as_mut().poll(&mut noop_context());
    drop(acquire);
}

/// Runs `f` on the semaphore in a new thread.
fn on_thread(
    sem: &StdArc<Semaphore>,
    f: impl FnOnce(&Semaphore) + Send + 'static,
) -> thread::JoinHandle<()> {
    let sem = StdArc::clone(sem);
    thread::spawn(move || f(&sem))
}

/// A thread that takes a permit with `acquire_blocking` and keeps it.
fn keeping_thread(sem: &StdArc<Semaphore>) -> thread::JoinHandle<()> {
    on_thread(sem, |sem| sem.acquire_blocking().forget())
}

/// A thread running a task that takes a permit with `acquire()` and keeps it.
fn keeping_task(sem: &StdArc<Semaphore>) -> thread::JoinHandle<()> {
    on_thread(sem, |sem| loom::future::block_on(sem.acquire()).forget())
}

/// Joins the threads, then checks that `available` permits are free and
/// nobody is left queued.
fn join_and_check(sem: &Semaphore, threads: Vec<thread::JoinHandle<()>>, available: usize) {
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(sem.available_permits(), available);
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn a_release_reaches_a_thread_queueing_up_at_the_same_time() {
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(0));
        let waiter = keeping_thread(&sem);
        sem.release();
        join_and_check(&sem, vec![waiter], 0);
    });
}

#[test]
fn a_permit_drop_reaches_a_task_queueing_up_at_the_same_time() {
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned().unwrap();
        let waiter = keeping_task(&sem);
        drop(held);
        join_and_check(&sem, vec![waiter], 0);
    });
}

#[test]
fn two_releases_reach_two_waiters_queueing_up_at_the_same_time() {
    model_bounded(3, || {
        let sem = StdArc::new(Semaphore::new(0));
        let waiters = vec![keeping_thread(&sem), keeping_task(&sem)];
        sem.release();
        sem.release();
        join_and_check(&sem, waiters, 0);
    });
}

#[test]
fn a_waiter_cancelled_as_the_permit_is_handed_to_it_loses_nothing() {
    // The cancelled waiter either leaves the line before the grant (the
    // permit goes back to the count) or is granted first (its drop gives the
    // permit back): either way the permit ends up free.
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned().unwrap();
        let leaver = on_thread(&sem, acquire_and_cancel);
        drop(held);
        join_and_check(&sem, vec![leaver], 1);
    });
}

#[test]
fn a_permit_granted_to_a_cancelled_waiter_moves_on_to_the_next() {
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned().unwrap();
        let leaver = on_thread(&sem, acquire_and_cancel);
        let patient = keeping_thread(&sem);
        drop(held);
        // 0 free: the patient waiter kept it.
        join_and_check(&sem, vec![leaver, patient], 0);
    });
}
#[test]
fn a_waiter_for_two_permits_is_served_by_two_single_releases() {
    model_bounded(3, || {
        let sem = StdArc::new(Semaphore::new(0));
        let waiter = on_thread(&sem, |sem| sem.acquire_many_blocking(2).unwrap().forget());
        let releaser = on_thread(&sem, Semaphore::release);
        sem.release();
        join_and_check(&sem, vec![waiter, releaser], 0);
    });
}

#[test]
fn a_waiter_for_two_permits_cancelled_after_the_grant_gives_both_back() {
    loom::model(|| {
        let sem = StdArc::new(Semaphore::new(0));
        let leaver = on_thread(&sem, |sem| {
            let mut acquire = Box::pin(sem.acquire_many(2));
            let _ = acquire.as_mut().poll(&mut noop_context());
        });
        sem.release_n(2);
        join_and_check(&sem, vec![leaver], 2);
    });
}

// ==================================================================== RwLock
// (issue 12) The state word (readers, writer, waiting writers, upgrading),
// the readers' and writers' lines and the upgrade line: a reader or writer
// joining a line while the holder leaves is woken or sees the lock free; a
// writer woken and dropped lets in the readers it held back.

use ambisync::{RwLock, RwLockUpgradableReadGuard};

/// Runs `f` on the lock in a new thread.
fn on_rwlock_thread(
    lock: &StdArc<RwLock<u32>>,
    f: impl FnOnce(&RwLock<u32>) + Send + 'static,
) -> thread::JoinHandle<()> {
    let lock = StdArc::clone(lock);
    thread::spawn(move || f(&lock))
}

/// Polls `future` once and drops it: a waiter that counts itself in or joins
/// a line, may be woken, and gives up.
fn poll_once_then_drop(future: impl Future) {
    let _ = pin!(future).poll(&mut noop_context());
}

/// Joins the threads, then checks the lock is free, holds `value`, and
/// nobody is left waiting.
fn join_and_check_rwlock(lock: &RwLock<u32>, threads: Vec<thread::JoinHandle<()>>, value: u32) {
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(!lock.is_locked());
    assert_eq!(lock.waiters(), 0);
    assert_eq!(*lock.try_write().expect("free at the end"), value);
}

#[test]
fn rwlock_a_reader_and_a_writer_racing_both_finish() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let writer = on_rwlock_thread(&lock, |lock| *lock.write_blocking() += 1);
        assert!(*lock.read_blocking() <= 1);
        join_and_check_rwlock(&lock, vec![writer], 1);
    });
}

#[test]
fn rwlock_the_last_reader_leaving_reaches_a_writer_counting_in() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let reader = lock.try_read_owned().unwrap();
        let writer = on_rwlock_thread(&lock, |lock| *lock.write_blocking() += 1);
        drop(reader);
        join_and_check_rwlock(&lock, vec![writer], 1);
    });
}

#[test]
fn rwlock_a_writer_leaving_reaches_a_reader_task_joining_the_line() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let writer = lock.try_write_owned().unwrap();
        let reader = on_rwlock_thread(&lock, |lock| {
            assert_eq!(*loom::future::block_on(lock.read()), 0);
        });
        drop(writer);
        join_and_check_rwlock(&lock, vec![reader], 0);
    });
}

#[test]
fn rwlock_a_woken_writer_dropped_lets_the_held_back_reader_in() {
    // The writer is counted (holding readers back), may be woken by the
    // reader leaving, and is dropped without looking again: the late reader
    // must get in either way.
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let reader = lock.try_read_owned().unwrap();
        let leaver = on_rwlock_thread(&lock, |lock| poll_once_then_drop(lock.write()));
        let late = on_rwlock_thread(&lock, |lock| drop(lock.read_blocking()));
        drop(reader);
        join_and_check_rwlock(&lock, vec![leaver, late], 0);
    });
}

#[test]
fn rwlock_an_upgrade_is_reached_by_the_last_other_reader_leaving() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let reader = lock.try_read_owned().unwrap();
        let upgrader = on_rwlock_thread(&lock, |lock| {
            let guard = lock.upgradable_read_blocking();
            *RwLockUpgradableReadGuard::upgrade_blocking(guard) += 1;
        });
        drop(reader);
        join_and_check_rwlock(&lock, vec![upgrader], 1);
    });
}

#[test]
fn rwlock_a_woken_writer_dropped_passes_the_turn_to_the_next_writer() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let writer = lock.try_write_owned().unwrap();
        let leaver = on_rwlock_thread(&lock, |lock| poll_once_then_drop(lock.write()));
        let patient = on_rwlock_thread(&lock, |lock| *lock.write_blocking() += 1);
        drop(writer);
        join_and_check_rwlock(&lock, vec![leaver, patient], 1);
    });
}

#[test]
fn rwlock_a_reader_held_back_by_an_upgrade_enters_after_the_upgraded_writer() {
    model_bounded(3, || {
        let lock = StdArc::new(RwLock::new(0));
        let reader = lock.try_read_owned().unwrap();
        let upgrader = on_rwlock_thread(&lock, |lock| {
            let guard = lock.upgradable_read_blocking();
            *RwLockUpgradableReadGuard::upgrade_blocking(guard) += 1;
        });
        let late = on_rwlock_thread(&lock, |lock| assert!(*lock.read_blocking() <= 1));
        drop(reader);
        join_and_check_rwlock(&lock, vec![upgrader, late], 1);
    });
}
