//! The one waiter list: a first-come, first-served line of tasks and threads
//! that every primitive waits in.
//!
//! A waiter joins at the back and gets a [`Ticket`]: its sequence number and
//! its slot. Waiters are notified from the front, so "notified" is simply
//! "the sequence number of the last waiter notified has reached mine": a woken
//! waiter learns of its wake-up from one atomic load and leaves without the
//! lock (the notifier already unlinked it). A waiter that gives up before it
//! was notified unlinks itself; one that was notified and gives up owns the
//! notification and decides what to do with it (pass it on, give a handed-off
//! permit back).
//!
//! Releasers choose how to wake:
//! - [`notify`](WaitList::notify) wakes the `n` oldest waiters (a condition's
//!   `notify(n)`, a queue's put);
//! - [`notify_one_if`](WaitList::notify_one_if) wakes the oldest if the
//!   caller, asked under the lock, still wants to (a lock, which keeps "a
//!   woken waiter has yet to run" in its own state word);
//! - [`wake_all`](WaitList::wake_all) empties the line at once (an event, a
//!   barrier's trip);
//! - [`grant_next`](WaitList::grant_next) hands a unit to the oldest waiter
//!   under the lock (a semaphore's FIFO hand-off).
//!
//! The line is a doubly linked list threaded through a vector of reusable
//! slots, so after the first waits nothing is allocated; wakers are woken
//! after the lock is released.

use std::num::NonZeroU64;
use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::Instant;

use super::sync::thread::{self, Thread};
use super::sync::{AtomicU64, AtomicUsize, SpinningMutex as Mutex, fence};

/// What wakes a waiter, as the caller has it: a task's waker or the current
/// thread.
#[derive(Clone, Copy)]
pub(crate) enum Wakeup<'a> {
    Task(&'a Waker),
    Thread,
}

/// Who to wake, as the line keeps it.
enum Waiter {
    Task(Waker),
    Thread(Thread),
}

impl Waiter {
    fn new(wakeup: Wakeup<'_>) -> Self {
        match wakeup {
            Wakeup::Task(waker) => Waiter::Task(waker.clone()),
            Wakeup::Thread => Waiter::Thread(thread::current()),
        }
    }

    fn wake(self) {
        match self {
            Waiter::Task(waker) => waker.wake(),
            Waiter::Thread(thread) => thread.unpark(),
        }
    }
}

/// A waiter's place in line. Its slot is its own until it is notified or
/// leaves.
///
/// Kept small because every waiting future holds one: the sequence number
/// is never 0 (an `Option<Ticket>` costs nothing more) and the slot index
/// fits 32 bits (a line of 4 billion waiters would need far more memory
/// than their slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    seq: NonZeroU64,
    index: u32,
}

impl Ticket {
    /// The ticket's two numbers, for a waiting operation that packs them
    /// with its own fields (see `Retry`).
    #[inline]
    pub(crate) fn into_parts(self) -> (NonZeroU64, u32) {
        (self.seq, self.index)
    }

    /// A ticket from the parts [`into_parts`](Ticket::into_parts) gave.
    #[inline]
    pub(crate) fn from_parts(seq: NonZeroU64, index: u32) -> Ticket {
        Ticket { seq, index }
    }

    #[inline]
    fn slot(self) -> usize {
        self.index as usize
    }
}

/// No slot: an end of the line, or the end of the free chain.
const NONE: usize = usize::MAX;

enum Slot {
    Free { next: usize },
    Queued(Queued),
}

struct Queued {
    waiter: Waiter,
    seq: u64,
    /// What the waiter asked for, for a releaser that hands units out (how
    /// many permits); 0 where nothing is handed out.
    tag: usize,
    prev: usize,
    next: usize,
}

struct Line {
    slots: Vec<Slot>,
    /// Head of the chain of free slots.
    free: usize,
    /// Oldest and newest waiters.
    head: usize,
    tail: usize,
    /// The sequence number of the next waiter; starts at 1 (0 means "nobody
    /// notified yet").
    next_seq: u64,
    /// A vector emptied by `wake_all`, kept for the next round.
    spare: Vec<Slot>,
    /// The waiter that wake-ups are passed along to (a lock's starving
    /// waiter), while it is in line; see [`WaitList::reserve`].
    reserved: Option<Ticket>,
}

impl Line {
    fn queued(&mut self, index: usize) -> &mut Queued {
        match &mut self.slots[index] {
            Slot::Queued(queued) => queued,
            Slot::Free { .. } => unreachable!("the line links to a free slot"),
        }
    }

