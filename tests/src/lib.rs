//! Shared test code: one contract suite per port, which every adapter of that port runs, and
//! `spawn_app`, which starts the real application on a free port with its own data directory.

pub mod alerting;
pub mod cloud;
pub mod contract;
pub mod dead_letters;
pub mod events;
pub mod harness;
pub mod process;
pub mod servers;

/// Polls `check` until it returns `Some`, or fails after `deadline`: tests never sleep blindly.
pub async fn eventually<T, F, Fut>(what: &str, deadline: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
