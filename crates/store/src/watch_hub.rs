//! Watch fan-out for backends that keep their own history (memory, SQLite).
//!
//! Every committed event is published once on a broadcast channel. Each
//! watcher is a task that first replays history from its start revision,
//! then follows the live channel. A watcher that falls behind the channel
//! (a slow consumer) goes back to history from the last revision it
//! delivered, so no watcher ever sees a gap or a duplicate, and a thousand
//! watchers cost one copy of each event.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc};

use crate::keys::KeyRange;
use crate::{Event, Result, Revision, StoreError, WatchStream};

/// How many events of history a watcher reads at a time while catching up.
const HISTORY_BATCH: usize = 1024;
/// Events buffered between a watcher task and its consumer.
const WATCHER_BUFFER: usize = 256;
/// Live events kept for watchers that are momentarily behind.
const LIVE_BUFFER: usize = 4096;

/// A backend's event history, for watchers catching up.
#[async_trait]
pub(crate) trait History: Send + Sync + 'static {
    /// Up to `limit` events for keys in `range` with revision `>= from`, in
    /// revision order; `Compacted` if `from` is below the compacted revision.
    async fn events_since(
        &self,
        range: &KeyRange,
        from: Revision,
        limit: usize,
    ) -> Result<Vec<Event>>;

    /// The revision of the latest published event.
    fn current_revision(&self) -> Revision;

    fn compacted_revision(&self) -> Revision;
}

pub(crate) struct WatchHub {
    live: broadcast::Sender<Arc<Event>>,
}

impl WatchHub {
    pub fn new() -> WatchHub {
        WatchHub {
            live: broadcast::channel(LIVE_BUFFER).0,
        }
    }

    /// Sends committed events to the watchers. Call after the commit and
    /// after the revision `History::current_revision` reports has moved.
    pub fn publish(&self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            // An error only means there is no watcher right now.
            let _ = self.live.send(Arc::new(event));
        }
    }

    pub fn watch(
        &self,
        history: Arc<dyn History>,
        prefix: &str,
        start_revision: Revision,
    ) -> Result<WatchStream> {
        // Subscribe before reading the current revision: any event after it
        // is then sure to reach the subscription.
        let live = self.live.subscribe();
        let next = if start_revision == 0 {
            history.current_revision() + 1
        } else {
            start_revision
        };
        let compacted = history.compacted_revision();
        if next < compacted {
            return Err(StoreError::Compacted {
                requested: next,
                compacted,
            });
        }
        let (sender, receiver) = mpsc::channel(WATCHER_BUFFER);
        let watcher = Watcher {
            history,
            range: KeyRange::new(prefix, None),
            next,
            live,
            sender,
        };
        tokio::spawn(watcher.run());
        Ok(Box::pin(futures_util::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        )))
    }
}

struct Watcher {
    history: Arc<dyn History>,
    range: KeyRange,
    /// The lowest revision not yet delivered.
    next: Revision,
    live: broadcast::Receiver<Arc<Event>>,
    sender: mpsc::Sender<Result<Event>>,
}

/// Why a watcher stopped following the live channel.
enum Fell {
    Behind,
    Out,
}

impl Watcher {
    async fn run(mut self) {
        loop {
            if let Err(error) = self.catch_up().await {
                let _ = self.sender.send(Err(error)).await;
                return;
            }
            match self.follow_live().await {
                Fell::Behind => continue,
                Fell::Out => return,
            }
        }
    }

    /// Delivers history from `next` until a read comes back short: from
    /// then on the live channel holds everything newer.
    async fn catch_up(&mut self) -> Result<()> {
        loop {
            let events = self
                .history
                .events_since(&self.range, self.next, HISTORY_BATCH)
                .await?;
            let caught_up = events.len() < HISTORY_BATCH;
            for event in events {
                self.next = event.revision() + 1;
                if self.sender.send(Ok(event)).await.is_err() {
                    // The consumer is gone; the live loop notices at once.
                    return Ok(());
                }
            }
            if caught_up {
                return Ok(());
            }
        }
    }

    async fn follow_live(&mut self) -> Fell {
        loop {
            let received = tokio::select! {
                _ = self.sender.closed() => return Fell::Out,
                received = self.live.recv() => received,
            };
            let event = match received {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(_)) => return Fell::Behind,
                Err(broadcast::error::RecvError::Closed) => {
                    let closed = StoreError::Unavailable("store closed".into());
                    let _ = self.sender.send(Err(closed)).await;
                    return Fell::Out;
                }
            };
            // Already delivered from history, or not ours.
            if event.revision() < self.next || !self.range.contains(event.kv.key.as_bytes()) {
                continue;
            }
            self.next = event.revision() + 1;
            if self.sender.send(Ok((*event).clone())).await.is_err() {
                return Fell::Out;
            }
        }
    }
}
