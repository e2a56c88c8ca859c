//! `spawn_app`: the real embedded application on a free port with its own data directory, and a
//! typed client for it. Stopping keeps the directory, so a test can start again on the same data.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use watershed::app::{App, AppConfig};
use watershed_http_edge::ApiToken;

use crate::eventually;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123";
pub const READ_TOKEN: &str = "test-read-token-0123";
pub const ANALYST_TOKEN: &str = "test-analyst-token-0123";

pub struct TestApp {
    pub base: String,
    /// The devices' MQTT gateway, when the config serves one.
    pub mqtt: Option<std::net::SocketAddr>,
    pub http: reqwest::Client,
    data: TempDir,
    stop: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

/// Starts the application on a fresh data directory.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(tempfile::tempdir().expect("creating a temporary data directory")).await
}

/// Starts the application on `data` (a directory a stopped app left behind).
pub async fn spawn_app_on(data: TempDir) -> TestApp {
    spawn_configured(data, |_| {}).await
}

/// Starts the application on `data`, with `configure` changing the config first.
pub async fn spawn_app_on_with(data: TempDir, configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    spawn_configured(data, configure).await
}

/// Starts the application on a fresh data directory, with `configure` changing the config first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    let data = tempfile::tempdir().expect("creating a temporary data directory");
    spawn_configured(data, configure).await
}

async fn spawn_configured(data: TempDir, configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    let mut config = AppConfig::ephemeral(data.path(), ADMIN_TOKEN, READ_TOKEN);
    config.analyst_token =
        Some(ApiToken::parse("analyst", ANALYST_TOKEN).expect("a test's analyst token is valid"));
    configure(&mut config);
    let app = App::build(config).await.expect("the application starts");
    let base = format!("http://{}", app.address());
    let mqtt = app.mqtt_address();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped({
        let stop = stop.clone();
        async move { stop.cancelled().await }
    }));
    TestApp {
        base,
        mqtt,
        http: reqwest::Client::new(),
        data,
        stop,
        server,
    }
}

impl TestApp {
    /// Stops gracefully and hands back the data directory.
    pub async fn stop(self) -> TempDir {
        self.stop.cancel();
        self.server
            .await
            .expect("the server task does not panic")
            .expect("the server stops cleanly");
        self.data
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers a device with the admin token and returns its key.
    pub async fn register(&self, device_id: &str) -> String {
        let response = self
            .http
            .post(self.url("/v1/devices"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "device_id": device_id, "name": format!("Device {device_id}"), "location": "Lab" }))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("JSON body");
        body["device_key"].as_str().expect("a key").to_owned()
    }

    /// Posts a raw JSON body as a device's readings.
    pub async fn post_readings(&self, device_id: &str, key: &str, body: &Value) -> Response {
        self.http
            .post(self.url(&format!("/v1/devices/{device_id}/readings")))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("the API answers")
    }

    /// Posts a body exactly as given (for JSON that `serde_json::Value` cannot hold).
    pub async fn post_raw(&self, device_id: &str, key: &str, body: &str) -> Response {
        self.http
            .post(self.url(&format!("/v1/devices/{device_id}/readings")))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("the API answers")
    }

    /// GET with the read-only token; returns status and JSON body.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(READ_TOKEN)
            .send()
            .await
            .expect("the API answers");
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }

    /// Downloads `/v1/history?{query}` with `token`: the status, and the lines as JSON.
    pub async fn history(&self, query: &str, token: &str) -> (StatusCode, Vec<Value>) {
        let response = self
            .http
            .get(self.url(&format!("/v1/history?{query}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers");
        let status = response.status();
        let body = response.text().await.expect("the whole download");
        let lines = body
            .lines()
            .map(|line| serde_json::from_str(line).expect("every line is JSON"))
            .collect();
        (status, lines)
    }

    /// Opens the live stream with the read token in the query, as a browser's EventSource does.
    pub async fn open_live_stream(&self) -> Response {
        self.http
            .get(self.url(&format!("/v1/stream?access_token={READ_TOKEN}")))
            .send()
            .await
            .expect("the API answers")
    }

    /// Waits until the read models contain every stored event.
    pub async fn wait_until_projected(&self) {
        eventually(
            "projections to catch up",
            Duration::from_secs(30),
            || async {
                let (_, status) = self.get("/v1/status").await;
                (status["lag_events"] == 0).then_some(())
            },
        )
        .await
    }
}
