//! What ambisync's own waiter lists (`Event`'s wake-all list and the
//! semaphores' hand-off queue) share: who to wake, a slot vector whose freed
//! slots are reused, and parking a thread until its turn or a deadline.

use std::task::Waker;
use std::time::Instant;

use super::sync::thread::{self, Thread};

/// What wakes a waiter, as the caller has it: a task's waker or the current
/// thread.
pub(crate) enum Wakeup<'a> {
    Task(&'a Waker),
    Thread,
}

/// Who to wake, as a list keeps it.
pub(crate) enum Waiter {
    Task(Waker),
    Thread(Thread),
}

impl Waiter {
    #[inline]
    pub(crate) fn new(wakeup: Wakeup<'_>) -> Self {
        match wakeup {
            Wakeup::Task(waker) => Waiter::Task(waker.clone()),
            Wakeup::Thread => Waiter::Thread(thread::current()),
        }
    }

    /// Points the waiter at `waker` (a task polled again, maybe elsewhere).
    #[inline]
    pub(crate) fn set_waker(&mut self, waker: &Waker) {
        match self {
            // `clone_from` skips the clone when the waker would wake the same.
            Waiter::Task(current) => current.clone_from(waker),
            other => *other = Waiter::Task(waker.clone()),
        }
    }

    #[inline]
    pub(crate) fn wake(self) {
        match self {
            Waiter::Task(waker) => waker.wake(),
            Waiter::Thread(thread) => thread.unpark(),
        }
    }
}

/// End of the free-slot chain.
const NONE: usize = usize::MAX;

enum Slot<T> {
    Free { next: usize },
    Taken(T),
}

/// A vector of slots addressed by index; removed slots are chained and reused,
/// so after the first rounds inserting allocates nothing.
pub(crate) struct SlotVec<T> {
    slots: Vec<Slot<T>>,
    /// Head of the chain of free slots.
    free: usize,
}

impl<T> Default for SlotVec<T> {
    fn default() -> Self {
        SlotVec {
            slots: Vec::new(),
            free: NONE,
        }
    }
}

impl<T> SlotVec<T> {
    /// Stores `value`; returns its index.
    #[inline]
    pub(crate) fn insert(&mut self, value: T) -> usize {
        match self.free {
            NONE => {
                self.slots.push(Slot::Taken(value));
                self.slots.len() - 1
            }
            free => {
                let taken = Slot::Taken(value);
                let Slot::Free { next } = std::mem::replace(&mut self.slots[free], taken) else {
                    unreachable!("the free chain points at a taken slot");
                };
                self.free = next;
                free
            }
        }
    }

    /// Takes the value at `index` out and frees its slot.
    ///
    /// # Panics
    ///
    /// If the slot is free.
    #[inline]
    pub(crate) fn remove(&mut self, index: usize) -> T {
        let freed = Slot::Free { next: self.free };
        let Slot::Taken(value) = std::mem::replace(&mut self.slots[index], freed) else {
            unreachable!("removing from a free slot");
        };
        self.free = index;
        value
    }

    /// The value at `index`, if its slot is taken.
    #[inline]
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        match self.slots.get_mut(index) {
            Some(Slot::Taken(value)) => Some(value),
            _ => None,
        }
    }

    /// Takes every value out, leaving the vector empty with its capacity.
    #[inline]
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.free = NONE;
        self.slots.drain(..).filter_map(|slot| match slot {
            Slot::Taken(value) => Some(value),
            Slot::Free { .. } => None,
        })
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.capacity()
    }
}

/// Parks the current thread until `done()` or `deadline` passes; `false` on
/// the deadline. `unpark` tokens left from earlier waits can end a park
/// early, so `done()` is checked after every one.
pub(crate) fn park_until(deadline: Option<Instant>, mut done: impl FnMut() -> bool) -> bool {
    while !done() {
        match deadline {
            None => thread::park(),
            // loom has no timed park; the model tests wait untimed.
            #[cfg(ambisync_loom)]
            Some(_) => unreachable!("timed waits are not modelled"),
            #[cfg(not(ambisync_loom))]
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return false;
                }
                thread::park_timeout(deadline - now);
            }
        }
    }
    true
}