    fn link_back(&mut self, waiter: Waiter, tag: usize) -> Ticket {
        let seq = self.next_seq;
        self.next_seq += 1;
        let queued = Slot::Queued(Queued {
            waiter,
            seq,
            tag,
            prev: self.tail,
            next: NONE,
        });
        let index = match self.free {
            NONE => {
                self.slots.push(queued);
                self.slots.len() - 1
            }
            free => {
                let Slot::Free { next } = std::mem::replace(&mut self.slots[free], queued) else {
                    unreachable!("the free chain links to a taken slot");
                };
                self.free = next;
                free
            }
        };
        match self.tail {
            NONE => self.head = index,
            tail => self.queued(tail).next = index,
        }
        self.tail = index;
        Ticket {
            seq: NonZeroU64::new(seq).expect("sequence numbers start at 1"),
            index: u32::try_from(index).expect("more than u32::MAX waiters in one line"),
        }
    }

    /// Whether the reserved waiter is still in line (neither notified nor
    /// gone).
    fn reserved_in_line(&self) -> bool {
        self.reserved.is_some_and(|ticket| {
            matches!(self.slots.get(ticket.slot()), Some(Slot::Queued(queued)) if queued.seq == ticket.seq.get())
        })
    }

    /// Takes the waiter in slot `index` out of the line and frees the slot.
    fn unlink(&mut self, index: usize) -> Queued {
        let freed = Slot::Free { next: self.free };
        let Slot::Queued(queued) = std::mem::replace(&mut self.slots[index], freed) else {
            unreachable!("unlinking a free slot");
        };
        self.free = index;
        match queued.prev {
            NONE => self.head = queued.next,
            prev => self.queued(prev).next = queued.next,
        }
        match queued.next {
            NONE => self.tail = queued.prev,
            next => self.queued(next).prev = queued.prev,
        }
        queued
    }
}

/// How many waiters one batch of [`WaitList::notify`] wakes outside the lock.
const BATCH: usize = 32;

/// The line of waiters of one primitive (or of one side of one: a queue has
/// three).
pub(crate) struct WaitList {
    /// The sequence number of the last waiter notified; written under the
    /// lock only. Waiters are notified in line order, so every waiter still
    /// holding a ticket numbered at most this was notified.
    notified: AtomicU64,
    /// Waiters in line; changed under the lock.
    len: AtomicUsize,
    line: Mutex<Line>,
}

impl WaitList {
    crate::wait::const_unless_loom! {
        pub(crate) fn new() -> WaitList {
            WaitList {
                notified: AtomicU64::new(0),
                len: AtomicUsize::new(0),
                line: Mutex::new(Line {
                    slots: Vec::new(),
                    free: NONE,
                    head: NONE,
                    tail: NONE,
                    next_seq: 1,
                    spare: Vec::new(),
                    reserved: None,
                }),
            }
        }
    }

    /// Joins the back of the line. The caller looks at the state it waits
    /// on again after this, and that look cannot move before the count.
    pub(crate) fn enqueue(&self, wakeup: Wakeup<'_>) -> Ticket {
        let waiter = Waiter::new(wakeup);
        let ticket = {
            let mut line = self.line.lock();
            self.len.fetch_add(1, Ordering::SeqCst);
            line.link_back(waiter, 0)
        };
        // The caller looks at the state it waits on next (the queue's ring,
        // without a lock). The increment is sequentially consistent, which
        // orders it before that look for the hardware and the language (see
        // `anybody_waiting_after_seq_cst`); loom models only fences as
        // sequentially consistent, so its builds fence here too. (A fence
        // in every build cost an `Event` wake-all of 100 futures about a
        // tenth: every waiter enqueues.)
        #[cfg(ambisync_loom)]
        fence(Ordering::SeqCst);
        ticket
    }

    /// Joins the back of the line unless `done()`, called under the lock,
    /// says there is no need to wait (it may take a unit, or see that a
    /// wake-up happened since the caller looked): then `None`.
    pub(crate) fn enqueue_unless(
        &self,
        wakeup: Wakeup<'_>,
        done: impl FnOnce() -> bool,
    ) -> Option<Ticket> {
        self.enqueue_tagged_unless(wakeup, 0, done)
    }

