//! Webhook channels and their outbox on SQLite: a file of its own beside the read models
//! (`notifications.db`), which a read-model rebuild never touches.

use std::path::Path;

use async_trait::async_trait;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use watershed_domain::ports::NotifyError;

use crate::notification_sql::{Dialect, DueRow, NewDeliveryRow, SqlNotifications};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite_notifications");

pub type SqliteNotifications = SqlNotifications<Sqlite>;

impl SqlNotifications<Sqlite> {
    pub async fn open(path: &Path) -> Result<Self, NotifyError> {
        let unavailable = |e: sqlx::Error| NotifyError::Unavailable(e.to_string());
        // One connection: writes are few, and SQLite has one writer per file anyway.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(super::connect_options(path))
            .await
            .map_err(unavailable)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| unavailable(e.into()))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Dialect for Sqlite {
    async fn enqueue(
        pool: &SqlitePool,
        rows: Vec<NewDeliveryRow>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        // 9 bound columns: far below SQLite's parameter limit for the batches a notifier makes.
        let mut insert = QueryBuilder::new(
            "INSERT INTO webhook_deliveries (message_id, channel_id, alert_id, device_id, kind,
                 body, since, created_at, state, attempts, next_attempt_at) ",
        );
        insert.push_values(rows, |mut values, row| {
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
        insert.build().execute(pool).await?;
        Ok(())
    }

    /// One writer per file: the select and the updates in one transaction are the claim.
    async fn claim_due(
        pool: &SqlitePool,
        now: i64,
        lease_until: i64,
        limit: i64,
        busy: Vec<String>,
    ) -> Result<Vec<DueRow>, sqlx::Error> {
        let busy = serde_json::to_string(&busy).expect("strings serialize");
        let mut tx = pool.begin().await?;
        let rows = sqlx::query_as::<_, DueRow>(
            "SELECT d.id, d.message_id, d.channel_id, c.url, c.secret, d.body, d.attempts, d.since
             FROM webhook_deliveries d JOIN webhook_channels c ON c.id = d.channel_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND c.enabled
               AND d.channel_id NOT IN (SELECT value FROM json_each(?))
             ORDER BY d.next_attempt_at, d.id LIMIT ?",
        )
        .bind(now)
        .bind(busy)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?")
                .bind(lease_until)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows)
    }
}
