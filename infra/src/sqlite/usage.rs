//! Devices' usage against their limits in one process (`up`): decided in memory, so the ingest
//! path pays a map lookup, and written to a SQLite file every second and at shutdown, so the
//! counts survive a restart. A crash forgets at most the last second's usage.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use tokio_util::sync::CancellationToken;
use watershed_domain::limits::{self, Decision, Limits, Usage};
use watershed_domain::ports::{UsageCounter, UsageUnavailable};
use watershed_domain::DeviceId;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite_usage");

/// How often changed counts are written.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

pub struct SqliteUsage {
    pool: SqlitePool,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    usage: HashMap<DeviceId, Usage>,
    /// Changed since the last save.
    changed: HashSet<DeviceId>,
}

impl SqliteUsage {
    /// Opens the file and reads every device's usage back.
    pub async fn open(path: &Path) -> Result<Self, UsageUnavailable> {
        let unavailable = |e: sqlx::Error| UsageUnavailable(e.to_string());
        let pool = super::open_single(path, &MIGRATOR)
            .await
            .map_err(unavailable)?;
        let rows: Vec<(String, f64, i64, i64, i64)> =
            sqlx::query_as("SELECT device_id, tokens, at_us, day, used FROM usage")
                .fetch_all(&pool)
                .await
                .map_err(unavailable)?;
        let mut usage = HashMap::with_capacity(rows.len());
        for (id, tokens, at_us, day, used) in rows {
            let id =
                DeviceId::parse(id).map_err(|e| UsageUnavailable(format!("usage row: {e}")))?;
            let used = u64::try_from(used).unwrap_or_default();
            usage.insert(
                id,
                Usage {
                    tokens,
                    at_us,
                    day,
                    used,
                },
            );
        }
        Ok(Self {
            pool,
            counts: Mutex::new(Counts {
                usage,
                changed: HashSet::new(),
            }),
        })
    }

    /// Saves changed counts every [`SAVE_EVERY`] until `shutdown`, then once more.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), UsageUnavailable> {
        let mut every = tokio::time::interval(SAVE_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    if let Err(e) = self.save().await {
                        // Counting goes on in memory; the next save writes these too.
                        tracing::warn!(error = %e, "saving device usage failed");
                    }
                }
                () = shutdown.cancelled() => return self.save().await,
            }
        }
    }

    /// Writes the counts changed since the last save.
    pub async fn save(&self) -> Result<(), UsageUnavailable> {
        let changed: Vec<(DeviceId, Usage)> = {
            let mut counts = self.lock();
            let ids: Vec<DeviceId> = counts.changed.drain().collect();
            ids.into_iter()
                .filter_map(|id| counts.usage.get(&id).map(|u| (id, *u)))
                .collect()
        };
        for chunk in changed.chunks(1000) {
            let mut sql = QueryBuilder::<Sqlite>::new(
                "INSERT OR REPLACE INTO usage (device_id, tokens, at_us, day, used) ",
            );
            sql.push_values(chunk, |mut row, (id, u)| {
                row.push_bind(id.as_str().to_owned())
                    .push_bind(u.tokens)
                    .push_bind(u.at_us)
                    .push_bind(u.day)
                    .push_bind(i64::try_from(u.used).unwrap_or(i64::MAX));
            });
            if let Err(e) = sql.build().execute(&self.pool).await {
                // Not saved: marked changed again, for the next save.
                self.lock()
                    .changed
                    .extend(changed.into_iter().map(|(id, _)| id));
                return Err(UsageUnavailable(e.to_string()));
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().expect("usage lock poisoned")
    }
}

#[async_trait]
impl UsageCounter for SqliteUsage {
    async fn take(
        &self,
        device: &DeviceId,
        n: u64,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<Decision, UsageUnavailable> {
        let mut counts = self.lock();
        let (usage, decision) = limits::take(counts.usage.get(device).copied(), n, limits, now);
        counts.usage.insert(device.clone(), usage);
        counts.changed.insert(device.clone());
        Ok(decision)
    }

    async fn refund(
        &self,
        device: &DeviceId,
        n: u64,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<(), UsageUnavailable> {
        let mut guard = self.lock();
        let counts = &mut *guard;
        // Nothing taken (no usage): nothing to give back.
        if let Some(usage) = counts.usage.get_mut(device) {
            *usage = limits::refund(*usage, n, limits, now);
            counts.changed.insert(device.clone());
        }
        Ok(())
    }
}
