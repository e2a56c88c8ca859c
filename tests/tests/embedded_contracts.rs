//! The embedded adapters pass their ports' contract suites.

use std::sync::Arc;

use watershed_infra::{
    BroadcastLiveFeed, MemoryDeviceCache, SqliteEventStore, SqliteGenerations, SqliteNotifications,
    SqliteReadModel, StoreTailBus,
};
use watershed_tests::contract::legacy_raw as legacy;
use watershed_tests::contract::{
    bus, cache, change_feed, event_store, extremes, generations, history, live_feed, multi_stream,
    notifications, read_model,
};

async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<SqliteEventStore> {
    Arc::new(
        SqliteEventStore::open(&dir.path().join("events.db"))
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn sqlite_event_store_keeps_the_event_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    event_store::event_store_contract(sqlite_store(&dir).await).await;
}

#[tokio::test]
async fn sqlite_event_store_keeps_the_change_feed_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    change_feed::change_feed_contract(store.clone(), store).await;
}

#[tokio::test]
async fn sqlite_event_store_keeps_the_history_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    history::history_contract(store.clone(), store).await;
}

#[tokio::test]
async fn sqlite_event_store_keeps_the_multi_stream_contract() {
    let dir = tempfile::tempdir().unwrap();
    multi_stream::multi_stream_contract(sqlite_store(&dir).await).await;
}

/// A bulk import on one process while another appends to the same file: the versions a
/// multi-stream append checks are the file's, not a cache's, so a stream another writer moved
/// fails the whole append and nothing of it is written.
#[tokio::test]
async fn a_multi_stream_append_sees_another_writers_appends_and_writes_nothing_then() {
    use watershed_domain::event::ExpectedVersion;
    use watershed_domain::ports::{EventStore, StoreError, StreamAppend};
    use watershed_tests::events::{new_event, readings, register, unique_device};

    let dir = tempfile::tempdir().unwrap();
    let a = sqlite_store(&dir).await;
    let b = sqlite_store(&dir).await;
    let (moved, fresh) = (unique_device("moved"), unique_device("fresh"));
    register(&*a, &moved).await;
    b.append(
        &moved,
        ExpectedVersion::Exactly(1),
        vec![new_event(&readings("from-b", vec![]), None)],
    )
    .await
    .unwrap();
    let part = |stream: &watershed_domain::DeviceId, expected| StreamAppend {
        stream: stream.clone(),
        expected,
        events: vec![new_event(&readings("from-a", vec![]), None)],
    };
    let stale = a
        .multi_stream()
        .unwrap()
        .append_streams(vec![
            part(&fresh, ExpectedVersion::NoStream),
            part(&moved, ExpectedVersion::Exactly(1)),
        ])
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { actual: 2, .. })),
        "{stale:?}"
    );
    assert_eq!(b.stream_version(&fresh).await.unwrap(), 0);
    // The writer goes on serving appends after a refused multi-stream append.
    let after = a
        .append(
            &moved,
            ExpectedVersion::Exactly(2),
            vec![new_event(&readings("after", vec![]), None)],
        )
        .await;
    assert!(after.is_ok(), "{after:?}");
}

/// Role targets on `sqlite:` share one file: a projectors process appends alerts while the
/// command API appends readings. Each writer's cached stream version goes stale; a stale one
/// must fail only its own append, as a conflict, and heal with the next.
#[tokio::test]
async fn two_writers_on_one_sqlite_file_fail_only_the_stale_append_and_heal() {
    use watershed_domain::event::ExpectedVersion;
    use watershed_domain::ports::{EventStore, StoreError};
    use watershed_tests::events::{new_event, readings, register, unique_device};

    let dir = tempfile::tempdir().unwrap();
    let a = sqlite_store(&dir).await;
    let b = sqlite_store(&dir).await;
    let d = unique_device("two-writers");
    register(&*a, &d).await;
    let batch = |id: &str| new_event(&readings(id, vec![]), None);
    b.append(&d, ExpectedVersion::Exactly(1), vec![batch("from-b")])
        .await
        .unwrap();

    // `a` still believes the stream is at 1, as does its caller: only this append fails.
    let stale = a
        .append(&d, ExpectedVersion::Exactly(1), vec![batch("stale")])
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { actual: 2, .. })),
        "{stale:?}"
    );
    let other = unique_device("two-writers-other");
    register(&*a, &other).await;

    // The caller reloads and tries again at the version the file holds: `a` accepts it.
    let healed = a
        .append(&d, ExpectedVersion::Exactly(2), vec![batch("healed")])
        .await;
    assert!(healed.is_ok(), "{healed:?}");
    assert_eq!(b.stream_version(&d).await.unwrap(), 3);
}

#[tokio::test]
async fn the_embedded_adapters_carry_the_extremes() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    extremes::bus_carries_extremes(store.clone(), Arc::new(StoreTailBus::new(store))).await;
    let rm = SqliteReadModel::open(&dir.path().join("read-model.db"))
        .await
        .unwrap();
    extremes::read_model_carries_extremes(&rm).await;
    extremes::cache_carries_extremes(&MemoryDeviceCache::default()).await;
}

#[tokio::test]
async fn a_parked_poison_waits_over_the_embedded_bus_while_the_fleet_flows() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let rm = SqliteReadModel::open(&dir.path().join("read-model.db"))
        .await
        .unwrap();
    watershed_tests::dead_letters::parked_poison_waits_and_the_fleet_flows(
        store.clone(),
        Arc::new(StoreTailBus::new(store)),
        Arc::new(rm),
    )
    .await;
}

