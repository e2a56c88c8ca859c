//! Recording a device's batch, whichever way it arrived (HTTP or MQTT): the key first, then the
//! batch, decided against the device and appended. Both transports answer with what this returns.

use chrono::Utc;
use uuid::Uuid;
use watershed_domain::{BatchId, Command, Credential, DeviceId, IdempotencyKey, KeyHash};
use watershed_http_edge::ApiError;

use crate::handler::{CommandContext, Outcome};
use crate::routes::{api_error, readings::RecordReadings};
use crate::CommandState;

/// A batch the event store holds: appended now, or found there by its batch id.
#[derive(Debug)]
pub struct Recorded {
    pub outcome: Outcome,
    pub batch_id: BatchId,
}

impl CommandState {
    /// Checks a device's key or token before any other work is done for a request; answers the
    /// hash of the key it proves. An unknown device, a wrong key and a bad token are the same
    /// refusal, so ids cannot be probed.
    pub async fn authenticate(&self, id: &DeviceId, presented: &str) -> Result<KeyHash, ApiError> {
        let unknown =
            || ApiError::Unauthorized("unknown device, or not its key or token".to_owned());
        let credential = Credential::parse(presented).map_err(|_| unknown())?;
        self.handler
            .authenticate(id, &credential, Utc::now())
            .await
            .map_err(|e| api_error(id, e))
    }

    /// Validates and records one batch of `id`, presented with `key`. Success means durable.
    pub async fn record(
        &self,
        id: &DeviceId,
        key: KeyHash,
        body: RecordReadings,
        correlation_id: Option<Uuid>,
    ) -> Result<Recorded, ApiError> {
        let now = Utc::now();
        let batch = body.into_batch(now)?;
        let batch_id = batch.batch_id().clone();
        let readings = batch.readings().len() as u64;
        let command = Command::RecordReadings {
            presented_key: key,
            presented_at: now,
            batch,
            max_sensors: self.max_sensors,
        };
        let context = CommandContext {
            now,
            correlation_id,
            idempotency_key: Some(IdempotencyKey::batch(&batch_id)),
        };
        let outcome = self
            .handler
            .execute(id, command, context)
            .await
            .map_err(|e| api_error(id, e))?;
        if !outcome.duplicate {
            metrics::counter!("watershed_ingest_readings_total").increment(readings);
        }
        Ok(Recorded { outcome, batch_id })
    }
}
