//! The waiting core every primitive is built on.
//!
//! - [`list`]: the one waiter list, a first-come, first-served line of tasks
//!   and threads with tickets, woken one, `n` or all at a time, or handed a
//!   unit directly;
//! - [`op`]: one state machine per waiting operation ([`WaitOp`]), and the
//!   drivers that give its async, timed, blocking and timed blocking forms;
//! - [`Retry`]: the usual shape of such a machine, "try, join the line, try
//!   again, wait for a wake-up";
//! - [`coop`]: tokio's cooperative budget, spent by every async form;
//! - [`runtime`]: the check that refuses to block a thread driving tokio;
//! - [`sync`]: the atomics, mutex and thread parking, swapped for loom's in
//!   the model tests.
//!
//! `docs/ARCHITECTURE.md` tells how the pieces fit.

pub(crate) mod coop;
mod held;
pub(crate) mod list;
pub(crate) mod op;
pub(crate) mod runtime;
pub(crate) mod sync;

use std::num::NonZeroU64;
use std::task::Poll;

/// Declares a constructor that is `const`, but for the loom model tests
/// (loom's atomics and mutexes have no `const` constructors): one body for
/// both.
macro_rules! const_unless_loom {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$attr])*
        #[cfg(not(ambisync_loom))]
        $vis const fn $name($($arg: $ty),*) -> $ret $body

        $(#[$attr])*
        #[cfg(ambisync_loom)]
        $vis fn $name($($arg: $ty),*) -> $ret $body
    };
}
pub(crate) use const_unless_loom;

pub(crate) use held::{Handed, Held, Part};
pub(crate) use list::{Ticket, WaitList, Wakeup};
#[cfg(feature = "tokio")]
pub(crate) use op::Timed;
pub(crate) use op::{
    Checked, Map, MapOutput, SpendOnReady, WaitOp, Waiting, block_on, block_on_untimed,
    deadline_after,
};

/// A [`WaitList`] allocated by the first caller that has to wait, so that a
/// primitive nobody waits on stays one pointer wide.
pub(crate) struct LazyList(sync::OnceBox<WaitList>);

impl LazyList {
    #[cfg(not(ambisync_loom))]
    pub(crate) const fn new() -> LazyList {
        LazyList(sync::OnceBox::new())
    }

    /// loom's model tests make the list up front.
    #[cfg(ambisync_loom)]
    pub(crate) fn new() -> LazyList {
        LazyList(sync::OnceBox::with(WaitList::new()))
    }

    /// The list, if anybody ever waited.
    #[inline]
    pub(crate) fn get(&self) -> Option<&WaitList> {
        self.0.get()
    }

    /// The list, made on first use.
    #[inline]
    pub(crate) fn get_or_init(&self) -> &WaitList {
        self.0.get_or_init(|| Box::new(WaitList::new()))
    }

    /// How many wait in line (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.get().map_or(0, WaitList::len)
    }
}

impl Default for LazyList {
    fn default() -> Self {
        LazyList::new()
    }
}

/// What a waiter that gives up does with a wake-up it was sent but did not
/// use.
#[derive(Clone, Copy)]
pub(crate) enum PassOn {
    /// Nothing: the list is only ever woken all at once.
    Nothing,
    /// Wakes the next waiter in its place: each wake-up stands for one unit
    /// (an item, a free slot, a notification) somebody must take.
    NextWaiter,
}

impl PassOn {
    fn pass(self, list: &WaitList) {
        match self {
            PassOn::Nothing => {}
            PassOn::NextWaiter => {
                list.notify(1);
            }
        }
    }
}

/// The usual waiting operation: try; if that fails, join the line and try
/// again (a release between the two tries is then either seen by the second
/// try or wakes the waiter); wait for a wake-up; repeat.
///
/// A wake-up is used by the try it leads to, whatever that try finds. A
/// waiter that completes on the try right after joining, or gives up, while
/// a wake-up was on its way to it passes that wake-up on as `pass_on` says.
///
/// The ticket is kept as its parts next to `pass_on` (16 bytes in all rather
/// than 24): every waiting future holds a `Retry`.
pub(crate) struct Retry {
    /// The ticket's sequence number while in line.
    seq: Option<NonZeroU64>,
    /// The ticket's slot (meaningless when `seq` is `None`).
    index: u32,
    pass_on: PassOn,
}

impl Retry {
    pub(crate) const fn new(pass_on: PassOn) -> Retry {
        Retry {
            seq: None,
            index: 0,
            pass_on,
        }
    }

    #[inline]
    fn ticket(&self) -> Option<Ticket> {
        self.seq.map(|seq| Ticket::from_parts(seq, self.index))
    }

    #[inline]
    fn set_ticket(&mut self, ticket: Ticket) {
        let (seq, index) = ticket.into_parts();
        self.seq = Some(seq);
        self.index = index;
    }

    /// Runs the protocol: `attempt` completes the operation or says it must
    /// wait (`None`).
    #[inline]
    pub(crate) fn poll<T>(
        &mut self,
        list: &WaitList,
        wakeup: Wakeup<'_>,
        mut attempt: impl FnMut() -> Option<T>,
    ) -> Poll<T> {
        if let Some(ticket) = self.ticket() {
            if !list.poll_ticket(ticket, wakeup) {
                return Poll::Pending;
            }
            self.seq = None;
        }
        if let Some(done) = attempt() {
            return Poll::Ready(done);
        }
        let ticket = list.enqueue(wakeup);
        if let Some(done) = attempt() {
            if !list.leave(ticket, || {}) {
                self.pass_on.pass(list);
            }
            return Poll::Ready(done);
        }
        self.set_ticket(ticket);
        Poll::Pending
    }

    /// Whether a wake-up came since the last poll (nothing to wait for if
    /// the waiter is not in line).
    #[inline]
    pub(crate) fn woken(&self, list: &WaitList) -> bool {
        self.ticket().is_none_or(|ticket| list.is_notified(ticket))
    }

    /// Whether the waiter is in line.
    pub(crate) fn is_waiting(&self) -> bool {
        self.seq.is_some()
    }

    /// Gives up: leaves the line, passing on a wake-up that was on its way.
    pub(crate) fn cancel(&mut self, list: &WaitList) {
        if let Some(ticket) = self.ticket() {
            self.seq = None;
            if !list.leave(ticket, || {}) {
                self.pass_on.pass(list);
            }
        }
    }
}
