//! `watershed rebuild read-models` against a running Watershed, on SQLite and on PostgreSQL: the
//! current generation answers throughout, ingest goes on, every process switches to the new
//! generation, its answers equal the old one's, and no reading sent meanwhile is missing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use watershed::adapters::PortUrls;
use watershed_domain::ports::{EventStore, ReadModel};
use watershed_domain::read_model::{Points, Resolution, SeriesQuery};
use watershed_domain::{DeviceId, PoisonPolicy, RuleSpec, SensorName};
use watershed_infra::{SqliteEventStore, SqliteReadModel, StoreTailBus};
use watershed_projectors::{ProjectionError, ProjectorConfig, ProjectorError};
use watershed_tests::dead_letters::{append_reading, parking_projector, position, stream_of};
use watershed_tests::events::{register, unique_device};
use watershed_tests::eventually;
use watershed_tests::harness::{spawn_app_on_with, TestApp};
use watershed_tests::servers::fresh_postgres_database;

/// The devices whose answers are compared; nothing is sent to them during the rebuild.
const SETTLED: [&str; 3] = ["settled-a", "settled-b", "hot"];

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Two hours of readings for the settled devices (raw rows, minute and hour buckets), one device
/// hot enough for an open alert, one decommissioned.
async fn settle(app: &TestApp, start: DateTime<Utc>) {
    for device in SETTLED {
        let key = app.register(device).await;
        for batch in 0..24 {
            let readings: Vec<Value> = (0..20)
                .map(|i| {
                    let at = start + chrono::Duration::seconds(batch * 300 + i * 15);
                    let value = if device == "hot" { 35.0 } else { (batch * 20 + i) as f64 * 0.25 };
                    json!({"sensor": "temperature", "value": value, "unit": "C", "measured_at": rfc3339(at)})
                })
                .collect();
            let body = json!({"batch_id": format!("{device}-{batch}"), "readings": readings});
            let sent = app.post_readings(device, &key, &body).await;
            assert_eq!(sent.status(), StatusCode::CREATED);
        }
    }
    let gone = app
        .http
        .post(app.url("/v1/devices/settled-b/decommission"))
        .bearer_auth(watershed_tests::harness::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::OK);
}

