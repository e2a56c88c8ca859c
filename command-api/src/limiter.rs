//! Holds each device to its limits (its own over its kind's over the default) before its batch
//! is decided, and gives back what was taken for a batch that was not stored. A device without
//! limits costs nothing: the counter is not asked.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use watershed_domain::limits::{Decision, LimitPolicy, Limits};
use watershed_domain::ports::UsageCounter;
use watershed_domain::{Admission, DeviceId};
use watershed_http_edge::ApiError;

#[derive(Clone)]
pub struct Limiter {
    pub policy: Arc<LimitPolicy>,
    pub counter: Arc<dyn UsageCounter>,
}

/// Readings taken from a device's budget; give them back if the batch is not stored.
#[must_use]
pub struct Taken {
    limits: Limits,
    n: u64,
    pub decision: Decision,
}

impl Limiter {
    /// Takes `n` readings for the admitted device: `Ok(None)` when it has no limits, 429 when it
    /// is over one. A counter that cannot be asked lets the batch through: ingest does not stop
    /// for the limiter's store (counted in `watershed_limiter_errors_total`).
    pub async fn take(
        &self,
        id: &DeviceId,
        admission: &Admission,
        n: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<Taken>, ApiError> {
        let limits = self
            .policy
            .for_device(admission.kind.as_ref(), admission.limits);
        if limits.is_unlimited() {
            return Ok(None);
        }
        let decision = match self.counter.take(id, n, &limits, now).await {
            Ok(decision) => decision,
            Err(e) => {
                tracing::warn!(device_id = %id, error = %e, "limits not checked");
                metrics::counter!("watershed_limiter_errors_total").increment(1);
                return Ok(None);
            }
        };
        if !decision.granted() {
            metrics::counter!("watershed_ingest_throttled_readings_total").increment(n);
            return Err(ApiError::Throttled(decision));
        }
        Ok(Some(Taken {
            limits,
            n,
            decision,
        }))
    }

    /// Gives back what `taken` took: the batch was a resend, refused or not stored.
    pub async fn give_back(&self, id: &DeviceId, taken: Taken, now: DateTime<Utc>) {
        if let Err(e) = self.counter.refund(id, taken.n, &taken.limits, now).await {
            tracing::warn!(device_id = %id, error = %e, "usage not given back");
            metrics::counter!("watershed_limiter_errors_total").increment(1);
        }
    }
}
