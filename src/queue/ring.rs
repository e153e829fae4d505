//! The items of a bounded FIFO queue without a mutex: a ring of slots, each
//! stamped with the position it may be used for next.
//!
//! The design is the well-known bounded array queue of Dmitry Vyukov, as
//! crossbeam's `ArrayQueue` and its channels use it. A position counts the
//! laps the index has gone round the ring (`lap + index`); every slot holds
//! a stamp:
//!
//! - `stamp == tail`: the slot is free for the put at `tail`;
//! - `stamp == head + 1`: it holds the item for the get at `head`;
//! - anything else: another put or get is half-way through it, or the ring
//!   is full (the slot still holds last lap's item) or empty.
//!
//! A put claims its position by moving `tail` on with a compare-and-swap,
//! writes the item, then stamps the slot `tail + 1`; a get claims `head`
//! the same way, reads the item, then stamps the slot `head + one lap`
//! (free for the put one lap later). Claims never overlap, so each slot has
//! one writer or one reader at a time; the stamp's release store and the
//! other side's acquiring load of it order the item's write before its read.
//!
//! Shutdown is a mark bit in `tail`: a put that sees it gets its item back,
//! and a get that finds the ring empty with the bit set knows no item will
//! ever come. Puts that claimed their position before the mark still land,
//! and a get waits for them (they are half-way, see above).
//!
//! The atomics on `head` and `tail` and the loads of the stamps are
//! sequentially consistent: a waiter joins a wait list (a sequentially
//! consistent increment) and then looks at the ring again, while a put or
//! get changes the ring (a sequentially consistent compare-and-swap) and
//! then looks whether anybody waits with a sequentially consistent load
//! (`WaitList::anybody_waiting_after_seq_cst`): with both sides in one
//! total order, one of them sees the other.

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::{Acquire, Release, SeqCst};

use super::Padded;
use super::order::{Nothing, Refused};
use crate::wait::sync::{AtomicUsize, UnsafeCell, thread};

struct Slot<T> {
    stamp: AtomicUsize,
    item: UnsafeCell<MaybeUninit<T>>,
}

#[doc(hidden)]
pub struct Ring<T> {
    /// The position of the next get; `head` and `tail` on cache lines of
    /// their own, so that the two sides do not pull one line back and forth.
    head: Padded<AtomicUsize>,
    /// The position of the next put, with `shut` set once shut down.
    tail: Padded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    /// The shutdown bit of `tail`: the power of two above every index.
    shut: usize,
    /// One lap in positions: twice `shut`, so the bit is never part of one.
    one_lap: usize,
}

