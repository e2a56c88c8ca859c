//! The cloud adapters pass the same contract suites as the embedded ones, against real servers.

use std::sync::Arc;

use sqlx::Connection;

use watershed_domain::ports::ReadModelGenerations;
use watershed_infra::postgres::generations::GENERATION_ONE_TABLES;
use watershed_infra::{
    PostgresGenerations, PostgresNotifications, PostgresReadModel, RedisDeviceCache, RedisLiveFeed,
};
use watershed_tests::contract::{
    cache, extremes, generations, live_feed, notifications, read_model,
};
use watershed_tests::servers::{
    fresh_postgres_database, redis_tls_url, redis_url, unique_namespace,
};

#[tokio::test]
async fn postgres_read_model_keeps_the_read_model_contract() {
    let url = fresh_postgres_database().await;
    let rm = PostgresReadModel::connect(&url).await.unwrap();
    read_model::read_model_contract(Arc::new(rm)).await;
}

#[tokio::test]
async fn postgres_read_model_migrations_are_idempotent() {
    let url = fresh_postgres_database().await;
    PostgresReadModel::connect(&url).await.unwrap();
    PostgresReadModel::connect(&url)
        .await
        .expect("connecting again re-applies nothing");
}

#[tokio::test]
async fn postgres_notifications_keep_the_notifications_contract() {
    let url = fresh_postgres_database().await;
    let store = PostgresNotifications::connect(&url).await.unwrap();
    notifications::notifications_contract(Arc::new(store)).await;
    PostgresNotifications::connect(&url)
        .await
        .expect("connecting again re-applies nothing");
}

#[tokio::test]
async fn postgres_generations_keep_the_generations_contract() {
    let url = fresh_postgres_database().await;
    let store = PostgresGenerations::connect(&url).await.unwrap();
    generations::generations_contract(Arc::new(store)).await;
}

/// Generation 1 shares `public` with the record (and perhaps with tables of others): removing it
/// must drop every table the migrations make, and only those.
#[tokio::test]
async fn postgres_generation_one_is_exactly_the_migrated_tables() {
    let url = fresh_postgres_database().await;
    let mut probe = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE not_ours (id INT)")
        .execute(&mut probe)
        .await
        .unwrap();
    let store = PostgresGenerations::connect(&url).await.unwrap();
    store.open(1).await.unwrap();
    const TABLES: &str =
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1";
    let mut expected: Vec<&str> = GENERATION_ONE_TABLES.to_vec();
    expected.extend(["not_ours", "read_model_generations"]);
    expected.sort_unstable();
    let tables: Vec<String> = sqlx::query_scalar(TABLES)
        .fetch_all(&mut probe)
        .await
        .unwrap();
    assert_eq!(tables, expected);
    store.remove(1).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(TABLES)
        .fetch_all(&mut probe)
        .await
        .unwrap();
    assert_eq!(tables, vec!["not_ours", "read_model_generations"]);
}

/// Azure Database for PostgreSQL requires TLS: `?sslmode=require` must encrypt, and the adapter
/// must work through it.
#[tokio::test]
async fn postgres_read_model_keeps_the_contract_over_tls() {
    let url = format!("{}?sslmode=require", fresh_postgres_database().await);
    let mut probe = sqlx::PgConnection::connect(&url).await.unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut probe)
            .await
            .unwrap();
    assert!(encrypted, "the session is encrypted");
    let rm = PostgresReadModel::connect(&url).await.unwrap();
    read_model::read_model_contract(Arc::new(rm)).await;
}

/// Azure Cache for Redis serves TLS only (port 6380): `rediss://` must carry the cache and the
/// live feed.
#[tokio::test]
async fn redis_cache_and_live_feed_keep_their_contracts_over_tls() {
    let cache = RedisDeviceCache::connect(&redis_tls_url(), &unique_namespace())
        .await
        .unwrap();
    cache::device_cache_contract(Arc::new(cache)).await;
    let feed = RedisLiveFeed::connect(&redis_tls_url(), &unique_namespace())
        .await
        .unwrap();
    live_feed::live_feed_contract(Arc::new(feed)).await;
}

#[tokio::test]
async fn redis_cache_keeps_the_cache_contract() {
    let cache = RedisDeviceCache::connect(&redis_url(), &unique_namespace())
        .await
        .unwrap();
    cache::device_cache_contract(Arc::new(cache)).await;
}

#[tokio::test]
async fn redis_feed_keeps_the_live_feed_contract() {
    let feed = RedisLiveFeed::connect(&redis_url(), &unique_namespace())
        .await
        .unwrap();
    live_feed::live_feed_contract(Arc::new(feed)).await;
}

