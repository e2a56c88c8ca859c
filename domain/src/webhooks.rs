//! Webhook notifications of alerts, pure: channels and what they hear of, the message each alert
//! transition becomes, the Standard Webhooks signature (<https://www.standardwebhooks.com>) and the
//! retry schedule. The notifier in `projectors` turns alert events into deliveries with these; the
//! dispatcher sends them.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::alert::Severity;
use crate::event::{DecodeError, DeviceEvent, RecordedEvent};
use crate::ids::{DeviceId, Label, RuleName};
use crate::validation::ValidationError;

/// The shared secret of a channel, as Standard Webhooks writes it: `whsec_` and the base64 key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    const PREFIX: &'static str = "whsec_";
    /// The spec's bounds on the key: 24 to 64 bytes.
    const MIN_BYTES: usize = 24;
    const MAX_BYTES: usize = 64;

    /// A secret of these key bytes (random ones, for a new channel).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes.to_vec())
    }

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = |why: &str| ValidationError::new("secret", why.to_owned());
        let encoded = text
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| invalid("must start with whsec_"))?;
        let key = BASE64
            .decode(encoded)
            .map_err(|_| invalid("must be whsec_ followed by base64"))?;
        if !(Self::MIN_BYTES..=Self::MAX_BYTES).contains(&key.len()) {
            return Err(invalid("the key must be 24 to 64 bytes"));
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` header value for one attempt: HMAC-SHA256 over
    /// `{id}.{timestamp}.{body}`, base64, versioned `v1`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Display for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", Self::PREFIX, BASE64.encode(&self.0))
    }
}

/// Never the key itself: channels end up in logs.
impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// Where a channel posts: an absolute http or https URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    const MAX_LEN: usize = 2048;

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = |why: String| ValidationError::new("url", why);
        if text.len() > Self::MAX_LEN {
            return Err(invalid(format!("at most {} characters", Self::MAX_LEN)));
        }
        let url = url::Url::parse(text).map_err(|e| invalid(format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid(
                "must be an http or https URL with a host".to_owned(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "must not carry credentials; receivers verify the signature instead".to_owned(),
            ));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Where and which alert transitions are posted.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookChannel {
    pub id: Uuid,
    pub name: Label,
    pub url: WebhookUrl,
    pub secret: WebhookSecret,
    /// Empty: every severity.
    pub severities: BTreeSet<Severity>,
    /// Empty: every rule.
    pub rules: BTreeSet<RuleName>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl WebhookChannel {
    /// Whether this channel is sent `notification`.
    pub fn wants(&self, notification: &AlertNotification) -> bool {
        self.enabled
            && (self.severities.is_empty() || self.severities.contains(&notification.severity))
            && (self.rules.is_empty() || self.rules.contains(&notification.rule))
    }
}

/// What an alert transition is called in a delivery's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NotificationType {
    #[serde(rename = "alert.raised")]
    Raised,
    #[serde(rename = "alert.cleared")]
    Cleared,
    #[serde(rename = "alert.acknowledged")]
    Acknowledged,
}

impl NotificationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raised => "alert.raised",
            Self::Cleared => "alert.cleared",
            Self::Acknowledged => "alert.acknowledged",
        }
    }

    /// The inverse of [`NotificationType::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Raised, Self::Cleared, Self::Acknowledged]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// One alert transition as receivers get it. Its `message_id` is the alert event's id, so every
/// attempt, after any restart, carries the same `webhook-id`: receivers deduplicate on it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNotification {
    pub message_id: Uuid,
    /// The event id of the `AlertRaised` that opened the alert.
    pub alert_id: Uuid,
    pub device_id: DeviceId,
    pub rule: RuleName,
    pub severity: Severity,
    pub kind: NotificationType,
    /// When the transition was recorded: old ones are not worth sending.
    pub recorded_at: DateTime<Utc>,
    /// The JSON body, the same bytes on every attempt.
    pub body: String,
}

