//! Webhook deliveries over HTTP with reqwest: one client (pooled connections to every receiver),
//! a timeout per attempt so a receiver that never answers costs one slot for a bounded time, and
//! no redirects: a receiver that moved says so with its status, and the attempt is recorded.

use std::time::Duration;

use async_trait::async_trait;
use watershed_domain::ports::WebhookTransport;
use watershed_domain::WebhookUrl;

pub struct WebhookClient {
    client: reqwest::Client,
}

impl WebhookClient {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Watershed-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl WebhookTransport for WebhookClient {
    async fn post(
        &self,
        url: &WebhookUrl,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, String> {
        let mut request = self
            .client
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(|e| {
            // reqwest's top-level message hides the cause ("error sending request").
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                why = format!("{why}: {cause}");
                source = cause.source();
            }
            why
        })?;
        Ok(response.status().as_u16())
    }
}
