// ---------------------------------------------------------------------------
// The gate: ambisync's BoundedSemaphore, or tokio's Semaphore for comparison.
// ---------------------------------------------------------------------------

use std::sync::Arc;

use ambisync::{BoundedSemaphore, OwnedSemaphorePermit};

/// Which semaphore caps the requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateKind {
    /// `ambisync::BoundedSemaphore`.
    Ambisync,
    /// `tokio::sync::Semaphore`, the baseline.
    Tokio,
}

impl GateKind {
    /// The name used on the command line and in `STATS`.
    pub fn name(self) -> &'static str {
        match self {
            GateKind::Ambisync => "ambisync",
            GateKind::Tokio => "tokio",
        }
    }

    /// The semaphore type, for reports.
    pub fn type_name(self) -> &'static str {
        match self {
            GateKind::Ambisync => "ambisync::BoundedSemaphore",
            GateKind::Tokio => "tokio::sync::Semaphore",
        }
    }

    /// The inverse of [`name`](GateKind::name).
    pub fn from_name(name: &str) -> Option<GateKind> {
        [GateKind::Ambisync, GateKind::Tokio]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// The semaphore that caps concurrent requests.
#[derive(Clone, Debug)]
pub enum Gate {
    /// Gated by ambisync; its bound is the limit.
    Ambisync(Arc<BoundedSemaphore>),
    /// Gated by tokio, which has no bound of its own, so the limit is kept.
    Tokio {
        /// The semaphore.
        semaphore: Arc<tokio::sync::Semaphore>,
        /// The permits it was created with.
        limit: usize,
    },
}

/// A permit from either gate; dropping it gives the permit back.
#[derive(Debug)]
pub enum GatePermit {
    /// Held only for its `Drop`.
    Ambisync(OwnedSemaphorePermit),
    /// Held only for its `Drop`.
    Tokio(tokio::sync::OwnedSemaphorePermit),
}

impl Gate {
    /// A gate of `kind` with `limit` permits.
    pub fn new(kind: GateKind, limit: usize) -> Gate {
        match kind {
            GateKind::Ambisync => Gate::Ambisync(Arc::new(BoundedSemaphore::new(limit))),
            GateKind::Tokio => Gate::Tokio {
                semaphore: Arc::new(tokio::sync::Semaphore::new(limit)),
                limit,
            },
        }
    }

    /// Which semaphore this is.
    pub fn kind(&self) -> GateKind {
        match self {
            Gate::Ambisync(_) => GateKind::Ambisync,
            Gate::Tokio { .. } => GateKind::Tokio,
        }
    }

    /// How many requests may run at once.
    pub fn limit(&self) -> usize {
        match self {
            Gate::Ambisync(semaphore) => semaphore.bound(),
            Gate::Tokio { limit, .. } => *limit,
        }
    }

    /// Permits free right now.
    pub fn available(&self) -> usize {
        match self {
            Gate::Ambisync(semaphore) => semaphore.available_permits(),
            Gate::Tokio { semaphore, .. } => semaphore.available_permits(),
        }
    }

    /// Takes a permit if one is free.
    pub fn try_acquire(&self) -> Option<GatePermit> {
        match self {
            Gate::Ambisync(semaphore) => semaphore.try_acquire_owned().map(GatePermit::Ambisync),
            Gate::Tokio { semaphore, .. } => Arc::clone(semaphore)
                .try_acquire_owned()
                .ok()
                .map(GatePermit::Tokio),
        }
    }

    /// Waits for a permit. Cancel safe with both semaphores: a dropped
    /// acquire holds no permit.
    pub async fn acquire(&self) -> GatePermit {
        match self {
            Gate::Ambisync(semaphore) => GatePermit::Ambisync(semaphore.acquire_owned().await),
            Gate::Tokio { semaphore, .. } => GatePermit::Tokio(
                Arc::clone(semaphore)
                    .acquire_owned()
                    .await
                    .expect("the gate semaphore is never closed"),
            ),
        }
    }
}