#[tokio::test]
async fn postgres_read_model_carries_the_extremes() {
    let url = fresh_postgres_database().await;
    let rm = PostgresReadModel::connect(&url).await.unwrap();
    extremes::read_model_carries_extremes(&rm).await;
}

#[tokio::test]
async fn redis_cache_carries_the_extremes() {
    let cache = RedisDeviceCache::connect(&redis_url(), &unique_namespace())
        .await
        .unwrap();
    extremes::cache_carries_extremes(&cache).await;
}

/// Generated batches, committed to both read models in the same deltas, answer the same series
/// to the bit, and their buckets hold the count, min and max of the readings measured in them.
#[tokio::test]
async fn sqlite_and_postgres_project_generated_batches_identically() {
    use chrono::{Duration, DurationRound, Utc};
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use watershed_domain::ports::ReadModel;
    use watershed_domain::read_model::{Points, Resolution, SeriesQuery};
    use watershed_domain::{Reading, SensorName, Value};
    use watershed_infra::SqliteReadModel;
    use watershed_projectors::project;
    use watershed_tests::events::{readings, recorded, registered, unique_device};

    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteReadModel::open(&dir.path().join("rm.db"))
        .await
        .unwrap();
    let postgres = PostgresReadModel::connect(&fresh_postgres_database().await)
        .await
        .unwrap();
    let t0 = (Utc::now() - Duration::hours(3))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let value = prop_oneof![
        -1e6..1e6f64,
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(-0.0),
        Just(5e-324)
    ];
    let reading = (0..2usize, value, 0i64..7_200_000).prop_map(move |(s, v, ms)| Reading {
        sensor: SensorName::parse(["x", "y"][s]).unwrap(),
        value: Value::try_from(v).unwrap(),
        unit: None,
        measured_at: t0 + Duration::milliseconds(ms),
    });
    let batches = proptest::collection::vec(proptest::collection::vec(reading, 1..200), 1..5);
    let mut runner = TestRunner::deterministic();
    for case in 0..24 {
        let batches = batches.new_tree(&mut runner).unwrap().current();
        let device = unique_device("gen");
        let mut events = vec![recorded(&device, 1, 0, &registered())];
        for (i, batch) in batches.iter().enumerate() {
            let event = readings(&format!("b{i}"), batch.clone());
            events.push(recorded(&device, i as u64 + 2, 0, &event));
        }
        // One delta per event, so stored buckets are merged by each store's own SQL.
        for (i, event) in events.iter().enumerate() {
            let applied = std::collections::HashMap::from([(device.clone(), i as u64)]);
            let delta = project(
                std::slice::from_ref(event),
                &applied,
                t0 - Duration::days(1),
            )
            .unwrap()
            .delta;
            sqlite.commit(&delta).await.unwrap();
            postgres.commit(&delta).await.unwrap();
        }
        for sensor in ["x", "y"] {
            for resolution in [Resolution::Raw, Resolution::Minute, Resolution::Hour] {
                let query = SeriesQuery {
                    device_id: device.clone(),
                    sensor: SensorName::parse(sensor).unwrap(),
                    from: t0,
                    to: t0 + Duration::hours(2),
                    resolution,
                    limit: 100_000,
                };
                let (a, b) = (
                    sqlite.series(&query).await.unwrap(),
                    postgres.series(&query).await.unwrap(),
                );
                // Compared as numbers: SQLite stores −0.0 as the integer 0.
                assert_eq!(a.points, b.points, "case {case}, {sensor} {resolution:?}");
                if let Points::Buckets(buckets) = &a.points {
                    let total: u64 = buckets.iter().map(|b| b.count).sum();
                    let sent = batches
                        .iter()
                        .flatten()
                        .filter(|r| r.sensor.as_str() == sensor);
                    assert_eq!(
                        total,
                        sent.count() as u64,
                        "case {case}: every reading counted once"
                    );
                    for bucket in buckets {
                        let inside: Vec<f64> = batches
                            .iter()
                            .flatten()
                            .filter(|r| {
                                r.sensor.as_str() == sensor
                                    && resolution.bucket_start(r.measured_at)
                                        == Some(bucket.t.timestamp())
                            })
                            .map(|r| r.value.get())
                            .collect();
                        assert_eq!(bucket.count, inside.len() as u64);
                        let min = inside.iter().copied().fold(f64::INFINITY, f64::min);
                        let max = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        assert_eq!((bucket.min, bucket.max), (min, max), "case {case}");
                        assert!(bucket.avg.is_finite());
                    }
                }
            }
        }
    }
}

