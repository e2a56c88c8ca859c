//! What a rollup upsert does to an existing bucket, in SQL both read models speak. The sum
//! saturates at ±`f64::MAX` as [`BucketStats::merge`] does, since PostgreSQL refuses a float
//! overflow and SQLite would store an infinity that JSON cannot carry.
//!
//! [`BucketStats::merge`]: watershed_domain::read_model::BucketStats::merge

/// The `DO UPDATE SET` list of `INSERT INTO rollups … ON CONFLICT (series_id, width_s, bucket_start)`.
pub(crate) const MERGE_BUCKET: &str = "count = rollups.count + excluded.count,
     min = CASE WHEN excluded.min < rollups.min THEN excluded.min ELSE rollups.min END,
     max = CASE WHEN excluded.max > rollups.max THEN excluded.max ELSE rollups.max END,
     sum = CASE
         WHEN rollups.sum > 0 AND excluded.sum > 0
              AND rollups.sum > 1.7976931348623157e308 - excluded.sum THEN 1.7976931348623157e308
         WHEN rollups.sum < 0 AND excluded.sum < 0
              AND rollups.sum < -1.7976931348623157e308 - excluded.sum THEN -1.7976931348623157e308
         ELSE rollups.sum + excluded.sum END";
