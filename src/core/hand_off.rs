//! A first-come, first-served waiter queue with direct hand-off: the
//! semaphores'.
//!
//! A releaser that finds waiters queued does not put its unit back for
//! everybody to race for: under the queue's lock it gives it to the oldest
//! waiter, marks that waiter granted and wakes it after unlocking. The woken
//! waiter learns of the grant from one atomic load (grants go out in queue
//! order, so "granted" is "the last granted sequence number has reached
//! mine") and leaves without taking the lock: the releaser already freed its
//! slot.
//!
//! The queue is a doubly linked list threaded through a reusable slot vector
//! (a cancelled waiter unlinks itself in place), with a chain of free slots,
//! so after the first waits queueing allocates nothing.
//!
//! The queue knows nothing of the units it hands out: the primitive passes
//! closures that run under the lock and update its own state word (count a
//! waiter in, take a unit for the head, count a waiter out), which keeps the
//! waiter count in that word exact: it changes only under this lock.

use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::Instant;

use super::sync::{AtomicU64, SpinningMutex as Mutex};
use super::waiters::{SlotVec, Waiter, Wakeup, park_until};

/// A waiter in line.
struct Queued {
    waiter: Waiter,
    /// Its place in line: sequence numbers grow with every enqueue.
    seq: u64,
    prev: usize,
    next: usize,
}

/// No slot: an end of the line.
const NONE: usize = usize::MAX;

struct Line {
    slots: SlotVec<Queued>,
    /// Oldest and newest queued waiters.
    head: usize,
    tail: usize,
    /// The sequence number of the next waiter; starts at 1 (0 means "nobody
    /// granted yet").
    next_seq: u64,
}

impl Line {
    fn link_back(&mut self, waiter: Waiter) -> Ticket {
        let seq = self.next_seq;
        self.next_seq += 1;
        let index = self.slots.insert(Queued {
            waiter,
            seq,
            prev: self.tail,
            next: NONE,
        });
        match self.tail {
            NONE => self.head = index,
            tail => self.queued(tail).next = index,
        }
        self.tail = index;
        Ticket { seq, index }
    }

    fn queued(&mut self, index: usize) -> &mut Queued {
        self.slots
            .get_mut(index)
            .expect("the line links to a free slot")
    }

    /// Takes the slot out of the line and frees it; returns its waiter and
    /// sequence number.
    fn unlink(&mut self, index: usize) -> (Waiter, u64) {
        let Queued {
            waiter,
            seq,
            prev,
            next,
        } = self.slots.remove(index);
        match prev {
            NONE => self.head = next,
            prev => self.queued(prev).next = next,
        }
        match next {
            NONE => self.tail = prev,
            next => self.queued(next).prev = prev,
        }
        (waiter, seq)
    }
}

/// A waiter's place in a [`HandOffQueue`]. Its slot is its own until it is
/// granted a unit or leaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    seq: u64,
    index: usize,
}

pub(crate) struct HandOffQueue {
    /// The sequence number of the last waiter granted a unit; written under
    /// the lock only.
    granted: AtomicU64,
    line: Mutex<Line>,
}

impl HandOffQueue {
    pub(crate) fn new() -> Self {
        HandOffQueue {
            granted: AtomicU64::new(0),
            line: Mutex::new(Line {
                slots: SlotVec::default(),
                head: NONE,
                tail: NONE,
                next_seq: 1,
            }),
        }
    }

    /// Queues the caller at the back of the line, unless `must_wait()`
    /// (called under the lock, where it counts the waiter in or takes a unit
    /// instead) says it got a unit without waiting: then `None`.
    pub(crate) fn enqueue(
        &self,
        wakeup: Wakeup<'_>,
        must_wait: impl FnOnce() -> bool,
    ) -> Option<Ticket> {
        let waiter = Waiter::new(wakeup);
        let mut line = self.line.lock();
        if !must_wait() {
            return None;
        }
        Some(line.link_back(waiter))
    }

    /// Whether the ticket's waiter was granted a unit (which is then its own).
    #[inline]
    pub(crate) fn is_granted(&self, ticket: Ticket) -> bool {
        self.granted.load(Ordering::Acquire) >= ticket.seq
    }

    /// Points the ticket's slot at `waker`; `true` if it was granted already.
    pub(crate) fn update(&self, ticket: Ticket, waker: &Waker) -> bool {
        let mut line = self.line.lock();
        // Grants are written under the lock: no stale "not yet" here.
        if self.is_granted(ticket) {
            return true;
        }
        line.queued(ticket.index).waiter.set_waker(waker);
        false
    }

    /// Takes the waiter out of the line, calling `count_out()` under the lock;
    /// `true` if it was still waiting, `false` if it had been granted a unit
    /// (which the caller then owns and must give back).
    pub(crate) fn leave(&self, ticket: Ticket, count_out: impl FnOnce()) -> bool {
        let mut line = self.line.lock();
        if self.is_granted(ticket) {
            return false;
        }
        // Dropped outside the lock: a waker's drop may run arbitrary code.
        let (_waiter, _) = line.unlink(ticket.index);
        count_out();
        drop(line);
        true
    }

    /// Gives a unit to the oldest waiter if `claim()` (called under the lock)
    /// takes one for it from the primitive's state, and wakes that waiter
    /// after unlocking. Returns what `claim()` returned: `None` if it
    /// declined, or whether another unit and another waiter are left (the
    /// caller then grants again).
    ///
    /// `claim()` may only succeed while somebody is queued: the primitive's
    /// waiter count, changed under this lock only, says so.
    pub(crate) fn grant_next(&self, claim: impl FnOnce() -> Option<bool>) -> Option<bool> {
        let (waiter, more) = {
            let mut line = self.line.lock();
            let more = claim()?;
            let head = line.head;
            assert!(head != NONE, "a waiter was counted but none is queued");
            let (waiter, seq) = line.unlink(head);
            self.granted.store(seq, Ordering::Release);
            (waiter, more)
        };
        waiter.wake();
        Some(more)
    }

    /// Parks the thread until the ticket's waiter is granted a unit or
    /// `deadline` passes; `true` if granted. At the deadline the waiter leaves
    /// the line (`count_out()` under the lock), unless a grant came first.
    /// The ticket must come from [`Wakeup::Thread`] on this thread.
    pub(crate) fn park(
        &self,
        ticket: Ticket,
        deadline: Option<Instant>,
        count_out: impl FnOnce(),
    ) -> bool {
        // At the deadline, a grant that came first still counts.
        park_until(deadline, || self.is_granted(ticket)) || !self.leave(ticket, count_out)
    }
}
