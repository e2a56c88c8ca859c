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
