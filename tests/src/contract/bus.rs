//! What every bus promises its consumer groups: every stored event, in per-device order, batches
//! no larger than asked, waiting (not failing) while there is nothing new, resuming after the last
//! commit, and a backlog that counts what the group has not committed. The suite needs the store
//! and the bus to itself; `store` is where events are appended, and whatever carries them to the
//! bus (a relay) runs beside it.

use std::sync::Arc;
use std::time::Duration;

use watershed_domain::event::ExpectedVersion;
use watershed_domain::ports::{EventBus, EventStore, EventSubscription};
use watershed_domain::{DeviceId, RecordedEvent};

use crate::events::{new_event, readings, registered, seqs_of, unique_device};

const PATIENCE: Duration = Duration::from_secs(20);

pub async fn event_bus_contract(store: Arc<dyn EventStore>, bus: Arc<dyn EventBus>) {
    let group = format!("contract-{}", uuid::Uuid::now_v7());
    let d = unique_device("bus");
    let mut events = vec![new_event(&registered(), None)];
    events.extend((0..20).map(|i| new_event(&readings(&format!("b{i}"), vec![]), None)));
    store
        .append(&d, ExpectedVersion::NoStream, events)
        .await
        .unwrap();

    let mut subscription = bus.subscribe(&group).await.unwrap();
    let seen = read_until(&mut *subscription, &d, 21, 7).await;
    assert_eq!(
        seqs_of(&seen, &d),
        (1..=21).collect::<Vec<_>>(),
        "per-device order, nothing missing, nothing twice"
    );
    subscription.commit().await.unwrap();
    let after_commit = eventually_backlog(&*bus, &group, 0).await;
    assert_eq!(after_commit.oldest_recorded_at, None);

    // Waiting with nothing new is not an error, and an append wakes the consumer.
    let waiting = tokio::spawn(async move {
        let batch = subscription.next_batch(100).await;
        (subscription, batch)
    });
    append_one(&*store, &d, 21, "late").await;
    let (mut subscription, late) = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("a waiting consumer wakes")
        .unwrap();
    assert_eq!(seqs_of(&late.unwrap(), &d), vec![22]);
    assert_eq!(
        eventually_backlog(&*bus, &group, 1).await.events,
        1,
        "read but not committed"
    );
    subscription.commit().await.unwrap();
    drop(subscription);

    // A new subscription of the same group resumes after the last commit.
    append_one(&*store, &d, 22, "after-restart").await;
    let mut resumed = bus.subscribe(&group).await.unwrap();
    let again = read_until(&mut *resumed, &d, 1, 100).await;
    assert_eq!(seqs_of(&again, &d), vec![23]);
}

async fn append_one(store: &dyn EventStore, d: &DeviceId, version: u64, batch: &str) {
    store
        .append(
            d,
            ExpectedVersion::Exactly(version),
            vec![new_event(&readings(batch, vec![]), None)],
        )
        .await
        .unwrap();
}

/// Reads batches of at most `max` until `count` events of `d` arrived; returns everything read.
async fn read_until(
    subscription: &mut dyn EventSubscription,
    d: &DeviceId,
    count: usize,
    max: usize,
) -> Vec<RecordedEvent> {
    let mut seen: Vec<RecordedEvent> = Vec::new();
    while seen.iter().filter(|e| e.stream_id == *d).count() < count {
        let batch = tokio::time::timeout(PATIENCE, subscription.next_batch(max))
            .await
            .expect("stored events are delivered")
            .unwrap();
        assert!(
            !batch.is_empty() && batch.len() <= max,
            "batches respect max: {}",
            batch.len()
        );
        seen.extend(batch);
    }
    seen
}

/// The group's backlog once it reads `events` (a bus may publish its offsets a moment late).
async fn eventually_backlog(
    bus: &dyn EventBus,
    group: &str,
    events: u64,
) -> watershed_domain::ports::Backlog {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let backlog = bus.backlog(group, 1000).await.unwrap();
        if backlog.events == events || tokio::time::Instant::now() > deadline {
            assert_eq!(backlog.events, events, "{backlog:?}");
            return backlog;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
