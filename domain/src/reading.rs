//! A reading is one measurement of one sensor; a batch is what one ingest request carries.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{BatchId, SensorName, Unit};
use crate::validation::ValidationError;

/// The most readings one ingest request may carry.
pub const MAX_READINGS_PER_BATCH: usize = 1000;

/// How far ahead of the server clock a device clock may run before its readings are refused.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// The oldest `measured_at` accepted: the Unix epoch. A device whose clock was never set reports
/// 1970, which is kept; anything older is a broken clock, and would not survive every store on
/// the way (PostgreSQL ends at 4713 BC, CloudEvents' RFC 3339 times have no negative years).
pub const OLDEST_MEASURED_AT: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// A finite measured value. JSON cannot carry NaN or infinity, but a number too large for `f64`
/// would overflow to infinity, so this refuses it rather than letting it poison aggregates.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Value(f64);

impl Value {
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Value {
    type Error = ValidationError;
    fn try_from(v: f64) -> Result<Self, Self::Error> {
        if v.is_finite() {
            Ok(Self(v))
        } else {
            Err(ValidationError::new("value", "must be a finite number"))
        }
    }
}

impl From<Value> for f64 {
    fn from(v: Value) -> Self {
        v.0
    }
}

/// One measurement. Every field is valid by its type; whether its time is acceptable depends on the
/// server clock and is checked by [`ReadingBatch::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reading {
    /// 1–64 of `A-Z a-z 0-9 - _ . /`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "temperature",
        pattern = r"^[A-Za-z0-9._/-]{1,64}$", min_length = 1, max_length = 64))]
    pub sensor: SensorName,
    /// A finite number.
    #[cfg_attr(feature = "openapi", schema(value_type = f64, example = 21.5))]
    pub value: Value,
    /// 1–16 printable characters, no spaces at the ends, e.g. `C`, `%`, `km/h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "C",
        min_length = 1, max_length = 16,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"))]
    pub unit: Option<Unit>,
    /// RFC 3339, from 1970-01-01T00:00:00Z to at most 5 minutes ahead of the server clock.
    pub measured_at: DateTime<Utc>,
}

/// An accepted ingest batch: 1 to [`MAX_READINGS_PER_BATCH`] readings, none from the future.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingBatch {
    batch_id: BatchId,
    readings: Vec<Reading>,
}

impl ReadingBatch {
    pub fn new(
        batch_id: BatchId,
        readings: Vec<Reading>,
        now: DateTime<Utc>,
    ) -> Result<Self, ValidationError> {
        if readings.is_empty() {
            return Err(ValidationError::new(
                "readings",
                "must contain at least one reading",
            ));
        }
        if readings.len() > MAX_READINGS_PER_BATCH {
            return Err(ValidationError::new(
                "readings",
                format!(
                    "must contain at most {MAX_READINGS_PER_BATCH} readings, got {}",
                    readings.len()
                ),
            ));
        }
        let latest_allowed = now + MAX_CLOCK_SKEW;
        for (i, reading) in readings.iter().enumerate() {
            let at = reading.measured_at;
            let problem = if at > latest_allowed {
                format!(
                    "is more than {} minutes ahead of the server clock ({})",
                    MAX_CLOCK_SKEW.num_minutes(),
                    now.to_rfc3339()
                )
            } else if at < OLDEST_MEASURED_AT {
                format!(
                    "is before {}, the oldest accepted instant",
                    OLDEST_MEASURED_AT.to_rfc3339()
                )
            } else {
                continue;
            };
            return Err(ValidationError::new(
                format!("readings[{i}].measured_at"),
                problem,
            ));
        }
        Ok(Self { batch_id, readings })
    }

    pub fn batch_id(&self) -> &BatchId {
        &self.batch_id
    }

    pub fn readings(&self) -> &[Reading] {
        &self.readings
    }

    pub fn into_parts(self) -> (BatchId, Vec<Reading>) {
        (self.batch_id, self.readings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(at: DateTime<Utc>) -> Reading {
        Reading {
            sensor: SensorName::parse("temperature").unwrap(),
            value: Value::try_from(21.5).unwrap(),
            unit: Some(Unit::parse("C").unwrap()),
            measured_at: at,
        }
    }

    fn batch_id() -> BatchId {
        BatchId::parse("b-1").unwrap()
    }

    #[test]
    fn a_batch_needs_at_least_one_reading() {
        let err = ReadingBatch::new(batch_id(), vec![], Utc::now()).unwrap_err();
        assert_eq!(err.field, "readings");
    }

    #[test]
    fn a_batch_holds_at_most_the_limit() {
        let now = Utc::now();
        let ok = vec![reading(now); MAX_READINGS_PER_BATCH];
        assert!(ReadingBatch::new(batch_id(), ok, now).is_ok());
        let too_many = vec![reading(now); MAX_READINGS_PER_BATCH + 1];
        let err = ReadingBatch::new(batch_id(), too_many, now).unwrap_err();
        assert_eq!(err.field, "readings");
        assert!(err.message.contains("1001"));
    }

    #[test]
    fn readings_from_the_future_are_refused_and_named() {
        let now = Utc::now();
        let skewed = now + MAX_CLOCK_SKEW + Duration::seconds(1);
        let err =
            ReadingBatch::new(batch_id(), vec![reading(now), reading(skewed)], now).unwrap_err();
        assert_eq!(err.field, "readings[1].measured_at");
        let within_skew = now + MAX_CLOCK_SKEW;
        assert!(ReadingBatch::new(batch_id(), vec![reading(within_skew)], now).is_ok());
    }

    #[test]
    fn readings_before_the_epoch_are_refused_and_the_epoch_itself_kept() {
        let now = Utc::now();
        let before = OLDEST_MEASURED_AT - Duration::microseconds(1);
        let err = ReadingBatch::new(batch_id(), vec![reading(before)], now).unwrap_err();
        assert_eq!(err.field, "readings[0].measured_at");
        assert!(ReadingBatch::new(batch_id(), vec![reading(OLDEST_MEASURED_AT)], now).is_ok());
        let signed_year: Reading = serde_json::from_str(
            r#"{"sensor":"t","value":1,"measured_at":"-5000-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert!(ReadingBatch::new(batch_id(), vec![signed_year], now).is_err());
    }

    #[test]
    fn values_must_be_finite() {
        assert!(Value::try_from(f64::NAN).is_err());
        assert!(Value::try_from(f64::INFINITY).is_err());
        let overflow: Result<Reading, _> = serde_json::from_str(
            r#"{"sensor":"t","value":1e999,"measured_at":"2026-01-01T00:00:00Z"}"#,
        );
        assert!(overflow.is_err());
    }
}
