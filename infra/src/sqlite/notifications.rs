//! Webhook channels and their outbox on SQLite: a file of its own beside the read models
//! (`notifications.db`), which a read-model rebuild never touches.

use std::path::Path;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use watershed_domain::ports::NotifyError;

use crate::notification_sql::{Dialect, NewDeliveryRow, SqlNotifications};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite_notifications");

pub type SqliteNotifications = SqlNotifications<Sqlite>;

impl SqlNotifications<Sqlite> {
    pub async fn open(path: &Path) -> Result<Self, NotifyError> {
        let pool = super::open_single(path, &MIGRATOR)
            .await
            .map_err(|e| NotifyError::Unavailable(e.to_string()))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Dialect for Sqlite {
    const NOT_BUSY: &'static str = "d.channel_id NOT IN (SELECT value FROM json_each($2))";
    // One writer per file: the select and the updates in one transaction are the claim.
    const LOCK: &'static str = "";

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
}
