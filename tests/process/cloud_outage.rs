//! Redis, then PostgreSQL, go down (abruptly) while devices send readings: the query API answers
//! from PostgreSQL without Redis, ingest keeps answering 201 (it needs only the event store), the
//! history stays readable; once both return, the projections catch up and count every reading exactly once. A test binary of its own,
//! because it stops servers that other tests share.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use watershed_tests::cloud::{Cloud, ADMIN, READ};
use watershed_tests::process::{
    counted_readings, get_json, register, start_senders, stored_batches, wait_acked,
    wait_caught_up, Acked,
};

/// Runs `scripts/services` with `args`: stops one server, or starts whatever is down.
fn services(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/services");
    let status = std::process::Command::new(script)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("scripts/services runs");
    assert!(status.success(), "scripts/services {args:?} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_survives_postgres_and_redis_outages_and_projections_catch_up() {
    let mut cloud = Cloud::start(env!("CARGO_BIN_EXE_watershed")).await;
    let http = reqwest::Client::new();
    let base = cloud.front.base.clone();
    let devices: Vec<String> = (0..3).map(|d| format!("outage-{d}")).collect();
    let mut keys = Vec::new();
    for device in &devices {
        keys.push(register(&http, &base, ADMIN, device).await);
    }
    wait_caught_up(&http, &base, READ, Duration::from_secs(30)).await;

    // Without Redis the query API answers from PostgreSQL.
    services(&["stop", "redis"]);
    let listed = get_json(&http, &base, READ, "/v1/devices").await;
    let ids: Vec<&str> = listed["devices"]
        .as_array()
        .unwrap_or_else(|| panic!("devices without Redis: {listed}"))
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["outage-0", "outage-1", "outage-2"]);

    services(&["stop", "postgres"]);
    let acked = Acked::default();
    let stop = CancellationToken::new();
    let senders = start_senders(&http, &base, &devices, &keys, 0, &acked, &stop);
    wait_acked(&acked, 150, Duration::from_secs(60)).await;
    let status = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 503, "readiness tells the read model is down");

    // History comes from the event store, which is up.
    let history = http
        .get(format!("{base}/v1/devices/outage-0/events?limit=5"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(history, 200);

    services(&[]);
    stop.cancel();
    for sender in senders {
        let refused = sender.await.unwrap();
        assert_eq!(refused, None, "no batch was refused during the outage");
    }
    let acked = acked.lock().unwrap().clone();

    wait_caught_up(&http, &base, READ, Duration::from_secs(180)).await;
    let (stored, stored_readings) = stored_batches(&http, &base, READ, &devices).await;
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert_eq!(
        counted_readings(&http, &base, READ, &devices).await,
        stored_readings,
        "each reading sent during the outage is counted once"
    );
    cloud.kill_projectors().await;
}
