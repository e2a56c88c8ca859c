//! Webhook channels and their outbox on PostgreSQL, in the schema `notifications` of the read-model
//! database: a rebuild drops read-model schemas and tables, never this one. Several dispatchers
//! (one per projector pod) share the outbox; a claim skips rows another holds locked.

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use watershed_domain::ports::NotifyError;

use crate::notification_sql::{Dialect, NewDeliveryRow, SqlNotifications};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres_notifications");

const SCHEMA: &str = "notifications";

pub type PostgresNotifications = SqlNotifications<Postgres>;

fn unavailable(e: impl std::fmt::Display) -> NotifyError {
    NotifyError::Unavailable(e.to_string())
}

impl SqlNotifications<Postgres> {
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
impl Dialect for Postgres {
    const NOT_BUSY: &'static str =
        "d.channel_id NOT IN (SELECT jsonb_array_elements_text(CAST($2 AS jsonb)))";
    // Rows another dispatcher holds locked are skipped, not waited for.
    const LOCK: &'static str = " FOR UPDATE OF d SKIP LOCKED";

    async fn enqueue(
        pool: &PgPool,
        rows: Vec<NewDeliveryRow>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let column = |f: fn(&NewDeliveryRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
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
        .execute(pool)
        .await?;
        Ok(())
    }
}
