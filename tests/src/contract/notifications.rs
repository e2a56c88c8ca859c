//! The notification store's contract: channels, an outbox that never holds a delivery twice,
//! leases that hide a claimed delivery until they run out, and attempt records.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use watershed_domain::ports::Notifications;
use watershed_domain::{
    AfterAttempt, AlertNotification, Attempt, DeliveryState, DeviceId, Label, NewDelivery,
    NotificationType, RuleName, Severity, WebhookChannel, WebhookSecret, WebhookUrl,
};

fn channel(name: &str, created_at: DateTime<Utc>) -> WebhookChannel {
    WebhookChannel {
        id: Uuid::now_v7(),
        name: Label::parse(name).unwrap(),
        url: WebhookUrl::parse(&format!("https://hooks.example.com/{name}")).unwrap(),
        secret: WebhookSecret::from_bytes([name.len() as u8; 32]),
        severities: [Severity::Critical, Severity::Major].into(),
        rules: [RuleName::parse("too-hot").unwrap()].into(),
        enabled: true,
        created_at,
    }
}

fn notification(alert_id: Uuid, kind: NotificationType) -> AlertNotification {
    AlertNotification {
        message_id: Uuid::now_v7(),
        alert_id,
        device_id: DeviceId::parse("notify-contract-1").unwrap(),
        rule: RuleName::parse("too-hot").unwrap(),
        severity: Severity::Critical,
        kind,
        recorded_at: Utc::now() - Duration::seconds(5),
        body: format!(r#"{{"type":"{}","n":"é"}}"#, kind.as_str()),
    }
}

fn attempt(status: Option<u16>, error: Option<&str>) -> Attempt {
    Attempt {
        at: Utc::now(),
        status,
        error: error.map(str::to_owned),
        duration_ms: 12,
    }
}

pub async fn notifications_contract(store: Arc<dyn Notifications>) {
    let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    assert!(store.channels().await.unwrap().is_empty());

    // Channels: created, listed oldest first, replaced by id.
    let ops = channel("ops", t0);
    let mut audit = channel("audit", t0 + Duration::seconds(1));
    store.save_channel(&audit).await.unwrap();
    store.save_channel(&ops).await.unwrap();
    assert_eq!(
        store.channels().await.unwrap(),
        vec![ops.clone(), audit.clone()]
    );
    audit.enabled = false;
    audit.severities.clear();
    store.save_channel(&audit).await.unwrap();
    assert_eq!(
        store.channels().await.unwrap(),
        vec![ops.clone(), audit.clone()]
    );

    // The outbox: a delivery enqueued twice is held once.
    let alert = Uuid::now_v7();
    let raised = notification(alert, NotificationType::Raised);
    let to_ops = NewDelivery {
        channel_id: ops.id,
        notification: raised.clone(),
    };
    let to_audit = NewDelivery {
        channel_id: audit.id,
        notification: raised.clone(),
    };
    store.enqueue(&[to_ops.clone(), to_audit]).await.unwrap();
    store.enqueue(std::slice::from_ref(&to_ops)).await.unwrap();
    let records = store.deliveries_of_alert(alert).await.unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r.state == DeliveryState::Pending));
    assert_eq!(records[0].message_id, raised.message_id);
    assert_eq!(records[0].device_id, raised.device_id);
    assert_eq!(records[0].kind, NotificationType::Raised);

    // Claims: only enabled channels, not busy ones, and a claimed delivery is hidden until its
    // lease runs out.
    let now = Utc::now();
    let lease = now + Duration::seconds(30);
    assert!(store
        .claim_due(now, lease, 10, 10, &[ops.id])
        .await
        .unwrap()
        .is_empty());
    let claimed = store.claim_due(now, lease, 10, 10, &[]).await.unwrap();
    assert_eq!(claimed.len(), 1, "the disabled channel's delivery waits");
    let due = &claimed[0];
    assert_eq!(due.channel_id, ops.id);
    assert_eq!(due.message_id, raised.message_id);
    assert_eq!(due.body, raised.body, "the body comes back byte for byte");
    assert_eq!(due.url, ops.url);
    assert_eq!(due.secret, ops.secret);
    assert_eq!(due.attempts, 0);
    assert_eq!(
        due.since.timestamp_micros(),
        raised.recorded_at.timestamp_micros()
    );
    assert!(store
        .claim_due(now, lease, 10, 10, &[])
        .await
        .unwrap()
        .is_empty());
    let after_lease = lease + Duration::seconds(1);
    let again = store
        .claim_due(
            after_lease,
            after_lease + Duration::seconds(30),
            10,
            10,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "a lease that ran out frees the delivery");

    // Attempts: a failure reschedules, a success ends it.
    let retry_at = after_lease + Duration::seconds(2);
    store
        .record_attempt(
            due.id,
            &attempt(Some(503), None),
            &AfterAttempt::RetryAt(retry_at),
        )
        .await
        .unwrap();
    assert!(store
        .claim_due(after_lease, after_lease, 10, 10, &[])
        .await
        .unwrap()
        .is_empty());
    let retried = store
        .claim_due(retry_at, retry_at + Duration::seconds(30), 10, 10, &[])
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);
    store
        .record_attempt(due.id, &attempt(Some(204), None), &AfterAttempt::Delivered)
        .await
        .unwrap();
    let far = retry_at + Duration::days(2);
    assert!(store
        .claim_due(far, far, 10, 10, &[])
        .await
        .unwrap()
        .is_empty());
    let ops_record = store
        .deliveries_of_alert(alert)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.channel_id == ops.id)
        .unwrap();
    assert_eq!(ops_record.state, DeliveryState::Delivered);
    assert_eq!(ops_record.next_attempt_at, None);
    let statuses: Vec<_> = ops_record.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(204)]);

    // The clear of the same alert is another message, listed with the raise.
    let cleared = notification(alert, NotificationType::Cleared);
    store
        .enqueue(&[NewDelivery {
            channel_id: ops.id,
            notification: cleared.clone(),
        }])
        .await
        .unwrap();
    let clear = store.claim_due(far, far, 10, 10, &[]).await.unwrap();
    assert_eq!(clear.len(), 1);
    store
        .record_attempt(
            clear[0].id,
            &attempt(None, Some("connection refused")),
            &AfterAttempt::Failed("gave up after 1 attempt".to_owned()),
        )
        .await
        .unwrap();
    let records = store.deliveries_of_alert(alert).await.unwrap();
    assert_eq!(records.len(), 3);
    let failed = records
        .iter()
        .find(|r| r.message_id == cleared.message_id)
        .unwrap();
    assert_eq!(failed.state, DeliveryState::Failed);
    assert_eq!(failed.failure.as_deref(), Some("gave up after 1 attempt"));
    assert_eq!(
        failed.attempts[0].error.as_deref(),
        Some("connection refused")
    );
    assert_eq!(failed.attempts[0].status, None);
    assert_eq!(failed.attempts[0].duration_ms, 12);

    // Deleting a channel fails what it still had pending.
    assert!(store.delete_channel(audit.id).await.unwrap());
    assert!(!store.delete_channel(audit.id).await.unwrap());
    assert_eq!(store.channels().await.unwrap(), vec![ops.clone()]);
    let orphan = store
        .deliveries_of_alert(alert)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.channel_id == audit.id)
        .unwrap();
    assert_eq!(orphan.state, DeliveryState::Failed);
    assert!(orphan.failure.unwrap().contains("deleted"));
    assert!(store
        .deliveries_of_alert(Uuid::now_v7())
        .await
        .unwrap()
        .is_empty());

    // A claim takes at most `per_channel` of one channel; the rest wait for the next.
    let burst = channel("burst", t0 + Duration::seconds(2));
    store.save_channel(&burst).await.unwrap();
    let three: Vec<NewDelivery> = (0..3)
        .map(|_| NewDelivery {
            channel_id: burst.id,
            notification: notification(Uuid::now_v7(), NotificationType::Raised),
        })
        .collect();
    store.enqueue(&three).await.unwrap();
    let later = far + Duration::seconds(1);
    let lease = later + Duration::seconds(30);
    let first = store.claim_due(later, lease, 10, 2, &[]).await.unwrap();
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.iter().all(|d| d.channel_id == burst.id));
    let second = store.claim_due(later, lease, 10, 2, &[]).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(!first.iter().any(|d| d.id == second[0].id));
}
