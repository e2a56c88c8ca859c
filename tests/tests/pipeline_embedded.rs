//! The whole embedded pipeline through its HTTP API: known readings in (with duplicates, readings
//! out of order and invalid batches), exact answers out — and the same answers after a restart.

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use watershed_tests::harness::{
    spawn_app, spawn_app_on, spawn_app_on_with, spawn_app_with, TestApp, ADMIN_TOKEN, READ_TOKEN,
};

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An hour boundary two hours back: the test's readings fall in buckets known in advance.
fn base() -> DateTime<Utc> {
    (Utc::now() - Duration::hours(2))
        .duration_trunc(Duration::hours(1))
        .unwrap()
}

fn batch(id: &str, readings: &[(&str, f64, &str, DateTime<Utc>)]) -> Value {
    json!({
        "batch_id": id,
        "readings": readings.iter().map(|(sensor, value, unit, at)| json!({
            "sensor": sensor, "value": value, "unit": unit, "measured_at": ts(*at)
        })).collect::<Vec<_>>()
    })
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String, Option<String>) {
    let status = response.status();
    let body: Value = response.json().await.expect("errors have JSON bodies");
    let error = &body["error"];
    (
        status,
        error["code"].as_str().expect("an error code").to_owned(),
        error["field"].as_str().map(str::to_owned),
    )
}

fn series_path(device: &str, sensor: &str, t0: DateTime<Utc>, resolution: &str) -> String {
    format!(
        "/v1/devices/{device}/readings?sensor={sensor}&from={}&to={}&resolution={resolution}",
        ts(t0).replace('+', "%2B"),
        ts(t0 + Duration::hours(1)).replace('+', "%2B"),
    )
}

/// Points as (seconds after t0, value) or (seconds after t0, count, min, max, avg).
fn raw_points(body: &Value, t0: DateTime<Utc>) -> Vec<(i64, f64)> {
    body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t: DateTime<Utc> = p["t"].as_str().unwrap().parse().unwrap();
            ((t - t0).num_seconds(), p["value"].as_f64().unwrap())
        })
        .collect()
}

