//! The Splunk sink against a receiver speaking HEC's documented protocol: every event arrives
//! once, in per-device order, through busy answers and a restart; refused events are skipped by
//! policy; a Splunk that refuses or is gone holds back nothing else.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use watershed::app::AppConfig;
use watershed::bench::hec::HecReceiver;
use watershed::sinks::SplunkSink;
use watershed_infra::{HecConfig, HecMode};
use watershed_projectors::{OnRefused, RetryPolicy, SinkConfig};
use watershed_tests::eventually;
use watershed_tests::harness::{spawn_app_on_with, spawn_app_with, TestApp, ANALYST_TOKEN};

const HEC_TOKEN: &str = "11111111-2222-3333-4444-555555555555";

fn splunk(url: &str, token: &str, mode: HecMode) -> impl Fn(&mut AppConfig) + Clone {
    let (url, token) = (url.to_owned(), token.to_owned());
    move |config: &mut AppConfig| {
        config.splunk = Some(SplunkSink {
            hec: HecConfig {
                url: url.clone(),
                token: token.clone(),
                mode,
                index: None,
                // Small requests: a bus batch takes several.
                max_request_bytes: 20_000,
            },
            runner: SinkConfig {
                group: "splunk".to_owned(),
                batch_size: 1000,
                retry: RetryPolicy {
                    first: Duration::from_millis(10),
                    max: Duration::from_millis(100),
                },
                on_refused: OnRefused::Skip,
            },
        });
    }
}

/// Registers each device (when `keys` lacks it) and sends it `batches` batches of two readings.
async fn ingest(
    app: &TestApp,
    keys: &mut HashMap<String, String>,
    devices: &[&str],
    first: usize,
    batches: usize,
) {
    for device in devices {
        if !keys.contains_key(*device) {
            keys.insert((*device).to_owned(), app.register(device).await);
        }
    }
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    for i in first..first + batches {
        let device = devices[i % devices.len()];
        let body = json!({"batch_id": format!("b-{i}"), "readings": [
            {"sensor": "t", "value": i, "unit": "C", "measured_at": at},
            {"sensor": "h", "value": -(i as f64) / 3.0, "measured_at": at},
        ]});
        let response = app.post_readings(device, &keys[device], &body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}

/// Every event id in the store, from the history.
async fn stored_ids(app: &TestApp) -> Vec<String> {
    let (_, lines) = app.history("", ANALYST_TOKEN).await;
    lines
        .iter()
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the receiver indexed `expected` events, then checks each arrived exactly once and
/// every device's in order.
async fn assert_each_once_in_order(hec: &HecReceiver, expected: &[String]) {
    let indexed = eventually(
        "Splunk to index every event",
        Duration::from_secs(30),
        || async {
            let indexed = hec.indexed();
            (indexed.len() >= expected.len()).then_some(indexed)
        },
    )
    .await;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    for e in &indexed {
        let event = &e["event"];
        *seen.entry(event["id"].as_str().unwrap()).or_default() += 1;
        let device = event["subject"].as_str().unwrap().to_owned();
        let seq = event["streamseq"].as_u64().unwrap();
        let previous = last_seq.insert(device.clone(), seq).unwrap_or(0);
        assert!(seq > previous, "{device}: {seq} after {previous}");
        assert_eq!(e["sourcetype"], "watershed:event");
        assert_eq!(e["fields"]["device_id"], device.as_str());
    }
    assert_eq!(indexed.len(), expected.len(), "no event twice");
    for id in expected {
        assert_eq!(seen.get(id.as_str()), Some(&1), "{id} arrived once");
    }
}

#[tokio::test]
async fn every_event_reaches_splunk_once_in_order_through_busy_answers_and_a_restart() {
    let hec = HecReceiver::start(HEC_TOKEN).await;
    hec.busy_for(3);
    let configure = splunk(&hec.url, HEC_TOKEN, HecMode::Events);
    let app = spawn_app_with(configure.clone()).await;
    let mut keys = HashMap::new();
    let devices = ["hec-a", "hec-b", "hec-c"];
    ingest(&app, &mut keys, &devices, 0, 150).await;
    assert_each_once_in_order(&hec, &stored_ids(&app).await).await;
    assert_eq!(hec.busy_left(), 0, "the busy answers were retried");
    assert!(hec.requests() > 4, "a batch went out in several requests");

    // The checkpoint survives a restart: only what came after is sent.
    let data = app.stop().await;
    let app = spawn_app_on_with(data, configure).await;
    ingest(&app, &mut keys, &devices, 150, 60).await;
    assert_each_once_in_order(&hec, &stored_ids(&app).await).await;
}

#[tokio::test]
async fn a_splunk_that_refuses_the_token_or_is_gone_holds_back_nothing_else() {
    let hec = HecReceiver::start(HEC_TOKEN).await;
    for url in [hec.url.clone(), "http://127.0.0.1:9".to_owned()] {
        let app = spawn_app_with(splunk(&url, "not-the-token", HecMode::Events)).await;
        let mut keys = HashMap::new();
        ingest(&app, &mut keys, &["dead-a", "dead-b"], 0, 40).await;
        app.wait_until_projected().await;
        let (status, device) = app.get("/v1/devices/dead-a").await;
        assert_eq!(status, StatusCode::OK);
        // dead-a sent the even batches; the last was 38.
        assert_eq!(device["sensors"][1]["value"], 38.0, "{device}");
        app.stop().await;
    }
    assert!(hec.indexed().is_empty());
    assert!(hec.requests() > 0, "the sink kept trying");
}

#[tokio::test]
async fn refused_readings_are_skipped_and_every_other_reading_arrives_once() {
    let hec = HecReceiver::start(HEC_TOKEN).await;
    hec.refuse_device("ref-bad");
    let app = spawn_app_with(splunk(&hec.url, HEC_TOKEN, HecMode::Readings)).await;
    let mut keys = HashMap::new();
    ingest(&app, &mut keys, &["ref-a", "ref-bad", "ref-c"], 0, 90).await;
    // 60 batches of the good devices, two readings each.
    let indexed = eventually("the good readings", Duration::from_secs(30), || async {
        let indexed = hec.indexed();
        (indexed.len() >= 120).then_some(indexed)
    })
    .await;
    assert_eq!(indexed.len(), 120);
    let mut per_reading: HashMap<(String, String, String), usize> = HashMap::new();
    for e in &indexed {
        let reading = &e["event"];
        assert_ne!(reading["device_id"], "ref-bad");
        assert_eq!(e["sourcetype"], "watershed:reading");
        let key = (
            reading["event_id"].as_str().unwrap().to_owned(),
            reading["sensor"].as_str().unwrap().to_owned(),
            reading["device_id"].as_str().unwrap().to_owned(),
        );
        *per_reading.entry(key).or_default() += 1;
        assert!(
            e["time"].as_f64().unwrap() > 1.7e9,
            "stamped when measured: {e}"
        );
    }
    assert!(per_reading.values().all(|n| *n == 1), "each reading once");
    let values: Vec<Value> = indexed
        .iter()
        .filter(|e| e["event"]["sensor"] == "t")
        .map(|e| e["event"]["value"].clone())
        .collect();
    assert_eq!(values.len(), 60);
}