impl AlertNotification {
    /// The notification an alert event makes; `None` for every other event.
    pub fn of(event: &RecordedEvent) -> Option<Result<Self, DecodeError>> {
        if !matches!(
            event.event_type.as_str(),
            "AlertRaised"
                | "AlertCleared"
                | "AlertClearedManually"
                | "AlertRetired"
                | "AlertAcknowledged"
        ) {
            return None;
        }
        Some(event.decode().map(|decoded| {
            let id = event.meta.event_id;
            let (kind, alert_id, rule, severity, body) = match &decoded {
                DeviceEvent::AlertRaised(raised) => (
                    NotificationType::Raised,
                    id,
                    &raised.rule,
                    raised.severity,
                    Self::body(event, NotificationType::Raised, id, raised.severity, raised),
                ),
                DeviceEvent::AlertCleared(cleared) => {
                    // A clear recorded before clears named their alert is its own alert.
                    let alert_id = cleared.alert_id.unwrap_or(id);
                    (
                        NotificationType::Cleared,
                        alert_id,
                        &cleared.rule,
                        cleared.severity,
                        Self::body(
                            event,
                            NotificationType::Cleared,
                            alert_id,
                            cleared.severity,
                            cleared,
                        ),
                    )
                }
                DeviceEvent::AlertClearedManually(cleared) => (
                    NotificationType::Cleared,
                    cleared.alert_id,
                    &cleared.rule,
                    cleared.severity,
                    Self::body(
                        event,
                        NotificationType::Cleared,
                        cleared.alert_id,
                        cleared.severity,
                        cleared,
                    ),
                ),
                DeviceEvent::AlertRetired(retired) => (
                    NotificationType::Cleared,
                    retired.alert_id,
                    &retired.rule,
                    retired.severity,
                    Self::body(
                        event,
                        NotificationType::Cleared,
                        retired.alert_id,
                        retired.severity,
                        retired,
                    ),
                ),
                DeviceEvent::AlertAcknowledged(ack) => (
                    NotificationType::Acknowledged,
                    ack.alert_id,
                    &ack.rule,
                    ack.severity,
                    Self::body(
                        event,
                        NotificationType::Acknowledged,
                        ack.alert_id,
                        ack.severity,
                        ack,
                    ),
                ),
                _ => unreachable!("the event type was checked above"),
            };
            Self {
                message_id: id,
                alert_id,
                device_id: event.stream_id.clone(),
                rule: rule.clone(),
                severity,
                kind,
                recorded_at: event.meta.recorded_at,
                body,
            }
        }))
    }

    /// The body: Standard Webhooks' recommended `{type, timestamp, data}` envelope, `data` being
    /// the event's payload with the alert, device and place in the stream.
    fn body<T: Serialize>(
        event: &RecordedEvent,
        kind: NotificationType,
        alert_id: Uuid,
        severity: Severity,
        payload: &T,
    ) -> String {
        let mut data = serde_json::to_value(payload).expect("alert payloads are plain data");
        let fields = data
            .as_object_mut()
            .expect("event payloads are JSON objects");
        fields.insert("alert_id".to_owned(), serde_json::json!(alert_id));
        fields.insert("device_id".to_owned(), serde_json::json!(event.stream_id));
        fields.insert("stream_seq".to_owned(), serde_json::json!(event.stream_seq));
        // Stored payloads leave the default severity out; receivers always get it.
        fields.insert("severity".to_owned(), serde_json::json!(severity));
        serde_json::json!({
            "type": kind.as_str(),
            "timestamp": event.meta.recorded_at,
            "data": data,
        })
        .to_string()
    }
}

/// When a failed delivery is tried again: exponential backoff from `first`, capped at `max`, with
/// up to ±20 % jitter so that receivers coming back are not hit by every sender at once, and given
/// up once the next attempt would fall past `give_up_after` from the transition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub give_up_after: Duration,
}

impl Backoff {
    pub const DEFAULT: Self = Self {
        first: Duration::from_secs(1),
        max: Duration::from_secs(600),
        give_up_after: Duration::from_secs(24 * 3600),
    };

