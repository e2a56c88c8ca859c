//! The embedded read models on SQLite: device registry, latest value per series, 1-minute and
//! 1-hour rollups, and raw readings for a recent window. A delta and its stream positions commit
//! in one transaction, so a redelivered event is skipped and a crash never double-counts.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use watershed_domain::ports::{ReadModel, ReadModelError};
use watershed_domain::raw_blocks::blocks_of;
use watershed_domain::read_model::{
    AlertChange, AlertQuery, AlertRecord, BucketPoint, DeviceView, Points, RawPoint,
    ReadModelDelta, Series, SeriesQuery,
};
use watershed_domain::{DeadLetter, DeviceId, Label, SensorName, Unit};

use super::raw_blocks;
use super::time::{from_micros, to_micros};
use crate::alert_sql;
use crate::dead_letter_rows::{event_json, DeadLetterRow};
use crate::device_rows::{
    assemble, attach_alerts, parse_device_id, parse_unit, read_rows, unreadable, AlertRow,
    DeviceRow,
};
use crate::profile_sql;
use crate::rollup_sql::MERGE_BUCKET;
use crate::sql_error;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite_read_model");

/// Rows per multi-row INSERT: big enough to amortise a statement, small enough for SQLite's
/// bound-parameter limit (at most 7 columns × 1000 rows).
const ROWS_PER_STATEMENT: usize = 1000;

pub struct SqliteReadModel {
    /// One connection: SQLite has one writer per file anyway, and this keeps commits in order.
    writer: SqlitePool,
    readers: SqlitePool,
    /// series_id per (device, sensor); ids are never reused, so a cached id stays right.
    series_ids: Mutex<HashMap<(DeviceId, SensorName), i64>>,
}

fn unavailable(e: sqlx::Error) -> ReadModelError {
    sql_error::classify(e, sql_error::sqlite_refuses_data)
}

impl SqliteReadModel {
    pub async fn open(path: &Path) -> Result<Self, ReadModelError> {
        // FULL, as for the event store: the bus cursor is saved after this commit returns, so a
        // commit that power loss could undo would leave its events skipped for good.
        let options = super::connect_options(path);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| ReadModelError::Unavailable(e.to_string()))?;
        raw_blocks::move_legacy_rows(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(unavailable)?;
        Ok(Self {
            writer,
            readers,
            series_ids: Mutex::new(HashMap::new()),
        })
    }

    /// The database id of every series in the delta, creating missing ones in their own small
    /// transaction: an unused series row is harmless, and the cache never holds a rolled-back id.
    async fn series_ids(
        &self,
        conn: &mut SqliteConnection,
        delta: &ReadModelDelta,
    ) -> Result<Vec<i64>, ReadModelError> {
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
        for (device, sensor) in missing {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO series (device_id, sensor) VALUES (?, ?)
                 ON CONFLICT (device_id, sensor) DO UPDATE SET sensor = excluded.sensor
                 RETURNING series_id",
            )
            .bind(device.as_str())
            .bind(sensor.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(unavailable)?;
            self.series_ids
                .lock()
                .expect("series id cache lock poisoned")
                .insert((device.clone(), sensor.clone()), id);
        }
        let cache = self
            .series_ids
            .lock()
            .expect("series id cache lock poisoned");
        Ok(delta.series.iter().map(|k| cache[k]).collect())
    }

