//! Nothing acknowledged is lost: `watershed up` is killed with SIGKILL several times while devices
//! send readings; after each restart every acknowledged batch is in the event history, and the
//! read models count every stored reading exactly once.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use watershed_tests::eventually;

const ADMIN: &str = "kill-test-admin";
const READ: &str = "kill-test-read";
const DEVICES: usize = 4;
const KILLS: usize = 3;

struct Running {
    child: Child,
    base: String,
}

/// Starts the real binary on `data` and waits for it to say where it listens.
async fn start(data: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_watershed"))
        .args([
            "up",
            "--simulate",
            "0",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.join("data"))
        .args(["--web-dir"])
        .arg(data.join("no-dashboard"))
        .env("WATERSHED_ADMIN_TOKEN", ADMIN)
        .env("WATERSHED_READ_TOKEN", READ)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the watershed binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("stdout is readable") {
            if let Some(address) = line.strip_prefix("watershed: listening on ") {
                return address.to_owned();
            }
        }
        panic!("watershed exited before listening");
    })
    .await
    .expect("watershed listens within 30 s");
    // Keep reading, as a terminal would, until the process ends.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Running { child, base }
}

/// Sends batches one after another until a request fails (the process died); records every
/// batch id that was acknowledged.
async fn send_until_killed(
    http: reqwest::Client,
    base: String,
    device: String,
    key: String,
    round: usize,
    acked: Arc<Mutex<HashSet<String>>>,
) {
    for n in 0.. {
        let batch_id = format!("r{round}-b{n}");
        let now = Utc::now();
        let readings: Vec<Value> = (0..50)
            .map(|i| json!({
                "sensor": if i % 2 == 0 { "temperature" } else { "humidity" },
                "value": f64::from(i),
                "measured_at": (now - chrono::Duration::milliseconds(i64::from(i))).to_rfc3339_opts(SecondsFormat::Micros, true),
            }))
            .collect();
        let sent = http
            .post(format!("{base}/v1/devices/{device}/readings"))
            .bearer_auth(&key)
            .json(&json!({ "batch_id": batch_id, "readings": readings }))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == StatusCode::CREATED => {
                acked.lock().unwrap().insert(format!("{device}/{batch_id}"));
            }
            _ => return,
        }
    }
}

async fn get(http: &reqwest::Client, base: &str, path: &str) -> Value {
    http.get(format!("{base}{path}"))
        .bearer_auth(READ)
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_acknowledged_batch_and_counts_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let acked = Arc::new(Mutex::new(HashSet::new()));

    let mut running = start(dir.path()).await;
    let mut keys = Vec::new();
    for d in 0..DEVICES {
        let response: Value = http
            .post(format!("{}/v1/devices", running.base))
            .bearer_auth(ADMIN)
            .json(&json!({ "device_id": format!("k-{d}") }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys.push(response["device_key"].as_str().unwrap().to_owned());
    }

    for round in 0..KILLS {
        let senders: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(d, key)| {
                tokio::spawn(send_until_killed(
                    http.clone(),
                    running.base.clone(),
                    format!("k-{d}"),
                    key.clone(),
                    round,
                    Arc::clone(&acked),
                ))
            })
            .collect();
        let target = (round + 1) * 100;
        eventually(
            "enough acknowledged batches",
            Duration::from_secs(60),
            || {
                let acked = Arc::clone(&acked);
                async move { (acked.lock().unwrap().len() >= target).then_some(()) }
            },
        )
        .await;
        running.child.start_kill().expect("SIGKILL is delivered");
        running.child.wait().await.unwrap();
        for sender in senders {
            sender.await.unwrap();
        }
        running = start(dir.path()).await;
    }

    // Everything acknowledged is in the event history.
    let mut stored_readings = 0u64;
    let mut stored_batches = HashSet::new();
    for d in 0..DEVICES {
        let device = format!("k-{d}");
        let mut before = u64::MAX;
        loop {
            let page = get(
                &http,
                &running.base,
                &format!("/v1/devices/{device}/events?limit=500&before={before}"),
            )
            .await;
            let events = page["events"].as_array().unwrap().clone();
            let Some(last) = events.last() else { break };
            before = last["stream_seq"].as_u64().unwrap();
            for e in &events {
                if e["event_type"] == "ReadingsRecorded" {
                    stored_batches.insert(format!(
                        "{device}/{}",
                        e["payload"]["batch_id"].as_str().unwrap()
                    ));
                    stored_readings += e["payload"]["readings"].as_array().unwrap().len() as u64;
                }
            }
            if before == 1 {
                break;
            }
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILLS * 100);
    let lost: Vec<_> = acked.difference(&stored_batches).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    // The read models count every stored reading exactly once, after three crashes.
    let http2 = http.clone();
    let base = running.base.clone();
    eventually("projections to catch up", Duration::from_secs(60), || {
        let (http, base) = (http2.clone(), base.clone());
        async move { (get(&http, &base, "/v1/status").await["lag_events"] == 0).then_some(()) }
    })
    .await;
    let from = (Utc::now() - chrono::Duration::hours(3)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let to = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut counted = 0;
    for d in 0..DEVICES {
        for sensor in ["temperature", "humidity"] {
            let series = get(
                &http,
                &running.base,
                &format!(
                    "/v1/devices/k-{d}/readings?sensor={sensor}&resolution=1h&from={from}&to={to}"
                ),
            )
            .await;
            counted += series["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["count"].as_u64().unwrap())
                .sum::<u64>();
        }
    }
    assert_eq!(
        counted, stored_readings,
        "each stored reading is counted once"
    );
    running.child.start_kill().unwrap();
}
