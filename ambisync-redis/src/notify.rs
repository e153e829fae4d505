//! Waking local waiters from Redis pub/sub.
//!
//! One RESP3 connection (a `ConnectionManager`) subscribes to the channels
//! of the primitives that have waiters. Every channel has a generation
//! counter in a `watch` channel: a message bumps it, and a waiter that read
//! the generation before its last attempt wakes when it changes.
//!
//! When the connection drops (Redis restarted, `CLIENT KILL`...), the manager
//! reconnects; the dispatcher task then subscribes to every channel again and,
//! once Redis confirmed, bumps every generation: a release published while the
//! subscription was down is seen by the waiters' next attempt.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::bounded;
use crate::error::{Error, Result};

enum Control {
    Subscribe(String, oneshot::Sender<Result<()>>),
    Unsubscribe(String),
    Disconnected,
}

struct Entry {
    generation: watch::Sender<u64>,
    users: usize,
    subscribed: bool,
}

#[derive(Default)]
struct Shared {
    channels: Mutex<HashMap<String, Entry>>,
    resubscriptions: AtomicU64,
    messages: AtomicU64,
}

impl Shared {
    fn channels(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // The map stays consistent across a panic (each change is one call).
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self, channel: &[u8]) {
        let Ok(channel) = std::str::from_utf8(channel) else {
            return;
        };
        self.messages.fetch_add(1, Ordering::Relaxed);
        if let Some(entry) = self.channels().get(channel) {
            entry.generation.send_modify(|g| *g = g.wrapping_add(1));
        }
    }

    fn bump_all(&self) {
        for entry in self.channels().values() {
            entry.generation.send_modify(|g| *g = g.wrapping_add(1));
        }
    }
}

/// The pub/sub side of a client.
pub(crate) struct Notifier {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    stop: CancellationToken,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channels = self.shared.channels();
        f.debug_struct("Notifier")
            .field("channels", &channels.len())
            .field(
                "waiting_handles",
                &channels.values().map(|e| e.users).sum::<usize>(),
            )
            .field("messages", &self.shared.messages.load(Ordering::Relaxed))
            .field("resubscriptions", &self.resubscriptions())
            .finish()
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Notifier {
    pub(crate) async fn start(
        client: &redis::Client,
        config: ConnectionManagerConfig,
        op_timeout: Duration,
        handle: &Handle,
    ) -> Result<Notifier> {
        let shared = Arc::new(Shared::default());
        let (control, receiver) = mpsc::unbounded_channel();
        let pushes = {
            let shared = Arc::downgrade(&shared);
            let control = control.clone();
            move |info: PushInfo| -> std::result::Result<(), ()> {
                match info.kind {
                    PushKind::Message => {
                        if let (Some(shared), Some(Value::BulkString(channel))) =
                            (shared.upgrade(), info.data.first())
                        {
                            shared.bump(channel);
                        }
                    }
                    PushKind::Disconnection => {
                        let _ = control.send(Control::Disconnected);
                    }
                    _ => {}
                }
                Ok(())
            }
        };
        let manager = bounded(
            op_timeout,
            client.get_connection_manager_with_config(config.set_push_sender(pushes)),
        )
        .await??;
        let stop = CancellationToken::new();
        handle.spawn(dispatch(
            shared.clone(),
            manager,
            receiver,
            stop.clone(),
            op_timeout,
        ));
        Ok(Notifier {
            shared,
            control,
            stop,
        })
    }

    pub(crate) fn resubscriptions(&self) -> u64 {
        self.shared.resubscriptions.load(Ordering::Relaxed)
    }

    /// A handle on `channel` that keeps it subscribed (once asked to) while
    /// it lives.
    pub(crate) fn listener(&self, channel: String) -> Listener {
        let generation = {
            let mut channels = self.shared.channels();
            let entry = channels.entry(channel.clone()).or_insert_with(|| Entry {
                generation: watch::Sender::new(0),
                users: 0,
                subscribed: false,
            });
            entry.users += 1;
            entry.generation.subscribe()
        };
        Listener {
            shared: self.shared.clone(),
            control: self.control.clone(),
            channel,
            generation,
        }
    }
}

/// One primitive's interest in its channel.
pub(crate) struct Listener {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    channel: String,
    generation: watch::Receiver<u64>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("channel", &self.channel)
            .finish()
    }
}

