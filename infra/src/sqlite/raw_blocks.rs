//! Raw readings on SQLite, as blocks (`watershed_domain::raw_blocks`): written with the rest of a
//! delta, read back for a time range, pruned with the retention, and moved in from the table of
//! one row per reading that older versions kept.

use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use watershed_domain::ports::ReadModelError;
use watershed_domain::raw_blocks::{BlockPoint, RawBlock};

use super::time::from_micros;
use crate::raw_block_rows::{gather, legacy_blocks, trimmed, BlockRow, BLOCKS_PER_READ};
use crate::sql_error;

/// Blocks per INSERT: six columns each, well within SQLite's bound-parameter limit.
const BLOCKS_PER_STATEMENT: usize = 500;

fn unavailable(e: sqlx::Error) -> ReadModelError {
    sql_error::classify(e, sql_error::sqlite_refuses_data)
}

/// Inserts `blocks`, whose series indexes point into `ids`.
pub async fn insert(
    conn: &mut SqliteConnection,
    blocks: &[RawBlock],
    ids: &[i64],
) -> Result<(), ReadModelError> {
    for chunk in blocks.chunks(BLOCKS_PER_STATEMENT) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "INSERT INTO raw_blocks (series_id, first_us, stream_seq, last_us, readings, points) ",
        );
        sql.push_values(chunk, |mut row, b| {
            row.push_bind(ids[b.series as usize])
                .push_bind(b.first())
                .push_bind(b.stream_seq as i64)
                .push_bind(b.last())
                .push_bind(b.points.len() as i64)
                .push_bind(b.encode_points());
        });
        sql.build().execute(&mut *conn).await.map_err(unavailable)?;
    }
    Ok(())
}

/// The raw points of one series in `[from, to)` (Unix microseconds), in query order, at most
/// `keep`.
pub async fn range(
    readers: &SqlitePool,
    series_id: i64,
    from: i64,
    to: i64,
    keep: usize,
) -> Result<Vec<BlockPoint>, ReadModelError> {
    gather(from, to, keep, |after| async move {
        sqlx::query_as(
            "SELECT first_us, stream_seq, points FROM raw_blocks
             WHERE series_id = ? AND (first_us, stream_seq) > (?, ?) AND first_us < ?
               AND last_us >= ?
             ORDER BY first_us, stream_seq LIMIT ?",
        )
        .bind(series_id)
        .bind(after.0)
        .bind(after.1)
        .bind(to)
        .bind(from)
        .bind(BLOCKS_PER_READ)
        .fetch_all(readers)
        .await
        .map_err(unavailable)
    })
    .await
}

/// Drops the readings of one series measured before `cutoff`: whole blocks, in short
/// statements, then the few blocks that straddle it, rewritten without their older points.
/// Returns how many readings went.
pub async fn prune_series(
    writer: &SqlitePool,
    series_id: i64,
    cutoff: i64,
) -> Result<u64, ReadModelError> {
    let mut removed = 0u64;
    loop {
        let counts: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM raw_blocks
             WHERE (series_id, first_us, stream_seq) IN (
                 SELECT series_id, first_us, stream_seq FROM raw_blocks
                 WHERE series_id = ? AND last_us < ? LIMIT ?)
             RETURNING readings",
        )
        .bind(series_id)
        .bind(cutoff)
        .bind(BLOCKS_PER_READ)
        .fetch_all(writer)
        .await
        .map_err(unavailable)?;
        removed += counts.iter().sum::<i64>() as u64;
        if (counts.len() as i64) < BLOCKS_PER_READ {
            break;
        }
        tokio::task::yield_now().await;
    }
    let mut tx = writer.begin().await.map_err(unavailable)?;
    let straddling: Vec<BlockRow> = sqlx::query_as(
        "DELETE FROM raw_blocks WHERE series_id = ? AND first_us < ? AND last_us >= ?
         RETURNING first_us, stream_seq, points",
    )
    .bind(series_id)
    .bind(cutoff)
    .bind(cutoff)
    .fetch_all(&mut *tx)
    .await
    .map_err(unavailable)?;
    let mut rewritten = Vec::with_capacity(straddling.len());
    for row in straddling {
        let (block, went) = trimmed(row, cutoff)?;
        removed += went;
        rewritten.push(block);
    }
    insert(&mut tx, &rewritten, &[series_id]).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(removed)
}

/// Moves the rows of `raw_readings` (one per reading, before blocks) into blocks and drops that
/// table, in one transaction that holds the write lock: processes opening the file at once do
/// it once. Nothing to do once the table is gone.
pub async fn move_legacy_rows(writer: &SqlitePool) -> Result<(), ReadModelError> {
    let mut conn = writer.acquire().await.map_err(unavailable)?;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    let moved = move_within(&mut conn).await;
    let finish = if moved.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let finished = sqlx::query(finish).execute(&mut *conn).await;
    moved?;
    finished.map_err(unavailable)?;
    Ok(())
}

async fn move_within(conn: &mut SqliteConnection) -> Result<(), ReadModelError> {
    let legacy: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'raw_readings')",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(unavailable)?;
    if !legacy {
        return Ok(());
    }
    let series: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT series_id FROM raw_readings")
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
    for series_id in series {
        let rows: Vec<(i64, i64, i64, f64)> = sqlx::query_as(
            "SELECT measured_at_us, stream_seq, idx, value FROM raw_readings WHERE series_id = ?",
        )
        .bind(series_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
        let blocks = legacy_blocks(
            rows.into_iter()
                .map(|(t, stream_seq, idx, value)| (from_micros(t), stream_seq, idx, value)),
        );
        insert(&mut *conn, &blocks, &[series_id]).await?;
    }
    sqlx::query("DROP TABLE raw_readings")
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}
