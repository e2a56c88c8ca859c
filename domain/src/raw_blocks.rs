//! Raw readings as the read models keep them: in blocks, one per series, event and hour. A row
//! per reading made the raw table the read models' biggest cost — the projection inserted a
//! hundred index entries for a batch of a hundred readings, and each took about 40 bytes of
//! disk — while a block is one row of 16 bytes per reading. An hour bounds a block's span, so a
//! time-range query knows how far back to start looking.

use crate::read_model::{RawRow, SeriesIdx};

/// The most a block spans: its readings are measured within one UTC hour.
pub const BLOCK_SPAN_MICROS: i64 = 3_600_000_000;

/// Bytes per point in an encoded block: measured-at in microseconds, then the value, both
/// little-endian.
const POINT_BYTES: usize = 16;

/// One reading in a block: measured-at in Unix microseconds, and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockPoint {
    pub t: i64,
    pub value: f64,
}

/// The readings of one series from one event within one hour, in the order queries return them
/// (measured-at, then position in the batch).
#[derive(Debug, Clone, PartialEq)]
pub struct RawBlock {
    pub series: SeriesIdx,
    pub stream_seq: u64,
    pub points: Vec<BlockPoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a raw block of {0} bytes is not whole points")]
pub struct BlockError(pub usize);

impl RawBlock {
    /// Earliest measured-at: where the block sorts.
    pub fn first(&self) -> i64 {
        self.points.first().map_or(0, |p| p.t)
    }

    /// Latest measured-at: when the block may go with the raw retention.
    pub fn last(&self) -> i64 {
        self.points.last().map_or(0, |p| p.t)
    }

    pub fn encode_points(&self) -> Vec<u8> {
        encode_points(&self.points)
    }
}

pub fn encode_points(points: &[BlockPoint]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * POINT_BYTES);
    for p in points {
        out.extend_from_slice(&p.t.to_le_bytes());
        out.extend_from_slice(&p.value.to_le_bytes());
    }
    out
}

pub fn decode_points(bytes: &[u8]) -> Result<Vec<BlockPoint>, BlockError> {
    if !bytes.len().is_multiple_of(POINT_BYTES) {
        return Err(BlockError(bytes.len()));
    }
    Ok(bytes
        .chunks_exact(POINT_BYTES)
        .map(|p| {
            let (t, value) = p.split_at(8);
            BlockPoint {
                t: i64::from_le_bytes(t.try_into().expect("8 bytes")),
                value: f64::from_le_bytes(value.try_into().expect("8 bytes")),
            }
        })
        .collect())
}

/// The blocks a delta's raw rows make. Rows of one event for one series come together, so the
/// blocks come out in the order their series first appear.
pub fn blocks_of(raw: &[RawRow]) -> Vec<RawBlock> {
    let mut keyed: Vec<(SeriesIdx, u64, i64, i64, u32, f64)> = raw
        .iter()
        .map(|r| {
            let t = r.measured_at.timestamp_micros();
            let hour = t.div_euclid(BLOCK_SPAN_MICROS);
            (r.series, r.stream_seq, hour, t, r.index, r.value)
        })
        .collect();
    keyed.sort_by_key(|&(series, stream_seq, hour, t, index, _)| {
        (series, stream_seq, hour, t, index)
    });
    let mut blocks: Vec<RawBlock> = Vec::new();
    let mut current: Option<(SeriesIdx, u64, i64)> = None;
    for (series, stream_seq, hour, t, _, value) in keyed {
        if current != Some((series, stream_seq, hour)) {
            current = Some((series, stream_seq, hour));
            blocks.push(RawBlock {
                series,
                stream_seq,
                points: Vec::new(),
            });
        }
        blocks
            .last_mut()
            .expect("a block was just started")
            .points
            .push(BlockPoint { t, value });
    }
    blocks
}

/// Gathers a raw series from blocks read in order of their first reading: keeps the points in
/// `[from, to)` in query order (measured-at, event, position in the batch), at most `keep`.
#[derive(Debug)]
pub struct RangeMerge {
    from: i64,
    to: i64,
    keep: usize,
    points: Vec<(i64, u64, usize, f64)>,
}

impl RangeMerge {
    pub fn new(from: i64, to: i64, keep: usize) -> Self {
        Self {
            from,
            to,
            keep,
            points: Vec::new(),
        }
    }

