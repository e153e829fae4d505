//! A waiter list that is only ever woken all at once: [`Event`](crate::Event)'s.
//!
//! event-listener pays a lock round trip to insert, poll, and remove every
//! listener, plus a `Box` and an `Arc` per `listen()`. For "wake everybody" none
//! of that is needed: a waiter takes one lock to put its waker in a slot, and a
//! wake-up bumps a generation counter and empties the whole list in one lock,
//! so a woken waiter learns of its wake-up from one atomic load and leaves
//! nothing behind. The slot vector is reused, so after the first rounds
//! waiting allocates nothing.

use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::Instant;

use super::sync::{AtomicU64, Mutex};
use super::waiters::{SlotVec, Waiter, Wakeup, park_until};

#[derive(Default)]
struct Slots {
    taken: SlotVec<Waiter>,
    /// An emptied vector kept for the next round, so that rounds do not
    /// reallocate.
    spare: SlotVec<Waiter>,
}

/// A waiter's place in a [`WakeAllList`]: valid while the list's generation is
/// still the one it was taken in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
    index: usize,
}

pub(crate) struct WakeAllList {
    /// Bumped, under the lock, by every [`wake_all`](Self::wake_all).
    generation: AtomicU64,
    slots: Mutex<Slots>,
}

impl WakeAllList {
    pub(crate) fn new() -> Self {
        WakeAllList {
            generation: AtomicU64::new(0),
            slots: Mutex::new(Slots::default()),
        }
    }

    /// The current generation; pass it to [`insert`](Self::insert) to be
    /// refused if a wake-up happens in between.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Adds a waiter, unless a wake-up happened since generation `seen` or
    /// `give_up()` (called under the lock) says not to wait.
    pub(crate) fn insert(
        &self,
        seen: u64,
        wakeup: Wakeup<'_>,
        give_up: impl FnOnce() -> bool,
    ) -> Option<Ticket> {
        let waiter = Waiter::new(wakeup);
        let mut slots = self.slots.lock();
        // Only `wake_all` changes the generation, and only under the lock.
        let generation = self.generation.load(Ordering::Relaxed);
        if generation != seen || give_up() {
            return None;
        }
        let index = slots.taken.insert(waiter);
        Some(Ticket { generation, index })
    }

    /// Whether a wake-up emptied the list since `ticket` was taken.
    pub(crate) fn is_woken(&self, ticket: Ticket) -> bool {
        self.generation.load(Ordering::Acquire) != ticket.generation
    }

    /// Points the ticket's slot at `waker`; `true` if it was woken already.
    pub(crate) fn update(&self, ticket: Ticket, waker: &Waker) -> bool {
        let mut slots = self.slots.lock();
        if self.generation.load(Ordering::Relaxed) != ticket.generation {
            return true;
        }
        if let Some(waiter) = slots.taken.get_mut(ticket.index) {
            waiter.set_waker(waker);
        }
        false
    }

    /// Takes the waiter out; `true` if it was still waiting, `false` if a
    /// wake-up had already taken it.
    pub(crate) fn remove(&self, ticket: Ticket) -> bool {
        let mut slots = self.slots.lock();
        if self.generation.load(Ordering::Relaxed) != ticket.generation {
            return false;
        }
        // Dropped outside the lock: a waker's drop may run arbitrary code.
        let waiter = slots.taken.remove(ticket.index);
        drop(slots);
        drop(waiter);
        true
    }

    /// Parks the thread until the ticket's waiter is woken or `deadline`
    /// passes; `true` if woken. The ticket must come from
    /// [`Wakeup::Thread`] on this thread.
    pub(crate) fn park(&self, ticket: Ticket, deadline: Option<Instant>) -> bool {
        // At the deadline, a wake-up that took the waiter first still counts.
        park_until(deadline, || self.is_woken(ticket)) || !self.remove(ticket)
    }

    /// Wakes every waiter in the list and empties it; returns how many it woke.
    pub(crate) fn wake_all(&self) -> usize {
        let mut woken = {
            let mut slots = self.slots.lock();
            self.generation.fetch_add(1, Ordering::Release);
            let fresh = std::mem::take(&mut slots.spare);
            std::mem::replace(&mut slots.taken, fresh)
        };
        let mut count = 0;
        // Woken outside the lock: a woken thread or task never needs it to
        // see its wake-up, but a new waiter might. Futures polled by one task
        // (`join!`, `select!`) leave runs of wakers for the same task: one
        // wake per run is enough, the others are only dropped.
        let mut pending: Option<Waker> = None;
        for waiter in woken.drain() {
            count += 1;
            match waiter {
                Waiter::Task(waker) => match &pending {
                    Some(last) if last.will_wake(&waker) => {}
                    _ => {
                        if let Some(last) = pending.replace(waker) {
                            last.wake();
                        }
                    }
                },
                thread => thread.wake(),
            }
        }
        if let Some(last) = pending {
            last.wake();
        }
        let mut slots = self.slots.lock();
        if woken.capacity() > slots.spare.capacity() {
            slots.spare = woken;
        }
        count
    }
}