#[tokio::test]
async fn sqlite_change_feed_cursors_survive_a_reopen() {
    use watershed_domain::ports::{ChangeFeed, FeedCursor};
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    store
        .save_cursor("relay", &FeedCursor("42".into()))
        .await
        .unwrap();
    drop(store);
    let reopened = sqlite_store(&dir).await;
    assert_eq!(
        reopened.load_cursor("relay").await.unwrap(),
        FeedCursor("42".into())
    );
    assert!(reopened
        .read_changes(&FeedCursor("not-a-position".into()), 1)
        .await
        .is_err());
}

#[tokio::test]
async fn sqlite_event_store_keeps_every_event_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    event_store::event_store_contract(store.clone()).await;
    let before = store.read_all(0, 10_000).await.unwrap();
    drop(store);
    let reopened = sqlite_store(&dir).await;
    let after = reopened.read_all(0, 10_000).await.unwrap();
    assert!(!before.is_empty());
    assert_eq!(before, after);
    // The reopened writer knows the streams' versions: it refuses a stale append.
    let last = after.last().unwrap();
    let stale = watershed_domain::ports::EventStore::append(
        &*reopened,
        &last.stream_id,
        watershed_domain::ExpectedVersion::Exactly(last.stream_seq - 1),
        vec![watershed_tests::events::new_event(
            &watershed_tests::events::registered(),
            None,
        )],
    )
    .await;
    assert!(matches!(
        stale,
        Err(watershed_domain::ports::StoreError::Conflict { .. })
    ));
}

#[tokio::test]
async fn sqlite_read_model_keeps_the_read_model_contract() {
    let dir = tempfile::tempdir().unwrap();
    let rm = SqliteReadModel::open(&dir.path().join("read-model.db"))
        .await
        .unwrap();
    read_model::read_model_contract(Arc::new(rm)).await;
}

#[tokio::test]
async fn sqlite_usage_keeps_the_usage_contract_and_its_counts_across_a_restart() {
    use watershed_domain::limits::Limits;
    use watershed_domain::ports::UsageCounter;
    use watershed_infra::sqlite::usage::SqliteUsage;
    use watershed_tests::contract::usage;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let counter = Arc::new(SqliteUsage::open(&path).await.unwrap());
    usage::usage_counter_contract(&*counter).await;
    usage::shared_usage_is_spent_once(vec![counter.clone(), counter.clone()]).await;

    let device = watershed_tests::events::unique_device("usage-restart");
    let l = Limits {
        readings_per_second: None,
        readings_per_day: Some(100),
    };
    let now = chrono::Utc::now();
    assert!(counter.take(&device, 70, &l, now).await.unwrap().granted());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let saving = tokio::spawn(Arc::clone(&counter).run(shutdown.clone()));
    shutdown.cancel();
    saving.await.unwrap().unwrap();
    drop(counter);
    let reopened = SqliteUsage::open(&path).await.unwrap();
    let after = reopened.take(&device, 40, &l, now).await.unwrap();
    assert_eq!(
        after.quota.map(|q| q.remaining),
        Some(30),
        "70 used before the restart"
    );
    assert!(!after.granted());
}

#[tokio::test]
async fn memory_cache_keeps_the_cache_contract() {
    cache::device_cache_contract(Arc::new(MemoryDeviceCache::default())).await;
}

#[tokio::test]
async fn broadcast_feed_keeps_the_live_feed_contract() {
    live_feed::live_feed_contract(Arc::new(BroadcastLiveFeed::default())).await;
}

#[tokio::test]
async fn store_tail_bus_keeps_the_bus_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let bus = Arc::new(StoreTailBus::new(store.clone()));
    bus::event_bus_contract(store, bus).await;
}

#[tokio::test]
async fn alerts_are_decided_once_over_the_sqlite_store_and_embedded_bus() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let bus = Arc::new(StoreTailBus::new(store.clone()));
    watershed_tests::alerting::alert_evaluator_scenario(store, bus).await;
}

#[tokio::test]
async fn sqlite_notifications_keep_the_notifications_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notifications.db");
    let store = SqliteNotifications::open(&path).await.unwrap();
    notifications::notifications_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn sqlite_generations_keep_the_generations_contract() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("read-model.db");
    let store = SqliteGenerations::open(&home).await.unwrap();
    generations::generations_contract(Arc::new(store)).await;
    // Only the record is left: every generation's file and journal went with it.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("read-model.generations.db"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

/// Read models written before raw blocks kept a row per reading: opening moves those rows into
/// blocks, drops their table, and the series answer as before.
#[tokio::test]
async fn sqlite_read_model_moves_rows_per_reading_into_blocks() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rm.db");
    drop(SqliteReadModel::open(&path).await.unwrap());
    let t0 = legacy::base();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE raw_readings (series_id INTEGER NOT NULL, measured_at_us INTEGER NOT NULL,
             stream_seq INTEGER NOT NULL, idx INTEGER NOT NULL, value REAL NOT NULL,
             PRIMARY KEY (series_id, measured_at_us, stream_seq, idx)) WITHOUT ROWID",
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
        sqlx::query("INSERT INTO raw_readings VALUES (?, ?, ?, ?, ?)")
            .bind(series)
            .bind((t0 + chrono::Duration::minutes(minutes)).timestamp_micros())
            .bind(seq)
            .bind(idx)
            .bind(value)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();

    let rm = SqliteReadModel::open(&path).await.unwrap();
    assert_eq!(legacy::raw_values(&rm, t0).await, legacy::IN_ORDER);
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'raw_readings'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(left, 0, "the table of one row per reading is gone");
}
