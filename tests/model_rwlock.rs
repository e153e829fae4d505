//! Property tests: `RwLock` against a sequential model over random sequences
//! of `try_read`/`try_write`/`try_upgradable_read` (borrowed and owned),
//! the blocking forms with a zero timeout, upgrades (`try_upgrade`, an
//! upgrade future polled once and dropped, one kept pending), downgrades,
//! mapped guards, guard drops, and waiting `read()`/`write()`/
//! `upgradable_read()` futures polled by hand (kept pending, polled again,
//! dropped).
//!
//! The model is the documented policy (src/rwlock/raw.rs):
//! - a reader enters unless a writer holds the lock, an upgrade waits, or a
//!   writer or upgradable reader waits (writer-preferring);
//! - a writer enters when nobody holds the lock; an upgradable reader when
//!   no writer, upgradable reader or upgrade holds or waits; a newcomer
//!   also lets those already waiting go first, but a waiting future, once
//!   counted, competes with the others (it holds nothing: async-lock#91);
//! - `try_upgrade` succeeds when the upgradable reader is the only reader;
//! - a pending upgrade holds new readers back; dropping it gives the
//!   upgradable access back;
//! - no wait is ever needed to release, and the value seen by a reader is
//!   the last value written;
//! - no lost wake-up (each waiting future has a counting waker of its own):
//!   held-back readers that may enter were woken; with the lock free, one
//!   waiting writer or upgradable reader at least was; an upgrade left
//!   alone was. (Checked against two deliberate breakages: a cancelled
//!   writer not letting the held-back readers in, an unlocking writer not
//!   waking the next; each fails at once.)
#![cfg(not(miri))]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ambisync::{
    OwnedRwLockReadGuard, OwnedRwLockUpgradableReadGuard, OwnedRwLockWriteGuard, RwLock,
    RwLockMappedWriteGuard, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Read,
    Upgradable,
    Write,
}

#[derive(Debug, Clone)]
enum Op {
    Try(Kind, bool),
    TimeoutBlockingZero(Kind),
    Drop(usize),
    TryUpgrade,
    UpgradeTimeoutBlockingZero,
    UpgradePolledOnce,
    UpgradePending,
    Downgrade(usize),
    DowngradeToUpgradable(usize),
    Map(usize),
    Pend(Kind),
    Repoll(usize),
    DropPending(usize),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Read), Just(Kind::Upgradable), Just(Kind::Write)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (kind(), any::<bool>()).prop_map(|(k, owned)| Op::Try(k, owned)),
        2 => kind().prop_map(Op::TimeoutBlockingZero),
        6 => any::<usize>().prop_map(Op::Drop),
        2 => Just(Op::TryUpgrade),
        1 => Just(Op::UpgradeTimeoutBlockingZero),
        1 => Just(Op::UpgradePolledOnce),
        1 => Just(Op::UpgradePending),
        2 => any::<usize>().prop_map(Op::Downgrade),
        1 => any::<usize>().prop_map(Op::DowngradeToUpgradable),
        1 => any::<usize>().prop_map(Op::Map),
        3 => kind().prop_map(Op::Pend),
        3 => any::<usize>().prop_map(Op::Repoll),
        2 => any::<usize>().prop_map(Op::DropPending),
    ]
}