    /// [`enqueue_unless`](WaitList::enqueue_unless) for a waiter that asks
    /// for `tag` units of what [`grant_next`](WaitList::grant_next) hands out.
    pub(crate) fn enqueue_tagged_unless(
        &self,
        wakeup: Wakeup<'_>,
        tag: usize,
        done: impl FnOnce() -> bool,
    ) -> Option<Ticket> {
        let waiter = Waiter::new(wakeup);
        let mut line = self.line.lock();
        if done() {
            return None;
        }
        // The caller decided under the lock whether to wait, and nobody
        // looks at the length to decide anything for these lines: a plain
        // store (every change of the length is made under the lock).
        self.len
            .store(self.len.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        Some(line.link_back(waiter, tag))
    }

    /// The sequence number of the last waiter notified. [`wake_all`] moves it
    /// even when nobody waits, so a caller that saw it before joining the
    /// line can tell (under the lock, in `enqueue_unless`) whether a
    /// wake-all happened in between.
    ///
    /// [`wake_all`]: WaitList::wake_all
    #[inline]
    pub(crate) fn last_notified(&self) -> u64 {
        self.notified.load(Ordering::Acquire)
    }

    /// Whether the ticket's waiter was notified.
    #[inline]
    pub(crate) fn is_notified(&self, ticket: Ticket) -> bool {
        self.notified.load(Ordering::Acquire) >= ticket.seq.get()
    }

    /// Whether the ticket's waiter was notified; if it was not, a task's
    /// entry is pointed at the waker it is polled with now (a thread's
    /// needs nothing). What every operation asks when it is polled again.
    #[inline]
    pub(crate) fn poll_ticket(&self, ticket: Ticket, wakeup: Wakeup<'_>) -> bool {
        self.is_notified(ticket)
            || match wakeup {
                Wakeup::Task(waker) => self.update(ticket, waker),
                Wakeup::Thread => false,
            }
    }

    /// Points the ticket's waiter at `waker` (a task polled again, perhaps
    /// by another executor thread); `true` if it was notified already.
    pub(crate) fn update(&self, ticket: Ticket, waker: &Waker) -> bool {
        let mut line = self.line.lock();
        // Notifications are written under the lock: no stale "not yet" here.
        if self.is_notified(ticket) {
            return true;
        }
        match &mut line.queued(ticket.slot()).waiter {
            // `clone_from` skips the clone when the waker would wake the same.
            Waiter::Task(current) => current.clone_from(waker),
            other => *other = Waiter::Task(waker.clone()),
        }
        false
    }

    /// Takes the waiter out of line, calling `also()` under the lock; `true`
    /// if it was still waiting, `false` if it had been notified (the
    /// notification, or a unit handed to it, is then the caller's).
    pub(crate) fn leave(&self, ticket: Ticket, also: impl FnOnce()) -> bool {
        let mut line = self.line.lock();
        if self.is_notified(ticket) {
            return false;
        }
        let queued = line.unlink(ticket.slot());
        self.shorten(1);
        also();
        drop(line);
        // Dropped outside the lock: a waker's drop may run arbitrary code.
        drop(queued);
        true
    }

    /// Under the lock: `by` waiters left the line. The length changes only
    /// under the lock, so a load and a store do what a read-modify-write
    /// would, without its cost (a locked instruction on a contended cache
    /// line, up to a quarter of a semaphore hand-off's profile).
    #[inline]
    fn shorten(&self, by: usize) {
        self.len
            .store(self.len.load(Ordering::Relaxed) - by, Ordering::Relaxed);
    }

    /// How many waiters are in line (a snapshot).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether somebody is in line, for a releaser that changed the state
    /// waiters wait on just before. A waiter joins the line before it checks
    /// that state again, and both sides put a sequentially consistent fence
    /// (or operation) between their write and their read: either the
    /// releaser sees the waiter, or the waiter sees the new state.
    #[inline]
    pub(crate) fn anybody_waiting(&self) -> bool {
        fence(Ordering::SeqCst);
        self.len.load(Ordering::Relaxed) > 0
    }

    /// [`anybody_waiting`](WaitList::anybody_waiting) without the fence, for
    /// a releaser whose change was a sequentially consistent read-modify-write
    /// that the waiter's second look reads with sequentially consistent
    /// loads (or a change made under a mutex that the second look takes
    /// too): the single total order of those operations then does what the
    /// fence does, and this is a plain load on x86 where a fence costs tens
    /// of cycles on every put and get of a queue. loom models only fences as
    /// sequentially consistent, so its builds keep the fence.
    #[inline]
    pub(crate) fn anybody_waiting_after_seq_cst(&self) -> bool {
        #[cfg(ambisync_loom)]
        fence(Ordering::SeqCst);
        self.len.load(Ordering::SeqCst) > 0
    }

    /// Wakes the `n` oldest waiters (fewer if fewer wait); returns how many
    /// it woke.
    pub(crate) fn notify(&self, mut n: usize) -> usize {
        let mut woken = 0;
        while n > 0 {
            let mut batch: [Option<Waiter>; BATCH] = [const { None }; BATCH];
            let mut taken = 0;
            {
                let mut line = self.line.lock();
                while taken < n.min(BATCH) && line.head != NONE {
                    let head = line.head;
                    let queued = line.unlink(head);
                    self.notified.store(queued.seq, Ordering::Release);
                    batch[taken] = Some(queued.waiter);
                    taken += 1;
                }
                self.shorten(taken);
            }
            for waiter in batch.into_iter().take(taken).flatten() {
                waiter.wake();
            }
            woken += taken;
            if taken < BATCH {
                break;
            }
            n -= taken;
        }
        woken
    }

    /// Wakes the oldest waiter if `claim()`, called under the lock when
    /// somebody is in line, says so (a lock sets its "woken" flag there).
    /// Nothing is claimed for an empty line: a waiter joining it next looks
    /// at the state again after it joined.
    pub(crate) fn notify_one_if(&self, claim: impl FnOnce() -> bool) {
        self.notify_head_if(false, claim);
    }

    /// Marks the waiter holding `ticket` as the one
    /// [`notify_one_toward_reserved_if`](WaitList::notify_one_toward_reserved_if)
    /// passes wake-ups along to, while it stays in line (a lock's starving
    /// waiter, for which the lock is kept). Taken under the lock, so that a
    /// pass-along that comes after it sees it.
    pub(crate) fn reserve(&self, ticket: Ticket) {
        self.line.lock().reserved = Some(ticket);
    }

    /// [`notify_one_if`](WaitList::notify_one_if), only while the reserved
    /// waiter is in line (the wake-up is then one step towards it); once it
    /// was woken, or before it joined, it will look by itself.
    pub(crate) fn notify_one_toward_reserved_if(&self, claim: impl FnOnce() -> bool) {
        self.notify_head_if(true, claim);
    }

    fn notify_head_if(&self, only_toward_reserved: bool, claim: impl FnOnce() -> bool) {
        let waiter = {
            let mut line = self.line.lock();
            if line.head == NONE || (only_toward_reserved && !line.reserved_in_line()) || !claim() {
                return;
            }
            let head = line.head;
            let queued = line.unlink(head);
            self.notified.store(queued.seq, Ordering::Release);
            self.shorten(1);
            queued.waiter
        };
        waiter.wake();
    }

    /// Wakes every waiter in line; returns how many it woke.
    pub(crate) fn wake_all(&self) -> usize {
        let mut taken = {
            let mut line = self.line.lock();
            // A mark even when nobody waits (see `last_notified`): a sequence
            // number nobody gets, past every waiter's.
            let mark = line.next_seq;
            line.next_seq += 1;
            self.notified.store(mark, Ordering::Release);
            if line.head == NONE {
                return 0;
            }
            self.len.store(0, Ordering::Relaxed);
            line.head = NONE;
            line.tail = NONE;
            line.free = NONE;
            // Every slot goes: swap the whole vector out and wake outside
            // the lock; an emptied vector comes back as the next spare.
            let fresh = std::mem::take(&mut line.spare);
            std::mem::replace(&mut line.slots, fresh)
        };
        let mut count = 0;
        // Futures polled by one task (`join!`, `select!`) leave runs of
        // wakers for the same task: one wake per run is enough.
        let mut pending: Option<Waker> = None;
        for slot in taken.drain(..) {
            let Slot::Queued(queued) = slot else { continue };
            count += 1;
            match queued.waiter {
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
        let mut line = self.line.lock();
        if taken.capacity() > line.spare.capacity() {
            line.spare = taken;
        }
        count
    }

    /// Hands units to the oldest waiter if `claim(tag)` (called under the
    /// lock, with the tag that waiter joined with) takes them for it from the
    /// primitive's state, and wakes that waiter after unlocking. Returns what
    /// `claim` returned: `None` if it declined, or whether units and waiters
    /// may be left for another grant (the caller then grants again).
    ///
    /// `claim` may only succeed while somebody is in line: the primitive
    /// counts its waiters under this list's lock.
    pub(crate) fn grant_next(&self, claim: impl FnOnce(usize) -> Option<bool>) -> Option<bool> {
        let (waiter, more) = {
            let mut line = self.line.lock();
            let head = line.head;
            let tag = match head {
                NONE => 0,
                head => line.queued(head).tag,
            };
            let more = claim(tag)?;
            assert!(head != NONE, "a waiter was counted but none is in line");
            let queued = line.unlink(head);
            self.notified.store(queued.seq, Ordering::Release);
            self.shorten(1);
            (queued.waiter, more)
        };
        waiter.wake();
        Some(more)
    }
}

/// Parks the current thread until `done()` or `until` passes; `false` if it
/// returned because `until` passed. `unpark` tokens left from earlier waits
/// can end a park early, so `done()` is checked after every one.
pub(crate) fn park_until(until: Option<Instant>, mut done: impl FnMut() -> bool) -> bool {
    while !done() {
        match until {
            None => thread::park(),
            // loom has no timed park; the model tests wait untimed.
            #[cfg(ambisync_loom)]
            Some(_) => unreachable!("timed waits are not modelled"),
            #[cfg(not(ambisync_loom))]
            Some(until) => {
                let now = Instant::now();
                if now >= until {
                    return false;
                }
                thread::park_timeout(until - now);
            }
        }
    }
    true
}
