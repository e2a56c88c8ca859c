//! The embedded storage: SQLite files in WAL mode under the data directory, one for the event store
//! and one for the read models, so projection writes never wait for the event store's write lock.

pub mod event_store;
pub mod generations;
mod group_commit;
pub mod notifications;
mod raw_blocks;
pub mod read_model;
mod time;
pub mod usage;

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

/// A file with one connection, its schema brought up to date by `migrator`: for the small
/// stores (notifications, device usage) whose writes are few, on a file with one writer anyway.
async fn open_single(
    path: &Path,
    migrator: &sqlx::migrate::Migrator,
) -> Result<sqlx::SqlitePool, sqlx::Error> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(connect_options(path))
        .await?;
    migrator.run(&pool).await?;
    Ok(pool)
}

/// Options shared by both files: WAL so readers never block the writer, and FULL sync so that a
/// commit that returned survives power loss — acknowledged means durable.
fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
}