    async fn apply(
        conn: &mut SqliteConnection,
        delta: &ReadModelDelta,
        ids: &[i64],
    ) -> Result<(), ReadModelError> {
        for (device, advance) in &delta.streams {
            let moved = if advance.from == 0 {
                sqlx::query(
                    "INSERT INTO stream_positions (device_id, stream_seq) VALUES (?, ?)
                     ON CONFLICT (device_id) DO NOTHING",
                )
                .bind(device.as_str())
                .bind(advance.to as i64)
            } else {
                sqlx::query(
                    "UPDATE stream_positions SET stream_seq = ? WHERE device_id = ? AND stream_seq = ?",
                )
                .bind(advance.to as i64)
                .bind(device.as_str())
                .bind(advance.from as i64)
            }
            .execute(&mut *conn)
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
                     parked_at_us)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (source) DO NOTHING",
            )
            .bind(&parked.source)
            .bind(parked.device_id.as_ref().map(DeviceId::as_str))
            .bind(parked.stream_seq.map(|s| s as i64))
            .bind(event_json(parked))
            .bind(parked.raw.as_deref())
            .bind(&parked.error)
            .bind(to_micros(Utc::now()))
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        }
        for id in &delta.resolved {
            sqlx::query("DELETE FROM dead_letters WHERE id = ?")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
        }

        for r in &delta.registrations {
            sqlx::query(
                "INSERT INTO devices (device_id, name, kind, location, registered_at_us)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (device_id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                     location = excluded.location, registered_at_us = excluded.registered_at_us",
            )
            .bind(r.device_id.as_str())
            .bind(r.name.as_ref().map(Label::as_str))
            .bind(r.kind.as_ref().map(Label::as_str))
            .bind(r.location.as_ref().map(Label::as_str))
            .bind(to_micros(r.at))
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        }
        profile_sql::apply::<Sqlite>(&mut *conn, &delta.profile_changes)
            .await
            .map_err(unavailable)?;
        // Alerts before decommissions, which close whatever is still open.
        for change in &delta.alerts {
            match change {
                AlertChange::Opened {
                    device, alert: a, ..
                } => sqlx::query(
                    "INSERT OR REPLACE INTO open_alerts (device_id, rule, sensor, condition,
                         threshold, value, unit, message, raised_at_us)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(device.as_str())
                .bind(a.rule.as_str())
                .bind(a.sensor.as_str())
                .bind(a.condition.as_str())
                .bind(a.threshold)
                .bind(a.value)
                .bind(a.unit.as_ref().map(Unit::as_str))
                .bind(a.message.as_ref().map(Label::as_str))
                .bind(to_micros(a.raised_at)),
                AlertChange::Closed { device, rule, .. } => {
                    sqlx::query("DELETE FROM open_alerts WHERE device_id = ? AND rule = ?")
                        .bind(device.as_str())
                        .bind(rule.as_str())
                }
                AlertChange::Acknowledged { .. } => continue,
            }
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        }
        for (device, at) in &delta.decommissions {
            sqlx::query("UPDATE devices SET decommissioned_at_us = ? WHERE device_id = ?")
                .bind(to_micros(*at))
                .bind(device.as_str())
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
            sqlx::query("DELETE FROM open_alerts WHERE device_id = ?")
                .bind(device.as_str())
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
        }
        alert_sql::apply::<Sqlite>(&mut *conn, &delta.alerts, &delta.decommissions)
            .await
            .map_err(unavailable)?;

        let latest: Vec<_> = delta.latest.iter().collect();
        for chunk in latest.chunks(ROWS_PER_STATEMENT) {
            let mut sql = QueryBuilder::<Sqlite>::new(
                "INSERT INTO latest (series_id, value, unit, measured_at_us) ",
            );
            sql.push_values(chunk, |mut row, (idx, v)| {
                row.push_bind(ids[**idx as usize])
                    .push_bind(v.value)
                    .push_bind(v.unit.as_ref().map(|u| u.as_str().to_owned()))
                    .push_bind(to_micros(v.measured_at));
            });
            sql.push(
                " ON CONFLICT (series_id) DO UPDATE SET value = excluded.value,
                     unit = excluded.unit, measured_at_us = excluded.measured_at_us
                 WHERE excluded.measured_at_us >= latest.measured_at_us",
            );
            sql.build().execute(&mut *conn).await.map_err(unavailable)?;
        }

        let buckets: Vec<_> = delta.buckets.iter().collect();
        for chunk in buckets.chunks(ROWS_PER_STATEMENT / 2) {
            let mut sql = QueryBuilder::<Sqlite>::new(
                "INSERT INTO rollups (series_id, width_s, bucket_start, count, min, max, sum) ",
            );
            sql.push_values(chunk, |mut row, ((idx, resolution, start), stats)| {
                row.push_bind(ids[*idx as usize])
                    .push_bind(resolution.bucket_seconds().unwrap_or(0))
                    .push_bind(*start)
                    .push_bind(stats.count as i64)
                    .push_bind(stats.min)
                    .push_bind(stats.max)
                    .push_bind(stats.sum);
            });
            sql.push(" ON CONFLICT (series_id, width_s, bucket_start) DO UPDATE SET ")
                .push(MERGE_BUCKET);
            sql.build().execute(&mut *conn).await.map_err(unavailable)?;
        }

        raw_blocks::insert(conn, &blocks_of(&delta.raw), ids).await
    }

    async fn query_devices(
        &self,
        only: Option<&[DeviceId]>,
    ) -> Result<Vec<DeviceView>, ReadModelError> {
        if only.is_some_and(<[DeviceId]>::is_empty) {
            return Ok(Vec::new());
        }
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT d.device_id, d.name, d.kind, d.location, d.registered_at_us,
                    d.decommissioned_at_us, d.disabled_at_us, d.tags, s.sensor, l.value, l.unit, l.measured_at_us
             FROM devices d
             LEFT JOIN series s ON s.device_id = d.device_id
             LEFT JOIN latest l ON l.series_id = s.series_id",
        );
        push_only(&mut sql, "d.device_id", only);
        sql.push(" ORDER BY d.device_id, s.sensor");
        // Both reads in one transaction, so alerts and devices are of the same moment.
        let mut tx = self.readers.begin().await.map_err(unavailable)?;
        let rows = sql.build().fetch_all(&mut *tx).await.map_err(unavailable)?;
        let rows = read_rows(&rows, device_row, "device row")?;
        let mut views = assemble(rows)?;

        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT device_id, rule, sensor, condition, threshold, value, unit, message,
                    raised_at_us
             FROM open_alerts",
        );
        push_only(&mut sql, "device_id", only);
        sql.push(" ORDER BY device_id, raised_at_us");
        let rows = sql.build().fetch_all(&mut *tx).await.map_err(unavailable)?;
        let rows = read_rows(&rows, alert_row, "alert row")?;
        attach_alerts(&mut views, rows)?;
        Ok(views)
    }
}

