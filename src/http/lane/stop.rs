//! Stopping every wait of a run at once, and the counters a run's summary shows.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::watch;

/// Counters shared by every lane of a run (for the summary).
#[derive(Debug, Default)]
pub struct Stats {
    pub attempts: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub paused_ms: AtomicU64,
}

/// Tells every wait to give up (first Ctrl-C, fatal answer, `--max-wait`).
#[derive(Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop {
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Stop {
    pub fn stop(&self) {
        self.tx.send_replace(true);
    }
    pub fn is_stopped(&self) -> bool {
        *self.tx.borrow()
    }
    pub async fn stopped(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}
