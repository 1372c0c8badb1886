//! Stopping every wait of a run at once, and the counters a run's summary shows.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Counters shared by every lane of a run (for the summary).
#[derive(Debug, Default)]
pub struct Stats {
    pub attempts: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub paused_ms: AtomicU64,
    /// Kinds of retried errors already shown at default verbosity.
    pub shown: Mutex<HashSet<String>>,
}

impl Stats {
    /// Whether this is the first retry of its kind in the run (to be shown).
    pub fn first_of_kind(&self, kind: &str) -> bool {
        self.shown
            .lock()
            .is_ok_and(|mut s| s.insert(kind.to_string()))
    }
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
