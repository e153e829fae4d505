//! Who "the caller" is, for reentrant locks: the tokio task, else the thread.

use std::fmt;

/// A caller's identity as one non-zero word, so that an owner fits in an atomic.
///
/// Tasks and threads never collide: a task's token is even, a thread's odd.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner(pub(crate) u64);

/// The value of an owner slot that nobody holds.
pub(crate) const NOBODY: u64 = 0;

impl Owner {
    /// The caller: the current tokio task when there is one, else the thread.
    pub(crate) fn current() -> Owner {
        #[cfg(feature = "tokio")]
        if let Some(task) = tokio::task::try_id() {
            return Owner(task_number(task) << 1);
        }
        Owner(thread_token())
    }

    /// Describes an owner word for `Debug` output.
    pub(crate) fn describe(word: u64) -> impl fmt::Debug {
        struct Described(u64);
        impl fmt::Debug for Described {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    NOBODY => f.write_str("nobody"),
                    w if w & 1 == 0 => write!(f, "task {}", w >> 1),
                    w => write!(f, "thread #{}", w >> 1),
                }
            }
        }
        Described(word)
    }
}

/// A tokio task id as a number. `Id` is opaque but hashes its `u64`, which this
/// hasher captures; any other shape of hashing is folded in, still unique
/// enough to tell tasks apart.
#[cfg(feature = "tokio")]
pub(crate) fn task_number(id: tokio::task::Id) -> u64 {
    use std::hash::{Hash, Hasher};

    struct Capture(u64);
    impl Hasher for Capture {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &byte in bytes {
                self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    let mut capture = Capture(0);
    id.hash(&mut capture);
    // Keep one bit free for the task/thread tag; a zero would read as NOBODY.
    (capture.finish() & (u64::MAX >> 1)).max(1)
}

/// This thread's odd token, handed out once per thread from a counter.
#[cfg(not(ambisync_loom))]
fn thread_token() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};

    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = (NEXT.fetch_add(1, Ordering::Relaxed) << 1) | 1;
    }
    TOKEN.with(|token| *token)
}

/// loom runs every model thread on one OS thread, so std's thread-local would
/// make them one owner: the token comes from loom's thread id instead.
#[cfg(ambisync_loom)]
fn thread_token() -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};

    let mut hasher = DefaultHasher::new();
    crate::wait::sync::thread::current().id().hash(&mut hasher);
    (hasher.finish() << 1) | 1
}
