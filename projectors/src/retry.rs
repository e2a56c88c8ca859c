//! Waiting out a dependency that is down: every worker here retries the same step with a doubling,
//! capped wait until it succeeds or the process is asked to stop.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use watershed_domain::ports::{BusError, EventBus, EventSubscription};
use watershed_domain::RecordedEvent;

/// How long to wait between attempts when a dependency is down: doubling, capped.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub first: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    pub(crate) fn next(&self, current: Duration) -> Duration {
        (current * 2).min(self.max)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(50),
            max: Duration::from_secs(5),
        }
    }
}

/// Shutdown began before the step succeeded.
pub(crate) struct Stopped;

/// Tries `step` until it succeeds or shutdown begins, waiting longer after each failure.
pub(crate) async fn retrying<T, E, F, Fut>(
    policy: RetryPolicy,
    shutdown: &CancellationToken,
    what: &str,
    mut step: F,
) -> Result<T, Stopped>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut wait = policy.first;
    loop {
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return Err(Stopped),
            outcome = step() => outcome,
        };
        match outcome {
            Ok(value) => return Ok(value),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?wait, "{what} failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(Stopped),
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = policy.next(wait);
            }
        }
    }
}

/// Why no batch came.
#[derive(Debug)]
pub(crate) enum NoBatch {
    /// Shutdown began.
    Stopped,
    /// The bus holds something this consumer cannot read; reading on would skip it.
    Malformed(BusError),
}

impl From<Stopped> for NoBatch {
    fn from(_: Stopped) -> Self {
        Self::Stopped
    }
}

/// The subscription's next batch (at most `max` events). While the bus is unavailable it waits the
/// longest retry interval between attempts: a broker that is down is not hammered. A malformed
/// message is not waited out: the caller's error policy decides.
pub(crate) async fn next_batch(
    subscription: &mut dyn EventSubscription,
    max: usize,
    policy: RetryPolicy,
    shutdown: &CancellationToken,
) -> Result<Vec<RecordedEvent>, NoBatch> {
    loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => return Err(NoBatch::Stopped),
            batch = subscription.next_batch(max) => batch,
        };
        match batch {
            Ok(events) => return Ok(events),
            Err(e @ BusError::Malformed(_)) => return Err(NoBatch::Malformed(e)),
            Err(e) => {
                tracing::warn!(error = %e, "bus unavailable; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(NoBatch::Stopped),
                    _ = tokio::time::sleep(policy.max) => {}
                }
            }
        }
    }
}

/// Why a worker's endless loop ended: shutdown, or an error it cannot wait out.
pub(crate) enum Failure<E> {
    Stopped,
    Failed(E),
}

impl<E> From<Stopped> for Failure<E> {
    fn from(_: Stopped) -> Self {
        Self::Stopped
    }
}

impl<E> Failure<E> {
    /// A worker's result: shutdown is a clean end.
    pub(crate) fn outcome(looped: Result<std::convert::Infallible, Self>) -> Result<(), E> {
        match looped {
            Ok(never) => match never {},
            Err(Self::Stopped) => Ok(()),
            Err(Self::Failed(e)) => Err(e),
        }
    }

    /// What a failed `next_batch` means to a worker whose error wraps the bus's.
    pub(crate) fn of_batch(no_batch: NoBatch) -> Self
    where
        E: From<BusError>,
    {
        match no_batch {
            NoBatch::Stopped => Self::Stopped,
            NoBatch::Malformed(e) => Self::Failed(e.into()),
        }
    }
}

/// A worker's consumer group on the bus, for workers that act on events and keep no read model
/// (their place is the bus's commit): subscribed once, read batch by batch, committed after each.
pub(crate) struct Consumer {
    subscription: Box<dyn EventSubscription>,
    group: String,
    batch_size: usize,
    retry: RetryPolicy,
}

impl Consumer {
    /// Subscribes as `group`, waiting out a bus that is down.
    pub(crate) async fn subscribe(
        bus: &dyn EventBus,
        group: &str,
        batch_size: usize,
        retry: RetryPolicy,
        shutdown: &CancellationToken,
    ) -> Result<Self, Stopped> {
        let subscription = retrying(retry, shutdown, "subscribing to the bus", || {
            bus.subscribe(group)
        })
        .await?;
        Ok(Self {
            subscription,
            group: group.to_owned(),
            batch_size,
            retry,
        })
    }

    /// The next batch, as [`next_batch`] waits for it.
    pub(crate) async fn next<E: From<BusError>>(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<Vec<RecordedEvent>, Failure<E>> {
        next_batch(
            &mut *self.subscription,
            self.batch_size,
            self.retry,
            shutdown,
        )
        .await
        .map_err(Failure::of_batch)
    }

    /// Commits what was read. A failure is only logged: the batch comes again after a restart,
    /// which the worker must take as harmless.
    pub(crate) async fn commit(&mut self) {
        if let Err(e) = self.subscription.commit().await {
            tracing::warn!(error = %e, group = self.group, "bus commit failed; a restart reads this batch again");
        }
    }
}
