//! Webhook channels and their outbox on PostgreSQL, in the schema `notifications` of the read-model
//! database: a rebuild drops read-model schemas and tables, never this one. Several dispatchers
//! (one per projector pod) share the outbox; a claim skips rows another holds locked.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use uuid::Uuid;
use watershed_domain::ports::{Notifications, NotifyError};
use watershed_domain::{
    AfterAttempt, Attempt, DeliveryRecord, DueDelivery, NewDelivery, WebhookChannel,
};

use crate::notification_rows::{
    micros, records, AfterRow, AttemptRow, ChannelRow, DeliveryRow, DueRow, NewDeliveryRow,
    CHANNEL_DELETED,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres_notifications");

const SCHEMA: &str = "notifications";

pub struct PostgresNotifications {
    pool: PgPool,
}

fn unavailable(e: impl std::fmt::Display) -> NotifyError {
    NotifyError::Unavailable(e.to_string())
}

impl PostgresNotifications {
    /// Connects, creates the schema if needed and applies its migrations there (with their own
    /// migration table, apart from the read models').
    pub async fn connect(url: &str) -> Result<Self, NotifyError> {
        let options: PgConnectOptions = url.parse().map_err(unavailable)?;
        let pool = |options: PgConnectOptions| {
            PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect_with(options)
        };
        let setup = pool(options.clone()).await.map_err(unavailable)?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            .execute(&setup)
            .await
            .map_err(unavailable)?;
        setup.close().await;
        let pool = pool(options.options([("search_path", SCHEMA)]))
            .await
            .map_err(unavailable)?;
        MIGRATOR.run(&pool).await.map_err(unavailable)?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Notifications for PostgresNotifications {
    async fn channels(&self) -> Result<Vec<WebhookChannel>, NotifyError> {
        sqlx::query_as::<_, ChannelRow>("SELECT * FROM webhook_channels ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(ChannelRow::channel)
            .collect()
    }

    async fn save_channel(&self, channel: &WebhookChannel) -> Result<(), NotifyError> {
        let row = ChannelRow::of(channel);
        sqlx::query(
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
        let id = id.to_string();
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let deleted = sqlx::query("DELETE FROM webhook_channels WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected()
            > 0;
        sqlx::query(
            "UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, failure = $1
             WHERE channel_id = $2 AND state = 'pending'",
        )
        .bind(CHANNEL_DELETED)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(deleted)
    }

    async fn enqueue(&self, deliveries: &[NewDelivery]) -> Result<(), NotifyError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let rows: Vec<NewDeliveryRow> = deliveries
            .iter()
            .map(|d| NewDeliveryRow::of(d.channel_id, &d.notification))
            .collect();
        let column = |f: fn(&NewDeliveryRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
        let now = micros(Utc::now());
        sqlx::query(
            "INSERT INTO webhook_deliveries (message_id, channel_id, alert_id, device_id, kind,
                 body, since, created_at, state, attempts, next_attempt_at)
             SELECT m, ch, a, dev, k, b, s, $8, 'pending', 0, $8
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::bigint[]) AS t (m, ch, a, dev, k, b, s)
             ON CONFLICT (message_id, channel_id) DO NOTHING",
        )
        .bind(column(|r| r.message_id.clone()))
        .bind(column(|r| r.channel_id.clone()))
        .bind(column(|r| r.alert_id.clone()))
        .bind(column(|r| r.device_id.clone()))
        .bind(column(|r| r.kind.to_owned()))
        .bind(column(|r| r.body.clone()))
        .bind(rows.iter().map(|r| r.since).collect::<Vec<_>>())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        busy: &[Uuid],
    ) -> Result<Vec<DueDelivery>, NotifyError> {
        let busy: Vec<String> = busy.iter().map(Uuid::to_string).collect();
        sqlx::query_as::<_, DueRow>(
            "UPDATE webhook_deliveries d SET next_attempt_at = $2
             FROM webhook_channels c
             WHERE c.id = d.channel_id AND d.id IN (
                 SELECT w.id FROM webhook_deliveries w JOIN webhook_channels wc
                     ON wc.id = w.channel_id
                 WHERE w.state = 'pending' AND w.next_attempt_at <= $1 AND wc.enabled
                   AND NOT (w.channel_id = ANY($3))
                 ORDER BY w.next_attempt_at, w.id LIMIT $4
                 FOR UPDATE OF w SKIP LOCKED)
             RETURNING d.id, d.message_id, d.channel_id, c.url, c.secret, d.body, d.attempts,
                 d.since",
        )
        .bind(micros(now))
        .bind(micros(lease_until))
        .bind(busy)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(DueRow::due)
        .collect()
    }

    async fn record_attempt(
        &self,
        delivery: i64,
        attempt: &Attempt,
        after: &AfterAttempt,
    ) -> Result<(), NotifyError> {
        let after = AfterRow::of(after);
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at, status, error, duration_ms)
             SELECT id, attempts + 1, $1, $2, $3, $4 FROM webhook_deliveries WHERE id = $5",
        )
        .bind(micros(attempt.at))
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .bind(delivery)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "UPDATE webhook_deliveries
             SET attempts = attempts + 1, state = $1, next_attempt_at = $2, failure = $3
             WHERE id = $4 AND state = 'pending'",
        )
        .bind(after.state)
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
        let alert_id = alert_id.to_string();
        let deliveries = sqlx::query_as::<_, DeliveryRow>(
            "SELECT id, message_id, alert_id, channel_id, device_id, kind, state, created_at,
                    next_attempt_at, failure
             FROM webhook_deliveries WHERE alert_id = $1 ORDER BY id",
        )
        .bind(&alert_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let attempts = sqlx::query_as::<_, AttemptRow>(
            "SELECT a.delivery_id, a.at, a.status, a.error, a.duration_ms
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
             WHERE d.alert_id = $1 ORDER BY a.delivery_id, a.attempt",
        )
        .bind(&alert_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        records(deliveries, attempts)
    }
}
