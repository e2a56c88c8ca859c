//! The read models on PostgreSQL. A delta commits in one transaction with its stream positions;
//! bucket and latest upserts go as one UNNEST statement each, and so do raw blocks.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, Row};
use watershed_domain::ports::{ReadModel, ReadModelError};
use watershed_domain::raw_blocks::blocks_of;
use watershed_domain::read_model::{
    AlertChange, AlertQuery, AlertRecord, BucketPoint, DeviceView, Points, RawPoint,
    ReadModelDelta, Series, SeriesQuery,
};
use watershed_domain::{DeadLetter, DeviceId, Label, SensorName, Unit};

use super::raw_blocks;
use crate::alert_sql;
use crate::dead_letter_rows::{event_json, DeadLetterRow};
use crate::device_rows::{
    assemble, attach_alerts, parse_device_id, parse_unit, read_rows, unreadable, AlertRow,
    DeviceRow,
};
use crate::profile_sql;
use crate::rollup_sql::MERGE_BUCKET;
use crate::sql_error;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres_read_model");

pub struct PostgresReadModel {
    pool: PgPool,
    /// series_id per (device, sensor); ids are never reused, so a cached id stays right.
    series_ids: Mutex<HashMap<(DeviceId, SensorName), i64>>,
}

fn unavailable(e: sqlx::Error) -> ReadModelError {
    sql_error::classify(e, sql_error::postgres_refuses_data)
}

