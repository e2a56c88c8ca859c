//! Raw readings are kept for a window; rollups keep the history. A small periodic task prunes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as Age, Utc};
use tokio_util::sync::CancellationToken;
use watershed_domain::ports::ReadModel;

pub struct RawRetention {
    pub read_model: Arc<dyn ReadModel>,
    pub keep: Age,
    pub every: Duration,
}

impl RawRetention {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.read_model.prune_raw(Utc::now() - self.keep).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "pruned raw readings past retention"),
                Err(e) => tracing::warn!(error = %e, "pruning raw readings failed; will retry"),
            }
        }
    }
}