fn bucket_points(body: &Value, t0: DateTime<Utc>) -> Vec<(i64, u64, f64, f64, f64)> {
    body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t: DateTime<Utc> = p["t"].as_str().unwrap().parse().unwrap();
            (
                (t - t0).num_seconds(),
                p["count"].as_u64().unwrap(),
                p["min"].as_f64().unwrap(),
                p["max"].as_f64().unwrap(),
                p["avg"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Every answer the read side must give after the test's writes (before any write after restart).
async fn check_answers(app: &TestApp, t0: DateTime<Utc>) {
    app.wait_until_projected().await;

    let (status, list) = app.get("/v1/devices").await;
    assert_eq!(status, StatusCode::OK);
    let devices = list["devices"].as_array().unwrap();
    let ids: Vec<&str> = devices
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["dev-a", "dev-b"]);
    let a = &devices[0];
    assert_eq!(a["status"], "silent", "newest reading is two hours old");
    assert_eq!(a["location"], "Lab");
    assert_eq!(
        a["last_seen"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        t0 + Duration::seconds(130)
    );
    let sensors: Vec<(String, f64, String)> = a["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["sensor"].as_str().unwrap().to_owned(),
                s["value"].as_f64().unwrap(),
                s["unit"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        sensors,
        vec![
            ("humidity".to_owned(), 40.0, "%".to_owned()),
            ("temp".to_owned(), 10.0, "C".to_owned())
        ],
        "latest is the newest measurement, not the last one sent"
    );
    assert_eq!(devices[1]["status"], "decommissioned");

    let (_, one) = app.get("/v1/devices/dev-b").await;
    assert_eq!(one["sensors"][0]["value"], 5.0);

    let (status, raw) = app.get(&series_path("dev-a", "temp", t0, "raw")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(raw["unit"], "C");
    assert_eq!(
        raw_points(&raw, t0),
        vec![(5, 30.0), (10, 20.0), (70, 22.0), (130, 10.0)]
    );
    let (_, minutes) = app.get(&series_path("dev-a", "temp", t0, "1m")).await;
    assert_eq!(
        bucket_points(&minutes, t0),
        vec![
            (0, 2, 20.0, 30.0, 25.0),
            (60, 1, 22.0, 22.0, 22.0),
            (120, 1, 10.0, 10.0, 10.0)
        ]
    );
    let (_, hours) = app.get(&series_path("dev-a", "temp", t0, "1h")).await;
    assert_eq!(bucket_points(&hours, t0), vec![(0, 4, 10.0, 30.0, 20.5)]);

    let (_, events) = app.get("/v1/devices/dev-a/events?limit=10").await;
    let events = events["events"].as_array().unwrap();
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["stream_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        vec![4, 3, 2, 1],
        "invalid and repeated batches stored nothing (2 is the sensors the first batch added)"
    );
    assert_eq!(events[2]["event_type"], "SensorsAdded");
    assert_eq!(events[2]["payload"]["sensors"], json!(["humidity", "temp"]));
    assert_eq!(events[3]["event_type"], "DeviceRegistered");
    assert!(
        events[3]["payload"].get("key_hash").is_none(),
        "credentials are not shown"
    );
    assert_eq!(
        events[0]["payload"]["readings"].as_array().unwrap().len(),
        2
    );

    let (_, status) = app.get("/v1/status").await;
    assert_eq!(status["lag_events"], 0);
    assert_eq!(status["lag_capped"], false);
    assert_eq!(status["lag_seconds"], 0.0);
    assert_eq!(status["devices"], 2);
}

#[tokio::test]
async fn known_readings_give_exact_answers_before_and_after_a_restart() {
    let app = spawn_app().await;
    let t0 = base();
    let key_a = app.register("dev-a").await;
    let key_b = app.register("dev-b").await;

    let a1 = batch(
        "a1",
        &[
            ("temp", 20.0, "C", t0 + Duration::seconds(10)),
            ("temp", 22.0, "C", t0 + Duration::seconds(70)),
            ("humidity", 40.0, "%", t0 + Duration::seconds(10)),
        ],
    );
    let first = app.post_readings("dev-a", &key_a, &a1).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        first["stream_seq"], 3,
        "after the registration and the sensors it adds"
    );
    // Out of order: one reading older than everything so far, one newer.
    let a2 = batch(
        "a2",
        &[
            ("temp", 30.0, "C", t0 + Duration::seconds(5)),
            ("temp", 10.0, "C", t0 + Duration::seconds(130)),
        ],
    );
    assert_eq!(
        app.post_readings("dev-a", &key_a, &a2).await.status(),
        StatusCode::CREATED
    );

    let repeat = app.post_readings("dev-a", &key_a, &a1).await;
    assert_eq!(repeat.status(), StatusCode::CREATED);
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    assert_eq!(
        repeat.json::<Value>().await.unwrap(),
        first,
        "a repeated batch gets the same answer"
    );

    let now = Utc::now();
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"sensor": "temp", "value": 1.0, "measured_at": ts(t0)}))
        .collect();
    let refused = [
        (app.post_raw("dev-a", &key_a, &format!(r#"{{"batch_id":"x","readings":[{{"sensor":"temp","value":1e999,"measured_at":"{}"}}]}}"#, ts(t0))).await,
            StatusCode::BAD_REQUEST, Some("readings[0].value")),
        (app.post_readings("dev-a", &key_a, &batch("x", &[("", 1.0, "C", t0)])).await,
            StatusCode::BAD_REQUEST, Some("readings[0].sensor")),
        (app.post_readings("dev-a", &key_a, &json!({"batch_id": "x", "readings": too_many})).await,
            StatusCode::BAD_REQUEST, Some("readings")),
        (app.post_readings("dev-a", &key_a, &json!({"batch_id": "x", "readings": []})).await,
            StatusCode::BAD_REQUEST, Some("readings")),
        (app.post_readings("dev-a", &key_a, &batch("x", &[("temp", 1.0, "C", now + Duration::hours(1))])).await,
            StatusCode::BAD_REQUEST, Some("readings[0].measured_at")),
        (app.post_readings("dev-a", &key_a, &json!({"readings": []})).await,
            StatusCode::BAD_REQUEST, None),
        (app.post_raw("dev-a", &key_a, r#"{"batch_id":"x","readings":[{"sensor":"#).await,
            StatusCode::BAD_REQUEST, None),
        (app.post_readings("dev-a", "not-a-key", &batch("x", &[("temp", 1.0, "C", t0)])).await,
            StatusCode::UNAUTHORIZED, None),
        (app.post_readings("dev-a", &key_b, &batch("x", &[("temp", 1.0, "C", t0)])).await,
            StatusCode::UNAUTHORIZED, None),
        (app.post_readings("dev-zzz", &key_a, &batch("x", &[("temp", 1.0, "C", t0)])).await,
            StatusCode::UNAUTHORIZED, None),
        (app.post_readings("dev-a", &key_a, &batch("x", &[("temp", 1.0, "C", "-5000-01-01T00:00:00Z".parse().unwrap())])).await,
            StatusCode::BAD_REQUEST, Some("readings[0].measured_at")),
    ];
    for (i, (response, status, field)) in refused.into_iter().enumerate() {
        let (got, code, got_field) = error_of(response).await;
        assert_eq!(got, status, "refusal #{i} ({code})");
        if field.is_some() {
            assert_eq!(got_field.as_deref(), field, "refusal #{i} names the field");
        }
    }

    let b1 = batch("b1", &[("temp", 5.0, "C", t0 + Duration::seconds(1))]);
    assert_eq!(
        app.post_readings("dev-b", &key_b, &b1).await.status(),
        StatusCode::CREATED
    );
    let decommission = app
        .http
        .post(app.url("/v1/devices/dev-b/decommission"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"reason": "replaced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(decommission.status(), StatusCode::OK);
    let late = app
        .post_readings("dev-b", &key_b, &batch("b2", &[("temp", 6.0, "C", t0)]))
        .await;
    assert_eq!(error_of(late).await.0, StatusCode::FORBIDDEN);

    check_answers(&app, t0).await;

    let data = app.stop().await;
    let app = spawn_app_on(data).await;
    check_answers(&app, t0).await;

    // After the restart the device's key still works, a repeated batch is still recognised,
    // and a new batch is projected once on top of what was there.
    let repeat = app.post_readings("dev-a", &key_a, &a1).await;
    assert_eq!(repeat.json::<Value>().await.unwrap(), first);
    let a3 = batch("a3", &[("temp", 50.0, "C", t0 + Duration::seconds(15))]);
    assert_eq!(
        app.post_readings("dev-a", &key_a, &a3).await.status(),
        StatusCode::CREATED
    );
    app.wait_until_projected().await;
    let (_, minutes) = app.get(&series_path("dev-a", "temp", t0, "1m")).await;
    assert_eq!(
        bucket_points(&minutes, t0)[0],
        (0, 3, 20.0, 50.0, 100.0 / 3.0)
    );
    app.stop().await;
}

#[tokio::test]
async fn sixteen_connections_of_one_device_all_store_their_batches() {
    let app = spawn_app().await;
    let key = app.register("busy").await;
    let t = Utc::now();
    let sends = (0..16).map(|i| {
        let body = batch(&format!("conn-{i}"), &[("temp", f64::from(i), "C", t)]);
        let (app, key) = (&app, &key);
        async move { app.post_readings("busy", key, &body).await }
    });
    let answers = futures::future::join_all(sends).await;
    let mut seqs = Vec::new();
    for answer in answers {
        assert_eq!(
            answer.status(),
            StatusCode::CREATED,
            "no request of the device is refused"
        );
        seqs.push(
            answer.json::<Value>().await.unwrap()["stream_seq"]
                .as_u64()
                .unwrap(),
        );
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 16, "each batch its own event");
    app.stop().await;
}

#[tokio::test]
async fn identical_batches_sent_at_once_store_one_event() {
    let app = spawn_app().await;
    let key = app.register("twin").await;
    let body = batch("same-batch", &[("temp", 1.0, "C", Utc::now())]);
    let sends = (0..8).map(|_| app.post_readings("twin", &key, &body));
    let answers = futures::future::join_all(sends).await;
    let mut bodies = Vec::new();
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::CREATED);
        bodies.push(answer.json::<Value>().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let (_, events) = app.get("/v1/devices/twin/events").await;
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        3,
        "registration, the batch's sensor, and one batch"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_key_is_checked_before_anything_else_and_unknown_devices_look_like_wrong_keys() {
    let app = spawn_app().await;
    let key = app.register("known").await;
    let garbage = "{ not json";
    let unknown = error_of(app.post_raw("no-such-device", &key, garbage).await).await;
    let wrong_key = error_of(app.post_raw("known", "wsk_not-its-key", garbage).await).await;
    assert_eq!(
        unknown.0,
        StatusCode::UNAUTHORIZED,
        "no parsing before the key"
    );
    assert_eq!(unknown, wrong_key, "the same answer: ids cannot be probed");
    let right_key = error_of(app.post_raw("known", &key, garbage).await).await;
    assert_eq!(right_key.0, StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn a_batch_id_answers_its_first_request_only_and_even_after_decommissioning() {
    let app = spawn_app().await;
    let key = app.register("retry").await;
    let t = Utc::now();
    let first = batch("b-1", &[("temp", 1.0, "C", t)]);
    let stored = app.post_readings("retry", &key, &first).await;
    assert_eq!(stored.status(), StatusCode::CREATED);
    let stored: Value = stored.json().await.unwrap();

    let other = batch("b-1", &[("temp", 2.0, "C", t)]);
    let reused = error_of(app.post_readings("retry", &key, &other).await).await;
    assert_eq!(
        (reused.0, reused.1.as_str()),
        (StatusCode::CONFLICT, "idempotency_key_reused")
    );

    let decommission = app
        .http
        .post(app.url("/v1/devices/retry/decommission"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(decommission.status(), StatusCode::OK);
    let resent = app.post_readings("retry", &key, &first).await;
    assert_eq!(
        resent.status(),
        StatusCode::CREATED,
        "a resend of an acknowledged batch"
    );
    assert_eq!(resent.headers()["idempotent-replayed"], "true");
    assert_eq!(resent.json::<Value>().await.unwrap(), stored);
    let new_batch = batch("b-2", &[("temp", 3.0, "C", t)]);
    let refused = error_of(app.post_readings("retry", &key, &new_batch).await).await;
    assert_eq!(refused.0, StatusCode::FORBIDDEN);
    let reused_late = error_of(app.post_readings("retry", &key, &other).await).await;
    assert_eq!(reused_late.0, StatusCode::CONFLICT);

    let (_, events) = app.get("/v1/devices/retry/events").await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "DeviceDecommissioned",
            "ReadingsRecorded",
            "SensorsAdded",
            "DeviceRegistered"
        ]
    );
    app.stop().await;
}

/// Sends an admin command to `path` (PATCH or POST) and answers the status and body.
async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = app
        .http
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn an_administrator_renames_moves_tags_disables_and_enables_a_device() {
    let app = spawn_app().await;
    let key = app.register("reg-1").await;
    app.register("reg-2").await;
    let patch = reqwest::Method::PATCH;
    let (status, _) = admin(
        &app,
        patch.clone(),
        "/v1/devices/reg-1",
        json!({"name": "Pump 7", "location": "Hall C", "tags": ["site=berlin", "line-3", "line-3"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = admin(
        &app,
        patch.clone(),
        "/v1/devices/reg-1",
        json!({"tags": ["line-3", "site=berlin"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("unchanged"))
    );
    let too_many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    let (status, body) = admin(
        &app,
        patch.clone(),
        "/v1/devices/reg-1",
        json!({"tags": too_many}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("tags"))
    );
    let (status, body) = admin(
        &app,
        patch.clone(),
        "/v1/devices/reg-1",
        json!({"tags": ["no spaces"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let t = Utc::now();
    let (status, _) = admin(
        &app,
        reqwest::Method::POST,
        "/v1/devices/reg-1/disable",
        json!({"reason": "maintenance"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let refused = error_of(
        app.post_readings("reg-1", &key, &batch("d-1", &[("temp", 1.0, "C", t)]))
            .await,
    )
    .await;
    assert_eq!(
        (refused.0, refused.1.as_str()),
        (StatusCode::FORBIDDEN, "device_disabled")
    );
    let wrong_key = error_of(
        app.post_readings(
            "reg-1",
            "wsk_not-its-key",
            &batch("d-1", &[("temp", 1.0, "C", t)]),
        )
        .await,
    )
    .await;
    assert_eq!(
        wrong_key.0,
        StatusCode::UNAUTHORIZED,
        "the key is checked first"
    );
    let (status, _) = admin(
        &app,
        reqwest::Method::POST,
        "/v1/devices/reg-1/disable",
        json!(null),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    app.wait_until_projected().await;
    let (_, listed) = app.get("/v1/devices?tag=site%3Dberlin").await;
    let listed = listed["devices"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "only the tagged device: {listed:?}");
    let device = &listed[0];
    assert_eq!(device["device_id"], "reg-1");
    assert_eq!(
        (device["name"].as_str(), device["location"].as_str()),
        (Some("Pump 7"), Some("Hall C"))
    );
    assert_eq!(device["tags"], json!(["line-3", "site=berlin"]));
    assert_eq!(device["status"], "disabled");
    assert!(device["disabled_at"].is_string());
    let (_, disabled) = app.get("/v1/devices?status=disabled").await;
    assert_eq!(disabled["devices"].as_array().unwrap().len(), 1);
    let (status, _) = app.get("/v1/devices?status=asleep").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = admin(
        &app,
        reqwest::Method::POST,
        "/v1/devices/reg-1/enable",
        json!(null),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stored = app
        .post_readings("reg-1", &key, &batch("d-1", &[("temp", 1.0, "C", t)]))
        .await;
    assert_eq!(stored.status(), StatusCode::CREATED, "enabled again");
    let (status, _) = admin(
        &app,
        patch,
        "/v1/devices/reg-1",
        json!({"name": null, "tags": []}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    app.wait_until_projected().await;
    let (_, device) = app.get("/v1/devices/reg-1").await;
    assert_eq!(
        (device["name"].clone(), device["tags"].clone()),
        (Value::Null, json!([]))
    );
    assert_eq!(device["status"], "online");
    assert_eq!(device["location"], "Hall C", "left out, so unchanged");

    let (_, events) = app.get("/v1/devices/reg-1/events").await;
    let mut types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    types.reverse();
    assert_eq!(
        types,
        [
            "DeviceRegistered",
            "DeviceRenamed",
            "DeviceMoved",
            "DeviceRetagged",
            "DeviceDisabled",
            "DeviceEnabled",
            "SensorsAdded",
            "ReadingsRecorded",
            "DeviceRenamed",
            "DeviceRetagged",
        ],
        "one event per change, nothing for what was refused"
    );
    app.stop().await;
}

/// The members of a structured header field (`RateLimit`, `RateLimit-Policy`) as read by the
/// `sfv` parser: each name with its integer parameters.
fn structured(response: &reqwest::Response, field: &str) -> Vec<(String, Vec<(String, i64)>)> {
    let value = response.headers()[field].to_str().unwrap();
    let list: sfv::List = sfv::Parser::new(value).parse().unwrap();
    list.into_iter()
        .map(|entry| match entry {
            sfv::ListEntry::Item(item) => (
                item.bare_item.as_string().unwrap().as_str().to_owned(),
                item.params
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), i64::from(v.as_integer().unwrap())))
                    .collect(),
            ),
            sfv::ListEntry::InnerList(_) => panic!("{field}: an inner list in {value}"),
        })
        .collect()
}

/// `n` readings of one sensor, a millisecond apart.
fn many(batch_id: &str, n: usize) -> Value {
    let t = base();
    let readings: Vec<_> = (0..n)
        .map(|i| ("temp", i as f64, "C", t + Duration::milliseconds(i as i64)))
        .collect();
    batch(batch_id, &readings)
}

#[tokio::test]
async fn limits_refuse_with_429_answer_resends_and_hold_across_a_restart() {
    let limited = |config: &mut watershed::app::AppConfig| {
        config.device_limits = std::sync::Arc::new(
            watershed::device_limits::parse("[kind.meter]\nreadings_per_day = 250\n").unwrap(),
        );
    };
    let app = spawn_app_with(limited).await;
    let (status, registered) = admin(
        &app,
        reqwest::Method::POST,
        "/v1/devices",
        json!({"device_id": "lim-1", "kind": "meter"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let key = registered["device_key"].as_str().unwrap().to_owned();

    let first = many("q-1", 200);
    let stored = app.post_readings("lim-1", &key, &first).await;
    assert_eq!(stored.status(), StatusCode::CREATED);
    assert_eq!(
        structured(&stored, "ratelimit-policy"),
        [(
            "daily".to_owned(),
            vec![("q".to_owned(), 250), ("w".to_owned(), 86_400)]
        )]
    );
    let left = structured(&stored, "ratelimit");
    assert_eq!(
        (left[0].0.as_str(), &left[0].1[0]),
        ("daily", &("r".to_owned(), 50))
    );

    let over = app.post_readings("lim-1", &key, &many("q-2", 100)).await;
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = over.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    let (_, code, _) = error_of(over).await;
    assert_eq!(code, "quota_exceeded");
    let resent = app.post_readings("lim-1", &key, &first).await;
    assert_eq!(
        resent.status(),
        StatusCode::CREATED,
        "a resend is answered over the quota too"
    );
    assert_eq!(resent.headers()["idempotent-replayed"], "true");
    assert!(
        app.post_readings("lim-1", &key, &many("q-3", 50))
            .await
            .status()
            .is_success(),
        "a resend spends nothing"
    );

    // A device's own limits, set and removed by an administrator.
    let other = app.register("lim-2").await;
    let unlimited = app.post_readings("lim-2", &other, &many("r-1", 1000)).await;
    assert_eq!(unlimited.status(), StatusCode::CREATED);
    assert!(
        !unlimited.headers().contains_key("ratelimit"),
        "no limit, no fields"
    );
    let (status, body) = admin(
        &app,
        reqwest::Method::PATCH,
        "/v1/devices/lim-2",
        json!({"limits": {"readings_per_second": 0}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "limits.readings_per_second");
    let (status, _) = admin(
        &app,
        reqwest::Method::PATCH,
        "/v1/devices/lim-2",
        json!({"limits": {"readings_per_second": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A batch larger than the bucket borrows from the seconds to come.
    let borrowed = app.post_readings("lim-2", &other, &many("r-2", 1000)).await;
    assert_eq!(borrowed.status(), StatusCode::CREATED);
    let throttled = app.post_readings("lim-2", &other, &many("r-3", 1)).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(structured(&throttled, "ratelimit")[0].0, "rate");
    let (_, code, _) = error_of(throttled).await;
    assert_eq!(code, "rate_limited");
    let (status, _) = admin(
        &app,
        reqwest::Method::PATCH,
        "/v1/devices/lim-2",
        json!({"limits": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.post_readings("lim-2", &other, &many("r-3", 1))
            .await
            .status(),
        StatusCode::CREATED
    );

    let app = spawn_app_on_with(app.stop().await, limited).await;
    let after_restart = app.post_readings("lim-1", &key, &many("q-4", 1)).await;
    assert_eq!(
        after_restart.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "250 of 250 used before the restart"
    );
    let batches = app.get("/v1/devices/lim-1/events").await.1["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "ReadingsRecorded")
        .count();
    assert_eq!(batches, 2, "only the batches within the quota are stored");
    app.stop().await;
}

#[tokio::test]
async fn the_simulator_sends_its_fleet_over_mqtt_and_every_batch_is_stored() {
    use watershed::simulate::{self, FleetConfig, Protocol};
    let app = spawn_app_with(|c| c.mqtt_listen = Some(([127, 0, 0, 1], 0).into())).await;
    let gateway = app.mqtt.expect("an MQTT gateway");
    let report = simulate::run(
        FleetConfig {
            target: app.base.clone(),
            admin_token: ADMIN_TOKEN.to_owned(),
            devices: 4,
            id_prefix: "mqtt-sim-".to_owned(),
            rate: 0.0,
            batch_size: 100,
            total_readings: Some(4_000),
            protocol: Protocol::Mqtt {
                host: gateway.ip().to_string(),
                port: gateway.port(),
            },
        },
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.errors, 0);
    assert!(report.readings >= 3_900, "{report:?}");
    let stored: u64 = app
        .history("", ADMIN_TOKEN)
        .await
        .1
        .iter()
        .filter(|e| e["type"] == "io.watershed.ReadingsRecorded")
        .map(|e| e["data"]["readings"].as_array().unwrap().len() as u64)
        .sum();
    assert_eq!(stored, report.readings, "every acknowledged reading, once");
    app.stop().await;
}

#[tokio::test]
async fn history_paging_refuses_cursors_that_name_nothing() {
    let app = spawn_app().await;
    app.register("pager").await;
    for query in ["before=0", "limit=0", "limit=501", "before=-1", "before=x"] {
        let (status, body) = app.get(&format!("/v1/devices/pager/events?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    let (status, body) = app.get("/v1/devices/pager/events?before=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["events"],
        json!([]),
        "nothing comes before the first event"
    );
    let (_, body) = app.get("/v1/devices/pager/events?before=2&limit=500").await;
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn only_the_live_stream_takes_a_token_in_the_url_and_only_the_read_token() {
    let app = spawn_app().await;
    let get = |path: String| app.http.get(app.url(&path)).send();
    let in_url = get(format!("/v1/devices?access_token={READ_TOKEN}"))
        .await
        .unwrap();
    assert_eq!(in_url.status(), StatusCode::UNAUTHORIZED);
    let admin_in_url = get(format!("/v1/stream?access_token={ADMIN_TOKEN}"))
        .await
        .unwrap();
    assert_eq!(admin_in_url.status(), StatusCode::UNAUTHORIZED);
    let live = app.open_live_stream().await;
    assert_eq!(live.status(), StatusCode::OK);
    drop(live);
    app.stop().await;
}

#[tokio::test]
async fn live_clients_past_the_cap_are_refused_with_503() {
    let app = spawn_app_with(|config| config.limits.max_live_clients = 2).await;
    let first = app.open_live_stream().await;
    let second = app.open_live_stream().await;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let third = app.open_live_stream().await;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(third.headers().contains_key("retry-after"));
    drop(first);
    watershed_tests::eventually(
        "a slot to free up once a client left",
        std::time::Duration::from_secs(10),
        || async { (app.open_live_stream().await.status() == StatusCode::OK).then_some(()) },
    )
    .await;
    drop(second);
    app.stop().await;
}

#[tokio::test]
async fn a_device_reports_at_most_its_cap_of_sensors_and_a_refused_batch_writes_nothing() {
    let app = spawn_app_with(|config| config.limits.max_sensors_per_device = 3).await;
    let key = app.register("many").await;
    let t = Utc::now();
    let four = batch(
        "b-1",
        &[
            ("a", 1.0, "C", t),
            ("b", 1.0, "C", t),
            ("c", 1.0, "C", t),
            ("d", 1.0, "C", t),
        ],
    );
    let refused = error_of(app.post_readings("many", &key, &four).await).await;
    assert_eq!(
        refused,
        (
            StatusCode::BAD_REQUEST,
            "too_many_sensors".to_owned(),
            Some("readings".to_owned())
        )
    );
    let two = batch("b-2", &[("a", 1.0, "C", t), ("b", 2.0, "C", t)]);
    assert_eq!(
        app.post_readings("many", &key, &two).await.status(),
        StatusCode::CREATED
    );
    let two_new = batch("b-3", &[("c", 1.0, "C", t), ("d", 1.0, "C", t)]);
    let refused = error_of(app.post_readings("many", &key, &two_new).await).await;
    assert_eq!(refused.1, "too_many_sensors");
    let one_new = batch("b-4", &[("a", 3.0, "C", t), ("c", 1.0, "C", t)]);
    assert_eq!(
        app.post_readings("many", &key, &one_new).await.status(),
        StatusCode::CREATED
    );
    let (_, events) = app.get("/v1/devices/many/events").await;
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        5,
        "registration, and sensors then readings twice: the refused batches wrote nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_what_each_role_did_in_the_prometheus_format() {
    let app = spawn_app().await;
    let key = app.register("counted").await;
    let t = Utc::now();
    let body = batch("m-1", &[("temp", 1.0, "C", t), ("rpm", 2.0, "1/min", t)]);
    assert_eq!(
        app.post_readings("counted", &key, &body).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.post_readings("counted", &key, &body).await.status(),
        StatusCode::CREATED
    );
    let refused = app.post_readings("counted", "wsk_wrong", &body).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    app.wait_until_projected().await;
    app.get("/v1/devices/counted").await;

    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("the exposition format parses");
    // Tests in this binary share the process's recorder, so counts are at least what this did.
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let outcome = |o| value("watershed_ingest_requests_total", Some(("outcome", o)));
    assert!(outcome("accepted") >= 1.0 && outcome("replayed") >= 1.0 && outcome("refused") >= 1.0);
    assert!(value("watershed_ingest_readings_total", None) >= 2.0);
    assert!(
        value(
            "watershed_projector_events_total",
            Some(("group", "read-models"))
        ) >= 3.0
    );
    assert!(value("watershed_cache_lookups_total", None) >= 1.0);
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "watershed_ingest_seconds"
                && matches!(s.value, prometheus_parse::Value::Histogram(_))),
        "latency is a histogram"
    );
    assert!(
        scrape.docs.contains_key("watershed_ingest_requests_total"),
        "metrics are described"
    );
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_are_for_the_admin_token_only() {
    let app = spawn_app_with(|config| config.poison = watershed_domain::PoisonPolicy::Park).await;
    let with = |token: &'static str, method: reqwest::Method, path: &'static str| {
        app.http
            .request(method, app.url(path))
            .bearer_auth(token)
            .send()
    };
    let listed = with(ADMIN_TOKEN, reqwest::Method::GET, "/v1/dead-letters")
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(
        listed.json::<Value>().await.unwrap(),
        json!({"dead_letters": []})
    );
    let as_reader = with(READ_TOKEN, reqwest::Method::GET, "/v1/dead-letters")
        .await
        .unwrap();
    assert_eq!(as_reader.status(), StatusCode::FORBIDDEN);
    let missing = with(
        ADMIN_TOKEN,
        reqwest::Method::POST,
        "/v1/dead-letters/42/skip",
    )
    .await
    .unwrap();
    assert_eq!(error_of(missing).await.1, "dead_letter_not_found");
    app.stop().await;
}

#[tokio::test]
async fn reads_need_a_token_and_the_read_token_cannot_write() {
    let app = spawn_app().await;
    let anonymous = app.http.get(app.url("/v1/devices")).send().await.unwrap();
    assert_eq!(error_of(anonymous).await.0, StatusCode::UNAUTHORIZED);
    let admin = app
        .http
        .get(app.url("/v1/devices"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    let write = app
        .http
        .post(app.url("/v1/devices"))
        .bearer_auth(READ_TOKEN)
        .json(&json!({"device_id": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(write).await,
        (StatusCode::FORBIDDEN, "read_only_token".to_owned(), None)
    );
    let (status, missing) = app.get("/v1/devices/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["code"], "device_not_found");
    let (status, bad) = app.get("/v1/devices/nope/readings").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["field"], "sensor");
    let duplicate = app
        .http
        .post(app.url("/v1/devices"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"device_id": "dup"}))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), StatusCode::CREATED);
    let again = app
        .http
        .post(app.url("/v1/devices"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"device_id": "dup"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(again).await.1, "device_exists");
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/devices", "post"),
        ("/v1/devices", "get"),
        ("/v1/devices/{device_id}", "get"),
        ("/v1/devices/{device_id}/readings", "post"),
        ("/v1/devices/{device_id}/readings", "get"),
        ("/v1/devices/{device_id}/events", "get"),
        ("/v1/devices/{device_id}", "patch"),
        ("/v1/devices/{device_id}/disable", "post"),
        ("/v1/devices/{device_id}/enable", "post"),
        ("/v1/devices/{device_id}/decommission", "post"),
        ("/v1/devices/{device_id}/key", "post"),
        ("/v1/status", "get"),
        ("/v1/stream", "get"),
        ("/v1/dead-letters", "get"),
        ("/v1/dead-letters/{id}/retry", "post"),
        ("/v1/dead-letters/{id}/skip", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_live_stream_announces_projected_readings() {
    use futures::StreamExt;

    let app = spawn_app().await;
    let key = app.register("live-1").await;
    let response = app.open_live_stream().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();

    let sent = batch("live-b1", &[("temp", 123.25, "C", Utc::now())]);
    assert_eq!(
        app.post_readings("live-1", &key, &sent).await.status(),
        StatusCode::CREATED
    );

    let mut text = String::new();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if let Some(at) = text.find("event: readings\ndata: ") {
                let data = text[at..]
                    .lines()
                    .nth(1)
                    .unwrap()
                    .trim_start_matches("data: ");
                if let Ok(update) = serde_json::from_str::<Value>(data) {
                    return update;
                }
            }
        }
        panic!("the stream ended");
    })
    .await
    .expect("a readings event arrives within 10 s");
    assert_eq!(seen["device_id"], "live-1");
    assert_eq!(seen["readings"][0]["value"], 123.25);

    let anonymous = app.http.get(app.url("/v1/stream")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// Reads server-sent events from `body` until `wanted` accepts one's data, for at most 10 s.
async fn next_event_where<B: AsRef<[u8]>>(
    body: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
    text: &mut String,
    name: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    use futures::StreamExt;
    let marker = format!("event: {name}\ndata: ");
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            while let Some(at) = text.find(&marker) {
                let rest = &text[at + marker.len()..];
                let Some(end) = rest.find('\n') else { break };
                let data: Value = serde_json::from_str(&rest[..end]).unwrap();
                text.drain(..at + marker.len() + end);
                if wanted(&data) {
                    return data;
                }
            }
            let chunk = body.next().await.expect("the stream stays open").unwrap();
            text.push_str(&String::from_utf8_lossy(chunk.as_ref()));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("a matching {name} event within 10 s"))
}

#[tokio::test]
async fn alert_rules_raise_and_clear_alerts_that_the_dashboard_hears_of_live() {
    let rules = watershed::alert_rules::parse(
        "[[rule]]\nname = \"too-hot\"\nsensor = \"temp\"\nabove = 30\nclear_at = 28\n\
         message = \"Too hot\"\n",
        std::path::Path::new("."),
    )
    .unwrap();
    let app = spawn_app_with(|config| config.alert_rules = rules).await;
    let key = app.register("hot-1").await;
    let response = app.open_live_stream().await;
    let mut body = response.bytes_stream();
    let mut text = String::new();

    let sent = batch("hot-b1", &[("temp", 35.5, "C", Utc::now())]);
    assert_eq!(
        app.post_readings("hot-1", &key, &sent).await.status(),
        StatusCode::CREATED
    );
    let announced = next_event_where(&mut body, &mut text, "device", |d| {
        d["device_id"] == "hot-1" && d["open_alerts"] == 1
    })
    .await;
    let alert = &announced["alerts"][0];
    assert_eq!(alert["rule"], "too-hot");
    assert_eq!(alert["sensor"], "temp");
    assert_eq!(alert["condition"], "above");
    assert_eq!(alert["threshold"], 30.0);
    assert_eq!(alert["value"], 35.5);
    assert_eq!(alert["unit"], "C");
    assert_eq!(alert["message"], "Too hot");

    let (_, device) = app.get("/v1/devices/hot-1").await;
    assert_eq!(device["open_alerts"], 1, "{device}");
    let (_, fleet) = app.get("/v1/devices").await;
    assert_eq!(fleet["devices"][0]["alerts"][0]["rule"], "too-hot");
    let (_, events) = app.get("/v1/devices/hot-1/events").await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types[..2],
        ["AlertRaised", "ReadingsRecorded"],
        "newest first"
    );

    let sent = batch("hot-b2", &[("temp", 21.0, "C", Utc::now())]);
    app.post_readings("hot-1", &key, &sent).await;
    next_event_where(&mut body, &mut text, "device", |d| {
        d["device_id"] == "hot-1" && d["open_alerts"] == 0
    })
    .await;
    app.wait_until_projected().await;
    let (_, device) = app.get("/v1/devices/hot-1").await;
    assert_eq!(device["alerts"], json!([]));
    app.stop().await;
}
