//! Raw readings on PostgreSQL, as blocks (`watershed_domain::raw_blocks`): one UNNEST insert per
//! delta, ranges gathered block by block, pruning with the retention, and the rows of the table
//! of one row per reading that older versions kept moved in.

use sqlx::postgres::PgPool;
use sqlx::PgConnection;
use watershed_domain::ports::ReadModelError;
use watershed_domain::raw_blocks::{BlockPoint, RawBlock};

use crate::raw_block_rows::{gather, legacy_blocks, trimmed, BlockRow, BLOCKS_PER_READ};
use crate::sql_error;

fn unavailable(e: sqlx::Error) -> ReadModelError {
    sql_error::classify(e, sql_error::postgres_refuses_data)
}

/// Inserts `blocks`, whose series indexes point into `ids`, in one statement.
pub async fn insert(
    conn: &mut PgConnection,
    blocks: &[RawBlock],
    ids: &[i64],
) -> Result<(), ReadModelError> {
    if blocks.is_empty() {
        return Ok(());
    }
    let series: Vec<i64> = blocks.iter().map(|b| ids[b.series as usize]).collect();
    let firsts: Vec<i64> = blocks.iter().map(RawBlock::first).collect();
    let seqs: Vec<i64> = blocks.iter().map(|b| b.stream_seq as i64).collect();
    let lasts: Vec<i64> = blocks.iter().map(RawBlock::last).collect();
    let counts: Vec<i32> = blocks.iter().map(|b| b.points.len() as i32).collect();
    let points: Vec<Vec<u8>> = blocks.iter().map(RawBlock::encode_points).collect();
    sqlx::query(
        "INSERT INTO raw_blocks (series_id, first_us, stream_seq, last_us, readings, points)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                              $5::int[], $6::bytea[])",
    )
    .bind(&series)
    .bind(&firsts)
    .bind(&seqs)
    .bind(&lasts)
    .bind(&counts)
    .bind(&points)
    .execute(&mut *conn)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// The raw points of one series in `[from, to)` (Unix microseconds), in query order, at most
/// `keep`.
pub async fn range(
    pool: &PgPool,
    series_id: i64,
    from: i64,
    to: i64,
    keep: usize,
) -> Result<Vec<BlockPoint>, ReadModelError> {
    gather(from, to, keep, |after| async move {
        sqlx::query_as(
            "SELECT first_us, stream_seq, points FROM raw_blocks
             WHERE series_id = $1 AND (first_us, stream_seq) > ($2, $3) AND first_us < $4
               AND last_us >= $5
             ORDER BY first_us, stream_seq LIMIT $6",
        )
        .bind(series_id)
        .bind(after.0)
        .bind(after.1)
        .bind(to)
        .bind(from)
        .bind(BLOCKS_PER_READ)
        .fetch_all(pool)
        .await
        .map_err(unavailable)
    })
    .await
}

/// Drops the readings of one series measured before `cutoff`: whole blocks in short statements,
/// then the blocks that straddle it, rewritten without their older points. Returns how many
/// readings went.
pub async fn prune_series(
    pool: &PgPool,
    series_id: i64,
    cutoff: i64,
) -> Result<u64, ReadModelError> {
    let mut removed = 0u64;
    loop {
        let counts: Vec<i32> = sqlx::query_scalar(
            "DELETE FROM raw_blocks
             WHERE (series_id, first_us, stream_seq) IN (
                 SELECT series_id, first_us, stream_seq FROM raw_blocks
                 WHERE series_id = $1 AND last_us < $2 LIMIT $3)
             RETURNING readings",
        )
        .bind(series_id)
        .bind(cutoff)
        .bind(BLOCKS_PER_READ)
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
        removed += counts.iter().map(|&c| c as u64).sum::<u64>();
        if (counts.len() as i64) < BLOCKS_PER_READ {
            break;
        }
    }
    let mut tx = pool.begin().await.map_err(unavailable)?;
    let straddling: Vec<BlockRow> = sqlx::query_as(
        "DELETE FROM raw_blocks WHERE series_id = $1 AND first_us < $2 AND last_us >= $2
         RETURNING first_us, stream_seq, points",
    )
    .bind(series_id)
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

/// Serialises moving the legacy rows across processes connecting at once.
const MOVE_LOCK: i64 = 0x7261_775f_626c_6f63; // "raw_bloc"

/// Moves the rows of `raw_readings` (one per reading, before blocks) into blocks, a series per
/// transaction, then drops that table; under an advisory lock, so processes connecting at once
/// do it once. Nothing to do once the table is gone.
pub async fn move_legacy_rows(pool: &PgPool) -> Result<(), ReadModelError> {
    let mut conn = pool.acquire().await.map_err(unavailable)?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MOVE_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    let moved = move_locked(&mut conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MOVE_LOCK)
        .execute(&mut *conn)
        .await;
    moved?;
    unlocked.map_err(unavailable)?;
    Ok(())
}

async fn move_locked(conn: &mut PgConnection) -> Result<(), ReadModelError> {
    let legacy: bool = sqlx::query_scalar("SELECT to_regclass('raw_readings') IS NOT NULL")
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
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(unavailable)?;
        let rows: Vec<(chrono::DateTime<chrono::Utc>, i64, i32, f64)> = sqlx::query_as(
            "DELETE FROM raw_readings WHERE series_id = $1
             RETURNING measured_at, stream_seq, idx, value",
        )
        .bind(series_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        let blocks = legacy_blocks(
            rows.into_iter()
                .map(|(t, stream_seq, idx, value)| (t, stream_seq, i64::from(idx), value)),
        );
        insert(&mut tx, &blocks, &[series_id]).await?;
        tx.commit().await.map_err(unavailable)?;
    }
    sqlx::query("DROP TABLE raw_readings")
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}
