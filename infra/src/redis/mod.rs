//! Cloud-mode cache and live updates on Redis. Every key and channel starts with a namespace, so
//! several deployments (or tests) can share one server.

pub mod cache;
pub mod live_feed;
pub mod usage;

use std::future::Future;
use std::time::Duration;

/// How long a Redis call may take before it counts as down: reads then fall back to PostgreSQL
/// instead of waiting for a server that is not there.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);

async fn bounded<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
    }
}

/// A connection that reconnects by itself after Redis comes back.
async fn connect(url: &str) -> Result<redis::aio::ConnectionManager, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    bounded(redis::aio::ConnectionManager::new(client)).await
}
