//! Read-model generations as PostgreSQL schemas of one database: generation 1 is the tables where
//! the URL puts them (normally `public`, where they always were), generation N is the schema
//! `read_model_gN`, and the record every process follows is one row beside generation 1.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use watershed_domain::ports::{ReadModel, ReadModelError, ReadModelGenerations};
use watershed_domain::Generations;

use super::read_model::PostgresReadModel;
use crate::generation_record::{self, RECORD_TABLE};

/// Generation 1's tables, which share their schema with the record (and perhaps with tables that
/// are not ours): removing it drops exactly these. A test checks this is every table the
/// migrations create.
pub const GENERATION_ONE_TABLES: &[&str] = &[
    "alerts",
    "dead_letters",
    "open_alerts",
    "raw_blocks",
    "rollups",
    "latest",
    "series",
    "devices",
    "stream_positions",
    "_sqlx_migrations",
];

const SCHEMA_PREFIX: &str = "read_model_g";

/// Serialises creating the record table across processes starting at once.
const CREATE_LOCK: i64 = 0x7761_7465_7273_6864; // "watershd"

pub struct PostgresGenerations {
    options: PgConnectOptions,
    pool: PgPool,
}

fn unavailable(e: impl std::fmt::Display) -> ReadModelError {
    ReadModelError::Unavailable(e.to_string())
}

/// The schema of a generation after the first; ours, made of a prefix and digits.
fn schema_of(generation: u32) -> String {
    format!("{SCHEMA_PREFIX}{generation}")
}

impl PostgresGenerations {
    pub async fn connect(url: &str) -> Result<Self, ReadModelError> {
        let options: PgConnectOptions = url.parse().map_err(unavailable)?;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        let mut tx = pool.begin().await.map_err(unavailable)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CREATE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 record TEXT NOT NULL
             )"
        ))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(&format!(
            "INSERT INTO {RECORD_TABLE} (id, record) VALUES (1, $1) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(generation_record::encode(&Generations::default()))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Self { options, pool })
    }
}

#[async_trait]
impl ReadModelGenerations for PostgresGenerations {
    async fn load(&self) -> Result<Generations, ReadModelError> {
        let text: String =
            sqlx::query_scalar(&format!("SELECT record FROM {RECORD_TABLE} WHERE id = 1"))
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
        generation_record::decode(&text)
    }

    async fn replace(
        &self,
        expected: &Generations,
        new: &Generations,
    ) -> Result<bool, ReadModelError> {
        let done = sqlx::query(&format!(
            "UPDATE {RECORD_TABLE} SET record = $1 WHERE id = 1 AND record = $2"
        ))
        .bind(generation_record::encode(new))
        .bind(generation_record::encode(expected))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn existing(&self) -> Result<Vec<u32>, ReadModelError> {
        let first: bool = sqlx::query_scalar("SELECT to_regclass('stream_positions') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        let schemas: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)",
        )
        .bind(SCHEMA_PREFIX)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let mut found: Vec<u32> = schemas
            .iter()
            .filter_map(|s| s.strip_prefix(SCHEMA_PREFIX)?.parse().ok())
            .filter(|&g| g > 1)
            .collect();
        if first {
            found.push(1);
        }
        found.sort_unstable();
        Ok(found)
    }

    async fn open(&self, generation: u32) -> Result<Arc<dyn ReadModel>, ReadModelError> {
        let options = if generation == 1 {
            self.options.clone()
        } else {
            let schema = schema_of(generation);
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
            self.options.clone().options([("search_path", schema)])
        };
        Ok(Arc::new(PostgresReadModel::connect_with(options).await?))
    }

    async fn remove(&self, generation: u32) -> Result<(), ReadModelError> {
        let statement = if generation == 1 {
            format!(
                "DROP TABLE IF EXISTS {} CASCADE",
                GENERATION_ONE_TABLES.join(", ")
            )
        } else {
            format!("DROP SCHEMA IF EXISTS {} CASCADE", schema_of(generation))
        };
        sqlx::query(&statement)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
