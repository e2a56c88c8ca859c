//! Recording a device's batch, whichever way it arrived (HTTP or MQTT): the key first, then the
//! batch, decided against the device and appended. Both transports answer with what this returns.

use chrono::Utc;
use uuid::Uuid;
use watershed_domain::limits::Decision;
use watershed_domain::{Admission, BatchId, Command, Credential, DeviceId, IdempotencyKey};
use watershed_http_edge::ApiError;

use crate::handler::{CommandContext, Outcome};
use crate::routes::{api_error, readings::RecordReadings};
use crate::CommandState;

/// A batch the event store holds: appended now, or found there by its batch id.
#[derive(Debug)]
pub struct Recorded {
    pub outcome: Outcome,
    pub batch_id: BatchId,
    /// What is left of the device's limits, when it has any.
    pub limits: Option<Decision>,
}

impl CommandState {
    /// Checks a device's key or token before any other work is done for a request; answers the
    /// key it proves and what its limits depend on. An unknown device, a wrong key and a bad
    /// token are the same refusal, so ids cannot be probed.
    pub async fn authenticate(
        &self,
        id: &DeviceId,
        presented: &str,
    ) -> Result<Admission, ApiError> {
        let unknown =
            || ApiError::Unauthorized("unknown device, or not its key or token".to_owned());
        let credential = Credential::parse(presented).map_err(|_| unknown())?;
        self.handler
            .authenticate(id, &credential, Utc::now())
            .await
            .map_err(|e| api_error(id, e))
    }

    /// As `authenticate`, for a device that starts sending (an MQTT session): refused as well
    /// while it may not send.
    pub async fn authenticate_sender(
        &self,
        id: &DeviceId,
        presented: &str,
    ) -> Result<Admission, ApiError> {
        let admission = self.authenticate(id, presented).await?;
        admission
            .may_send()
            .map_err(|refused| api_error(id, refused.into()))?;
        Ok(admission)
    }

    /// Validates and records one batch of the admitted device `id`, within its limits. Success
    /// means durable.
    pub async fn record(
        &self,
        id: &DeviceId,
        admission: Admission,
        body: RecordReadings,
        correlation_id: Option<Uuid>,
    ) -> Result<Recorded, ApiError> {
        let now = Utc::now();
        let batch = body.into_batch(now)?;
        let batch_id = batch.batch_id().clone();
        let readings = batch.readings().len() as u64;
        // A device that may not send spends nothing: `execute` refuses its batch, and answers a
        // resend of one stored before as the first time.
        let throttle = match admission.may_send() {
            Ok(()) => self.limiter.take(id, &admission, readings, now).await,
            Err(_) => Ok(None),
        };
        let command = Command::RecordReadings {
            presented_key: admission.key,
            presented_at: now,
            batch,
            max_sensors: self.max_sensors,
        };
        let context = CommandContext {
            now,
            correlation_id,
            idempotency_key: Some(IdempotencyKey::batch(&batch_id)),
        };
        let taken = match throttle {
            Ok(taken) => taken,
            // A resend of a stored batch is answered as the first time, over the limits or not.
            Err(throttled @ ApiError::Throttled(decision)) => {
                let replayed = self.handler.replay(id, &command, &context).await;
                return match replayed.map_err(|e| api_error(id, e))? {
                    Some(outcome) => Ok(Recorded {
                        outcome,
                        batch_id,
                        limits: Some(decision),
                    }),
                    None => Err(throttled),
                };
            }
            Err(other) => return Err(other),
        };
        let executed = self.handler.execute(id, command, context).await;
        let limits = taken.as_ref().map(|t| t.decision);
        // Only readings stored now count: a resend was counted when it was stored.
        let stored_now = matches!(&executed, Ok(outcome) if !outcome.duplicate);
        if let (Some(taken), false) = (taken, stored_now) {
            self.limiter.give_back(id, taken, now).await;
        }
        let outcome = executed.map_err(|e| api_error(id, e))?;
        if !outcome.duplicate {
            metrics::counter!("watershed_ingest_readings_total").increment(readings);
        }
        Ok(Recorded {
            outcome,
            batch_id,
            limits,
        })
    }
}
