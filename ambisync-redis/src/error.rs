//! The one error type of the crate: every operation that talks to Redis
//! returns it instead of panicking.

use std::fmt;
use std::time::Duration;

/// What went wrong while talking to Redis, or with a lease.
///
/// Each variant has a short lowercase message, in the style of the core
/// crate's errors.
///
/// ```
/// use ambisync_redis::Error;
///
/// assert_eq!(Error::NotHeld.to_string(), "lease not held (expired or released)");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Redis refused the command or the connection failed (refused, reset,
    /// authentication or ACL error, script error...). The cause is inside.
    Redis(redis::RedisError),
    /// Redis did not answer within the time the call had: the client's
    /// operation timeout, or what was left of the caller's own timeout.
    Timeout(Duration),
    /// A release, renewal or `forget` of a permit or lock whose lease this
    /// holder no longer has: it expired (the holder was paused, or Redis lost
    /// it) or it was released already. The in-process counterpart is
    /// `BoundedSemaphore`'s "semaphore released too many times".
    NotHeld,
    /// A raw [`BoundedSemaphore::release`](crate::BoundedSemaphore::release)
    /// that would raise the permits above the bound; nothing was changed.
    TooManyReleases,
    /// An argument the crate cannot use (an empty name, a zero lease...).
    InvalidArgument(&'static str),
    /// Redis answered something the crate's scripts never return.
    Protocol(String),
    /// The tokio runtime that drives this client's connections has shut down.
    RuntimeGone,
    /// The queue was shut down: a `put` after
    /// [`Queue::shutdown`](crate::Queue::shutdown), or a `get` once the
    /// queue is shut down and empty (Python's `queue.ShutDown`).
    ShutDown,
    /// The barrier is broken (a party's wait timed out, or a waiting party
    /// died; see [`Barrier`](crate::Barrier)), or was reset or aborted while
    /// this caller waited (Python's `BrokenBarrierError`).
    BrokenBarrier,
    /// An item read from Redis could not be decoded into the queue's item
    /// type (another program put something else under the same name).
    Decode(String),
}

impl Error {
    /// Whether the error says Redis could not be reached, did not answer, or
    /// is still loading its data after a restart (as opposed to a refused
    /// command or a lost lease): worth retrying.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Timeout(_) | Error::RuntimeGone => true,
            Error::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    // A restarted Redis still loading its data (AOF, RDB).
                    || e.kind()
                        == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Redis(e) => write!(f, "redis: {e}"),
            Error::Timeout(d) => write!(f, "redis did not answer within {d:?}"),
            Error::NotHeld => f.write_str("lease not held (expired or released)"),
            Error::TooManyReleases => f.write_str("semaphore released too many times"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::Protocol(what) => write!(f, "unexpected reply from redis: {what}"),
            Error::RuntimeGone => f.write_str("the client's tokio runtime has shut down"),
            Error::ShutDown => f.write_str("queue is shut down"),
            Error::BrokenBarrier => f.write_str("barrier is broken"),
            Error::Decode(what) => write!(f, "cannot decode item: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(e) => Some(e),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Redis(e)
    }
}

/// The result type of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
