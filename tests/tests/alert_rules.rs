//! Alert rules managed through the API, end to end on the embedded pipeline: the rules file is
//! imported into the rules stream, changes through `/v1/alert-rules` reach the evaluator within
//! seconds, a deleted rule's alerts are retired, a decommission retires open alerts in its own
//! append, and the rules outlive a restart.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use watershed_tests::eventually;
use watershed_tests::harness::{
    spawn_app_on_with, spawn_app_with, TestApp, ADMIN_TOKEN, READ_TOKEN,
};

const PATIENCE: Duration = Duration::from_secs(30);

const RULES_FILE: &str = "[[rule]]\nname = \"too-hot\"\nsensor = \"temp\"\nabove = 30\n\
                          clear_at = 28\nseverity = \"critical\"\n";

fn imported() -> Vec<watershed_domain::RuleSpec> {
    watershed::alert_rules::parse(RULES_FILE, std::path::Path::new(".")).unwrap()
}

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn rules(app: &TestApp) -> Value {
    let (status, list) = admin(app, reqwest::Method::GET, "/v1/alert-rules", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list
}

/// Defines a rule through the API; answers the rule as it stands.
async fn create(app: &TestApp, rule: Value) -> Value {
    let (status, created) = admin(app, reqwest::Method::POST, "/v1/alert-rules", Some(rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

fn names(list: &Value) -> Vec<&str> {
    list["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"]["name"].as_str().unwrap())
        .collect()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn send(
    app: &TestApp,
    device: &str,
    key: &str,
    batch: &str,
    readings: &[(f64, DateTime<Utc>)],
) {
    let body = json!({
        "batch_id": batch,
        "readings": readings.iter().map(|(value, at)| json!({
            "sensor": "temp", "value": value, "unit": "C", "measured_at": ts(*at),
        })).collect::<Vec<_>>(),
    });
    let response = app.post_readings(device, key, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{batch}");
}

/// The device's alerts, by rule, as `(rule, state, clear_reason)`.
async fn alerts_of(app: &TestApp, device: &str) -> Vec<(String, String, Value)> {
    let (status, list) = app.get(&format!("/v1/alerts?device={device}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut alerts: Vec<(String, String, Value)> = list["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_owned(),
                a["state"].as_str().unwrap().to_owned(),
                a["clear_reason"].clone(),
            )
        })
        .collect();
    alerts.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    alerts
}

async fn wait_for_alerts(app: &TestApp, device: &str, expected: &[(&str, &str, Value)]) {
    let expected: Vec<(String, String, Value)> = expected
        .iter()
        .map(|(r, s, c)| ((*r).to_owned(), (*s).to_owned(), c.clone()))
        .collect();
    eventually(&format!("the alerts of {device}"), PATIENCE, || async {
        (alerts_of(app, device).await == expected).then_some(())
    })
    .await;
}

/// The device's stored event types, oldest first.
async fn event_types(app: &TestApp, device: &str) -> Vec<String> {
    let (_, events) = app
        .get(&format!("/v1/devices/{device}/events?limit=100"))
        .await;
    let mut types: Vec<String> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect();
    types.reverse();
    types
}

#[tokio::test]
async fn rules_changed_through_the_api_reach_the_evaluator_and_outlive_a_restart() {
    let app = spawn_app_with(|config| config.alert_rules = imported()).await;
    let list = rules(&app).await;
    assert_eq!(names(&list), ["too-hot"], "the rules file was imported");
    let too_hot = &list["rules"][0];
    assert_eq!(too_hot["detector"], "threshold");
    assert_eq!(too_hot["rule"]["severity"], "critical");
    assert_eq!(too_hot["revision"], 1);
    let read_only = app
        .http
        .get(app.url("/v1/alert-rules"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(read_only.status(), StatusCode::FORBIDDEN);

    // Mistakes are refused with the field named, and record nothing.
    let post = |body: Value| admin(&app, reqwest::Method::POST, "/v1/alert-rules", Some(body));
    for (body, field) in [
        (
            json!({"name": "x", "sensor": "temp", "rate_above": 1, "alpha": 0.5}),
            "alpha",
        ),
        (json!({"name": "x", "sensor": "temp"}), ""),
        (json!({"name": "x", "rate_above": 1}), "sensor"),
        (
            json!({"name": "no spaces", "sensor": "temp", "above": 1}),
            "name",
        ),
        (
            json!({"name": "x", "sensor": "temp", "score_above": 0.5, "model": "bm90IGEgbW9kZWw="}),
            "model",
        ),
    ] {
        let (status, error) = post(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        let named = error["error"]["field"].as_str().unwrap_or("");
        assert_eq!(named, field, "{body}: {error}");
    }
    let (status, error) = post(json!({"name": "too-hot", "sensor": "temp", "above": 1})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(
        rules(&app).await["version"],
        1,
        "nothing refused was recorded"
    );

    // A rate rule for one device.
    let created = create(
        &app,
        json!({
            "name": "heating-fast", "sensor": "temp", "device": "hot-1",
            "rate_above": 1.0, "window": 10, "clear_at": 0.1, "severity": "warning",
        }),
    )
    .await;
    assert_eq!(created["detector"], "rate");
    assert_eq!(created["revision"], 2);
    // The evaluators read the rules stream every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let t0 = Utc::now() - chrono::Duration::seconds(30);
    let mut keys = Vec::new();
    for device in ["hot-1", "hot-2"] {
        let key = app.register(device).await;
        send(&app, device, &key, "b1", &[(20.0, t0)]).await;
        send(
            &app,
            device,
            &key,
            "b2",
            &[(40.0, t0 + chrono::Duration::seconds(5))],
        )
        .await;
        keys.push(key);
    }
    let active = || json!(null);
    wait_for_alerts(
        &app,
        "hot-1",
        &[
            ("heating-fast", "active", active()),
            ("too-hot", "active", active()),
        ],
    )
    .await;
    wait_for_alerts(&app, "hot-2", &[("too-hot", "active", active())]).await;
    let (_, listed) = app.get("/v1/alerts?device=hot-1").await;
    let rate = listed["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "heating-fast")
        .unwrap();
    assert_eq!(rate["condition"], "rate_above");
    assert_eq!(rate["value"], 4.0, "from 20 to 40 in 5 s");
    assert_eq!(rate["unit"], "C");

    // A new definition records a new revision; the same one again records nothing.
    let replacement = json!({"name": "too-hot", "sensor": "temp", "above": 50});
    let (status, replaced) = admin(
        &app,
        reqwest::Method::PUT,
        "/v1/alert-rules/too-hot",
        Some(replacement.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["revision"], 3);
    let (_, again) = admin(
        &app,
        reqwest::Method::PUT,
        "/v1/alert-rules/too-hot",
        Some(replacement),
    )
    .await;
    assert_eq!(again["revision"], 3);
    let (status, _) = admin(
        &app,
        reqwest::Method::PUT,
        "/v1/alert-rules/too-hot",
        Some(json!({"name": "other", "sensor": "temp", "above": 50})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the body names another rule"
    );

    // Deleting a rule retires its active alerts, with that reason, on every device.
    let (status, _) = admin(
        &app,
        reqwest::Method::DELETE,
        "/v1/alert-rules/too-hot",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(
        &app,
        reqwest::Method::DELETE,
        "/v1/alert-rules/too-hot",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let retired = || json!("rule_deleted");
    wait_for_alerts(
        &app,
        "hot-1",
        &[
            ("heating-fast", "active", active()),
            ("too-hot", "cleared", retired()),
        ],
    )
    .await;
    wait_for_alerts(&app, "hot-2", &[("too-hot", "cleared", retired())]).await;
    assert_eq!(
        event_types(&app, "hot-2").await.last().map(String::as_str),
        Some("AlertRetired")
    );

    // The rules are events in the store: a restart finds them, and imports nothing deleted
    // back unless the file is given again.
    let data = app.stop().await;
    let app = spawn_app_on_with(data, |_| {}).await;
    let list = rules(&app).await;
    assert_eq!(names(&list), ["heating-fast"]);
    assert_eq!(list["version"], 4);
    app.stop().await;
}

#[tokio::test]
async fn a_decommission_retires_the_open_alerts_in_its_own_append() {
    let app = spawn_app_with(|config| config.alert_rules = imported()).await;
    let key = app.register("doomed").await;
    send(&app, "doomed", &key, "b1", &[(45.0, Utc::now())]).await;
    wait_for_alerts(&app, "doomed", &[("too-hot", "active", json!(null))]).await;
    let response = app
        .http
        .post(app.url("/v1/devices/doomed/decommission"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let types = event_types(&app, "doomed").await;
    assert_eq!(
        types[types.len() - 2..],
        ["AlertRetired", "DeviceDecommissioned"],
        "one append: {types:?}"
    );
    wait_for_alerts(
        &app,
        "doomed",
        &[("too-hot", "cleared", json!("decommissioned"))],
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_silence_of_the_whole_device_is_raised_by_the_clock_and_ended_by_any_reading() {
    let app = spawn_app_with(|_| {}).await;
    let created = create(
        &app,
        json!({"name": "device-quiet", "silent_for": 3, "severity": "minor"}),
    )
    .await;
    assert!(created["rule"].get("sensor").is_none(), "{created}");
    let key = app.register("quiet-1").await;
    send(&app, "quiet-1", &key, "b1", &[(20.0, Utc::now())]).await;
    wait_for_alerts(&app, "quiet-1", &[("device-quiet", "active", json!(null))]).await;
    let (_, listed) = app.get("/v1/alerts?device=quiet-1").await;
    assert_eq!(listed["alerts"][0]["condition"], "silent");
    assert_eq!(
        listed["alerts"][0]["sensor"], "temp",
        "named by the sensor that spoke last"
    );
    send(&app, "quiet-1", &key, "b2", &[(21.0, Utc::now())]).await;
    wait_for_alerts(
        &app,
        "quiet-1",
        &[("device-quiet", "cleared", json!("rule"))],
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_model_rule_scores_the_newest_readings_as_python_does() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/models/fixtures");
    let bytes = std::fs::read(format!("{fixtures}/random_forest.onnx")).unwrap();
    let model = watershed_domain::OnnxModel::from_bytes(bytes).unwrap();
    let window: Vec<f64> = serde_json::from_str(
        std::fs::read_to_string(format!("{fixtures}/windows.ndjson"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    // onnxruntime's score of that window, written with the fixture.
    let expected: f64 = std::fs::read_to_string(format!("{fixtures}/scores.txt"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let app = spawn_app_with(|_| {}).await;
    let created = create(
        &app,
        json!({
            "name": "wearing-out", "sensor": "temp", "score_above": 0.5, "inputs": window.len(),
            "model": model.to_base64(),
        }),
    )
    .await;
    assert_eq!(created["model_sha256"], model.sha256_hex());
    assert!(
        created["rule"].get("model").is_none(),
        "the bytes are not echoed"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let key = app.register("worn-1").await;
    let t0 = Utc::now() - chrono::Duration::seconds(60);
    // Sent newest first: the model is given them oldest first all the same.
    let readings: Vec<(f64, DateTime<Utc>)> = window
        .iter()
        .enumerate()
        .rev()
        .map(|(i, v)| (*v, t0 + chrono::Duration::seconds(i as i64)))
        .collect();
    send(&app, "worn-1", &key, "w1", &readings).await;
    wait_for_alerts(&app, "worn-1", &[("wearing-out", "active", json!(null))]).await;
    let (_, listed) = app.get("/v1/alerts?device=worn-1").await;
    let alert = &listed["alerts"][0];
    assert_eq!(alert["condition"], "model");
    let score = alert["value"].as_f64().unwrap();
    assert!(
        (score - expected).abs() < 1e-6,
        "tract {score}, onnxruntime {expected}"
    );
    app.stop().await;
}
