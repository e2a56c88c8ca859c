//! Alerts in cloud mode: the command API and query API, the relay, and the projectors with alert
//! rules each serve as roles of their own (see `Cloud::start_with_alert_rules`), with the real
//! Kafka, PostgreSQL and Redis of `scripts/services` between them. A reading past a rule's threshold comes
//! back from the query API as an open alert, appended to Cosmos DB by the projectors; a recovering
//! reading closes it.

use std::time::Duration;

use serde_json::{json, Value};
use watershed_tests::cloud::{Cloud, ADMIN, READ};
use watershed_tests::eventually;
use watershed_tests::process::{get_json, register};

const RULES: &str = r#"
[[rule]]
name = "too-hot"
sensor = "temperature"
above = 30.0
clear_at = 28.0
message = "Too hot"
"#;

async fn send(http: &reqwest::Client, base: &str, key: &str, batch: &str, value: f64) {
    let body = json!({ "batch_id": batch, "readings": [{
        "sensor": "temperature", "value": value, "unit": "C",
        "measured_at": chrono::Utc::now().to_rfc3339(),
    }]});
    let answer = http
        .post(format!("{base}/v1/devices/hot-1/readings"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
}

async fn wait_for_open_alerts(http: &reqwest::Client, base: &str, count: u64) -> Value {
    eventually(
        "the query API to show the alerts",
        Duration::from_secs(60),
        || async {
            let device = get_json(http, base, READ, "/v1/devices/hot-1").await;
            (device["open_alerts"] == count).then_some(device)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projectors_role_raises_and_clears_alerts_in_cosmos_db() {
    let rules = watershed::alert_rules::parse(RULES, std::path::Path::new(".")).unwrap();
    let cloud = Cloud::start_with_alert_rules(env!("CARGO_BIN_EXE_watershed"), rules).await;
    let http = reqwest::Client::new();
    let base = &cloud.front.base;
    let key = register(&http, base, ADMIN, "hot-1").await;
    send(&http, base, &key, "b1", 21.0).await;
    send(&http, base, &key, "b2", 35.5).await;
    let device = wait_for_open_alerts(&http, base, 1).await;
    let alert = &device["alerts"][0];
    assert_eq!(
        (&alert["rule"], &alert["value"], &alert["message"]),
        (&json!("too-hot"), &json!(35.5), &json!("Too hot"))
    );

    // The command API's cached stream version is now behind the alert the projectors appended: the
    // next append conflicts once, reloads, and is accepted all the same.
    send(&http, base, &key, "b3", 20.0).await;
    wait_for_open_alerts(&http, base, 0).await;
    let history = get_json(&http, base, READ, "/v1/devices/hot-1/events").await;
    let types: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .rev()
        .collect();
    assert_eq!(
        types,
        [
            "DeviceRegistered",
            "SensorsAdded",
            "ReadingsRecorded",
            "ReadingsRecorded",
            "AlertRaised",
            "ReadingsRecorded",
            "AlertCleared"
        ]
    );
}
