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

use super::sync::thread::{self, Thread};
use super::sync::{AtomicU64, Mutex};

/// Where a wake-up goes.
enum Slot {
    Free { next: usize },
    Task(Waker),
    Thread(Thread),
}

/// End of the free-slot chain.
const NONE: usize = usize::MAX;

struct Slots {
    taken: Vec<Slot>,
    /// Head of the chain of `Slot::Free` entries in `taken`.
    free: usize,
    /// An emptied vector kept for the next round, so that rounds do not
    /// reallocate.
    spare: Vec<Slot>,
}

/// A waiter's place in a [`WakeAllList`]: valid while the list's generation is
/// still the one it was taken in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
    index: usize,
}

/// What wakes a waiter: a task's waker or the current thread.
pub(crate) enum Wakeup<'a> {
    Task(&'a Waker),
    Thread,
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
            slots: Mutex::new(Slots {
                taken: Vec::new(),
                free: NONE,
                spare: Vec::new(),
            }),
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
        let slot = match wakeup {
            Wakeup::Task(waker) => Slot::Task(waker.clone()),
            Wakeup::Thread => Slot::Thread(thread::current()),
        };
        let mut slots = self.slots.lock();
        // Only `wake_all` changes the generation, and only under the lock.
        let generation = self.generation.load(Ordering::Relaxed);
        if generation != seen || give_up() {
            return None;
        }
        let index = match slots.free {
            NONE => {
                slots.taken.push(slot);
                slots.taken.len() - 1
            }
            free => {
                let Slot::Free { next } = std::mem::replace(&mut slots.taken[free], slot) else {
                    unreachable!("the free chain points at a taken slot");
                };
                slots.free = next;
                free
            }
        };
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
        match &mut slots.taken[ticket.index] {
            Slot::Task(current) => current.clone_from(waker),
            other => *other = Slot::Task(waker.clone()),
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
        let next = slots.free;
        slots.taken[ticket.index] = Slot::Free { next };
        slots.free = ticket.index;
        true
    }

    /// Parks the thread until the ticket's waiter is woken or `deadline`
    /// passes; `true` if woken. The ticket must come from
    /// [`Wakeup::Thread`] on this thread.
    pub(crate) fn park(&self, ticket: Ticket, deadline: Option<Instant>) -> bool {
        // `unpark` tokens from earlier waits can end a park early: re-check.
        while !self.is_woken(ticket) {
            match deadline {
                None => thread::park(),
                // loom has no timed park; the model tests wait untimed.
                #[cfg(ambisync_loom)]
                Some(_) => unreachable!("timed waits are not modelled"),
                #[cfg(not(ambisync_loom))]
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return !self.remove(ticket);
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
        true
    }

    /// Wakes every waiter in the list and empties it; returns how many it woke.
    pub(crate) fn wake_all(&self) -> usize {
        let mut woken = {
            let mut slots = self.slots.lock();
            self.generation.fetch_add(1, Ordering::Release);
            slots.free = NONE;
            let fresh = std::mem::take(&mut slots.spare);
            std::mem::replace(&mut slots.taken, fresh)
        };
        let mut count = 0;
        // Woken outside the lock: a woken thread or task never needs it to
        // see its wake-up, but a new waiter might. Futures polled by one task
        // (`join!`, `select!`) leave runs of wakers for the same task: one
        // wake per run is enough, the others are only dropped.
        let mut pending: Option<Waker> = None;
        for slot in woken.drain(..) {
            match slot {
                Slot::Free { .. } => continue,
                Slot::Task(waker) => match &pending {
                    Some(last) if last.will_wake(&waker) => {}
                    _ => {
                        if let Some(last) = pending.replace(waker) {
                            last.wake();
                        }
                    }
                },
                Slot::Thread(thread) => thread.unpark(),
            }
            count += 1;
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
