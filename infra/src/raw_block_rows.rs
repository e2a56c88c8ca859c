//! What the SQL read models share about raw blocks beyond their SQL: gathering a range from pages
//! of block rows, trimming a block that straddles the retention cutoff, and turning the rows of
//! the older table of one row per reading into blocks.

use std::future::Future;

use chrono::{DateTime, Utc};
use watershed_domain::ports::ReadModelError;
use watershed_domain::raw_blocks::{blocks_of, decode_points, BlockPoint, RangeMerge, RawBlock};
use watershed_domain::read_model::RawRow;

/// Block rows read per query while gathering a range, and deleted per pruning statement.
pub(crate) const BLOCKS_PER_READ: i64 = 256;

/// A stored block: its first reading's time, its event, its packed points.
pub(crate) type BlockRow = (i64, i64, Vec<u8>);

fn unreadable(e: impl std::fmt::Display) -> ReadModelError {
    ReadModelError::Unavailable(format!("a raw block is unreadable: {e}"))
}

/// The raw points in `[from, to)` (Unix microseconds), in query order, at most `keep`. `read`
/// returns up to [`BLOCKS_PER_READ`] rows of the series with `last_us >= from` and
/// `first_us < to`, after the given `(first_us, stream_seq)`, in that order; blocks are read
/// until no later one can count.
pub(crate) async fn gather<F, Fut>(
    from: i64,
    to: i64,
    keep: usize,
    mut read: F,
) -> Result<Vec<BlockPoint>, ReadModelError>
where
    F: FnMut((i64, i64)) -> Fut,
    Fut: Future<Output = Result<Vec<BlockRow>, ReadModelError>>,
{
    let mut merge = RangeMerge::new(from, to, keep);
    let mut after = (merge.first_block_from(), i64::MIN);
    loop {
        let rows = read(after).await?;
        for (first, stream_seq, points) in &rows {
            if !merge.wants_blocks_from(*first) {
                return Ok(merge.finish());
            }
            merge.add(
                *stream_seq as u64,
                &decode_points(points).map_err(unreadable)?,
            );
            after = (*first, *stream_seq);
        }
        if (rows.len() as i64) < BLOCKS_PER_READ {
            return Ok(merge.finish());
        }
    }
}

/// A block that straddles `cutoff` without its older points, and how many went. It keeps one
/// point at least: it ends at or after the cutoff.
pub(crate) fn trimmed(row: BlockRow, cutoff: i64) -> Result<(RawBlock, u64), ReadModelError> {
    let (_, stream_seq, points) = row;
    let points = decode_points(&points).map_err(unreadable)?;
    let kept: Vec<BlockPoint> = points.iter().copied().filter(|p| p.t >= cutoff).collect();
    let removed = (points.len() - kept.len()) as u64;
    let block = RawBlock {
        series: 0,
        stream_seq: stream_seq as u64,
        points: kept,
    };
    Ok((block, removed))
}

/// The blocks of one series' rows of the older table, given as (measured at, stream_seq, idx,
/// value); series index 0 stands for that series.
pub(crate) fn legacy_blocks(
    rows: impl IntoIterator<Item = (DateTime<Utc>, i64, i64, f64)>,
) -> Vec<RawBlock> {
    let raw: Vec<RawRow> = rows
        .into_iter()
        .map(|(measured_at, stream_seq, idx, value)| RawRow {
            series: 0,
            measured_at,
            value,
            stream_seq: stream_seq as u64,
            index: idx as u32,
        })
        .collect();
    blocks_of(&raw)
}