    /// Where to start reading blocks: one that starts earlier cannot reach `from`.
    pub fn first_block_from(&self) -> i64 {
        self.from.saturating_sub(BLOCK_SPAN_MICROS)
    }

    pub fn add(&mut self, stream_seq: u64, points: &[BlockPoint]) {
        self.points.extend(
            points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.t >= self.from && p.t < self.to)
                .map(|(i, p)| (p.t, stream_seq, i, p.value)),
        );
    }

    /// Whether blocks that start at `next_first` or later can still change the answer.
    pub fn wants_blocks_from(&mut self, next_first: i64) -> bool {
        if self.points.len() < self.keep {
            return true;
        }
        self.settle();
        self.points.last().is_none_or(|&(t, ..)| t >= next_first)
    }

    fn settle(&mut self) {
        self.points
            .sort_by_key(|&(t, stream_seq, position, _)| (t, stream_seq, position));
        self.points.truncate(self.keep);
    }

    pub fn finish(mut self) -> Vec<BlockPoint> {
        self.settle();
        self.points
            .into_iter()
            .map(|(t, _, _, value)| BlockPoint { t, value })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(micros).expect("a valid instant")
    }

    fn row(series: SeriesIdx, stream_seq: u64, index: u32, t: i64, value: f64) -> RawRow {
        RawRow {
            series,
            measured_at: at(t),
            value,
            stream_seq,
            index,
        }
    }

    #[test]
    fn points_survive_encoding_bit_for_bit() {
        let points = vec![
            BlockPoint { t: -5, value: -0.0 },
            BlockPoint {
                t: i64::MAX,
                value: f64::MAX,
            },
            BlockPoint {
                t: 0,
                value: f64::MIN_POSITIVE / 2.0,
            },
        ];
        let decoded = decode_points(&encode_points(&points)).unwrap();
        let bits = |p: &[BlockPoint]| -> Vec<(i64, u64)> {
            p.iter().map(|p| (p.t, p.value.to_bits())).collect()
        };
        assert_eq!(bits(&decoded), bits(&points));
        assert_eq!(decode_points(&[0; 17]), Err(BlockError(17)));
    }

    #[test]
    fn a_block_holds_one_series_of_one_event_within_one_hour_in_query_order() {
        let hour = BLOCK_SPAN_MICROS;
        let raw = [
            row(0, 7, 0, 10 * hour + 5, 1.0),
            row(1, 7, 1, 10 * hour + 1, 2.0),
            row(0, 7, 2, 10 * hour + 5, 3.0),
            row(0, 7, 3, 10 * hour + 2, 4.0),
            row(0, 7, 4, 11 * hour, 5.0),
            row(0, 8, 0, 10 * hour, 6.0),
        ];
        let blocks = blocks_of(&raw);
        let shape: Vec<(SeriesIdx, u64, Vec<f64>)> = blocks
            .iter()
            .map(|b| {
                (
                    b.series,
                    b.stream_seq,
                    b.points.iter().map(|p| p.value).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, 7, vec![4.0, 1.0, 3.0]),
                (0, 7, vec![5.0]),
                (0, 8, vec![6.0]),
                (1, 7, vec![2.0]),
            ]
        );
        assert_eq!(
            (blocks[0].first(), blocks[0].last()),
            (10 * hour + 2, 10 * hour + 5)
        );
        // Before 1970 the hour still starts a block, not the instant's truncation toward zero.
        let old = blocks_of(&[row(0, 1, 0, -1, 1.0), row(0, 1, 1, -hour, 2.0)]);
        assert_eq!(old.len(), 1);
    }

    #[test]
    fn a_range_keeps_what_falls_in_it_in_query_order_and_stops_reading_when_full() {
        let mut merge = RangeMerge::new(100, 200, 3);
        assert_eq!(merge.first_block_from(), 100 - BLOCK_SPAN_MICROS);
        let p = |t, value| BlockPoint { t, value };
        merge.add(2, &[p(99, 0.0), p(150, 1.0), p(150, 2.0)]);
        merge.add(1, &[p(150, 3.0), p(200, 4.0)]);
        assert!(
            merge.wants_blocks_from(150),
            "a block at 150 could come first"
        );
        assert!(
            !merge.wants_blocks_from(151),
            "everything later sorts after the three kept"
        );
        merge.add(3, &[p(120, 5.0)]);
        let kept: Vec<f64> = merge.finish().iter().map(|p| p.value).collect();
        assert_eq!(kept, vec![5.0, 3.0, 1.0]);
    }
}
