//! The dispatcher: sends what the outbox holds. It claims due deliveries (leased, so another
//! dispatcher leaves them alone and a dead one's are due again once the lease runs out), posts each
//! in a task of its own with the Standard Webhooks headers, and records the attempt: delivered on a
//! 2xx, else tried again with backoff until the horizon, then failed. Every attempt of a message
//! carries the same `webhook-id`, so receivers drop the duplicates that at-least-once brings.
//!
//! A slow or dead receiver costs at most `per_channel` tasks and never delays another channel:
//! a claim takes at most that many of one channel, and passes over a channel while it has
//! attempts out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use watershed_domain::ports::{Notifications, WebhookTransport};
use watershed_domain::{AfterAttempt, Attempt, Backoff, DueDelivery};

#[derive(Debug, Clone, Copy)]
pub struct DispatchConfig {
    pub backoff: Backoff,
    /// How long a claim holds a delivery: longer than the transport's timeout, so that only a
    /// dispatcher that died lets it run out.
    pub lease: Duration,
    /// How often the outbox is looked at without a wake-up: deliveries enqueued by another
    /// process, retries coming due.
    pub poll: Duration,
    /// Attempts out at once to one channel.
    pub per_channel: usize,
    /// Attempts out at once in all.
    pub max_in_flight: usize,
}

impl DispatchConfig {
    /// The defaults for attempts that time out after `timeout`.
    pub fn with_timeout(timeout: Duration, backoff: Backoff) -> Self {
        Self {
            backoff,
            lease: timeout * 3,
            poll: Duration::from_millis(500),
            per_channel: 4,
            max_in_flight: 64,
        }
    }
}

pub struct Dispatcher {
    pub store: Arc<dyn Notifications>,
    pub transport: Arc<dyn WebhookTransport>,
    pub config: DispatchConfig,
    /// Woken by the notifier of this process when it enqueued something.
    pub enqueued: Arc<Notify>,
}

/// Attempts out, per channel.
type InFlight = Arc<Mutex<HashMap<Uuid, usize>>>;

impl Dispatcher {
    /// Runs until cancelled; attempts out then are dropped, and their leases run out.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let in_flight: InFlight = Arc::default();
        let mut attempts = JoinSet::new();
        loop {
            let (busy, room) = {
                let counts = in_flight.lock().expect("in-flight lock poisoned");
                // A channel with attempts out waits for all of them before its next claim: a
                // claim takes at most `per_channel` of a channel, so it never has more out.
                let busy: Vec<Uuid> = counts.keys().copied().collect();
                let out: usize = counts.values().sum();
                (busy, this.config.max_in_flight.saturating_sub(out))
            };
            if room > 0 {
                let now = Utc::now();
                let lease_until = now + chrono_duration(this.config.lease);
                let claimed = this
                    .store
                    .claim_due(now, lease_until, room, this.config.per_channel, &busy)
                    .await;
                match claimed {
                    Ok(due) => {
                        for delivery in due {
                            *in_flight
                                .lock()
                                .expect("in-flight lock poisoned")
                                .entry(delivery.channel_id)
                                .or_default() += 1;
                            let (this, in_flight) = (Arc::clone(&this), Arc::clone(&in_flight));
                            attempts.spawn(async move {
                                let channel = delivery.channel_id;
                                this.attempt(delivery).await;
                                let mut counts = in_flight.lock().expect("in-flight lock poisoned");
                                if let Some(n) = counts.get_mut(&channel) {
                                    *n -= 1;
                                    if *n == 0 {
                                        counts.remove(&channel);
                                    }
                                }
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = this.enqueued.notified() => {}
                _ = tokio::time::sleep(this.config.poll) => {}
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
            }
        }
    }

    /// Posts one delivery and records how it went.
    async fn attempt(&self, delivery: DueDelivery) {
        let at = Utc::now();
        let timestamp = at.timestamp();
        let message_id = delivery.message_id.to_string();
        let headers = [
            (
                "webhook-signature",
                delivery
                    .secret
                    .sign(&message_id, timestamp, delivery.body.as_bytes()),
            ),
            ("webhook-id", message_id),
            ("webhook-timestamp", timestamp.to_string()),
        ];
        let started = Instant::now();
        let posted = self
            .transport
            .post(&delivery.url, &headers, &delivery.body)
            .await;
        let duration = started.elapsed();
        metrics::histogram!("watershed_webhook_attempt_duration_seconds")
            .record(duration.as_secs_f64());
        let attempt = Attempt {
            at,
            status: posted.as_ref().ok().copied(),
            error: match &posted {
                Ok(status) if (200..300).contains(status) => None,
                Ok(status) => Some(format!("the receiver answered {status}")),
                Err(why) => Some(why.clone()),
            },
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        };
        let after = if attempt.succeeded() {
            AfterAttempt::Delivered
        } else {
            let made = delivery.attempts + 1;
            match self
                .config
                .backoff
                .next_attempt(made, delivery.since, Utc::now(), rand::random())
            {
                Some(next) => AfterAttempt::RetryAt(next),
                None => AfterAttempt::Failed(format!(
                    "gave up after {made} attempts over {} s; the last: {}",
                    (Utc::now() - delivery.since).num_seconds(),
                    attempt.error.as_deref().unwrap_or("no answer")
                )),
            }
        };
        let outcome = match &after {
            AfterAttempt::Delivered => "delivered",
            AfterAttempt::RetryAt(_) => "retrying",
            AfterAttempt::Failed(_) => "failed",
        };
        metrics::counter!("watershed_webhook_attempts_total", "outcome" => outcome).increment(1);
        if let AfterAttempt::Failed(why) = &after {
            tracing::warn!(message = %delivery.message_id, channel = %delivery.channel_id, "webhook delivery failed: {why}");
        }
        // If this write fails, the lease runs out and the delivery is sent again: at least once.
        if let Err(e) = self
            .store
            .record_attempt(delivery.id, &attempt, &after)
            .await
        {
            tracing::warn!(error = %e, delivery = delivery.id, "recording a webhook attempt failed");
        }
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