/// A guard held by the test, of any form.
#[allow(dead_code)] // held for their drop only
enum Guard<'a> {
    Read(RwLockReadGuard<'a, u64>),
    Upgradable(RwLockUpgradableReadGuard<'a, u64>),
    Write(RwLockWriteGuard<'a, u64>),
    MappedWrite(RwLockMappedWriteGuard<'a, u64>),
    OwnedRead(OwnedRwLockReadGuard<u64>),
    OwnedUpgradable(OwnedRwLockUpgradableReadGuard<u64>),
    OwnedWrite(OwnedRwLockWriteGuard<u64>),
}

impl Guard<'_> {
    fn kind(&self) -> Kind {
        match self {
            Guard::Read(_) | Guard::OwnedRead(_) => Kind::Read,
            Guard::Upgradable(_) | Guard::OwnedUpgradable(_) => Kind::Upgradable,
            Guard::Write(_) | Guard::MappedWrite(_) | Guard::OwnedWrite(_) => Kind::Write,
        }
    }

    fn value(&self) -> u64 {
        match self {
            Guard::Read(g) => **g,
            Guard::Upgradable(g) => **g,
            Guard::Write(g) => **g,
            Guard::MappedWrite(g) => **g,
            Guard::OwnedRead(g) => **g,
            Guard::OwnedUpgradable(g) => **g,
            Guard::OwnedWrite(g) => **g,
        }
    }

    /// Writes through a write guard; `None` for the others.
    fn bump(&mut self) -> Option<u64> {
        let value = match self {
            Guard::Write(g) => &mut **g,
            Guard::MappedWrite(g) => &mut **g,
            Guard::OwnedWrite(g) => &mut **g,
            _ => return None,
        };
        *value += 1;
        Some(*value)
    }
}

type GuardFuture<'a> = Pin<Box<dyn Future<Output = Guard<'a>> + 'a>>;
type Pending<'a> = (Kind, GuardFuture<'a>, Watch);

/// A waker of its own for each waiting future, counting its wake-ups, so
/// that a lost wake-up shows: a future that could go on now must have been
/// woken since it last looked.
struct Watch {
    waker: std::task::Waker,
    count: futures_test::task::AwokenCount,
    seen: usize,
}

impl Watch {
    fn new() -> Watch {
        let (waker, count) = futures_test::task::new_count_waker();
        Watch {
            waker,
            count,
            seen: 0,
        }
    }

    fn poll<T>(&mut self, fut: Pin<&mut (dyn Future<Output = T> + '_)>) -> Poll<T> {
        self.seen = self.count.get();
        fut.poll(&mut Context::from_waker(&self.waker))
    }

    fn woken(&self) -> bool {
        self.count.get() > self.seen
    }
}

/// The model's state.
#[derive(Debug, Default, Clone)]
struct Model {
    readers: usize,
    upgradable: bool,
    writer: bool,
    /// An upgrade future is pending (kept by the test).
    upgrading: bool,
    /// Pending write/upgradable futures: counted, holding readers back.
    counted: usize,
    value: u64,
}

impl Model {
    /// Whether `kind` may enter: `counted` for a waiter already counted.
    fn may_enter(&self, kind: Kind, counted: bool) -> bool {
        let waiting = !counted && self.counted > 0;
        match kind {
            Kind::Read => !self.writer && !self.upgrading && self.counted == 0,
            Kind::Upgradable => !self.writer && !self.upgradable && !self.upgrading && !waiting,
            Kind::Write => !self.writer && self.readers == 0 && !waiting,
        }
    }

    fn enter(&mut self, kind: Kind) {
        match kind {
            Kind::Read => self.readers += 1,
            Kind::Upgradable => {
                self.readers += 1;
                self.upgradable = true;
            }
            Kind::Write => self.writer = true,
        }
    }

    fn leave(&mut self, kind: Kind) {
        match kind {
            Kind::Read => self.readers -= 1,
            Kind::Upgradable => {
                self.readers -= 1;
                self.upgradable = false;
            }
            Kind::Write => self.writer = false,
        }
    }
}

fn run(ops: Vec<Op>) {
    let lock = Arc::new(RwLock::new(0u64));
    let mut model = Model::default();
    let mut guards: Vec<Guard<'_>> = Vec::new();
    let mut pending: Vec<Pending<'_>> = Vec::new();
    // A pending upgrade future (at most one: one upgradable reader).
    let mut upgrade: Option<(GuardFuture<'_>, Watch)> = None;
    for (step, op) in ops.into_iter().enumerate() {
        let at = format!("step {step}: {op:?}; model before: {model:?}");
        match op {
            Op::Try(kind, owned) => {
                let got = match (kind, owned) {
                    (Kind::Read, false) => lock.try_read().map(Guard::Read),
                    (Kind::Read, true) => lock.try_read_owned().map(Guard::OwnedRead),
                    (Kind::Upgradable, false) => lock.try_upgradable_read().map(Guard::Upgradable),
                    (Kind::Upgradable, true) => {
                        lock.try_upgradable_read_owned().map(Guard::OwnedUpgradable)
                    }
                    (Kind::Write, false) => lock.try_write().map(Guard::Write),
                    (Kind::Write, true) => lock.try_write_owned().map(Guard::OwnedWrite),
                };
                let expect = model.may_enter(kind, false);
                assert_eq!(got.is_some(), expect, "{at}");
                if let Some(guard) = got {
                    model.enter(kind);
                    guards.push(guard);
                }
            }
            Op::TimeoutBlockingZero(kind) => {
                let got = match kind {
                    Kind::Read => lock.read_timeout_blocking(Duration::ZERO).map(Guard::Read),
                    Kind::Upgradable => lock
                        .upgradable_read_timeout_blocking(Duration::ZERO)
                        .map(Guard::Upgradable),
                    Kind::Write => lock
                        .write_timeout_blocking(Duration::ZERO)
                        .map(Guard::Write),
                };
                // Its first look lets those who wait go first; at the
                // deadline, counted, it competes with them.
                let expect = model.may_enter(kind, false)
                    || (kind != Kind::Read && model.may_enter(kind, true));
                assert_eq!(got.is_some(), expect, "{at}");
                if let Some(guard) = got {
                    model.enter(kind);
                    guards.push(guard);
                }
            }
            Op::Drop(i) => {
                if !guards.is_empty() {
                    let guard = guards.swap_remove(i % guards.len());
                    model.leave(guard.kind());
                    drop(guard);
                }
            }
            Op::TryUpgrade
            | Op::UpgradeTimeoutBlockingZero
            | Op::UpgradePolledOnce
            | Op::UpgradePending => {
                let Some(i) = guards.iter().position(|g| g.kind() == Kind::Upgradable) else {
                    continue;
                };
                let guard = guards.swap_remove(i);
                let alone = model.readers == 1;
                // The result: the write guard, the upgradable guard back, or
                // nothing (given back with a dropped future; or kept pending).
                let (writer, back): (Option<Guard<'_>>, Option<Guard<'_>>) = match (op, guard) {
                    (Op::TryUpgrade, Guard::Upgradable(g)) => {
                        match RwLockUpgradableReadGuard::try_upgrade(g) {
                            Ok(w) => (Some(Guard::Write(w)), None),
                            Err(g) => (None, Some(Guard::Upgradable(g))),
                        }
                    }
                    (Op::TryUpgrade, Guard::OwnedUpgradable(g)) => {
                        match OwnedRwLockUpgradableReadGuard::try_upgrade(g) {
                            Ok(w) => (Some(Guard::OwnedWrite(w)), None),
                            Err(g) => (None, Some(Guard::OwnedUpgradable(g))),
                        }
                    }
                    (Op::UpgradeTimeoutBlockingZero, Guard::Upgradable(g)) => {
                        match RwLockUpgradableReadGuard::upgrade_timeout_blocking(g, Duration::ZERO)
                        {
                            Ok(w) => (Some(Guard::Write(w)), None),
                            Err(g) => (None, Some(Guard::Upgradable(g))),
                        }
                    }
                    (Op::UpgradeTimeoutBlockingZero, Guard::OwnedUpgradable(g)) => {
                        match OwnedRwLockUpgradableReadGuard::upgrade_timeout_blocking(
                            g,
                            Duration::ZERO,
                        ) {
                            Ok(w) => (Some(Guard::OwnedWrite(w)), None),
                            Err(g) => (None, Some(Guard::OwnedUpgradable(g))),
                        }
                    }
                    (op, guard) => {
                        let mut fut: Pin<Box<dyn Future<Output = Guard<'_>> + '_>> = match guard {
                            Guard::Upgradable(g) => Box::pin(async move {
                                Guard::Write(RwLockUpgradableReadGuard::upgrade(g).await)
                            }),
                            Guard::OwnedUpgradable(g) => Box::pin(async move {
                                Guard::OwnedWrite(OwnedRwLockUpgradableReadGuard::upgrade(g).await)
                            }),
                            _ => unreachable!("an upgradable guard"),
                        };
                        let mut watch = Watch::new();
                        match watch.poll(fut.as_mut()) {
                            Poll::Ready(w) => (Some(w), None),
                            Poll::Pending => {
                                if matches!(op, Op::UpgradePending) && upgrade.is_none() {
                                    upgrade = Some((fut, watch));
                                    model.upgrading = true;
                                } else {
                                    // Dropped: the upgradable access goes.
                                    drop(fut);
                                    model.leave(Kind::Upgradable);
                                }
                                (None, None)
                            }
                        }
                    }
                };
                match (writer, back) {
                    (Some(w), _) => {
                        assert!(alone, "{at}: upgraded beside other readers");
                        model.leave(Kind::Upgradable);
                        model.enter(Kind::Write);
                        guards.push(w);
                    }
                    (None, Some(g)) => {
                        assert!(!alone, "{at}: the only reader could not upgrade");
                        guards.push(g);
                    }
                    (None, None) => {
                        assert!(!alone, "{at}: the only reader's upgrade stayed pending");
                    }
                }
            }
            Op::Downgrade(i) | Op::DowngradeToUpgradable(i) => {
                if guards.is_empty() {
                    continue;
                }
                let i = i % guards.len();
                let to_upgradable = matches!(op, Op::DowngradeToUpgradable(_));
                let guard = guards.swap_remove(i);
                let (new, from, to) = match guard {
                    Guard::Write(g) if to_upgradable => (
                        Guard::Upgradable(RwLockWriteGuard::downgrade_to_upgradable(g)),
                        Kind::Write,
                        Kind::Upgradable,
                    ),
                    Guard::Write(g) => (
                        Guard::Read(RwLockWriteGuard::downgrade(g)),
                        Kind::Write,
                        Kind::Read,
                    ),
                    Guard::OwnedWrite(g) if to_upgradable => (
                        Guard::OwnedUpgradable(OwnedRwLockWriteGuard::downgrade_to_upgradable(g)),
                        Kind::Write,
                        Kind::Upgradable,
                    ),
                    Guard::OwnedWrite(g) => (
                        Guard::OwnedRead(OwnedRwLockWriteGuard::downgrade(g)),
                        Kind::Write,
                        Kind::Read,
                    ),
                    Guard::Upgradable(g) => (
                        Guard::Read(RwLockUpgradableReadGuard::downgrade(g)),
                        Kind::Upgradable,
                        Kind::Read,
                    ),
                    Guard::OwnedUpgradable(g) => (
                        Guard::OwnedRead(OwnedRwLockUpgradableReadGuard::downgrade(g)),
                        Kind::Upgradable,
                        Kind::Read,
                    ),
                    other => {
                        guards.push(other);
                        continue;
                    }
                };
                model.leave(from);
                model.enter(to);
                guards.push(new);
            }
            Op::Map(i) => {
                if guards.is_empty() {
                    continue;
                }
                let guard = guards.swap_remove(i % guards.len());
                let mapped = match guard {
                    Guard::Write(g) => Guard::MappedWrite(RwLockWriteGuard::map(g, |v| v)),
                    Guard::Read(g) => Guard::Read(RwLockReadGuard::map(g, |v| v)),
                    other => other,
                };
                guards.push(mapped);
            }
            Op::Pend(kind) => {
                let lock = &*lock;
                let mut fut: Pin<Box<dyn Future<Output = Guard<'_>> + '_>> = match kind {
                    Kind::Read => Box::pin(async move { Guard::Read(lock.read().await) }),
                    Kind::Upgradable => {
                        Box::pin(async move { Guard::Upgradable(lock.upgradable_read().await) })
                    }
                    Kind::Write => Box::pin(async move { Guard::Write(lock.write().await) }),
                };
                // A writer or upgradable reader counts itself in at its
                // first poll and then looks as a counted waiter: it competes
                // with those already waiting (barging, as documented), like
                // the timed forms at their deadline.
                let expect = model.may_enter(kind, false)
                    || (kind != Kind::Read && model.may_enter(kind, true));
                let mut watch = Watch::new();
                match watch.poll(fut.as_mut()) {
                    Poll::Ready(guard) => {
                        assert!(expect, "{at}: entered at the first poll");
                        model.enter(kind);
                        guards.push(guard);
                    }
                    Poll::Pending => {
                        assert!(!expect, "{at}: waits at the first poll");
                        if kind != Kind::Read {
                            model.counted += 1;
                        }
                        pending.push((kind, fut, watch));
                    }
                }
            }
            Op::Repoll(i) => {
                if pending.is_empty() {
                    continue;
                }
                let i = i % pending.len();
                let kind = pending[i].0;
                let expect = model.may_enter(kind, true);
                let (_, fut, watch) = &mut pending[i];
                match watch.poll(fut.as_mut()) {
                    Poll::Ready(guard) => {
                        assert!(expect, "{at}: a waiter entered");
                        drop(pending.swap_remove(i));
                        if kind != Kind::Read {
                            model.counted -= 1;
                        }
                        model.enter(kind);
                        guards.push(guard);
                    }
                    Poll::Pending => assert!(!expect, "{at}: a waiter stayed out"),
                }
            }
            Op::DropPending(i) => {
                if let Some((fut, _)) = upgrade.take_if(|_| i % 2 == 0) {
                    // The pending upgrade: the upgradable access goes with it.
                    drop(fut);
                    model.upgrading = false;
                    model.leave(Kind::Upgradable);
                } else if !pending.is_empty() {
                    let (kind, fut, _) = pending.swap_remove(i % pending.len());
                    drop(fut);
                    if kind != Kind::Read {
                        model.counted -= 1;
                    }
                }
            }
        }
        // No lost wake-up: every held-back reader that may enter now was
        // woken since it last looked (readers are woken all at once, when
        // no writer holds or waits); when nobody holds the lock, at least
        // one waiting writer or upgradable reader was (they are woken one
        // at a time, the oldest first - which may not be one that could
        // enter while a reader holds the lock - and a woken one that is
        // dropped passes its wake-up on); a pending upgrade left alone with
        // its own read access was.
        for (kind, _, watch) in &pending {
            if *kind == Kind::Read && model.may_enter(Kind::Read, false) {
                assert!(watch.woken(), "{at}: a reader that may enter was not woken");
            }
        }
        if !model.writer && model.readers == 0 {
            let counted: Vec<&Watch> = pending
                .iter()
                .filter(|(kind, _, _)| *kind != Kind::Read)
                .map(|(_, _, watch)| watch)
                .collect();
            assert!(
                counted.is_empty() || counted.iter().any(|watch| watch.woken()),
                "{at}: the lock is free, {} writers or upgradable readers wait, none was woken",
                counted.len()
            );
        }
        // A pending upgrade goes through once the other readers are gone.
        if let Some((fut, watch)) = upgrade.as_mut() {
            if model.readers == 1 {
                assert!(watch.woken(), "{at}: the upgrade left alone was not woken");
            }
            match watch.poll(fut.as_mut()) {
                Poll::Ready(guard) => {
                    assert_eq!(model.readers, 1, "{at}: upgraded beside other readers");
                    upgrade = None;
                    model.upgrading = false;
                    model.leave(Kind::Upgradable);
                    model.enter(Kind::Write);
                    guards.push(guard);
                }
                Poll::Pending => assert!(model.readers > 1, "{at}: the upgrade still waits alone"),
            }
        }
        // The observables.
        assert_eq!(lock.readers(), model.readers, "{at}: readers()");
        assert_eq!(
            lock.is_write_locked(),
            model.writer,
            "{at}: is_write_locked()"
        );
        assert_eq!(
            lock.is_locked(),
            model.writer || model.readers > 0,
            "{at}: is_locked()"
        );
        // A pending reader is counted until a release wakes the readers
        // all at once (it is no longer in line then, though not polled).
        let reads = pending.iter().filter(|(k, _, _)| *k == Kind::Read).count();
        let others = model.counted + usize::from(upgrade.is_some());
        let waiters = lock.waiters();
        assert!(
            (others..=others + reads).contains(&waiters),
            "{at}: waiters() {waiters}, expected {others} and up to {reads} pending readers"
        );
        for guard in &mut guards {
            assert_eq!(
                guard.value(),
                model.value,
                "{at}: a guard sees a stale value"
            );
            if let Some(value) = guard.bump() {
                model.value = value;
            }
        }
    }
    // Everything given back: free, nobody counted.
    drop(upgrade);
    drop(pending);
    drop(guards);
    assert!(!lock.is_locked());
    assert_eq!(lock.waiters(), 0);
    assert!(lock.try_write().is_some());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn rwlock_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops);
    }
}
