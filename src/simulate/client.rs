//! The simulator's HTTP side: registering devices and sending batches, retrying what the server
//! says may be retried. A resent batch keeps its batch id, so a retry never stores it twice.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use watershed_domain::Reading;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{status}: {body}")]
    Refused { status: StatusCode, body: String },
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: usize, last: String },
}

/// Tries of one batch before it counts as failed, on either transport.
pub(super) const MAX_ATTEMPTS: usize = 10;

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    admin_token: String,
}

#[derive(Serialize)]
struct RegisterBody<'a> {
    device_id: &'a str,
    name: String,
    kind: &'a str,
    location: String,
}

#[derive(Deserialize)]
struct KeyIssued {
    device_key: String,
}

#[derive(Serialize)]
struct BatchBody<'a> {
    batch_id: &'a str,
    readings: &'a [Reading],
}

/// A batch as both transports send it. Bytes, so a retry re-sends the same buffer without
/// copying it.
pub(super) fn batch_body(batch_id: &str, readings: &[Reading]) -> bytes::Bytes {
    bytes::Bytes::from(
        serde_json::to_vec(&BatchBody { batch_id, readings })
            .expect("readings serialize: finite numbers, string keys"),
    )
}

impl ApiClient {
    pub fn new(base: &str, admin_token: &str, connections: usize) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client builds");
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            admin_token: admin_token.to_owned(),
        }
    }

    /// Registers the device and returns its key; when it exists (a restart), issues a new key.
    pub async fn enroll(&self, device_id: &str, index: usize) -> Result<String, ClientError> {
        let body = RegisterBody {
            device_id,
            name: format!("Simulated sensor {}", index + 1),
            kind: "environment",
            location: format!("Hall {}", (b'A' + (index % 4) as u8) as char),
        };
        let registered = self
            .send(|| {
                self.http
                    .post(format!("{}/v1/devices", self.base))
                    .bearer_auth(&self.admin_token)
                    .json(&body)
            })
            .await;
        let response = match registered {
            Err(ClientError::Refused { status, .. }) if status == StatusCode::CONFLICT => {
                self.send(|| {
                    self.http
                        .post(format!("{}/v1/devices/{device_id}/key", self.base))
                        .bearer_auth(&self.admin_token)
                })
                .await?
            }
            other => other?,
        };
        let issued: KeyIssued = response.json().await.map_err(|e| ClientError::GaveUp {
            attempts: 1,
            last: e.to_string(),
        })?;
        Ok(issued.device_key)
    }

    /// Sends one batch; returns how long the accepted attempt took.
    pub async fn send_batch(
        &self,
        device_id: &str,
        key: &str,
        batch_id: &str,
        readings: &[Reading],
    ) -> Result<Duration, ClientError> {
        let body = batch_body(batch_id, readings);
        let url = format!("{}/v1/devices/{device_id}/readings", self.base);
        let started = Instant::now();
        self.send(|| {
            self.http
                .post(&url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body.clone())
        })
        .await?;
        Ok(started.elapsed())
    }

    /// Sends, retrying connection failures, 429 and 5xx with backoff; other statuses are final.
    async fn send(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut wait = Duration::from_millis(50);
        let mut last = String::new();
        for _ in 0..MAX_ATTEMPTS {
            match request().send().await {
                Ok(r) if r.status().is_success() => return Ok(r),
                Ok(r)
                    if r.status() == StatusCode::TOO_MANY_REQUESTS
                        || r.status().is_server_error() =>
                {
                    last = r.status().to_string();
                }
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    return Err(ClientError::Refused { status, body });
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
        Err(ClientError::GaveUp {
            attempts: MAX_ATTEMPTS,
            last,
        })
    }
}
