//! What the primitives share: the waiting loop, waiter-counted signals,
//! caller identity and the check that refuses to block a runtime thread.

pub(crate) mod coop;
pub(crate) mod hand_off;
pub(crate) mod owner;
pub(crate) mod runtime;
pub(crate) mod signal;
pub(crate) mod sync;
pub(crate) mod wait;
pub(crate) mod waiters;
pub(crate) mod wake_all;

pub(crate) use signal::Signal;
#[cfg(feature = "tokio")]
pub(crate) use wait::with_timeout;
pub(crate) use wait::{
    CountedIn, Registration, WaiterCount, block_until, block_until_rechecking, deadline_after,
    wait_until,
};
