//! What the notification store does alike on SQLite and PostgreSQL: rows (both keep ids as UUID
//! text and instants as integer microseconds, so one mapping reads either) and the statements both
//! dialects share.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use watershed_domain::ports::{Notifications, NotifyError};
use watershed_domain::{
    AfterAttempt, AlertNotification, Attempt, DeliveryRecord, DeliveryState, DeviceId, DueDelivery,
    Label, NewDelivery, NotificationType, WebhookChannel, WebhookSecret, WebhookUrl,
};

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(us: i64) -> Result<DateTime<Utc>, NotifyError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt(format!("instant {us}")))
}

fn corrupt(what: impl std::fmt::Display) -> NotifyError {
    NotifyError::Corrupt(format!("unreadable {what}"))
}

fn uuid(text: &str) -> Result<Uuid, NotifyError> {
    text.parse().map_err(|_| corrupt(format!("id {text:?}")))
}

#[derive(sqlx::FromRow)]
pub struct ChannelRow {
    pub id: String,
    pub name: String,
    pub url: String,
    pub secret: String,
    pub severities: String,
    pub rules: String,
    pub enabled: bool,
    pub created_at: i64,
}

impl ChannelRow {
    pub fn of(channel: &WebhookChannel) -> Self {
        Self {
            id: channel.id.to_string(),
            name: channel.name.to_string(),
            url: channel.url.as_str().to_owned(),
            secret: channel.secret.to_string(),
            severities: serde_json::to_string(&channel.severities).expect("plain names"),
            rules: serde_json::to_string(&channel.rules).expect("plain names"),
            enabled: channel.enabled,
            created_at: micros(channel.created_at),
        }
    }

    pub fn channel(self) -> Result<WebhookChannel, NotifyError> {
        let bad = |what: &str| corrupt(format!("{what} of channel {}", self.id));
        Ok(WebhookChannel {
            id: uuid(&self.id)?,
            name: Label::parse(self.name.as_str()).map_err(|_| bad("name"))?,
            url: WebhookUrl::parse(&self.url).map_err(|_| bad("url"))?,
            secret: WebhookSecret::parse(&self.secret).map_err(|_| bad("secret"))?,
            severities: serde_json::from_str(&self.severities).map_err(|_| bad("severities"))?,
            rules: serde_json::from_str(&self.rules).map_err(|_| bad("rules"))?,
            enabled: self.enabled,
            created_at: instant(self.created_at)?,
        })
    }
}

/// The columns of a new delivery, in insert order.
pub struct NewDeliveryRow {
    pub message_id: String,
    pub channel_id: String,
    pub alert_id: String,
    pub device_id: String,
    pub kind: &'static str,
    pub body: String,
    pub since: i64,
}

impl NewDeliveryRow {
    pub fn of(channel_id: Uuid, notification: &AlertNotification) -> Self {
        Self {
            message_id: notification.message_id.to_string(),
            channel_id: channel_id.to_string(),
            alert_id: notification.alert_id.to_string(),
            device_id: notification.device_id.to_string(),
            kind: notification.kind.as_str(),
            body: notification.body.clone(),
            since: micros(notification.recorded_at),
        }
    }
}

/// A claimed delivery joined with its channel.
#[derive(sqlx::FromRow)]
pub struct DueRow {
    pub id: i64,
    pub message_id: String,
    pub channel_id: String,
    pub url: String,
    pub secret: String,
    pub body: String,
    pub attempts: i64,
    pub since: i64,
}

impl DueRow {
    pub fn due(self) -> Result<DueDelivery, NotifyError> {
        let bad = |what: &str| corrupt(format!("{what} of delivery {}", self.id));
        Ok(DueDelivery {
            id: self.id,
            message_id: uuid(&self.message_id)?,
            channel_id: uuid(&self.channel_id)?,
            url: WebhookUrl::parse(&self.url).map_err(|_| bad("url"))?,
            secret: WebhookSecret::parse(&self.secret).map_err(|_| bad("secret"))?,
            body: self.body,
            attempts: u32::try_from(self.attempts).map_err(|_| bad("attempts"))?,
            since: instant(self.since)?,
        })
    }
}

/// What `record_attempt` writes to the delivery row.
pub struct AfterRow {
    pub state: &'static str,
    pub next_attempt_at: Option<i64>,
    pub failure: Option<String>,
}

impl AfterRow {
    pub fn of(after: &AfterAttempt) -> Self {
        let (state, next_attempt_at, failure) = match after {
            AfterAttempt::Delivered => (DeliveryState::Delivered, None, None),
            AfterAttempt::RetryAt(at) => (DeliveryState::Pending, Some(micros(*at)), None),
            AfterAttempt::Failed(why) => (DeliveryState::Failed, None, Some(why.clone())),
        };
        Self {
            state: state.as_str(),
            next_attempt_at,
            failure,
        }
    }
}

