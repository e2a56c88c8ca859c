//! Bulk import and export of devices through the embedded app: a file registers all its devices
//! or none, every bad line is named, keys are answered once or given, and an export imports
//! back into a fresh installation as the same registry.

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use watershed::devices::export::{self, ExportArgs};
use watershed::devices::import::{self, ImportArgs};
use watershed::devices::{Format, Target};
use watershed_tests::harness::{spawn_app, TestApp, ADMIN_TOKEN};

async fn import_file(app: &TestApp, content_type: &str, body: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url("/v1/devices/import"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("the API answers");
    let status = response.status();
    (status, response.json().await.expect("a JSON answer"))
}

/// One reading from `device` with `key`: the key works when this answers 201.
async fn send_with(app: &TestApp, device: &str, key: &str) -> StatusCode {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let batch = json!({"batch_id": "b-1", "readings": [
        {"sensor": "temperature", "value": 21.5, "unit": "C", "measured_at": now}]});
    app.post_readings(device, key, &batch).await.status()
}

/// `(id, name, kind, location, tags, status)` of every device, once everything is projected.
async fn registry(app: &TestApp) -> Vec<Value> {
    app.wait_until_projected().await;
    let (status, body) = app.get("/v1/devices").await;
    assert_eq!(status, StatusCode::OK);
    body["devices"]
        .as_array()
        .expect("a device list")
        .iter()
        .map(|d| {
            json!([
                d["device_id"],
                d["name"],
                d["kind"],
                d["location"],
                d["tags"],
                d["status"]
            ])
        })
        .collect()
}

/// `(line, code, field)` of every bad line of a refused import.
fn problems(body: &Value) -> Vec<(u64, String, Option<String>)> {
    body["lines"]
        .as_array()
        .expect("the bad lines")
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap(),
                l["code"].as_str().unwrap().to_owned(),
                l["field"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn key_of<'a>(answer: &'a Value, device: &str) -> Option<&'a str> {
    answer["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == device)
        .unwrap_or_else(|| panic!("{device} in the answer"))["device_key"]
        .as_str()
}

#[tokio::test]
async fn a_csv_file_registers_its_devices_with_tags_status_and_returned_or_given_keys() {
    let app = spawn_app().await;
    let (status, answer) = import_file(
        &app,
        "text/csv; charset=utf-8",
        "device_id,name,kind,location,tags,status,key\n\
         pump-1,\"Pump 1, north\",pump,Hall B,line-3 site=berlin,,\n\
         pump-2,Pump 2,pump,Hall B,,active,a-key-the-fleet-already-has\n\
         old-3,,,,,disabled,\n",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["imported"], 3);
    let lines: Vec<u64> = answer["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 4]);
    let generated = key_of(&answer, "pump-1").expect("a generated key");
    assert!(generated.starts_with("wsk_"), "{generated}");
    assert_eq!(
        key_of(&answer, "pump-2"),
        None,
        "a given key is not answered"
    );

    assert_eq!(
        send_with(&app, "pump-1", generated).await,
        StatusCode::CREATED
    );
    assert_eq!(
        send_with(&app, "pump-2", "a-key-the-fleet-already-has").await,
        StatusCode::CREATED
    );
    let disabled_key = key_of(&answer, "old-3").expect("a generated key");
    assert_eq!(
        send_with(&app, "old-3", disabled_key).await,
        StatusCode::FORBIDDEN,
        "imported disabled"
    );
    assert_eq!(
        send_with(&app, "pump-1", "a-key-the-fleet-already-has").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        registry(&app).await,
        vec![
            json!(["old-3", null, null, null, [], "disabled"]),
            json!([
                "pump-1",
                "Pump 1, north",
                "pump",
                "Hall B",
                ["line-3", "site=berlin"],
                "online"
            ]),
            json!(["pump-2", "Pump 2", "pump", "Hall B", [], "online"]),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn an_ndjson_file_registers_its_devices_the_same_way() {
    let app = spawn_app().await;
    let (status, answer) = import_file(
        &app,
        "application/x-ndjson",
        "{\"device_id\":\"truck-1\",\"kind\":\"truck\",\"tags\":[\"fleet=north\"]}\n\
         \n\
         {\"device_id\":\"truck-2\",\"name\":null,\"key\":\"given-key-of-truck-2\",\"status\":\"decommissioned\"}\n",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let key = key_of(&answer, "truck-1").expect("a generated key");
    assert_eq!(send_with(&app, "truck-1", key).await, StatusCode::CREATED);
    assert_eq!(
        send_with(&app, "truck-2", "given-key-of-truck-2").await,
        StatusCode::FORBIDDEN,
        "imported decommissioned"
    );
    assert_eq!(
        registry(&app).await,
        vec![
            json!(["truck-1", null, "truck", null, ["fleet=north"], "online"]),
            json!(["truck-2", null, null, null, [], "decommissioned"]),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_file_with_bad_lines_names_every_one_and_registers_nothing() {
    let app = spawn_app().await;
    app.register("taken-1").await;
    let (status, body) = import_file(
        &app,
        "text/csv",
        "device_id,name,tags\n\
         good-1,Fine,\n\
         bad id,Fine,\n\
         good-2,,ok bad!tag\n\
         taken-1,Again,\n\
         good-1,Twice,\n\
         good-3,Fine,,extra\n\
         good-4,\"Tab\tinside\",\n\
         good-5,Fine,\n",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_lines");
    let field = |f: &str| Some(f.to_owned());
    assert_eq!(
        problems(&body),
        vec![
            (3, "invalid_input".to_owned(), field("device_id")),
            (4, "invalid_input".to_owned(), field("tags")),
            (5, "device_exists".to_owned(), field("device_id")),
            (6, "duplicate_device".to_owned(), field("device_id")),
            (7, "malformed_line".to_owned(), None),
            (8, "invalid_input".to_owned(), field("name")),
        ]
    );
    let ids: Vec<Value> = registry(&app).await.iter().map(|d| d[0].clone()).collect();
    assert_eq!(
        ids,
        vec![json!("taken-1")],
        "nothing of the file is registered"
    );
    app.stop().await;
}

#[tokio::test]
async fn ids_already_registered_answer_409_naming_each_and_register_nothing() {
    let app = spawn_app().await;
    app.register("taken-1").await;
    app.register("taken-2").await;
    let (status, body) = import_file(
        &app,
        "application/x-ndjson",
        "{\"device_id\":\"taken-2\"}\n{\"device_id\":\"new-1\"}\n{\"device_id\":\"taken-1\"}\n",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "devices_exist");
    let lines: Vec<u64> = problems(&body).iter().map(|p| p.0).collect();
    assert_eq!(lines, [1, 3]);
    let (status, _) = app.get("/v1/devices/new-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn two_files_sharing_a_device_sent_at_once_register_one_file_whole() {
    let app = spawn_app().await;
    let file = |prefix: &str| -> String {
        let mut text = String::from("device_id\nshared\n");
        for i in 0..200 {
            text.push_str(&format!("{prefix}-{i}\n"));
        }
        text
    };
    let (first, second) = (file("a"), file("b"));
    let ((a, _), (b, _)) = tokio::join!(
        import_file(&app, "text/csv", &first),
        import_file(&app, "text/csv", &second)
    );
    let mut statuses = [a, b];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    let registered = registry(&app).await;
    assert_eq!(
        registered.len(),
        201,
        "one file whole, nothing of the other"
    );
    let winner = if a == StatusCode::CREATED { "a-" } else { "b-" };
    assert!(registered
        .iter()
        .all(|d| d[0] == "shared" || d[0].as_str().unwrap().starts_with(winner)));
    app.stop().await;
}

#[tokio::test]
async fn a_file_is_csv_or_ndjson_of_at_most_ten_thousand_devices() {
    let app = spawn_app().await;
    let (status, body) = import_file(&app, "application/json", "[]").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (status, body) = import_file(&app, "text/csv", "device_id\n").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("empty_import"))
    );
    let over: String = std::iter::once("device_id\n".to_owned())
        .chain((0..=10_000).map(|i| format!("d-{i}\n")))
        .collect();
    let (status, body) = import_file(&app, "text/csv", &over).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_many_devices"))
    );
    let (status, body) = import_file(&app, "text/csv", &"x".repeat(9 << 20)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    assert_eq!(registry(&app).await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn an_export_imports_into_a_fresh_installation_as_the_same_registry() {
    let source = spawn_app().await;
    let (status, answer) = import_file(
        &source,
        "text/csv",
        "device_id,name,kind,location,tags,status\n\
         a-1,\"Name, with \"\"quotes\"\"\",pump,Zürich — Hall B,t1 site=x/y,\n\
         a-2,,,,,disabled\n\
         a-3,Retired,meter,,old,decommissioned\n",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let expected = registry(&source).await;
    let dir = tempfile::tempdir().unwrap();

    for format in [Format::Csv, Format::Ndjson] {
        let target = fresh_target(&source);
        let file = dir.path().join(format!("fleet-{format:?}"));
        let exported = export::run(&ExportArgs {
            format: Some(format),
            out: Some(file.clone()),
            target,
        })
        .await
        .expect("the export runs");
        assert_eq!(exported, 3);

        let fresh = spawn_app().await;
        let keys = dir.path().join(format!("keys-{format:?}.csv"));
        let imported = import::run(&ImportArgs {
            file: file.clone(),
            format: Some(format),
            keys_out: Some(keys.clone()),
            target: fresh_target(&fresh),
        })
        .await
        .expect("the exported file imports");
        assert_eq!(imported.imported, 3);
        assert_eq!(registry(&fresh).await, expected, "{format:?}");

        // Keys were generated anew and written once, readable by their owner only.
        let written = std::fs::read_to_string(&keys).unwrap();
        let a1 = written
            .lines()
            .find_map(|l| l.strip_prefix("a-1,"))
            .expect("a-1's key");
        assert_eq!(send_with(&fresh, "a-1", a1).await, StatusCode::CREATED);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&keys).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = import::run(&ImportArgs {
            file,
            format: Some(format),
            keys_out: None,
            target: fresh_target(&fresh),
        })
        .await;
        let refusal = again
            .expect_err("the devices are registered now")
            .to_string();
        assert!(refusal.contains("nothing was imported"), "{refusal}");
        fresh.stop().await;
    }
    source.stop().await;
}

fn fresh_target(app: &TestApp) -> Target {
    Target {
        target: app.base.clone(),
        admin_token: ADMIN_TOKEN.to_owned(),
    }
}