/// A change PostgreSQL refuses as data (here a CHECK constraint an operator added) is found
/// event by event under the `park` policy: that event is parked with the server's reason, the
/// device's later events wait behind it, and every other device is projected.
#[tokio::test]
async fn a_change_the_read_model_refuses_is_parked_by_event() {
    use chrono::Utc;
    use watershed_domain::ports::ReadModel;
    use watershed_tests::events::{reading, readings, recorded, registered, unique_device};

    let url = fresh_postgres_database().await;
    let rm = Arc::new(PostgresReadModel::connect(&url).await.unwrap());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE rollups ADD CONSTRAINT plausible CHECK (max < 1000)")
        .execute(&mut admin)
        .await
        .unwrap();
    let (sick, well) = (unique_device("pg-sick"), unique_device("pg-well"));
    let batch = |v: f64| readings("b", vec![reading("t", v, Utc::now())]);
    let events = vec![
        recorded(&sick, 1, 0, &registered()),
        recorded(&well, 1, 0, &registered()),
        recorded(&sick, 2, 0, &batch(5_000.0)),
        recorded(&well, 2, 0, &batch(5.0)),
        recorded(&sick, 3, 0, &batch(6.0)),
    ];
    // The bus is not read: the test calls the projector's step function with the batch.
    let dir = tempfile::tempdir().unwrap();
    let store = watershed_infra::SqliteEventStore::open(&dir.path().join("e.db"))
        .await
        .unwrap();
    let bus = Arc::new(watershed_infra::StoreTailBus::new(Arc::new(store)));
    let projector = watershed_tests::dead_letters::parking_projector(bus, rm.clone());
    projector
        .apply(&events)
        .await
        .expect("the refusal is parked, not raised");

    let positions = rm
        .stream_positions(&[sick.clone(), well.clone()])
        .await
        .unwrap();
    assert_eq!((positions[&sick], positions[&well]), (1, 2));
    let letters = rm.dead_letters(Some(&sick)).await.unwrap();
    let parked: Vec<(Option<u64>, bool)> = letters
        .iter()
        .map(|l| (l.parked.stream_seq, l.parked.error.contains("plausible")))
        .collect();
    assert_eq!(parked, vec![(Some(2), true), (Some(3), false)]);
}

/// Read models written before raw blocks kept a row per reading: connecting moves those rows
/// into blocks, drops their table, and the series answer as before.
#[tokio::test]
async fn postgres_read_model_moves_rows_per_reading_into_blocks() {
    use watershed_tests::contract::legacy_raw as legacy;
    let url = fresh_postgres_database().await;
    drop(PostgresReadModel::connect(&url).await.unwrap());
    let t0 = legacy::base();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TABLE raw_readings (series_id BIGINT NOT NULL, measured_at TIMESTAMPTZ NOT NULL,
             stream_seq BIGINT NOT NULL, idx INTEGER NOT NULL, value DOUBLE PRECISION NOT NULL,
             PRIMARY KEY (series_id, measured_at, stream_seq, idx))",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let series: i64 = sqlx::query_scalar(
        "INSERT INTO series (device_id, sensor) VALUES ('legacy-device', 'temp') RETURNING series_id",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    for (seq, idx, minutes, value) in legacy::ROWS {
        sqlx::query("INSERT INTO raw_readings VALUES ($1, $2, $3, $4, $5)")
            .bind(series)
            .bind(t0 + chrono::Duration::minutes(minutes))
            .bind(seq)
            .bind(idx)
            .bind(value)
            .execute(&mut conn)
            .await
            .unwrap();
    }

    let rm = PostgresReadModel::connect(&url).await.unwrap();
    assert_eq!(legacy::raw_values(&rm, t0).await, legacy::IN_ORDER);
    let left: bool = sqlx::query_scalar("SELECT to_regclass('raw_readings') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(!left, "the table of one row per reading is gone");
}

#[tokio::test]
async fn redis_usage_keeps_the_usage_contract_across_instances() {
    use watershed_domain::ports::UsageCounter;
    use watershed_infra::redis::usage::RedisUsage;
    use watershed_tests::contract::usage;

    let namespace = unique_namespace();
    let one = RedisUsage::connect(&redis_url(), &namespace).await.unwrap();
    usage::usage_counter_contract(&one).await;
    let two = RedisUsage::connect(&redis_url(), &namespace).await.unwrap();
    let instances: Vec<Arc<dyn UsageCounter>> = vec![Arc::new(one), Arc::new(two)];
    usage::shared_usage_is_spent_once(instances).await;
}
