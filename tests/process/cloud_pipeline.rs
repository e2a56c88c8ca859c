//! Cloud mode end to end, on the real servers `scripts/services` starts (tansu for Kafka,
//! PostgreSQL, Redis). The command API, relay and query API run inside this test process, sharing
//! one in-memory Cosmos DB emulator (each with a client of its own, as separate processes would);
//! the projectors run as a child `watershed projectors` process. Known readings give
//! exact answers; then the relay (aborted in-process) and the projectors (SIGKILL) die several times
//! mid-stream, and still every acknowledged reading is counted exactly once and Kafka holds every
//! event at least once in per-device order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use watershed::adapters::{Events, PortUrls};
use watershed::app::{App, AppConfig, Ports, Roles};
use watershed_domain::ports::EventBus;
use watershed_domain::DeviceId;
use watershed_infra::{CosmosEmulator, KafkaBus, KafkaConfig};
use watershed_tests::eventually;
use watershed_tests::process::{
    counted_readings, get_json, register, send_until_refused, spawn_watershed, stored_batches,
    wait_caught_up, Acked, Running,
};
use watershed_tests::servers::{
    fresh_postgres_database, redis_url, unique_kafka_url, unique_namespace,
};

const ADMIN: &str = "cloud-test-admin";
const READ: &str = "cloud-test-read";

/// One cloud deployment: its servers' URLs and consumer group, its event store, and the roles.
struct Cloud {
    dir: tempfile::TempDir,
    /// Bus, read model, cache.
    urls: [String; 3],
    group: String,
    cosmos: CosmosEmulator,
    /// The front's event store: what the audit reads.
    events: Events,
    front: Served,
    relay: Served,
    projectors: Option<Running>,
}

/// An in-process `App` serving in a task; aborting the task drops the app, which aborts its
/// background work as a killed process would.
struct Served {
    base: String,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Cloud {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cache = format!("{}?namespace={}", redis_url(), unique_namespace());
        let urls = [unique_kafka_url(4), fresh_postgres_database().await, cache];
        // Tests share the broker: a consumer group of their own keeps their offsets apart.
        let group = unique_namespace();
        let cosmos = CosmosEmulator::new();
        let events = cosmos_events(&cosmos).await;
        let relay_roles = Roles {
            relay: true,
            ..Roles::NONE
        };
        let relay_events = cosmos_events(&cosmos).await;
        let relay = serve(&dir, &urls, &group, &relay_events, relay_roles).await;
        let projectors = projectors(&dir, &urls, &group).await;
        let front = serve(
            &dir,
            &urls,
            &group,
            &events,
            Roles {
                command_api: true,
                query_api: true,
                ..Roles::NONE
            },
        )
        .await;
        Self {
            dir,
            urls,
            group,
            cosmos,
            events,
            front,
            relay,
            projectors: Some(projectors),
        }
    }

    fn bus(&self) -> KafkaConfig {
        KafkaConfig::from_url(&self.urls[0]).unwrap()
    }
}

/// A client of the emulated account, as a process of its own would have.
async fn cosmos_events(cosmos: &CosmosEmulator) -> Events {
    let store = Arc::new(cosmos.event_store().await.expect("the emulator serves"));
    Events {
        store: store.clone(),
        feed: store,
    }
}

async fn serve(
    dir: &tempfile::TempDir,
    urls: &[String; 3],
    group: &str,
    events: &Events,
    roles: Roles,
) -> Served {
    let [bus, read_model, cache] = urls;
    let mut config = AppConfig::ephemeral(dir.path(), ADMIN, READ);
    config.roles = roles;
    config.consumer_group = group.to_owned();
    config.ports = PortUrls::parse(dir.path(), "sqlite:", bus, read_model, cache).unwrap();
    let given = Ports {
        events: Some(events.clone()),
        ..Ports::default()
    };
    let app = App::build_with(config, given)
        .await
        .expect("the roles start");
    let base = format!("http://{}", app.address());
    let task = tokio::spawn(app.run_until_stopped(std::future::pending()));
    Served { base, task }
}

async fn projectors(dir: &tempfile::TempDir, urls: &[String; 3], group: &str) -> Running {
    let [bus, read_model, cache] = urls;
    let args = [
        "projectors",
        "--listen",
        "127.0.0.1:0",
        "--bus",
        bus,
        "--read-model",
        read_model,
        "--cache",
        cache,
        "--consumer-group",
        group,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ];
    spawn_watershed(env!("CARGO_BIN_EXE_watershed"), args, &[]).await
}