// SAFETY: an item moves in through one put and out through one get (or the
// drop of the ring), on whatever thread runs them: `T: Send` is all it needs.
// The slots are shared, but each is written or read by the one call that
// claimed its position (see the module docs).
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; no `&T` is ever handed out, so `T: Sync` is not needed.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring for `capacity` items (at least one).
    pub(super) fn new(capacity: usize) -> Ring<T> {
        assert!(capacity > 0, "a ring of no slots");
        let shut = (capacity + 1).next_power_of_two();
        let slots = (0..capacity)
            .map(|index| Slot {
                // Free for the put of the first lap at this index.
                stamp: AtomicUsize::new(index),
                item: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            slots,
            shut,
            one_lap: shut * 2,
        }
    }

    /// The position after `position`, wrapping to the next lap.
    #[inline]
    fn next(&self, position: usize) -> usize {
        let index = position & (self.shut - 1);
        if index + 1 < self.slots.len() {
            position + 1
        } else {
            (position & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// Puts `item` at the tail, unless the ring is full or shut down.
    #[inline]
    pub(super) fn push(&self, item: T) -> Result<(), Refused<T>> {
        let mut backoff = Backoff::default();
        let mut tail = self.tail.0.load(SeqCst);
        loop {
            if tail & self.shut != 0 {
                return Err(Refused::Shut(item));
            }
            let slot = &self.slots[tail & (self.shut - 1)];
            let stamp = slot.stamp.load(SeqCst);
            if stamp == tail {
                match self
                    .tail
                    .0
                    .compare_exchange_weak(tail, self.next(tail), SeqCst, SeqCst)
                {
                    Ok(_) => {
                        // SAFETY: the compare-and-swap made this call the only
                        // one at position `tail`, and the stamp said the get
                        // of the lap before is done with the slot.
                        slot.item.with_mut(|item_ptr| unsafe {
                            (*item_ptr).write(item);
                        });
                        slot.stamp.store(tail + 1, Release);
                        return Ok(());
                    }
                    Err(now) => {
                        tail = now;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot holds last lap's item: full, unless a get has
                // claimed it since and is reading it.
                if self.head.0.load(SeqCst).wrapping_add(self.one_lap) == tail {
                    return Err(Refused::Full(item));
                }
                backoff.wait();
                tail = self.tail.0.load(SeqCst);
            } else {
                // Another put claimed this position and moved the tail on.
                backoff.wait();
                tail = self.tail.0.load(SeqCst);
            }
        }
    }

    /// Takes the item at the head, unless the ring is empty.
    #[inline]
    pub(super) fn pop(&self) -> Result<T, Nothing> {
        let mut backoff = Backoff::default();
        let mut head = self.head.0.load(SeqCst);
        loop {
            let slot = &self.slots[head & (self.shut - 1)];
            let stamp = slot.stamp.load(SeqCst);
            if stamp == head + 1 {
                match self
                    .head
                    .0
                    .compare_exchange_weak(head, self.next(head), SeqCst, SeqCst)
                {
                    Ok(_) => {
                        // SAFETY: the compare-and-swap made this call the only
                        // one at position `head`, and the stamp (read with
                        // sequentially consistent, hence acquiring, order
                        // after the put's release store) said the item was
                        // written.
                        let item = slot
                            .item
                            .with_mut(|item_ptr| unsafe { (*item_ptr).assume_init_read() });
                        slot.stamp.store(head.wrapping_add(self.one_lap), Release);
                        return Ok(item);
                    }
                    Err(now) => {
                        head = now;
                        backoff.spin();
                    }
                }
            } else if stamp == head {
                // Free for a put of this lap: empty, unless a put has claimed
                // it and is writing.
                let tail = self.tail.0.load(SeqCst);
                if tail & !self.shut == head {
                    return Err(if tail & self.shut != 0 {
                        Nothing::Shut
                    } else {
                        Nothing::Empty
                    });
                }
                backoff.wait();
                head = self.head.0.load(SeqCst);
            } else {
                // Another get claimed this position and moved the head on.
                backoff.wait();
                head = self.head.0.load(SeqCst);
            }
        }
    }

    /// Shuts the ring: every later put is refused; returns whether this call
    /// did it.
    pub(super) fn shut_down(&self) -> bool {
        self.tail.0.fetch_or(self.shut, SeqCst) & self.shut == 0
    }

    pub(super) fn is_shut_down(&self) -> bool {
        self.tail.0.load(SeqCst) & self.shut != 0
    }

    /// How many items it holds (a snapshot: items half-way in or out count).
    pub(super) fn len(&self) -> usize {
        loop {
            let tail = self.tail.0.load(SeqCst);
            let head = self.head.0.load(SeqCst);
            // Both read at one moment (the tail did not move in between).
            if self.tail.0.load(SeqCst) == tail {
                let tail = tail & !self.shut;
                let (head_index, tail_index) = (head & (self.shut - 1), tail & (self.shut - 1));
                return if head_index < tail_index {
                    tail_index - head_index
                } else if head_index > tail_index {
                    self.slots.len() - head_index + tail_index
                } else if tail == head {
                    0
                } else {
                    self.slots.len()
                };
            }
        }
    }
}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("len", &self.len())
            .field("capacity", &self.slots.len())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // No put or get runs any more: every position from head to tail holds
        // a written item.
        let (head, tail) = (
            self.head.0.load(Acquire),
            self.tail.0.load(Acquire) & !self.shut,
        );
        let mut position = head;
        while position != tail {
            let slot = &self.slots[position & (self.shut - 1)];
            // SAFETY: positions in `head..tail` hold items no get took.
            slot.item
                .with_mut(|item_ptr| unsafe { (*item_ptr).assume_init_drop() });
            position = self.next(position);
        }
    }
}

/// Waiting for another call half-way through a slot: a few pauses, then
/// giving the processor away (the other call may have been preempted).
#[derive(Default)]
struct Backoff {
    step: u32,
}

impl Backoff {
    /// After a lost compare-and-swap: pause a little, the other call is done.
    #[inline]
    fn spin(&mut self) {
        if cfg!(ambisync_loom) {
            return;
        }
        for _ in 0..1u32 << self.step.min(4) {
            std::hint::spin_loop();
        }
        self.step += 1;
    }

    /// While another call finishes its slot.
    fn wait(&mut self) {
        if cfg!(ambisync_loom) || self.step > 6 {
            // loom must see a yield in a loop that waits for another thread.
            thread::yield_now();
        } else {
            for _ in 0..1u32 << self.step {
                std::hint::spin_loop();
            }
        }
        self.step += 1;
    }
}
