//! What every live feed promises: a subscriber receives what is published after it subscribed, in
//! order.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use watershed_domain::ports::{LiveFeed, LiveUpdate};

use crate::events::{reading, unique_device};

pub async fn live_feed_contract(feed: Arc<dyn LiveFeed>) {
    let device = unique_device("live");
    let mut first = feed.subscribe().await;
    let mut second = feed.subscribe().await;
    let updates: Vec<LiveUpdate> = (1..=3)
        .map(|seq| LiveUpdate::Readings {
            device_id: device.clone(),
            stream_seq: seq,
            readings: vec![reading("temp", seq as f64, chrono::Utc::now())],
        })
        .collect();
    feed.publish(updates.clone()).await;
    for subscriber in [&mut first, &mut second] {
        let mut received = Vec::new();
        while received.len() < updates.len() {
            let next = tokio::time::timeout(Duration::from_secs(10), subscriber.next())
                .await
                .expect("published updates arrive")
                .expect("the feed stays open");
            if matches!(&next, LiveUpdate::Readings { device_id, .. } if *device_id == device) {
                received.push(next);
            }
        }
        assert_eq!(received, updates);
    }
}