fn reading(sensor: &str, value: f64, seconds_ago: i64) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::seconds(seconds_ago);
    json!({ "sensor": sensor, "value": value, "unit": "°C", "measured_at": at.to_rfc3339() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_readings_give_exact_answers_through_kafka_postgres_and_redis() {
    let mut cloud = Cloud::start().await;
    let http = reqwest::Client::new();
    let base = &cloud.front.base;
    let key = register(&http, base, ADMIN, "cloud-a").await;
    register(&http, base, ADMIN, "cloud-b").await;
    let batches = [
        json!({ "batch_id": "1", "readings": [reading("t", 20.0, 30), reading("t", 24.0, 20)] }),
        json!({ "batch_id": "2", "readings": [reading("t", 22.0, 10), reading("rh", 50.0, 10)] }),
    ];
    for batch in &batches {
        let r = http
            .post(format!("{base}/v1/devices/cloud-a/readings"))
            .bearer_auth(&key)
            .json(batch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // A resend is answered from the event store, and changes nothing downstream.
    let again = http
        .post(format!("{base}/v1/devices/cloud-a/readings"))
        .bearer_auth(&key)
        .json(&batches[0])
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");

    wait_caught_up(&http, base, READ, Duration::from_secs(30)).await;
    let devices = get_json(&http, base, READ, "/v1/devices").await;
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cloud-a", "cloud-b"]);
    let a = get_json(&http, base, READ, "/v1/devices/cloud-a").await;
    let latest: HashMap<&str, f64> = a["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["sensor"].as_str().unwrap(), s["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(latest, HashMap::from([("t", 22.0), ("rh", 50.0)]));
    assert_eq!(
        counted_readings_of(&http, base, "cloud-a", "t").await,
        (3, 20.0, 24.0)
    );
    let status = get_json(&http, base, READ, "/v1/status").await;
    assert_eq!(
        (status["lag_events"].as_u64(), status["devices"].as_u64()),
        (Some(0), Some(2))
    );
    cloud.projectors.take().unwrap().kill().await;
}

/// Count, min and max of one sensor's raw readings in the last hour.
async fn counted_readings_of(
    http: &reqwest::Client,
    base: &str,
    device: &str,
    sensor: &str,
) -> (u64, f64, f64) {
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let from = at(chrono::Utc::now() - chrono::Duration::hours(2));
    let to = at(chrono::Utc::now() + chrono::Duration::hours(1));
    let path =
        format!("/v1/devices/{device}/readings?sensor={sensor}&resolution=1h&from={from}&to={to}");
    let series = get_json(http, base, READ, &path).await;
    let points = series["points"]
        .as_array()
        .unwrap_or_else(|| panic!("{series}"));
    let count = points.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    let min = points
        .iter()
        .map(|p| p["min"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    let max = points
        .iter()
        .map(|p| p["max"].as_f64().unwrap())
        .fold(f64::NEG_INFINITY, f64::max);
    (count, min, max)
}

const DEVICES: usize = 4;
const KILLS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_relay_and_the_projectors_mid_stream_loses_nothing_and_counts_once() {
    let mut cloud = Cloud::start().await;
    let http = reqwest::Client::new();
    let base = cloud.front.base.clone();
    let devices: Vec<String> = (0..DEVICES).map(|d| format!("crash-{d}")).collect();
    let mut keys = Vec::new();
    for device in &devices {
        keys.push(register(&http, &base, ADMIN, device).await);
    }
    let acked = Acked::default();
    let stop = CancellationToken::new();
    let senders: Vec<_> = devices
        .iter()
        .zip(&keys)
        .map(|(device, key)| {
            tokio::spawn(send_until_refused(
                http.clone(),
                base.clone(),
                device.clone(),
                key.clone(),
                0,
                Arc::clone(&acked),
                stop.clone(),
            ))
        })
        .collect();

    for round in 1..=KILLS {
        let target = round * 60;
        eventually(
            "batches acknowledged meanwhile",
            Duration::from_secs(60),
            || {
                let acked = Arc::clone(&acked);
                async move { (acked.lock().unwrap().len() >= target).then_some(()) }
            },
        )
        .await;
        cloud.relay.task.abort();
        let _ = (&mut cloud.relay.task).await;
        cloud
            .projectors
            .take()
            .expect("projectors run")
            .kill()
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let relay = Roles {
            relay: true,
            ..Roles::NONE
        };
        let relay_events = cosmos_events(&cloud.cosmos).await;
        cloud.relay = serve(&cloud.dir, &cloud.urls, &cloud.group, &relay_events, relay).await;
        cloud.projectors = Some(projectors(&cloud.dir, &cloud.urls, &cloud.group).await);
    }
    stop.cancel();
    for sender in senders {
        sender.await.unwrap();
    }

    let (stored, stored_readings) = stored_batches(&http, &base, READ, &devices).await;
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILLS * 60);
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    wait_caught_up(&http, &base, READ, Duration::from_secs(60)).await;
    assert_eq!(
        counted_readings(&http, &base, READ, &devices).await,
        stored_readings,
        "each stored reading is counted once, after {KILLS} crashes of each consumer"
    );

    // Kafka holds every event at least once, and never one of a device before its predecessor.
    let bus = KafkaBus::connect(cloud.bus()).await.unwrap();
    let mut subscription = bus.subscribe("audit").await.unwrap();
    let mut highest: HashMap<DeviceId, u64> = HashMap::new();
    let versions: HashMap<DeviceId, u64> = {
        let mut v = HashMap::new();
        for device in &devices {
            let id = DeviceId::parse(device.as_str()).unwrap();
            let version = cloud.events.store.stream_version(&id).await.unwrap();
            v.insert(id, version);
        }
        v
    };
    while versions
        .iter()
        .any(|(d, v)| highest.get(d).copied().unwrap_or(0) < *v)
    {
        let batch = tokio::time::timeout(Duration::from_secs(20), subscription.next_batch(1000))
            .await
            .expect("Kafka holds every event")
            .unwrap();
        for e in batch {
            let seen = highest.entry(e.stream_id.clone()).or_default();
            assert!(
                e.stream_seq <= *seen + 1,
                "{} seq {} after {}",
                e.stream_id,
                e.stream_seq,
                seen
            );
            *seen = (*seen).max(e.stream_seq);
        }
    }
    cloud.projectors.take().unwrap().kill().await;
}