impl Listener {
    /// A receiver of the channel's generation, for one waiter.
    pub(crate) fn receiver(&self) -> watch::Receiver<u64> {
        self.generation.clone()
    }

    /// Makes sure Redis has confirmed the subscription to the channel; waits
    /// at most `budget`.
    pub(crate) async fn subscribe(&self, budget: Duration) -> Result<()> {
        let subscribed = self
            .shared
            .channels()
            .get(&self.channel)
            .is_some_and(|e| e.subscribed);
        if subscribed {
            return Ok(());
        }
        let (ack, answer) = oneshot::channel();
        self.control
            .send(Control::Subscribe(self.channel.clone(), ack))
            .map_err(|_| Error::RuntimeGone)?;
        bounded(budget, answer)
            .await?
            .map_err(|_| Error::RuntimeGone)?
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut channels = self.shared.channels();
        if let Some(entry) = channels.get_mut(&self.channel) {
            entry.users -= 1;
            if entry.users == 0 {
                let subscribed = entry.subscribed;
                channels.remove(&self.channel);
                if subscribed {
                    let _ = self
                        .control
                        .send(Control::Unsubscribe(self.channel.clone()));
                }
            }
        }
    }
}

async fn dispatch(
    shared: Arc<Shared>,
    mut manager: ConnectionManager,
    mut control: mpsc::UnboundedReceiver<Control>,
    stop: CancellationToken,
    op_timeout: Duration,
) {
    loop {
        let command = tokio::select! {
            _ = stop.cancelled() => return,
            command = control.recv() => command,
        };
        match command {
            None => return,
            Some(Control::Subscribe(channel, ack)) => {
                let result = bounded(op_timeout, manager.subscribe(&channel))
                    .await
                    .and_then(|r| r.map_err(Error::from));
                if result.is_ok()
                    && let Some(entry) = shared.channels().get_mut(&channel)
                {
                    entry.subscribed = true;
                }
                let _ = ack.send(result);
            }
            Some(Control::Unsubscribe(channel)) => {
                // A new listener may have come since; then keep it.
                if !shared.channels().contains_key(&channel) {
                    let _ = bounded(op_timeout, manager.unsubscribe(&channel)).await;
                }
            }
            Some(Control::Disconnected) => {
                resubscribe(&shared, &mut manager, &stop, op_timeout).await;
            }
        }
    }
}

/// Subscribes to every channel again until Redis confirms, then wakes every
/// waiter so it re-checks what it may have missed.
async fn resubscribe(
    shared: &Shared,
    manager: &mut ConnectionManager,
    stop: &CancellationToken,
    op_timeout: Duration,
) {
    let mut delay = Duration::from_millis(10);
    loop {
        let channels: Vec<String> = shared.channels().keys().cloned().collect();
        let result = if channels.is_empty() {
            bounded(op_timeout, redis::cmd("PING").exec_async(manager)).await
        } else {
            bounded(op_timeout, manager.subscribe(&channels)).await
        };
        if let Ok(Ok(())) = result {
            for channel in &channels {
                if let Some(entry) = shared.channels().get_mut(channel) {
                    entry.subscribed = true;
                }
            }
            break;
        }
        let until = Instant::now() + delay;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(until) => {}
        }
        delay = (delay * 2).min(Duration::from_millis(500));
    }
    shared.resubscriptions.fetch_add(1, Ordering::Relaxed);
    shared.bump_all();
}
