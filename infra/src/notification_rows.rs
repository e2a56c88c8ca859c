//! Rows of the notification store, shared by SQLite and PostgreSQL: both keep ids as UUID text and
//! instants as integer microseconds, so one mapping reads either.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use watershed_domain::ports::NotifyError;
use watershed_domain::{
    AfterAttempt, AlertNotification, Attempt, DeliveryRecord, DeliveryState, DeviceId, DueDelivery,
    Label, NotificationType, WebhookChannel, WebhookSecret, WebhookUrl,
};

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(us: i64) -> Result<DateTime<Utc>, NotifyError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt(format!("instant {us}")))
}

fn corrupt(what: impl std::fmt::Display) -> NotifyError {
    NotifyError::Corrupt(format!("unreadable {what}"))
}

fn uuid(text: &str) -> Result<Uuid, NotifyError> {
    text.parse().map_err(|_| corrupt(format!("id {text:?}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRow {
    pub id: String,
    pub name: String,
    pub url: String,
    pub secret: String,
    pub severities: String,
    pub rules: String,
    pub enabled: bool,
    pub created_at: i64,
}

impl ChannelRow {
    pub fn of(channel: &WebhookChannel) -> Self {
        Self {
            id: channel.id.to_string(),
            name: channel.name.to_string(),
            url: channel.url.as_str().to_owned(),
            secret: channel.secret.to_string(),
            severities: serde_json::to_string(&channel.severities).expect("plain names"),
            rules: serde_json::to_string(&channel.rules).expect("plain names"),
            enabled: channel.enabled,
            created_at: micros(channel.created_at),
        }
    }

    pub fn channel(self) -> Result<WebhookChannel, NotifyError> {
        let bad = |what: &str| corrupt(format!("{what} of channel {}", self.id));
        Ok(WebhookChannel {
            id: uuid(&self.id)?,
            name: Label::parse(self.name.as_str()).map_err(|_| bad("name"))?,
            url: WebhookUrl::parse(&self.url).map_err(|_| bad("url"))?,
            secret: WebhookSecret::parse(&self.secret).map_err(|_| bad("secret"))?,
            severities: serde_json::from_str(&self.severities).map_err(|_| bad("severities"))?,
            rules: serde_json::from_str(&self.rules).map_err(|_| bad("rules"))?,
            enabled: self.enabled,
            created_at: instant(self.created_at)?,
        })
    }
}

/// The columns of a new delivery, in insert order.
pub(crate) struct NewDeliveryRow {
    pub message_id: String,
    pub channel_id: String,
    pub alert_id: String,
    pub device_id: String,
    pub kind: &'static str,
    pub body: String,
    pub since: i64,
}

impl NewDeliveryRow {
    pub fn of(channel_id: Uuid, notification: &AlertNotification) -> Self {
        Self {
            message_id: notification.message_id.to_string(),
            channel_id: channel_id.to_string(),
            alert_id: notification.alert_id.to_string(),
            device_id: notification.device_id.to_string(),
            kind: notification.kind.as_str(),
            body: notification.body.clone(),
            since: micros(notification.recorded_at),
        }
    }
}

/// A claimed delivery joined with its channel.
#[derive(sqlx::FromRow)]
pub(crate) struct DueRow {
    pub id: i64,
    pub message_id: String,
    pub channel_id: String,
    pub url: String,
    pub secret: String,
    pub body: String,
    pub attempts: i64,
    pub since: i64,
}

impl DueRow {
    pub fn due(self) -> Result<DueDelivery, NotifyError> {
        let bad = |what: &str| corrupt(format!("{what} of delivery {}", self.id));
        Ok(DueDelivery {
            id: self.id,
            message_id: uuid(&self.message_id)?,
            channel_id: uuid(&self.channel_id)?,
            url: WebhookUrl::parse(&self.url).map_err(|_| bad("url"))?,
            secret: WebhookSecret::parse(&self.secret).map_err(|_| bad("secret"))?,
            body: self.body,
            attempts: u32::try_from(self.attempts).map_err(|_| bad("attempts"))?,
            since: instant(self.since)?,
        })
    }
}

/// What `record_attempt` writes to the delivery row.
pub(crate) struct AfterRow {
    pub state: &'static str,
    pub next_attempt_at: Option<i64>,
    pub failure: Option<String>,
}

impl AfterRow {
    pub fn of(after: &AfterAttempt) -> Self {
        let (state, next_attempt_at, failure) = match after {
            AfterAttempt::Delivered => (DeliveryState::Delivered, None, None),
            AfterAttempt::RetryAt(at) => (DeliveryState::Pending, Some(micros(*at)), None),
            AfterAttempt::Failed(why) => (DeliveryState::Failed, None, Some(why.clone())),
        };
        Self {
            state: state.as_str(),
            next_attempt_at,
            failure,
        }
    }
}

/// Why pending deliveries of a deleted channel failed.
pub(crate) const CHANNEL_DELETED: &str = "the channel was deleted";

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub id: i64,
    pub message_id: String,
    pub alert_id: String,
    pub channel_id: String,
    pub device_id: String,
    pub kind: String,
    pub state: String,
    pub created_at: i64,
    pub next_attempt_at: Option<i64>,
    pub failure: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    pub delivery_id: i64,
    pub at: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Deliveries with their attempts; `attempts` ordered by delivery, then attempt.
pub(crate) fn records(
    deliveries: Vec<DeliveryRow>,
    attempts: Vec<AttemptRow>,
) -> Result<Vec<DeliveryRecord>, NotifyError> {
    deliveries
        .into_iter()
        .map(|row| {
            let bad = |what: &str| corrupt(format!("{what} of delivery {}", row.id));
            Ok(DeliveryRecord {
                id: row.id,
                message_id: uuid(&row.message_id)?,
                alert_id: uuid(&row.alert_id)?,
                channel_id: uuid(&row.channel_id)?,
                device_id: DeviceId::parse(row.device_id.as_str()).map_err(|_| bad("device"))?,
                kind: NotificationType::from_name(&row.kind).ok_or_else(|| bad("kind"))?,
                state: DeliveryState::from_name(&row.state).ok_or_else(|| bad("state"))?,
                created_at: instant(row.created_at)?,
                next_attempt_at: row.next_attempt_at.map(instant).transpose()?,
                failure: row.failure,
                attempts: attempts
                    .iter()
                    .filter(|a| a.delivery_id == row.id)
                    .map(|a| {
                        Ok(Attempt {
                            at: instant(a.at)?,
                            status: a.status.and_then(|s| u16::try_from(s).ok()),
                            error: a.error.clone(),
                            duration_ms: u64::try_from(a.duration_ms).unwrap_or_default(),
                        })
                    })
                    .collect::<Result<_, NotifyError>>()?,
            })
        })
        .collect()
}