impl PostgresReadModel {
    /// Connects and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, ReadModelError> {
        Self::connect_with(url.parse().map_err(unavailable)?).await
    }

    /// Connects with `options` (for a generation, its schema first on the search path) and
    /// applies migrations there.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, ReadModelError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| ReadModelError::Unavailable(e.to_string()))?;
        raw_blocks::move_legacy_rows(&pool).await?;
        Ok(Self {
            pool,
            series_ids: Mutex::new(HashMap::new()),
        })
    }

    /// Ids of the delta's series, creating missing ones outside the delta's transaction: an unused
    /// series row is harmless, and the cache never holds an id that was rolled back.
    async fn series_ids(&self, delta: &ReadModelDelta) -> Result<Vec<i64>, ReadModelError> {
        let missing: Vec<&(DeviceId, SensorName)> = {
            let cache = self
                .series_ids
                .lock()
                .expect("series id cache lock poisoned");
            delta
                .series
                .iter()
                .filter(|k| !cache.contains_key(k))
                .collect()
        };
        if !missing.is_empty() {
            let devices: Vec<&str> = missing.iter().map(|(d, _)| d.as_str()).collect();
            let sensors: Vec<&str> = missing.iter().map(|(_, s)| s.as_str()).collect();
            let rows: Vec<(i64, String, String)> = sqlx::query_as(
                "INSERT INTO series (device_id, sensor)
                 SELECT * FROM UNNEST($1::text[], $2::text[])
                 ON CONFLICT (device_id, sensor) DO UPDATE SET sensor = excluded.sensor
                 RETURNING series_id, device_id, sensor",
            )
            .bind(&devices)
            .bind(&sensors)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
            let mut cache = self
                .series_ids
                .lock()
                .expect("series id cache lock poisoned");
            for (id, device, sensor) in rows {
                let key = (
                    parse_device_id(device)?,
                    SensorName::parse(sensor).map_err(|e| unreadable("sensor", e))?,
                );
                cache.insert(key, id);
            }
        }
        let cache = self
            .series_ids
            .lock()
            .expect("series id cache lock poisoned");
        Ok(delta.series.iter().map(|k| cache[k]).collect())
    }

    async fn apply(
        tx: &mut PgConnection,
        delta: &ReadModelDelta,
        ids: &[i64],
    ) -> Result<(), ReadModelError> {
        for (device, advance) in &delta.streams {
            let moved = if advance.from == 0 {
                sqlx::query(
                    "INSERT INTO stream_positions (device_id, stream_seq) VALUES ($1, $2)
                     ON CONFLICT (device_id) DO NOTHING",
                )
                .bind(device.as_str())
                .bind(advance.to as i64)
            } else {
                sqlx::query(
                    "UPDATE stream_positions SET stream_seq = $2 WHERE device_id = $1 AND stream_seq = $3",
                )
                .bind(device.as_str())
                .bind(advance.to as i64)
                .bind(advance.from as i64)
            }
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            if moved.rows_affected() != 1 {
                return Err(ReadModelError::Conflict(format!(
                    "stream {device} is no longer at {}",
                    advance.from
                )));
            }
        }

        for parked in &delta.parked {
            sqlx::query(
                "INSERT INTO dead_letters (source, device_id, stream_seq, event, raw, error,
                     parked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, now())
                 ON CONFLICT (source) DO NOTHING",
            )
            .bind(&parked.source)
            .bind(parked.device_id.as_ref().map(DeviceId::as_str))
            .bind(parked.stream_seq.map(|s| s as i64))
            .bind(event_json(parked))
            .bind(parked.raw.as_deref())
            .bind(&parked.error)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        if !delta.resolved.is_empty() {
            sqlx::query("DELETE FROM dead_letters WHERE id = ANY($1)")
                .bind(&delta.resolved)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }

        for r in &delta.registrations {
            sqlx::query(
                "INSERT INTO devices (device_id, name, kind, location, registered_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (device_id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                     location = excluded.location, registered_at = excluded.registered_at",
            )
            .bind(r.device_id.as_str())
            .bind(r.name.as_ref().map(Label::as_str))
            .bind(r.kind.as_ref().map(Label::as_str))
            .bind(r.location.as_ref().map(Label::as_str))
            .bind(r.at)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        profile_sql::apply::<Postgres>(&mut *tx, &delta.profile_changes)
            .await
            .map_err(unavailable)?;
        // Alerts before decommissions, which close whatever is still open.
        for change in &delta.alerts {
            match change {
                AlertChange::Opened {
                    device, alert: a, ..
                } => sqlx::query(
                    "INSERT INTO open_alerts (device_id, rule, sensor, condition, threshold,
                         value, unit, message, raised_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (device_id, rule) DO UPDATE SET sensor = excluded.sensor,
                         condition = excluded.condition, threshold = excluded.threshold,
                         value = excluded.value, unit = excluded.unit,
                         message = excluded.message, raised_at = excluded.raised_at",
                )
                .bind(device.as_str())
                .bind(a.rule.as_str())
                .bind(a.sensor.as_str())
                .bind(a.condition.as_str())
                .bind(a.threshold)
                .bind(a.value)
                .bind(a.unit.as_ref().map(Unit::as_str))
                .bind(a.message.as_ref().map(Label::as_str))
                .bind(a.raised_at),
                AlertChange::Closed { device, rule, .. } => {
                    sqlx::query("DELETE FROM open_alerts WHERE device_id = $1 AND rule = $2")
                        .bind(device.as_str())
                        .bind(rule.as_str())
                }
                AlertChange::Acknowledged { .. } => continue,
            }
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        for (device, at) in &delta.decommissions {
            sqlx::query("UPDATE devices SET decommissioned_at = $2 WHERE device_id = $1")
                .bind(device.as_str())
                .bind(*at)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            sqlx::query("DELETE FROM open_alerts WHERE device_id = $1")
                .bind(device.as_str())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        alert_sql::apply::<Postgres>(&mut *tx, &delta.alerts, &delta.decommissions)
            .await
            .map_err(unavailable)?;

        if !delta.latest.is_empty() {
            let (mut series, mut values, mut units, mut times) = (vec![], vec![], vec![], vec![]);
            for (idx, latest) in &delta.latest {
                series.push(ids[*idx as usize]);
                values.push(latest.value);
                units.push(latest.unit.as_ref().map(|u| u.as_str()));
                times.push(latest.measured_at);
            }
            sqlx::query(
                "INSERT INTO latest (series_id, value, unit, measured_at)
                 SELECT * FROM UNNEST($1::bigint[], $2::float8[], $3::text[], $4::timestamptz[])
                 ON CONFLICT (series_id) DO UPDATE SET value = excluded.value,
                     unit = excluded.unit, measured_at = excluded.measured_at
                 WHERE excluded.measured_at >= latest.measured_at",
            )
            .bind(&series)
            .bind(&values)
            .bind(&units)
            .bind(&times)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }

        if !delta.buckets.is_empty() {
            let n = delta.buckets.len();
            let (mut series, mut widths, mut starts) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            let (mut counts, mut mins, mut maxs, mut sums) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for ((idx, resolution, start), stats) in &delta.buckets {
                series.push(ids[*idx as usize]);
                widths.push(resolution.bucket_seconds().unwrap_or(0) as i32);
                starts.push(*start);
                counts.push(stats.count as i64);
                mins.push(stats.min);
                maxs.push(stats.max);
                sums.push(stats.sum);
            }
            let upsert = format!(
                "INSERT INTO rollups (series_id, width_s, bucket_start, count, min, max, sum)
                 SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::bigint[], $4::bigint[],
                                      $5::float8[], $6::float8[], $7::float8[])
                 ON CONFLICT (series_id, width_s, bucket_start) DO UPDATE SET {MERGE_BUCKET}"
            );
            sqlx::query(&upsert)
                .bind(&series)
                .bind(&widths)
                .bind(&starts)
                .bind(&counts)
                .bind(&mins)
                .bind(&maxs)
                .bind(&sums)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }

        raw_blocks::insert(tx, &blocks_of(&delta.raw), ids).await
    }

    async fn query_devices(
        &self,
        only: Option<&[DeviceId]>,
    ) -> Result<Vec<DeviceView>, ReadModelError> {
        let ids: Option<Vec<&str>> = only.map(|ids| ids.iter().map(DeviceId::as_str).collect());
        // Both reads see one snapshot, so alerts and devices are of the same moment.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let rows = sqlx::query(
            "SELECT d.device_id, d.name, d.kind, d.location, d.registered_at, d.decommissioned_at,
                    d.disabled_at_us, d.tags, s.sensor, l.value, l.unit, l.measured_at
             FROM devices d
             LEFT JOIN series s ON s.device_id = d.device_id
             LEFT JOIN latest l ON l.series_id = s.series_id
             WHERE $1::text[] IS NULL OR d.device_id = ANY($1)
             ORDER BY d.device_id, s.sensor",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        let rows = read_rows(&rows, device_row, "device row")?;
        let mut views = assemble(rows)?;

        let rows = sqlx::query(
            "SELECT device_id, rule, sensor, condition, threshold, value, unit, message, raised_at
             FROM open_alerts
             WHERE $1::text[] IS NULL OR device_id = ANY($1)
             ORDER BY device_id, raised_at",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        let rows = read_rows(&rows, alert_row, "alert row")?;
        attach_alerts(&mut views, rows)?;
        Ok(views)
    }
}

fn dead_letter_row(row: &PgRow) -> Result<DeadLetterRow, sqlx::Error> {
    Ok(DeadLetterRow {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        device_id: row.try_get("device_id")?,
        stream_seq: row.try_get("stream_seq")?,
        event: row.try_get("event")?,
        raw: row.try_get("raw")?,
        error: row.try_get("error")?,
        parked_at: row.try_get("parked_at")?,
    })
}

fn alert_row(row: &PgRow) -> Result<AlertRow, sqlx::Error> {
    Ok(AlertRow {
        device_id: row.try_get("device_id")?,
        rule: row.try_get("rule")?,
        sensor: row.try_get("sensor")?,
        condition: row.try_get("condition")?,
        threshold: row.try_get("threshold")?,
        value: row.try_get("value")?,
        unit: row.try_get("unit")?,
        message: row.try_get("message")?,
        raised_at: row.try_get("raised_at")?,
    })
}

fn device_row(row: &PgRow) -> Result<DeviceRow, sqlx::Error> {
    Ok(DeviceRow {
        device_id: row.try_get("device_id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        location: row.try_get("location")?,
        registered_at: row.try_get("registered_at")?,
        decommissioned_at: row.try_get("decommissioned_at")?,
        disabled_at: row
            .try_get::<Option<i64>, _>("disabled_at_us")?
            .and_then(DateTime::from_timestamp_micros),
        tags: row.try_get("tags")?,
        sensor: row.try_get("sensor")?,
        value: row.try_get("value")?,
        unit: row.try_get("unit")?,
        measured_at: row.try_get("measured_at")?,
    })
}

#[async_trait]
impl ReadModel for PostgresReadModel {
    async fn stream_positions(
        &self,
        streams: &[DeviceId],
    ) -> Result<HashMap<DeviceId, u64>, ReadModelError> {
        let ids: Vec<&str> = streams.iter().map(DeviceId::as_str).collect();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT device_id, stream_seq FROM stream_positions WHERE device_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.into_iter()
            .map(|(id, seq)| Ok((parse_device_id(id)?, seq as u64)))
            .collect()
    }

    async fn commit(&self, delta: &ReadModelDelta) -> Result<(), ReadModelError> {
        let ids = self.series_ids(delta).await?;
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        Self::apply(&mut tx, delta, &ids).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn parked_streams(
        &self,
        streams: &[DeviceId],
    ) -> Result<HashSet<DeviceId>, ReadModelError> {
        let ids: Vec<&str> = streams.iter().map(DeviceId::as_str).collect();
        let parked: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT device_id FROM dead_letters WHERE device_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        parked.into_iter().map(parse_device_id).collect()
    }

    async fn dead_letters(
        &self,
        device: Option<&DeviceId>,
    ) -> Result<Vec<DeadLetter>, ReadModelError> {
        let rows = sqlx::query(
            "SELECT id, source, device_id, stream_seq, event, raw, error, parked_at
             FROM dead_letters WHERE $1::text IS NULL OR device_id = $1
             ORDER BY device_id, stream_seq, id",
        )
        .bind(device.map(DeviceId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        read_rows(&rows, dead_letter_row, "dead letter")?
            .into_iter()
            .map(DeadLetterRow::into_dead_letter)
            .collect()
    }

    async fn ping(&self) -> Result<(), ReadModelError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn devices(&self) -> Result<Vec<DeviceView>, ReadModelError> {
        self.query_devices(None).await
    }

    async fn device_count(&self) -> Result<u64, ReadModelError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(count as u64)
    }

    async fn devices_by_id(&self, ids: &[DeviceId]) -> Result<Vec<DeviceView>, ReadModelError> {
        self.query_devices(Some(ids)).await
    }

    async fn series(&self, query: &SeriesQuery) -> Result<Series, ReadModelError> {
        let found: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT s.series_id, l.unit FROM series s
             LEFT JOIN latest l ON l.series_id = s.series_id
             WHERE s.device_id = $1 AND s.sensor = $2",
        )
        .bind(query.device_id.as_str())
        .bind(query.sensor.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let Some((series_id, unit)) = found else {
            return Ok(Series::empty(query.resolution));
        };
        let unit = parse_unit(unit)?;
        // One more than asked tells whether the answer was cut short.
        let fetch = i64::try_from(query.limit).unwrap_or(i64::MAX - 1) + 1;
        let points = match query.resolution.bucket_seconds() {
            None => {
                let points = raw_blocks::range(
                    &self.pool,
                    series_id,
                    query.from.timestamp_micros(),
                    query.to.timestamp_micros(),
                    fetch as usize,
                )
                .await?;
                Points::Raw(
                    points
                        .into_iter()
                        .map(|p| RawPoint {
                            t: DateTime::from_timestamp_micros(p.t).unwrap_or_default(),
                            value: p.value,
                        })
                        .collect(),
                )
            }
            Some(width) => {
                let first = query.resolution.bucket_start(query.from).unwrap_or(0);
                let rows: Vec<(i64, i64, f64, f64, f64)> = sqlx::query_as(
                    "SELECT bucket_start, count, min, max, sum FROM rollups
                     WHERE series_id = $1 AND width_s = $2 AND bucket_start >= $3 AND bucket_start < $4
                     ORDER BY bucket_start LIMIT $5",
                )
                .bind(series_id)
                .bind(width as i32)
                .bind(first)
                .bind(query.to.timestamp())
                .bind(fetch)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
                Points::Buckets(rows.into_iter().map(BucketPoint::from_row).collect())
            }
        };
        Ok(Series::limited(unit, points, query.limit))
    }

    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<AlertRecord>, ReadModelError> {
        alert_sql::list(&self.pool, query)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|row| row.record().map_err(|e| unreadable("alert", e)))
            .collect()
    }

    async fn prune_raw(&self, cutoff: DateTime<Utc>) -> Result<u64, ReadModelError> {
        // Per series, so each delete walks the primary key (series_id, first_us, …) instead of
        // scanning the table, and in chunks, so no transaction holds many row locks for long.
        let ids: Vec<i64> = sqlx::query_scalar("SELECT series_id FROM series")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut removed = 0;
        for id in ids {
            removed += raw_blocks::prune_series(&self.pool, id, cutoff.timestamp_micros()).await?;
        }
        Ok(removed)
    }
}