/// Everything the query API answers about the settled devices.
async fn answers(app: &TestApp, start: DateTime<Utc>) -> Vec<Value> {
    let (from, to) = (
        rfc3339(start - chrono::Duration::hours(1)),
        rfc3339(start + chrono::Duration::hours(3)),
    );
    let mut all = Vec::new();
    for device in SETTLED {
        let (status, view) = app.get(&format!("/v1/devices/{device}")).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        all.push(view);
        for resolution in ["raw", "1m", "1h"] {
            let (status, series) = app
                .get(&format!(
                    "/v1/devices/{device}/readings?sensor=temperature&resolution={resolution}&from={from}&to={to}&limit=100000"
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{series}");
            all.push(series);
        }
    }
    let (_, fleet) = app.get("/v1/devices").await;
    let settled: Vec<Value> = fleet["devices"]
        .as_array()
        .expect("a device list")
        .iter()
        .filter(|d| SETTLED.contains(&d["device_id"].as_str().unwrap_or_default()))
        .cloned()
        .collect();
    all.push(Value::Array(settled));
    all
}

/// Sends batches to `live` devices until `stop`; counts the readings accepted.
async fn keep_ingesting(app: Arc<TestApp>, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let mut keys = Vec::new();
    for device in ["live-a", "live-b"] {
        keys.push((device, app.register(device).await));
    }
    let mut batch = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let (device, key) = &keys[(batch % 2) as usize];
        let at = rfc3339(Utc::now() - chrono::Duration::seconds(1));
        let body = json!({"batch_id": format!("live-{batch}"), "readings": [
            {"sensor": "level", "value": batch as f64, "measured_at": at},
            {"sensor": "level", "value": -(batch as f64), "measured_at": at},
        ]});
        let response = app.post_readings(device, key, &body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        sent.fetch_add(2, Ordering::SeqCst);
        batch += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Queries the fleet until `stop`; every answer must be a 200.
async fn keep_querying(app: Arc<TestApp>, stop: Arc<AtomicBool>) -> u64 {
    let mut answered = 0;
    while !stop.load(Ordering::SeqCst) {
        let (status, body) = app.get("/v1/devices/settled-a").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    answered
}

fn alert_rules() -> Vec<RuleSpec> {
    vec![RuleSpec {
        name: "too-hot".to_owned(),
        sensor: Some("temperature".to_owned()),
        above: Some(30.0),
        clear_at: Some(28.0),
        message: Some("too hot".to_owned()),
        ..RuleSpec::default()
    }]
}

async fn rebuild_while_running(read_model: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let urls = PortUrls::parse(
        &data,
        "sqlite:",
        "embedded:",
        read_model.as_deref().unwrap_or("sqlite:"),
        "memory:",
    )
    .unwrap();
    let app = Arc::new(
        spawn_app_on_with(dir, |config| {
            config.ports = urls.clone();
            config.alert_rules = alert_rules();
        })
        .await,
    );
    let start = (Utc::now() - chrono::Duration::hours(2))
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap();
    settle(&app, start).await;
    eventually(
        "the hot device's alert",
        Duration::from_secs(30),
        || async {
            let (_, view) = app.get("/v1/devices/hot").await;
            (view["open_alerts"] == 1).then_some(())
        },
    )
    .await;
    app.wait_until_projected().await;
    let before = answers(&app, start).await;

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(keep_ingesting(
        Arc::clone(&app),
        Arc::clone(&stop),
        Arc::clone(&sent),
    ));
    let reader = tokio::spawn(keep_querying(Arc::clone(&app), Arc::clone(&stop)));
    let config = ProjectorConfig::default();
    let report = watershed::rebuild::read_models(
        &urls,
        config,
        Duration::from_secs(2),
        &CancellationToken::new(),
    )
    .await
    .expect("the rebuild finishes");
    // Ingest goes on across the old generation's removal, then stops.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let answered = reader.await.unwrap();
    assert!(answered > 0, "queries were answered during the rebuild");
    assert_eq!((report.generation, report.replaced), (2, 1));

    app.wait_until_projected().await;
    let (_, status) = app.get("/v1/status").await;
    assert_eq!(status["read_models"]["generation"], 2, "{status}");
    assert_eq!(status["read_models"]["rebuild"], Value::Null);
    assert_eq!(status["read_models"]["last_rebuild"]["generation"], 2);
    assert_eq!(
        answers(&app, start).await,
        before,
        "the new generation answers as the old did"
    );

    let sent = sent.load(Ordering::SeqCst);
    let from = rfc3339(Utc::now() - chrono::Duration::minutes(30));
    let mut seen = 0;
    for device in ["live-a", "live-b"] {
        let (_, series) = app
            .get(&format!(
                "/v1/devices/{device}/readings?sensor=level&from={from}&limit=100000"
            ))
            .await;
        seen += series["points"].as_array().map_or(0, Vec::len) as u64;
    }
    assert!(sent > 0, "readings were sent during the rebuild");
    assert_eq!(seen, sent, "every reading sent during the rebuild answers");
    // And they are in generation 2 itself: the ones sent after the rebuild ended got there only
    // through the app's projector, so it moved to the new generation.
    let generation_two = urls
        .read_model
        .generations()
        .await
        .unwrap()
        .open(2)
        .await
        .unwrap();
    let mut stored = 0;
    for device in ["live-a", "live-b"] {
        let series = generation_two
            .series(&SeriesQuery {
                device_id: DeviceId::parse(device).unwrap(),
                sensor: SensorName::parse("level").unwrap(),
                from: Utc::now() - chrono::Duration::minutes(30),
                to: Utc::now(),
                resolution: Resolution::Raw,
                limit: 100_000,
            })
            .await
            .unwrap();
        stored += match series.points {
            Points::Raw(points) => points.len() as u64,
            Points::Buckets(_) => unreachable!("raw was asked for"),
        };
    }
    assert_eq!(stored, sent, "generation 2 holds every reading");
}

/// The projector's side of a switch: a read model behind the batch (a generation that does not
/// have what was applied to the one before) gets the missing events from the store, in order,
/// and without the store the same batch is a gap.
#[tokio::test]
async fn a_projector_reads_the_events_its_read_model_lacks_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(
        SqliteEventStore::open(&dir.path().join("events.db"))
            .await
            .unwrap(),
    );
    let store: Arc<dyn EventStore> = sqlite.clone();
    let device = unique_device("behind");
    register(&*store, &device).await;
    for version in 1..=4 {
        append_reading(&*store, &device, version, version as f64).await;
    }
    let events = stream_of(&*store, &device).await;
    let tail = &events[3..];

    let mut projector = parking_projector(
        Arc::new(StoreTailBus::new(sqlite)),
        Arc::new(
            SqliteReadModel::open(&dir.path().join("without.db"))
                .await
                .unwrap(),
        ),
    );
    projector.config.poison = PoisonPolicy::Stop;
    let gap = projector.apply(tail).await;
    assert!(
        matches!(
            gap,
            Err(ProjectorError::Projection(ProjectionError::Gap {
                expected: 1,
                got: 4,
                ..
            }))
        ),
        "{gap:?}"
    );

    let read_model: Arc<dyn ReadModel> = Arc::new(
        SqliteReadModel::open(&dir.path().join("with.db"))
            .await
            .unwrap(),
    );
    projector.read_model = Arc::clone(&read_model);
    projector.store = Some(Arc::clone(&store));
    projector.apply(tail).await.expect("the gap is filled");
    assert_eq!(position(&*read_model, &device).await, 5);
    let view = &read_model
        .devices_by_id(std::slice::from_ref(&device))
        .await
        .unwrap()[0];
    assert_eq!(
        view.sensors[0].value, 4.0,
        "the newest reading is the batch's own"
    );
    let series = read_model
        .series(&SeriesQuery {
            device_id: device,
            sensor: SensorName::parse("t").unwrap(),
            from: Utc::now() - chrono::Duration::minutes(5),
            to: Utc::now() + chrono::Duration::minutes(1),
            resolution: Resolution::Raw,
            limit: 100,
        })
        .await
        .unwrap();
    let values: Vec<f64> = match series.points {
        Points::Raw(points) => points.iter().map(|p| p.value).collect(),
        Points::Buckets(_) => unreachable!("raw was asked for"),
    };
    assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_on_sqlite_switches_to_equal_answers_without_losing_a_reading() {
    rebuild_while_running(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_on_postgres_switches_to_equal_answers_without_losing_a_reading() {
    rebuild_while_running(Some(fresh_postgres_database().await)).await;
}