    /// The next attempt after `attempts` failed ones, or `None` to give up. `jitter` is uniform in
    /// [0, 1): the caller's randomness, so that this stays a function.
    pub fn next_attempt(
        &self,
        attempts: u32,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let doubling = attempts.saturating_sub(1).min(30);
        let base = self.first.saturating_mul(1 << doubling).min(self.max);
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let delay = chrono::Duration::from_std(base.mul_f64(factor)).ok()?;
        let next = now + delay;
        let horizon = since + chrono::Duration::from_std(self.give_up_after).ok()?;
        (next <= horizon).then_some(next)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryState {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Given up: the horizon passed, or the channel was deleted.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// Where an attempt leaves its delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// Given up, for this reason.
    Failed(String),
}

/// One try at posting a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why the attempt failed, when it did.
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A delivery to be made: one notification to one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub channel_id: Uuid,
    pub notification: AlertNotification,
}

/// A delivery claimed for sending, with where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub id: i64,
    pub message_id: Uuid,
    pub channel_id: Uuid,
    pub url: WebhookUrl,
    pub secret: WebhookSecret,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the transition was recorded: the backoff's horizon counts from here.
    pub since: DateTime<Utc>,
}

/// A delivery as operators see it, with every attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub message_id: Uuid,
    pub alert_id: Uuid,
    pub channel_id: Uuid,
    pub device_id: DeviceId,
    pub kind: NotificationType,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why it was given up, when it was.
    pub failure: Option<String>,
    pub attempts: Vec<Attempt>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventMeta;
    use crate::{AlertCleared, AlertRaised, Condition, SensorName, Value};

    /// The example in the Standard Webhooks specification's reference implementations.
    #[test]
    fn signatures_match_the_reference_implementations() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(secret.to_string(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn bad_secrets_and_urls_are_named() {
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_***",
            "whsec_c2hvcnQ=",
        ] {
            assert_eq!(
                WebhookSecret::parse(bad).unwrap_err().field,
                "secret",
                "{bad}"
            );
        }
        for bad in [
            "ftp://example.com/x",
            "/relative",
            "http://user:pw@example.com/",
            "mailto:ops@example.com",
        ] {
            assert_eq!(WebhookUrl::parse(bad).unwrap_err().field, "url", "{bad}");
        }
        assert!(WebhookUrl::parse("https://hooks.example.com/watershed?team=ops").is_ok());
    }

    fn channel(severities: &[Severity], rules: &[&str], enabled: bool) -> WebhookChannel {
        WebhookChannel {
            id: Uuid::now_v7(),
            name: Label::parse("ops").unwrap(),
            url: WebhookUrl::parse("https://hooks.example.com/in").unwrap(),
            secret: WebhookSecret::from_bytes([7; 32]),
            severities: severities.iter().copied().collect(),
            rules: rules.iter().map(|r| RuleName::parse(*r).unwrap()).collect(),
            enabled,
            created_at: Utc::now(),
        }
    }

    fn recorded(event: DeviceEvent, seq: u64) -> RecordedEvent {
        let now = Utc::now();
        RecordedEvent {
            position: seq,
            stream_id: DeviceId::parse("pump-1").unwrap(),
            stream_seq: seq,
            event_type: event.event_type().to_owned(),
            schema_version: 1,
            meta: EventMeta {
                event_id: Uuid::now_v7(),
                occurred_at: now,
                recorded_at: now,
                correlation_id: None,
                causation_id: None,
            },
            payload: event.encode_payload(),
        }
    }

    fn raised(severity: Severity) -> RecordedEvent {
        recorded(
            DeviceEvent::AlertRaised(AlertRaised {
                rule: RuleName::parse("too-hot").unwrap(),
                sensor: SensorName::parse("temperature").unwrap(),
                condition: Condition::Above,
                threshold: 30.0,
                value: Value::try_from(31.5).unwrap(),
                unit: None,
                message: None,
                measured_at: Utc::now(),
                severity,
            }),
            7,
        )
    }

    #[test]
    fn alert_events_become_notifications_and_others_do_not() {
        let event = raised(Severity::Critical);
        let raise = AlertNotification::of(&event).unwrap().unwrap();
        assert_eq!(raise.kind, NotificationType::Raised);
        assert_eq!(raise.message_id, event.meta.event_id);
        assert_eq!(raise.alert_id, event.meta.event_id);
        let body: serde_json::Value = serde_json::from_str(&raise.body).unwrap();
        assert_eq!(body["type"], "alert.raised");
        assert_eq!(body["data"]["device_id"], "pump-1");
        assert_eq!(body["data"]["value"], 31.5);
        assert_eq!(body["data"]["severity"], "critical");
        assert_eq!(body["data"]["stream_seq"], 7);

        let clear = recorded(
            DeviceEvent::AlertCleared(AlertCleared {
                rule: RuleName::parse("too-hot").unwrap(),
                sensor: SensorName::parse("temperature").unwrap(),
                alert_id: Some(event.meta.event_id),
                severity: Severity::Critical,
                value: Value::try_from(20.0).unwrap(),
                unit: None,
                measured_at: Utc::now(),
            }),
            8,
        );
        let cleared = AlertNotification::of(&clear).unwrap().unwrap();
        assert_eq!(cleared.kind, NotificationType::Cleared);
        assert_eq!(cleared.alert_id, event.meta.event_id);
        assert_ne!(cleared.message_id, raise.message_id);
        assert_eq!(
            cleared.body.matches("\"alert_id\"").count(),
            1,
            "each key once: {}",
            cleared.body
        );

        let ack = recorded(
            DeviceEvent::AlertAcknowledged(crate::event::AlertAcknowledged {
                alert_id: event.meta.event_id,
                rule: RuleName::parse("too-hot").unwrap(),
                severity: Severity::Critical,
                by: Label::parse("Ana").unwrap(),
                note: None,
            }),
            9,
        );
        let acked = AlertNotification::of(&ack).unwrap().unwrap();
        assert_eq!(acked.kind, NotificationType::Acknowledged);
        assert_eq!(acked.alert_id, event.meta.event_id);
        let body: serde_json::Value = serde_json::from_str(&acked.body).unwrap();
        assert_eq!(body["type"], "alert.acknowledged");
        assert_eq!(body["data"]["by"], "Ana");

        let readings = recorded(
            DeviceEvent::Decommissioned(crate::event::DeviceDecommissioned { reason: None }),
            10,
        );
        assert!(AlertNotification::of(&readings).is_none());
    }

    #[test]
    fn channels_hear_of_their_severities_and_rules_only() {
        let critical = AlertNotification::of(&raised(Severity::Critical))
            .unwrap()
            .unwrap();
        let minor = AlertNotification::of(&raised(Severity::Minor))
            .unwrap()
            .unwrap();
        let ops = channel(&[Severity::Critical], &[], true);
        assert!(ops.wants(&critical));
        assert!(!ops.wants(&minor));
        assert!(
            channel(&[], &[], true).wants(&minor),
            "no filter: everything"
        );
        assert!(!channel(&[], &["humid"], true).wants(&critical));
        assert!(channel(&[], &["humid", "too-hot"], true).wants(&critical));
        assert!(!channel(&[], &[], false).wants(&critical));
    }

    #[test]
    fn backoff_doubles_with_jitter_caps_and_gives_up_past_the_horizon() {
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3600),
        };
        let since = Utc::now();
        let delay = |attempts, jitter| {
            (backoff
                .next_attempt(attempts, since, since, jitter)
                .unwrap()
                - since)
                .num_milliseconds()
        };
        assert_eq!(delay(1, 0.5), 1000);
        assert_eq!(delay(2, 0.5), 2000);
        assert_eq!(delay(4, 0.5), 8000);
        assert_eq!(delay(4, 0.0), 6400);
        assert_eq!(delay(4, 0.75), 8800);
        assert_eq!(delay(40, 0.5), 60_000, "capped at max");
        let late = since + chrono::Duration::seconds(3590);
        assert!(backoff.next_attempt(5, since, late, 0.5).is_none());
        assert!(backoff.next_attempt(1, since, late, 0.5).is_some());
    }
}
