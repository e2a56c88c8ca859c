//! The dispatcher against real receivers over HTTP: a receiver that never answers holds only its
//! own channel's few attempts, while another channel's deliveries all arrive.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use watershed_domain::ports::Notifications;
use watershed_domain::{
    AlertNotification, Backoff, DeviceId, Label, NewDelivery, NotificationType, RuleName, Severity,
    WebhookChannel, WebhookSecret, WebhookUrl,
};
use watershed_infra::{SqliteNotifications, WebhookClient};
use watershed_projectors::{DispatchConfig, Dispatcher};
use watershed_tests::eventually;

const MESSAGES: usize = 20;
const PER_CHANNEL: usize = 4;

/// Serves `path` on a free port, noting every request's `webhook-id`; `answer` decides the reply.
async fn receiver(hang: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&got);
    let app = Router::new().route(
        "/in",
        post(move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                seen.lock().unwrap().push(id);
                if hang {
                    std::future::pending::<()>().await;
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn channel(name: &str, url: &str) -> WebhookChannel {
    WebhookChannel {
        id: Uuid::now_v7(),
        name: Label::parse(name).unwrap(),
        url: WebhookUrl::parse(url).unwrap(),
        secret: WebhookSecret::from_bytes([9; 32]),
        severities: Default::default(),
        rules: Default::default(),
        enabled: true,
        created_at: Utc::now(),
    }
}

fn notification() -> AlertNotification {
    AlertNotification {
        message_id: Uuid::now_v7(),
        alert_id: Uuid::now_v7(),
        device_id: DeviceId::parse("dispatch-1").unwrap(),
        rule: RuleName::parse("too-hot").unwrap(),
        severity: Severity::Critical,
        kind: NotificationType::Raised,
        recorded_at: Utc::now(),
        body: r#"{"type":"alert.raised"}"#.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_only_its_own_channel() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteNotifications::open(&dir.path().join("notifications.db"))
            .await
            .unwrap(),
    );
    let (slow_url, slow) = receiver(true).await;
    let (fast_url, fast) = receiver(false).await;
    let (slow_channel, fast_channel) = (channel("slow", &slow_url), channel("fast", &fast_url));
    store.save_channel(&slow_channel).await.unwrap();
    store.save_channel(&fast_channel).await.unwrap();
    let deliveries: Vec<NewDelivery> = (0..MESSAGES)
        .map(|_| notification())
        .flat_map(|n| {
            [slow_channel.id, fast_channel.id].map(|channel_id| NewDelivery {
                channel_id,
                notification: n.clone(),
            })
        })
        .collect();
    store.enqueue(&deliveries).await.unwrap();

    let timeout = Duration::from_secs(60);
    let dispatcher = Dispatcher {
        store: Arc::clone(&store) as Arc<dyn Notifications>,
        transport: Arc::new(WebhookClient::new(timeout).unwrap()),
        config: DispatchConfig {
            per_channel: PER_CHANNEL,
            ..DispatchConfig::with_timeout(timeout, Backoff::DEFAULT)
        },
        enqueued: Arc::new(Notify::new()),
    };
    let stop = CancellationToken::new();
    tokio::spawn(dispatcher.run(stop.clone()));

    eventually(
        "every delivery to the answering channel",
        Duration::from_secs(30),
        || async { (fast.lock().unwrap().len() >= MESSAGES).then_some(()) },
    )
    .await;
    let fast_ids = fast.lock().unwrap().clone();
    let mut distinct = fast_ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), MESSAGES, "each message once: {fast_ids:?}");
    assert_eq!(
        slow.lock().unwrap().len(),
        PER_CHANNEL,
        "the hanging receiver gets its channel's few attempts, no more"
    );
    stop.cancel();
}
