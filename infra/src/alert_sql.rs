//! The alert list in both SQL read models: one table, the same statements (both dialects take `$n`
//! placeholders and `CAST`), one row mapping. Written in the transaction of the delta that carries
//! the alert changes, read by `GET /v1/alerts`.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use watershed_domain::read_model::{
    Acknowledgement, AlertChange, AlertQuery, AlertRecord, ClearedBy, OpenAlert,
};
use watershed_domain::{Condition, DeviceId, Label, RuleName, SensorName, Severity, Unit};

#[derive(sqlx::FromRow)]
pub struct AlertRow {
    alert_id: String,
    device_id: String,
    rule: String,
    severity: String,
    sensor: String,
    condition: String,
    threshold: f64,
    value: f64,
    unit: Option<String>,
    message: Option<String>,
    raised_at_us: i64,
    cleared_at_us: Option<i64>,
    clear_reason: Option<String>,
    cleared_by: Option<String>,
    clear_note: Option<String>,
    clear_value: Option<f64>,
    acknowledged_at_us: Option<i64>,
    acknowledged_by: Option<String>,
    ack_note: Option<String>,
}

/// A row that does not read back: a bug or a hand edit, never a client's doing.
#[derive(Debug, thiserror::Error)]
#[error("unreadable {what} in alert {alert}")]
pub struct UnreadableAlert {
    alert: String,
    what: &'static str,
}

fn at(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}

impl AlertRow {
    pub fn record(self) -> Result<AlertRecord, UnreadableAlert> {
        let bad = |what| UnreadableAlert {
            alert: self.alert_id.clone(),
            what,
        };
        let label = |text: Option<&String>, what| {
            text.map(|t| Label::parse(t.as_str()).map_err(|_| bad(what)))
                .transpose()
        };
        let cleared = match (self.cleared_at_us, self.clear_reason.as_deref()) {
            (None, _) => None,
            (Some(us), reason) => {
                let by = match reason {
                    Some("rule") => ClearedBy::Rule {
                        value: self.clear_value.ok_or_else(|| bad("clear value"))?,
                    },
                    Some("manual") => ClearedBy::Person {
                        by: label(self.cleared_by.as_ref(), "cleared_by")?
                            .ok_or_else(|| bad("cleared_by"))?,
                        note: label(self.clear_note.as_ref(), "clear note")?,
                    },
                    Some("decommissioned") => ClearedBy::Decommission,
                    Some("rule_deleted") => ClearedBy::RuleDeleted,
                    _ => return Err(bad("clear reason")),
                };
                Some((at(us).ok_or_else(|| bad("cleared_at"))?, by))
            }
        };
        let acknowledged = match self.acknowledged_at_us {
            None => None,
            Some(us) => Some(Acknowledgement {
                at: at(us).ok_or_else(|| bad("acknowledged_at"))?,
                by: label(self.acknowledged_by.as_ref(), "acknowledged_by")?
                    .ok_or_else(|| bad("acknowledged_by"))?,
                note: label(self.ack_note.as_ref(), "ack note")?,
            }),
        };
        Ok(AlertRecord {
            alert_id: self.alert_id.parse().map_err(|_| bad("id"))?,
            device_id: DeviceId::parse(self.device_id.as_str()).map_err(|_| bad("device"))?,
            severity: Severity::from_name(&self.severity).ok_or_else(|| bad("severity"))?,
            alert: OpenAlert {
                rule: RuleName::parse(self.rule.as_str()).map_err(|_| bad("rule"))?,
                sensor: SensorName::parse(self.sensor.as_str()).map_err(|_| bad("sensor"))?,
                condition: Condition::from_name(&self.condition).ok_or_else(|| bad("condition"))?,
                threshold: self.threshold,
                value: self.value,
                unit: self
                    .unit
                    .as_deref()
                    .map(|u| Unit::parse(u).map_err(|_| bad("unit")))
                    .transpose()?,
                message: label(self.message.as_ref(), "message")?,
                raised_at: at(self.raised_at_us).ok_or_else(|| bad("raised_at"))?,
            },
            cleared,
            acknowledged,
        })
    }
}