/// Why pending deliveries of a deleted channel failed.
pub(crate) const CHANNEL_DELETED: &str = "the channel was deleted";

#[derive(sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub message_id: String,
    pub alert_id: String,
    pub channel_id: String,
    pub device_id: String,
    pub kind: String,
    pub state: String,
    pub created_at: i64,
    pub next_attempt_at: Option<i64>,
    pub failure: Option<String>,
}

#[derive(sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: i64,
    pub at: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Deliveries with their attempts; `attempts` ordered by delivery, then attempt.
pub(crate) fn records(
    deliveries: Vec<DeliveryRow>,
    attempts: Vec<AttemptRow>,
) -> Result<Vec<DeliveryRecord>, NotifyError> {
    deliveries
        .into_iter()
        .map(|row| {
            let bad = |what: &str| corrupt(format!("{what} of delivery {}", row.id));
            Ok(DeliveryRecord {
                id: row.id,
                message_id: uuid(&row.message_id)?,
                alert_id: uuid(&row.alert_id)?,
                channel_id: uuid(&row.channel_id)?,
                device_id: DeviceId::parse(row.device_id.as_str()).map_err(|_| bad("device"))?,
                kind: NotificationType::from_name(&row.kind).ok_or_else(|| bad("kind"))?,
                state: DeliveryState::from_name(&row.state).ok_or_else(|| bad("state"))?,
                created_at: instant(row.created_at)?,
                next_attempt_at: row.next_attempt_at.map(instant).transpose()?,
                failure: row.failure,
                attempts: attempts
                    .iter()
                    .filter(|a| a.delivery_id == row.id)
                    .map(|a| {
                        Ok(Attempt {
                            at: instant(a.at)?,
                            status: a.status.and_then(|s| u16::try_from(s).ok()),
                            error: a.error.clone(),
                            duration_ms: u64::try_from(a.duration_ms).unwrap_or_default(),
                        })
                    })
                    .collect::<Result<_, NotifyError>>()?,
            })
        })
        .collect()
}

/// How a dialect does what it does its own way: many rows in one insert, a filter on a list of
/// channels, and a claim that holds under contention.
#[async_trait]
pub trait Dialect: sqlx::Database {
    /// `d.channel_id` is not in the JSON array of strings bound as `$2`.
    const NOT_BUSY: &'static str;
    /// What makes the claim's select lock its rows against other dispatchers, skipping those
    /// another holds; empty where one writer holds the whole file.
    const LOCK: &'static str;

    /// Inserts the rows, due at `now`; a (message, channel) already held is left as it is.
    async fn enqueue(
        pool: &sqlx::Pool<Self>,
        rows: Vec<NewDeliveryRow>,
        now: i64,
    ) -> Result<(), sqlx::Error>;
}

/// Due deliveries one claim looks at: enough for every channel's share, few enough to lock.
const CLAIM_CANDIDATES: i64 = 1000;

/// Of due deliveries in order, at most `per_channel` of each channel and `limit` in all.
fn pick(candidates: Vec<DueRow>, per_channel: usize, limit: usize) -> Vec<DueRow> {
    let mut taken: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    candidates
        .into_iter()
        .filter(|row| {
            let n = taken.entry(row.channel_id.clone()).or_default();
            *n += 1;
            *n <= per_channel
        })
        .take(limit)
        .collect()
}

/// The notification store on SQL: one implementation, with `$n` placeholders both dialects take;
/// see `sqlite::notifications` and `postgres::notifications` for where each keeps its tables.
pub struct SqlNotifications<DB: sqlx::Database> {
    pub(crate) pool: sqlx::Pool<DB>,
}

fn unavailable(e: sqlx::Error) -> NotifyError {
    NotifyError::Unavailable(e.to_string())
}

