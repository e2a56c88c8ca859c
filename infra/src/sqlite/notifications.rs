//! Webhook channels and their outbox on SQLite: a file of its own beside the read models
//! (`notifications.db`), which a read-model rebuild never touches.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::QueryBuilder;
use uuid::Uuid;
use watershed_domain::ports::{Notifications, NotifyError};
use watershed_domain::{
    AfterAttempt, Attempt, DeliveryRecord, DueDelivery, NewDelivery, WebhookChannel,
};

use crate::notification_rows::{
    micros, records, AfterRow, AttemptRow, ChannelRow, DeliveryRow, DueRow, NewDeliveryRow,
    CHANNEL_DELETED,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite_notifications");

pub struct SqliteNotifications {
    /// One connection: writes are few, and SQLite has one writer per file anyway.
    pool: SqlitePool,
}

fn unavailable(e: impl std::fmt::Display) -> NotifyError {
    NotifyError::Unavailable(e.to_string())
}

impl SqliteNotifications {
    pub async fn open(path: &Path) -> Result<Self, NotifyError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(super::connect_options(path))
            .await
            .map_err(unavailable)?;
        MIGRATOR.run(&pool).await.map_err(unavailable)?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Notifications for SqliteNotifications {
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
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
        let deleted = sqlx::query("DELETE FROM webhook_channels WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected()
            > 0;
        sqlx::query(
            "UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, failure = ?
             WHERE channel_id = ? AND state = 'pending'",
        )
        .bind(CHANNEL_DELETED)
        .bind(id.to_string())
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
        let now = micros(Utc::now());
        // 9 columns: far below SQLite's bound-parameter limit for the batches a notifier makes.
        let mut insert = QueryBuilder::new(
            "INSERT INTO webhook_deliveries (message_id, channel_id, alert_id, device_id, kind,
                 body, since, created_at, state, attempts, next_attempt_at) ",
        );
        insert.push_values(deliveries, |mut values, delivery| {
            let row = NewDeliveryRow::of(delivery.channel_id, &delivery.notification);
            values
                .push_bind(row.message_id)
                .push_bind(row.channel_id)
                .push_bind(row.alert_id)
                .push_bind(row.device_id)
                .push_bind(row.kind)
                .push_bind(row.body)
                .push_bind(row.since)
                .push_bind(now)
                .push("'pending', 0")
                .push_bind(now);
        });
        insert.push(" ON CONFLICT (message_id, channel_id) DO NOTHING");
        insert
            .build()
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
        let busy = serde_json::to_string(busy).expect("uuids serialize");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let rows = sqlx::query_as::<_, DueRow>(
            "SELECT d.id, d.message_id, d.channel_id, c.url, c.secret, d.body, d.attempts, d.since
             FROM webhook_deliveries d JOIN webhook_channels c ON c.id = d.channel_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND c.enabled
               AND d.channel_id NOT IN (SELECT value FROM json_each(?))
             ORDER BY d.next_attempt_at, d.id LIMIT ?",
        )
        .bind(micros(now))
        .bind(busy)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        for row in &rows {
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?")
                .bind(micros(lease_until))
                .bind(row.id)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        rows.into_iter().map(DueRow::due).collect()
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
             SELECT id, attempts + 1, ?, ?, ?, ? FROM webhook_deliveries WHERE id = ?",
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
             SET attempts = attempts + 1, state = ?, next_attempt_at = ?, failure = ?
             WHERE id = ? AND state = 'pending'",
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
             FROM webhook_deliveries WHERE alert_id = ? ORDER BY id",
        )
        .bind(&alert_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let attempts = sqlx::query_as::<_, AttemptRow>(
            "SELECT a.delivery_id, a.at, a.status, a.error, a.duration_ms
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
             WHERE d.alert_id = ? ORDER BY a.delivery_id, a.attempt",
        )
        .bind(&alert_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        records(deliveries, attempts)
    }
}
