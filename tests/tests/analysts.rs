//! What analysts get out of a running Watershed: the history over HTTP (filtered, paged with
//! checkpoints, resumable, incremental) with the analyst token and only with it.

use std::collections::HashSet;

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use watershed_tests::harness::{spawn_app, TestApp, ANALYST_TOKEN, READ_TOKEN};

/// Registers `devices` and sends `batches` of two readings, round robin; returns the batch ids.
async fn ingest(app: &TestApp, devices: &[&str], batches: usize) -> Vec<String> {
    let mut keys = Vec::new();
    for device in devices {
        keys.push(app.register(device).await);
    }
    let at = (Utc::now() - Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut ids = Vec::new();
    for i in 0..batches {
        let (device, key) = (devices[i % devices.len()], &keys[i % devices.len()]);
        let id = format!("b-{i}");
        let body = json!({"batch_id": id, "readings": [
            {"sensor": "temperature", "value": i as f64 + 0.1, "unit": "C", "measured_at": at},
            {"sensor": "humidity", "value": -(i as f64), "measured_at": at},
        ]});
        let response = app.post_readings(device, key, &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{id}");
        ids.push(id);
    }
    ids
}

fn events(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l.get("specversion").is_some())
        .collect()
}

fn checkpoints(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l.get("resume_token").is_some())
        .collect()
}

fn batch_ids<'a>(events: &[&'a Value]) -> Vec<&'a str> {
    events
        .iter()
        .map(|e| e["data"]["batch_id"].as_str().expect("a readings event"))
        .collect()
}

#[tokio::test]
async fn the_history_streams_every_event_once_and_resumes_from_any_checkpoint() {
    let app = spawn_app().await;
    // More than two pages of events, so that there are checkpoints inside the download.
    let sent = ingest(&app, &["hist-a", "hist-b", "hist-c"], 300).await;

    let (status, lines) = app.history("type=ReadingsRecorded", ANALYST_TOKEN).await;
    assert_eq!(status, StatusCode::OK);
    let all = events(&lines);
    assert_eq!(batch_ids(&all), sent, "every batch once, in commit order");
    let first = &all[0];
    assert_eq!(first["type"], "io.watershed.ReadingsRecorded");
    assert_eq!(first["subject"], "hist-a");
    assert_eq!(first["data"]["readings"][0]["value"], 0.1);
    assert_eq!(first["streamseq"], 3, "registration and sensors come first");
    let marks = checkpoints(&lines);
    assert!(marks.len() >= 3, "a checkpoint per page: {}", marks.len());
    assert_eq!(lines.last().unwrap()["complete"], true);
    assert!(marks[..marks.len() - 1]
        .iter()
        .all(|m| m["complete"] == false));

    // Resuming from the first checkpoint gives exactly what followed it.
    let position_of_mark = lines
        .iter()
        .position(|l| l.get("resume_token").is_some())
        .unwrap();
    let token = lines[position_of_mark]["resume_token"].as_str().unwrap();
    let (_, rest) = app
        .history(
            &format!("type=ReadingsRecorded&resume={token}"),
            ANALYST_TOKEN,
        )
        .await;
    assert_eq!(batch_ids(&events(&rest)), sent[position_of_mark..].to_vec());

    // The last token is an incremental download: nothing now, then exactly what came since.
    let last = lines.last().unwrap()["resume_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, nothing) = app
        .history(
            &format!("type=ReadingsRecorded&resume={last}"),
            ANALYST_TOKEN,
        )
        .await;
    assert!(events(&nothing).is_empty());
    assert_eq!(nothing.last().unwrap()["complete"], true);
    let key = app.register("hist-d").await;
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let body =
        json!({"batch_id": "late", "readings": [{"sensor": "t", "value": 1, "measured_at": at}]});
    assert_eq!(
        app.post_readings("hist-d", &key, &body).await.status(),
        StatusCode::CREATED
    );
    let (_, since) = app
        .history(
            &format!("type=ReadingsRecorded&resume={last}"),
            ANALYST_TOKEN,
        )
        .await;
    assert_eq!(batch_ids(&events(&since)), vec!["late"]);
}

#[tokio::test]
async fn the_history_filters_by_device_and_type_and_refuses_the_dashboards_token() {
    let app = spawn_app().await;
    ingest(&app, &["filt-a", "filt-b"], 10).await;

    let (_, lines) = app
        .history("device=filt-b&device=nobody-here", ANALYST_TOKEN)
        .await;
    let found = events(&lines);
    assert!(found.iter().all(|e| e["subject"] == "filt-b"));
    let types: HashSet<_> = found.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        HashSet::from([
            "io.watershed.DeviceRegistered",
            "io.watershed.SensorsAdded",
            "io.watershed.ReadingsRecorded"
        ])
    );
    assert_eq!(batch_ids(&found[2..]), ["b-1", "b-3", "b-5", "b-7", "b-9"]);

    let (status, body) = app.history("", READ_TOKEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body[0]["error"]["code"], "dashboard_token");
    for (query, field) in [
        ("resume=not-a-token", "resume"),
        ("type=Nope", "type"),
        (
            "recorded_from=2026-01-02T00:00:00Z&recorded_to=2026-01-01T00:00:00Z",
            "recorded",
        ),
    ] {
        let (status, body) = app.history(query, ANALYST_TOKEN).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body[0]["error"]["field"], field, "{query}");
    }
}

