//! The acquire loop shared by every primitive: attempt, and when busy,
//! subscribe, attempt again, and sleep until a notification or the earliest
//! lease expiry, whichever comes first.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::Inner;
use crate::error::Result;
use crate::notify::Listener;

/// The answer of one attempt.
pub(crate) enum Attempt<G> {
    Granted(G),
    /// Not now; the earliest lease ends in this much time, if Redis knows.
    Busy(Option<Duration>),
}

/// A little after the earliest lease expiry, so that the retry finds it
/// expired by the server's clock.
const EXPIRY_MARGIN: Duration = Duration::from_millis(2);
/// When no lease is held (a semaphore with no capacity left, waiting for a
/// raw `release`, which publishes) or Redis cannot say when one ends, look
/// again after this long anyway: a safety net, not the wake-up path.
pub(crate) const UNKNOWN_EXPIRY_RETRY: Duration = Duration::from_secs(1);

/// Acquires with `attempt` until granted or `deadline` passes (`Ok(None)`).
/// `attempt` gets the time budget of its round trip.
pub(crate) async fn acquire<G, F, Fut>(
    client: &Inner,
    listener: &Listener,
    deadline: Option<Instant>,
    mut attempt: F,
) -> Result<Option<G>>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<Attempt<G>>>,
{
    let mut generation = listener.receiver();
    let mut subscribed = false;
    let mut budget = client.first_budget(deadline);
    loop {
        generation.borrow_and_update();
        let busy = match attempt(budget).await? {
            Attempt::Granted(granted) => return Ok(Some(granted)),
            Attempt::Busy(busy) => busy,
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        budget = client.budget(deadline);
        if !subscribed {
            // Attempt once more once subscribed: a release may have been
            // published before the subscription took effect.
            listener.subscribe(budget).await?;
            subscribed = true;
            budget = client.budget(deadline);
            continue;
        }
        let mut wake = Instant::now() + busy.map_or(UNKNOWN_EXPIRY_RETRY, |d| d + EXPIRY_MARGIN);
        if let Some(deadline) = deadline {
            wake = wake.min(deadline);
        }
        tokio::select! {
            _ = generation.changed() => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        budget = client.budget(deadline);
    }
}