#[async_trait]
impl<DB> Notifications for SqlNotifications<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> ChannelRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> DeliveryRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> AttemptRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> (String,): sqlx::FromRow<'r, DB::Row>,
    for<'r> DueRow: sqlx::FromRow<'r, DB::Row>,
{
    async fn channels(&self) -> Result<Vec<WebhookChannel>, NotifyError> {
        sqlx::query_as::<DB, ChannelRow>("SELECT * FROM webhook_channels ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(ChannelRow::channel)
            .collect()
    }

    async fn save_channel(&self, channel: &WebhookChannel) -> Result<(), NotifyError> {
        let row = ChannelRow::of(channel);
        sqlx::query::<DB>(
            "INSERT INTO webhook_channels
                 (id, name, url, secret, severities, rules, enabled, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, url = excluded.url,
                 secret = excluded.secret, severities = excluded.severities,
                 rules = excluded.rules, enabled = excluded.enabled",
        )
        .bind(row.id)
        .bind(row.name)
        .bind(row.url)
        .bind(row.secret)
        .bind(row.severities)
        .bind(row.rules)
        .bind(row.enabled)
        .bind(row.created_at)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_channel(&self, id: Uuid) -> Result<bool, NotifyError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let deleted: Option<(String,)> = sqlx::query_as::<DB, (String,)>(
            "DELETE FROM webhook_channels WHERE id = $1 RETURNING id",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query::<DB>(
            "UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, failure = $1
             WHERE channel_id = $2 AND state = 'pending'",
        )
        .bind(CHANNEL_DELETED.to_owned())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(deleted.is_some())
    }

    async fn record_attempt(
        &self,
        delivery: i64,
        attempt: &Attempt,
        after: &AfterAttempt,
    ) -> Result<(), NotifyError> {
        let after = AfterRow::of(after);
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query::<DB>(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at, status, error, duration_ms)
             SELECT id, attempts + 1, $1, $2, $3, $4 FROM webhook_deliveries WHERE id = $5",
        )
        .bind(micros(attempt.at))
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.clone())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .bind(delivery)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        // A delivery no longer pending (its channel was deleted meanwhile) keeps its state.
        sqlx::query::<DB>(
            "UPDATE webhook_deliveries
             SET attempts = attempts + 1, state = $1, next_attempt_at = $2, failure = $3
             WHERE id = $4 AND state = 'pending'",
        )
        .bind(after.state.to_owned())
        .bind(after.next_attempt_at)
        .bind(after.failure)
        .bind(delivery)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn deliveries_of_alert(
        &self,
        alert_id: Uuid,
    ) -> Result<Vec<DeliveryRecord>, NotifyError> {
        let deliveries = sqlx::query_as::<DB, DeliveryRow>(
            "SELECT id, message_id, alert_id, channel_id, device_id, kind, state, created_at,
                    next_attempt_at, failure
             FROM webhook_deliveries WHERE alert_id = $1 ORDER BY id",
        )
        .bind(alert_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let attempts = sqlx::query_as::<DB, AttemptRow>(
            "SELECT a.delivery_id, a.at, a.status, a.error, a.duration_ms
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
             WHERE d.alert_id = $1 ORDER BY a.delivery_id, a.attempt",
        )
        .bind(alert_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        records(deliveries, attempts)
    }

    async fn enqueue(&self, deliveries: &[NewDelivery]) -> Result<(), NotifyError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let rows = deliveries
            .iter()
            .map(|d| NewDeliveryRow::of(d.channel_id, &d.notification))
            .collect();
        DB::enqueue(&self.pool, rows, micros(Utc::now()))
            .await
            .map_err(unavailable)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        per_channel: usize,
        busy: &[Uuid],
    ) -> Result<Vec<DueDelivery>, NotifyError> {
        let busy: Vec<String> = busy.iter().map(Uuid::to_string).collect();
        let busy = serde_json::to_string(&busy).expect("strings serialize");
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let candidates = sqlx::query_as::<DB, DueRow>(&format!(
            "SELECT d.id, d.message_id, d.channel_id, c.url, c.secret, d.body, d.attempts, d.since
             FROM webhook_deliveries d JOIN webhook_channels c ON c.id = d.channel_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND c.enabled
               AND {}
             ORDER BY d.next_attempt_at, d.id LIMIT $3{}",
            DB::NOT_BUSY,
            DB::LOCK
        ))
        .bind(micros(now))
        .bind(busy)
        .bind(CLAIM_CANDIDATES)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        let claimed = pick(candidates, per_channel, limit);
        for row in &claimed {
            sqlx::query::<DB>("UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2")
                .bind(micros(lease_until))
                .bind(row.id)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        claimed.into_iter().map(DueRow::due).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, channel: &str) -> DueRow {
        DueRow {
            id,
            message_id: String::new(),
            channel_id: channel.to_owned(),
            url: String::new(),
            secret: String::new(),
            body: String::new(),
            attempts: 0,
            since: 0,
        }
    }

    #[test]
    fn a_claim_takes_a_few_of_each_channel_in_order() {
        let due = || {
            vec![
                row(1, "a"),
                row(2, "a"),
                row(3, "a"),
                row(4, "b"),
                row(5, "a"),
                row(6, "c"),
            ]
        };
        let ids = |rows: Vec<DueRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(pick(due(), 2, 10)), [1, 2, 4, 6]);
        assert_eq!(ids(pick(due(), 2, 3)), [1, 2, 4]);
        assert_eq!(ids(pick(due(), 10, 10)), [1, 2, 3, 4, 5, 6]);
    }
}
