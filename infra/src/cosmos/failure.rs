//! Which Cosmos DB failures are worth another try and which reach the caller. The SDK retries on
//! its own before an error gets here: 429 with the service's retry-after (the budget is set in
//! `client.rs`), 449 RetryWith, 408/503/410 by failing over, and transport errors — writes
//! included, since duplicate ids make a repeated create fail rather than write twice. So an
//! error from the SDK is final here; only failures the SDK cannot see (one operation of a
//! transactional batch throttled inside a 207 answer) are retried by the store.

use std::time::Duration;

use azure_data_cosmos::CosmosError;
use watershed_domain::ports::StoreError;

/// What a status means to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// 429: the partition's throughput is used up for now.
    Throttled,
    /// 408, 449, 503, 410 and transport failures: the service may answer the same request later.
    Transient,
    /// Anything else: trying again would get the same answer.
    Refused,
}

impl Failure {
    pub(super) fn of(status: u16) -> Self {
        match status {
            429 => Self::Throttled,
            408 | 410 | 449 | 503 => Self::Transient,
            _ => Self::Refused,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Transient => "temporarily failing",
            Self::Refused => "refused",
        }
    }
}

/// An SDK error, after the SDK's own retries, as the port's error: nothing was acknowledged.
pub(super) fn unavailable(doing: &str, error: CosmosError) -> StoreError {
    let status = u16::from(error.status().status_code());
    let failure = Failure::of(status);
    tracing::warn!(%error, status, ?failure, "cosmos db {doing} failed");
    StoreError::Unavailable(format!("cosmos db {} {doing}: {error}", failure.describe()))
}

/// How often an append is tried again when its batch was throttled or failed transiently inside
/// a 207 answer, which the SDK hands back as a success. A failed batch wrote nothing, so another
/// try is safe.
#[derive(Debug, Clone, Copy)]
pub(super) struct BatchRetry {
    pub(super) attempts: u32,
    first_delay: Duration,
    max_delay: Duration,
}

impl BatchRetry {
    /// Enough to ride out a throttled second without holding an ingest request much longer.
    pub(super) const DEFAULT: Self = Self {
        attempts: 5,
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
    };

    /// The wait before try `attempt` (1 is the first retry): the service's retry-after when it
    /// gave one, else doubling from `first_delay`; never more than `max_delay`.
    pub(super) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self
            .first_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        retry_after.unwrap_or(backoff).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_and_bad_requests_are_not_retried() {
        assert_eq!(Failure::of(409), Failure::Refused);
        assert_eq!(Failure::of(400), Failure::Refused);
        assert_eq!(Failure::of(429), Failure::Throttled);
        assert_eq!(Failure::of(449), Failure::Transient);
    }

    #[test]
    fn batch_retries_honour_retry_after_within_the_cap() {
        let retry = BatchRetry::DEFAULT;
        assert_eq!(retry.delay(1, None), Duration::from_millis(50));
        assert_eq!(retry.delay(3, None), Duration::from_millis(200));
        assert_eq!(
            retry.delay(1, Some(Duration::from_millis(7))),
            Duration::from_millis(7)
        );
        assert_eq!(retry.delay(9, None), Duration::from_secs(1));
    }
}
