//! One connected device, whichever MQTT version it speaks: who it is (from CONNECT), where it
//! may publish and subscribe, and what becomes of a PUBLISH — decided here, answered by `v3`/`v5`.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use ntex_bytes::{ByteString, Bytes};
use watershed_domain::DeviceId;
use watershed_http_edge::ApiError;

use super::sessions::{Close, Session};
use super::Gateway;
use crate::routes::readings::RecordReadings;

/// Why a CONNECT is refused; each version has its own codes for these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectRefusal {
    /// The client id is not a device id.
    ClientId,
    /// No password, an unknown device, not its key, or a bad or expired token (the same answer,
    /// so ids cannot be probed).
    Credentials,
    /// The credentials are right but the device may not send (disabled, decommissioned): why.
    NotAuthorized(String),
    /// The event store could not be asked.
    Unavailable,
}

/// What a PUBLISH came to.
#[derive(Debug)]
pub enum Verdict {
    /// Durable in the event store, appended now or found there by its batch id: acknowledge.
    Stored { replayed: bool },
    /// Refused for good (sending it again changes nothing): acknowledge, so the client does not
    /// resend it, and tell the device why on its error topic.
    Refused(ApiError),
    /// Not stored because something on our side failed: no acknowledgement, so that a QoS 1
    /// client publishes it again.
    NotStored(ApiError),
}

impl Verdict {
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Stored { replayed: false } => "accepted",
            Self::Stored { replayed: true } => "replayed",
            Self::Refused(_) => "refused",
            Self::NotStored(_) => "failed",
        }
    }
}

/// A session's state: lives on the ntex worker thread that serves the connection.
pub struct Device {
    gateway: Arc<Gateway>,
    id: DeviceId,
    /// The password of the CONNECT: the device key or a device token.
    presented: Arc<str>,
    readings_topic: String,
    errors_topic: ByteString,
    /// Errors are published only to a device that subscribed to its error topic.
    errors_subscribed: Cell<bool>,
    /// Set once the connection is acknowledged; the device's one session from then on.
    session: RefCell<Option<Session>>,
}

impl Device {
    /// The device a CONNECT names (client id) with the key or device token it presents
    /// (password).
    pub async fn connect(
        gateway: &Arc<Gateway>,
        client_id: &str,
        password: Option<&[u8]>,
    ) -> Result<Self, ConnectRefusal> {
        let id = DeviceId::parse(client_id).map_err(|_| ConnectRefusal::ClientId)?;
        let presented: Arc<str> = password
            .and_then(|p| std::str::from_utf8(p).ok())
            .ok_or(ConnectRefusal::Credentials)?
            .into();
        let (state, asked_id, asked) = (gateway.state.clone(), id.clone(), Arc::clone(&presented));
        let answer = gateway
            .runtime
            .spawn(async move { state.authenticate_sender(&asked_id, &asked).await })
            .await;
        match answer {
            Ok(Ok(_)) => Ok(Self {
                gateway: Arc::clone(gateway),
                readings_topic: format!("devices/{id}/readings"),
                errors_topic: ByteString::from(format!("devices/{id}/errors")),
                errors_subscribed: Cell::new(false),
                session: RefCell::new(None),
                id,
                presented,
            }),
            Ok(Err(e @ ApiError::Forbidden { .. })) => {
                Err(ConnectRefusal::NotAuthorized(e.to_string()))
            }
            Ok(Err(e)) if e.status().is_client_error() => Err(ConnectRefusal::Credentials),
            Ok(Err(_)) | Err(_) => Err(ConnectRefusal::Unavailable),
        }
    }

    /// Makes this connection the device's one session; an older one is closed with its `close`.
    pub fn take_over(&self, close: Close) {
        let session = Session::take_over(self.id.clone(), close);
        self.session.replace(Some(session));
    }

    /// Records the batch a PUBLISH carries, if it went to this device's readings topic.
    pub async fn receive(&self, topic: &str, payload: Bytes) -> Verdict {
        if topic != self.readings_topic {
            return Verdict::Refused(ApiError::Forbidden {
                code: "topic_not_allowed",
                message: format!(
                    "device {} publishes readings to {} only, not to {topic}",
                    self.id, self.readings_topic
                ),
            });
        }
        let (state, id) = (self.gateway.state.clone(), self.id.clone());
        let presented = Arc::clone(&self.presented);
        // The append runs on the application's runtime, where the store's connections live.
        let recorded = self
            .gateway
            .runtime
            .spawn(async move {
                // Checked again for each batch: a token expires, a key is replaced.
                let admission = state.authenticate(&id, &presented).await?;
                let body = watershed_http_edge::json::parse::<RecordReadings>(&payload)?;
                state.record(&id, admission, body, None).await
            })
            .await;
        let verdict = match recorded {
            Ok(Ok(recorded)) => Verdict::Stored {
                replayed: recorded.outcome.duplicate,
            },
            Ok(Err(e)) if e.status().is_server_error() => Verdict::NotStored(e),
            Ok(Err(e)) => Verdict::Refused(e),
            Err(joined) => Verdict::NotStored(ApiError::Internal(joined.to_string())),
        };
        metrics::counter!("watershed_mqtt_publishes_total", "outcome" => verdict.outcome())
            .increment(1);
        verdict
    }

    /// Whether a SUBSCRIBE to `filter` is granted: the device's own error topic, nothing else.
    pub fn subscribe(&self, filter: &str) -> bool {
        let granted = filter == self.errors_topic;
        if granted {
            self.errors_subscribed.set(true);
        }
        granted
    }

    pub fn unsubscribe(&self, filter: &str) {
        if filter == self.errors_topic {
            self.errors_subscribed.set(false);
        }
    }

    /// Tells the device why, on its error topic with the JSON error body HTTP would answer with,
    /// if it listens there. At most once: a lost message changes nothing.
    pub fn report<E: std::fmt::Debug>(
        &self,
        error: &ApiError,
        send: impl FnOnce(ByteString, Bytes) -> Result<(), E>,
    ) {
        if !self.errors_subscribed.get() {
            return;
        }
        let body = serde_json::to_vec(&error.body()).expect("an error body serialises");
        if let Err(e) = send(self.errors_topic.clone(), Bytes::from(body)) {
            tracing::debug!(error = ?e, "an error message was not sent to its device");
        }
    }
}
