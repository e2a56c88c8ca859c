//! A notification survives the death of the process sending it: `watershed up` is killed with
//! SIGKILL while a receiver holds the alert's delivery unanswered. After the restart the same
//! message (same `webhook-id`, same body) is delivered again, and no second message is minted for
//! the same alert transition.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;
use watershed_tests::process::{embedded_up_args, get_json, register, spawn_watershed, Running};

const ADMIN: &str = "kill-webhooks-admin-token";
const READ: &str = "kill-webhooks-read-token";
const PATIENCE: Duration = Duration::from_secs(60);

const RULES: &str = r#"
[[rule]]
name = "too-hot"
sensor = "temperature"
above = 30.0
clear_at = 28.0
severity = "critical"
"#;

/// What the receiver got: (webhook-id, body), in arrival order.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(String, Bytes)>>>,
    /// Set once the first request arrived; that request is never answered.
    first_arrived: Arc<Notify>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    let first = {
        let mut got = receiver.got.lock().unwrap();
        got.push((id, body));
        got.len() == 1
    };
    if first {
        receiver.first_arrived.notify_one();
        std::future::pending::<()>().await;
    }
    StatusCode::NO_CONTENT
}

async fn start(dir: &std::path::Path) -> Running {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let args = embedded_up_args(
        dir,
        &[
            "--alert-rules".as_ref(),
            rules.as_os_str(),
            // A short attempt deadline makes a short lease: the killed attempt is due again soon.
            "--webhook-timeout-secs".as_ref(),
            "2".as_ref(),
        ],
    );
    spawn_watershed(
        env!("CARGO_BIN_EXE_watershed"),
        args,
        &[
            ("WATERSHED_ADMIN_TOKEN", ADMIN),
            ("WATERSHED_READ_TOKEN", READ),
        ],
    )
    .await
}

async fn send(http: &reqwest::Client, base: &str, key: &str, batch: &str, value: f64) {
    let status = http
        .post(format!("{base}/v1/devices/hook-1/readings"))
        .bearer_auth(key)
        .json(&json!({
            "batch_id": batch,
            "readings": [{"sensor": "temperature", "value": value,
                          "measured_at": chrono::Utc::now().to_rfc3339()}],
        }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201, "batch {batch}");
}

/// Distinct webhook-ids in arrival order, and how often each arrived.
fn messages(receiver: &Receiver) -> Vec<(String, usize)> {
    let got = receiver.got.lock().unwrap();
    let mut ids: Vec<(String, usize)> = Vec::new();
    for (id, _) in got.iter() {
        match ids.iter_mut().find(|(known, _)| known == id) {
            Some((_, n)) => *n += 1,
            None => ids.push((id.clone(), 1)),
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_by_sigkill_is_sent_again_under_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks = format!("http://{}/in", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/in", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let running = start(dir.path()).await;
    let created = http
        .post(format!("{}/v1/webhooks", running.base))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "ops", "url": hooks}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let key = register(&http, &running.base, ADMIN, "hook-1").await;
    send(&http, &running.base, &key, "hot", 45.0).await;
    tokio::time::timeout(PATIENCE, receiver.first_arrived.notified())
        .await
        .expect("the raise is posted");
    running.kill().await;

    let running = start(dir.path()).await;
    send(&http, &running.base, &key, "cool", 20.0).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while messages(&receiver).iter().map(|(_, n)| n).sum::<usize>() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not redelivered: {:?}",
            messages(&receiver)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The notifier reads in order: once the clear is in the outbox, a re-minted raise would be
    // too. Wait until nothing there is pending, so that one would also have reached the receiver.
    let raise_id = messages(&receiver)[0].0.clone();
    let record = loop {
        let record = get_json(
            &http,
            &running.base,
            ADMIN,
            &format!("/v1/alerts/{raise_id}/deliveries"),
        )
        .await;
        let pending = record["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["state"] == "pending");
        if !pending {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {record}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let ids = messages(&receiver);
    assert_eq!(
        ids.len(),
        2,
        "one raise and one clear, never minted again: {ids:?}"
    );
    let (raise, clear) = (&ids[0], &ids[1]);
    assert_eq!(raise.1, 2, "the cut-off raise came again: {ids:?}");
    assert_eq!(clear.1, 1, "{ids:?}");
    let got = receiver.got.lock().unwrap().clone();
    let bodies: Vec<&Bytes> = got
        .iter()
        .filter(|(id, _)| *id == raise.0)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(bodies[0], bodies[1], "the same body on every attempt");
    let clear_body = got.iter().find(|(id, _)| *id == clear.0).unwrap();
    let clear_body: Value = serde_json::from_slice(&clear_body.1).unwrap();
    assert_eq!(clear_body["type"], "alert.cleared");
    assert_eq!(clear_body["data"]["alert_id"], raise.0.as_str());

    let states: Vec<&str> = record["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["delivered", "delivered"], "{record}");
    running.kill().await;
}