/// A replay broken off after its first page (a half-written page after it in the file, its
/// resume file at the first checkpoint) continues into the same file exactly once: the file ends
/// up equal to a replay that was never interrupted.
#[tokio::test]
async fn an_interrupted_replay_into_a_file_continues_exactly_once() {
    use watershed::analysts::replay::{self, ReplayArgs};
    use watershed::analysts::HistoryArgs;

    let app = spawn_app().await;
    ingest(&app, &["replay-a", "replay-b"], 300).await;
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &std::path::Path, resume: Option<std::path::PathBuf>| ReplayArgs {
        history: HistoryArgs::fleet(&app.base, ANALYST_TOKEN),
        from: None,
        to: None,
        types: Vec::new(),
        out: out.to_str().unwrap().to_owned(),
        resume,
    };
    let whole = dir.path().join("whole.ndjson");
    let done = replay::run(args(&whole, None)).await.unwrap();
    let expected = std::fs::read(&whole).unwrap();
    assert_eq!(done.bytes, expected.len() as u64);
    assert!(done.events > 300, "readings, sensors and registrations");

    // The state a replay saves after its first page, and a second page cut off halfway.
    let (_, lines) = app.history("", ANALYST_TOKEN).await;
    let first_page = lines
        .iter()
        .position(|l| l.get("resume_token").is_some())
        .unwrap();
    let first_page_bytes: usize = expected
        .split_inclusive(|b| *b == b'\n')
        .take(first_page)
        .map(<[u8]>::len)
        .sum();
    let resumed = dir.path().join("resumed.ndjson");
    let mut broken = expected[..first_page_bytes].to_vec();
    broken.extend_from_slice(&expected[first_page_bytes..first_page_bytes + 1000]);
    std::fs::write(&resumed, broken).unwrap();
    let state = dir.path().join("replay.resume");
    let saved = json!({
        "resume_token": lines[first_page]["resume_token"],
        "output_bytes": first_page_bytes,
    });
    std::fs::write(&state, saved.to_string()).unwrap();

    replay::run(args(&resumed, Some(state.clone())))
        .await
        .unwrap();
    assert!(
        std::fs::read(&resumed).unwrap() == expected,
        "the resumed file holds every event once, in order"
    );
    // The resume file now stands at the end: running again adds nothing.
    let again = replay::run(args(&resumed, Some(state))).await.unwrap();
    assert_eq!(again.events, 0);
    assert!(std::fs::read(&resumed).unwrap() == expected);
}

/// `?as_of=` answers what the read models answered then, folded from the history, while the
/// present moved on: new readings, a decommission, a device registered later.
#[tokio::test]
async fn devices_as_of_an_instant_are_what_the_read_models_answered_then() {
    let app = spawn_app().await;
    ingest(&app, &["then-a", "then-b"], 20).await;
    app.wait_until_projected().await;
    let (_, fleet_then) = app.get("/v1/devices").await;
    let then = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    ingest(&app, &["then-c"], 3).await;
    let key_a = app.register("then-d").await;
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let late = json!({"batch_id": "late", "readings": [{"sensor": "temperature", "value": 99, "measured_at": at}]});
    assert_eq!(
        app.post_readings("then-d", &key_a, &late).await.status(),
        StatusCode::CREATED
    );
    let decommission = app
        .http
        .post(app.url("/v1/devices/then-b/decommission"))
        .bearer_auth(watershed_tests::harness::ADMIN_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(decommission.status().is_success());
    app.wait_until_projected().await;

    let (status, fleet_as_of) = app.get(&format!("/v1/devices?as_of={then}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fleet_as_of, fleet_then);
    let (_, b_then) = app.get(&format!("/v1/devices/then-b?as_of={then}")).await;
    assert_eq!(b_then, fleet_then["devices"][1]);
    let (status, _) = app.get(&format!("/v1/devices/then-c?as_of={then}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not registered yet then");

    // Folded up to now, the history gives what the read models hold now.
    let (_, fleet_now) = app.get("/v1/devices").await;
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let (_, folded_now) = app.get(&format!("/v1/devices?as_of={now}")).await;
    assert_eq!(folded_now, fleet_now);
    assert_eq!(fleet_now["devices"][1]["status"], "decommissioned");
}