/// Writes a delta's alert changes to the list, and closes what the delta's decommissions end.
pub async fn apply<DB>(
    conn: &mut DB::Connection,
    changes: &[AlertChange],
    decommissions: &[(DeviceId, DateTime<Utc>)],
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<f64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let text = |l: &Option<Label>| l.as_ref().map(ToString::to_string);
    for change in changes {
        let query = match change {
            AlertChange::Opened {
                device,
                alert_id,
                severity,
                alert,
            } => sqlx::query::<DB>(
                "INSERT INTO alerts (alert_id, device_id, rule, severity, sensor, condition,
                     threshold, value, unit, message, raised_at_us)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (alert_id) DO NOTHING",
            )
            .bind(alert_id.to_string())
            .bind(device.to_string())
            .bind(alert.rule.to_string())
            .bind(severity.as_str().to_owned())
            .bind(alert.sensor.to_string())
            .bind(alert.condition.as_str().to_owned())
            .bind(alert.threshold)
            .bind(alert.value)
            .bind(alert.unit.as_ref().map(ToString::to_string))
            .bind(text(&alert.message))
            .bind(alert.raised_at.timestamp_micros()),
            AlertChange::Closed {
                device,
                rule,
                at,
                by,
            } => {
                let (person, note, value) = match by {
                    ClearedBy::Rule { value } => (None, None, Some(*value)),
                    ClearedBy::Person { by, note } => (Some(by.to_string()), text(note), None),
                    ClearedBy::Decommission | ClearedBy::RuleDeleted => (None, None, None),
                };
                // One alert per device and rule is open at a time: the one this closes.
                sqlx::query::<DB>(
                    "UPDATE alerts SET cleared_at_us = $1, clear_reason = $2, cleared_by = $3,
                         clear_note = $4, clear_value = $5
                     WHERE device_id = $6 AND rule = $7 AND cleared_at_us IS NULL",
                )
                .bind(at.timestamp_micros())
                .bind(by.reason().to_owned())
                .bind(person)
                .bind(note)
                .bind(value)
                .bind(device.to_string())
                .bind(rule.to_string())
            }
            AlertChange::Acknowledged {
                alert_id,
                at,
                by,
                note,
            } => sqlx::query::<DB>(
                "UPDATE alerts SET acknowledged_at_us = $1, acknowledged_by = $2, ack_note = $3
                 WHERE alert_id = $4 AND acknowledged_at_us IS NULL",
            )
            .bind(at.timestamp_micros())
            .bind(by.to_string())
            .bind(text(note))
            .bind(alert_id.to_string()),
        };
        query.execute(&mut *conn).await?;
    }
    for (device, at) in decommissions {
        sqlx::query::<DB>(
            "UPDATE alerts SET cleared_at_us = $1, clear_reason = $2
             WHERE device_id = $3 AND cleared_at_us IS NULL",
        )
        .bind(at.timestamp_micros())
        .bind(ClearedBy::Decommission.reason().to_owned())
        .bind(device.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The alerts `query` selects, newest raised first.
pub async fn list<'e, DB, E>(executor: E, query: &AlertQuery) -> Result<Vec<AlertRow>, sqlx::Error>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<bool>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> AlertRow: sqlx::FromRow<'r, DB::Row>,
{
    sqlx::query_as::<DB, AlertRow>(
        "SELECT * FROM alerts
         WHERE (CAST($1 AS TEXT) IS NULL OR alert_id = $1)
           AND (CAST($2 AS BOOLEAN) IS NULL OR (cleared_at_us IS NULL) = $2)
           AND (CAST($3 AS BOOLEAN) IS NULL OR (acknowledged_at_us IS NOT NULL) = $3)
           AND (CAST($4 AS TEXT) IS NULL OR severity = $4)
           AND (CAST($5 AS TEXT) IS NULL OR device_id = $5)
         ORDER BY raised_at_us DESC, alert_id DESC
         LIMIT $6",
    )
    .bind(query.alert_id.as_ref().map(Uuid::to_string))
    .bind(query.active)
    .bind(query.acknowledged)
    .bind(query.severity.map(|s| s.as_str().to_owned()))
    .bind(query.device.as_ref().map(ToString::to_string))
    .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
    .fetch_all(executor)
    .await
}
