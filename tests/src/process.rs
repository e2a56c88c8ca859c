//! Driving real `watershed` processes (the binary path comes from the test, which Cargo tells it):
//! start one and learn where it listens, feed it batches until it dies, and read back what the
//! event history and the read models hold.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A started process and the base URL it announced.
pub struct Running {
    pub child: Child,
    pub base: String,
}

impl Running {
    /// SIGKILL: no handler runs, nothing is flushed.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL is delivered");
        self.child
            .wait()
            .await
            .expect("the killed process is reaped");
    }
}

/// `watershed up` on embedded storage under `dir`, no simulated devices, no dashboard, any free
/// port, then `extra`: the arguments for [`spawn_watershed`].
pub fn embedded_up_args(dir: &std::path::Path, extra: &[&OsStr]) -> Vec<std::ffi::OsString> {
    let (data, web) = (dir.join("data"), dir.join("no-dashboard"));
    let fixed: [&OsStr; 9] = [
        "up".as_ref(),
        "--simulate".as_ref(),
        "0".as_ref(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--web-dir".as_ref(),
        web.as_os_str(),
    ];
    fixed
        .iter()
        .chain(extra)
        .map(|a| a.to_os_string())
        .collect()
}

/// Starts `bin` with `args` and `env`, and waits for its `listening on` line.
pub async fn spawn_watershed<I, S>(bin: &str, args: I, env: &[(&str, &str)]) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        // Quiet unless asked: WATERSHED_TEST_CHILD_LOG=debug shows what the process did.
        .env(
            "RUST_LOG",
            std::env::var("WATERSHED_TEST_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
        )
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

/// The batches a device had acknowledged, as `device/batch_id`.
pub type Acked = Arc<Mutex<HashSet<String>>>;

/// Sends batches of 50 readings (two sensors) one after another until a request fails or `stop`
/// is set; records every acknowledged batch. Returns why a request failed, or `None` when stopped.
pub async fn send_until_refused(
    http: reqwest::Client,
    base: String,
    device: String,
    key: String,
    round: usize,
    acked: Acked,
    stop: tokio_util::sync::CancellationToken,
) -> Option<String> {
    for n in 0.. {
        if stop.is_cancelled() {
            return None;
        }
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
            Ok(r) => return Some(format!("{device}/{batch_id}: {}", r.status())),
            Err(e) => return Some(format!("{device}/{batch_id}: {e}")),
        }
    }
    unreachable!("the loop only ends by returning")
}

/// One `send_until_refused` task per device (with its key), all recording into `acked`.
pub fn start_senders(
    http: &reqwest::Client,
    base: &str,
    devices: &[String],
    keys: &[String],
    round: usize,
    acked: &Acked,
    stop: &tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<Option<String>>> {
    devices
        .iter()
        .zip(keys)
        .map(|(device, key)| {
            tokio::spawn(send_until_refused(
                http.clone(),
                base.to_owned(),
                device.clone(),
                key.clone(),
                round,
                Arc::clone(acked),
                stop.clone(),
            ))
        })
        .collect()
}

/// Waits until `acked` holds at least `count` batches.
pub async fn wait_acked(acked: &Acked, count: usize, within: Duration) {
    crate::eventually("enough acknowledged batches", within, || async {
        (acked.lock().unwrap().len() >= count).then_some(())
    })
    .await
}

pub async fn get_json(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Value {
    http.get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("JSON body")
}

/// Registers `device` and returns its key.
pub async fn register(http: &reqwest::Client, base: &str, admin: &str, device: &str) -> String {
    let response: Value = http
        .post(format!("{base}/v1/devices"))
        .bearer_auth(admin)
        .json(&json!({ "device_id": device }))
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("JSON body");
    response["device_key"]
        .as_str()
        .unwrap_or_else(|| panic!("registering {device}: {response}"))
        .to_owned()
}

/// What the event history holds for `devices`: the `device/batch_id` of every readings event, and
/// how many readings they carry.
pub async fn stored_batches(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    devices: &[String],
) -> (HashSet<String>, u64) {
    let mut readings = 0u64;
    let mut batches = HashSet::new();
    for device in devices {
        // The largest cursor the API takes (an int64): the newest events first.
        let mut before = i64::MAX as u64;
        loop {
            let path = format!("/v1/devices/{device}/events?limit=500&before={before}");
            let page = get_json(http, base, token, &path).await;
            let events = page["events"].as_array().expect("an event page").clone();
            let Some(last) = events.last() else { break };
            before = last["stream_seq"].as_u64().unwrap();
            for e in events
                .iter()
                .filter(|e| e["event_type"] == "ReadingsRecorded")
            {
                let batch = e["payload"]["batch_id"].as_str().unwrap();
                batches.insert(format!("{device}/{batch}"));
                readings += e["payload"]["readings"].as_array().unwrap().len() as u64;
            }
            if before == 1 {
                break;
            }
        }
    }
    (batches, readings)
}

/// How many readings the read models count for `devices` over the last hours (hourly rollups of
/// the sensors `send_until_refused` uses).
pub async fn counted_readings(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    devices: &[String],
) -> u64 {
    let from = (Utc::now() - chrono::Duration::hours(3)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let to = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut counted = 0;
    for device in devices {
        for sensor in ["temperature", "humidity"] {
            let path = format!(
                "/v1/devices/{device}/readings?sensor={sensor}&resolution=1h&from={from}&to={to}"
            );
            let series = get_json(http, base, token, &path).await;
            counted += series["points"]
                .as_array()
                .expect("a series")
                .iter()
                .map(|p| p["count"].as_u64().unwrap())
                .sum::<u64>();
        }
    }
    counted
}

/// Waits until `/v1/status` reports no lag.
pub async fn wait_caught_up(http: &reqwest::Client, base: &str, token: &str, within: Duration) {
    crate::eventually("projections to catch up", within, || async {
        (get_json(http, base, token, "/v1/status").await["lag_events"] == 0).then_some(())
    })
    .await
}