/// Restricts a query to the given devices, when given.
fn push_only(sql: &mut QueryBuilder<'_, Sqlite>, column: &str, only: Option<&[DeviceId]>) {
    if let Some(ids) = only {
        sql.push(format_args!(" WHERE {column} IN ("));
        let mut list = sql.separated(", ");
        for id in ids {
            list.push_bind(id.as_str().to_owned());
        }
        sql.push(")");
    }
}

fn alert_row(row: &SqliteRow) -> Result<AlertRow, sqlx::Error> {
    Ok(AlertRow {
        device_id: row.try_get("device_id")?,
        rule: row.try_get("rule")?,
        sensor: row.try_get("sensor")?,
        condition: row.try_get("condition")?,
        threshold: row.try_get("threshold")?,
        value: row.try_get("value")?,
        unit: row.try_get("unit")?,
        message: row.try_get("message")?,
        raised_at: from_micros(row.try_get("raised_at_us")?),
    })
}

/// Reads one row of the device-registry join; timestamps are stored as microseconds.
fn device_row(row: &SqliteRow) -> Result<DeviceRow, sqlx::Error> {
    Ok(DeviceRow {
        device_id: row.try_get("device_id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        location: row.try_get("location")?,
        registered_at: from_micros(row.try_get("registered_at_us")?),
        decommissioned_at: row
            .try_get::<Option<i64>, _>("decommissioned_at_us")?
            .map(from_micros),
        disabled_at: row
            .try_get::<Option<i64>, _>("disabled_at_us")?
            .map(from_micros),
        tags: row.try_get("tags")?,
        sensor: row.try_get("sensor")?,
        value: row.try_get("value")?,
        unit: row.try_get("unit")?,
        measured_at: row
            .try_get::<Option<i64>, _>("measured_at_us")?
            .map(from_micros),
    })
}

fn dead_letter_row(row: &SqliteRow) -> Result<DeadLetterRow, sqlx::Error> {
    Ok(DeadLetterRow {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        device_id: row.try_get("device_id")?,
        stream_seq: row.try_get("stream_seq")?,
        event: row.try_get("event")?,
        raw: row.try_get("raw")?,
        error: row.try_get("error")?,
        parked_at: from_micros(row.try_get("parked_at_us")?),
    })
}

#[async_trait]
impl ReadModel for SqliteReadModel {
    async fn stream_positions(
        &self,
        streams: &[DeviceId],
    ) -> Result<HashMap<DeviceId, u64>, ReadModelError> {
        if streams.is_empty() {
            return Ok(HashMap::new());
        }
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT device_id, stream_seq FROM stream_positions WHERE device_id IN (",
        );
        let mut list = sql.separated(", ");
        for id in streams {
            list.push_bind(id.as_str());
        }
        sql.push(")");
        let rows = sql
            .build()
            .fetch_all(&self.writer)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row
                    .try_get("stream_seq")
                    .map_err(|e| unreadable("stream_seq", e))?;
                let id: String = row
                    .try_get("device_id")
                    .map_err(|e| unreadable("device id", e))?;
                Ok((parse_device_id(id)?, seq as u64))
            })
            .collect()
    }

    async fn commit(&self, delta: &ReadModelDelta) -> Result<(), ReadModelError> {
        let mut conn = self.writer.acquire().await.map_err(unavailable)?;
        let ids = self.series_ids(&mut conn, delta).await?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        let applied = Self::apply(&mut conn, delta, &ids).await;
        let finish = if applied.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let finished = sqlx::query(finish).execute(&mut *conn).await;
        applied?;
        finished.map_err(unavailable)?;
        Ok(())
    }

    async fn parked_streams(
        &self,
        streams: &[DeviceId],
    ) -> Result<HashSet<DeviceId>, ReadModelError> {
        if streams.is_empty() {
            return Ok(HashSet::new());
        }
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT DISTINCT device_id FROM dead_letters WHERE device_id IN (",
        );
        let mut list = sql.separated(", ");
        for id in streams {
            list.push_bind(id.as_str());
        }
        sql.push(")");
        let ids: Vec<String> = sql
            .build_query_scalar()
            .fetch_all(&self.writer)
            .await
            .map_err(unavailable)?;
        ids.into_iter().map(parse_device_id).collect()
    }

    async fn dead_letters(
        &self,
        device: Option<&DeviceId>,
    ) -> Result<Vec<DeadLetter>, ReadModelError> {
        let rows = sqlx::query(
            "SELECT id, source, device_id, stream_seq, event, raw, error, parked_at_us
             FROM dead_letters WHERE ?1 IS NULL OR device_id = ?1
             ORDER BY device_id, stream_seq, id",
        )
        .bind(device.map(DeviceId::as_str))
        .fetch_all(&self.writer)
        .await
        .map_err(unavailable)?;
        read_rows(&rows, dead_letter_row, "dead letter")?
            .into_iter()
            .map(DeadLetterRow::into_dead_letter)
            .collect()
    }

    async fn ping(&self) -> Result<(), ReadModelError> {
        sqlx::query("SELECT 1")
            .execute(&self.readers)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn devices(&self) -> Result<Vec<DeviceView>, ReadModelError> {
        self.query_devices(None).await
    }

    async fn device_count(&self) -> Result<u64, ReadModelError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
            .fetch_one(&self.readers)
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
             WHERE s.device_id = ? AND s.sensor = ?",
        )
        .bind(query.device_id.as_str())
        .bind(query.sensor.as_str())
        .fetch_optional(&self.readers)
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
                    &self.readers,
                    series_id,
                    to_micros(query.from),
                    to_micros(query.to),
                    fetch as usize,
                )
                .await?;
                Points::Raw(
                    points
                        .into_iter()
                        .map(|p| RawPoint {
                            t: from_micros(p.t),
                            value: p.value,
                        })
                        .collect(),
                )
            }
            Some(width) => {
                let first = query.resolution.bucket_start(query.from).unwrap_or(0);
                let rows: Vec<(i64, i64, f64, f64, f64)> = sqlx::query_as(
                    "SELECT bucket_start, count, min, max, sum FROM rollups
                     WHERE series_id = ? AND width_s = ? AND bucket_start >= ? AND bucket_start < ?
                     ORDER BY bucket_start LIMIT ?",
                )
                .bind(series_id)
                .bind(width)
                .bind(first)
                .bind(query.to.timestamp())
                .bind(fetch)
                .fetch_all(&self.readers)
                .await
                .map_err(unavailable)?;
                Points::Buckets(rows.into_iter().map(BucketPoint::from_row).collect())
            }
        };
        Ok(Series::limited(unit, points, query.limit))
    }

    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<AlertRecord>, ReadModelError> {
        alert_sql::list(&self.readers, query)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|row| row.record().map_err(|e| unreadable("alert", e)))
            .collect()
    }

    async fn prune_raw(&self, cutoff: DateTime<Utc>) -> Result<u64, ReadModelError> {
        // Per series, so each delete walks the primary key instead of scanning the table, and in
        // short statements: projector commits share the one writer connection and get it between
        // two of them.
        let ids: Vec<i64> = sqlx::query_scalar("SELECT series_id FROM series")
            .fetch_all(&self.readers)
            .await
            .map_err(unavailable)?;
        let mut removed = 0;
        for id in ids {
            removed += raw_blocks::prune_series(&self.writer, id, to_micros(cutoff)).await?;
        }
        Ok(removed)
    }
}
