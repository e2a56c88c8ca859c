//! What every bus promises its consumers: every stored event, in per-device order, resuming after
//! a given position, and waiting (not failing) while there is nothing new.

use std::sync::Arc;
use std::time::Duration;

use watershed_domain::event::ExpectedVersion;
use watershed_domain::ports::{EventBus, EventStore};
use watershed_domain::RecordedEvent;

use crate::events::{new_event, readings, registered, unique_device};

/// `store` is where events are appended; `bus` must deliver them.
pub async fn event_bus_contract(store: Arc<dyn EventStore>, bus: Arc<dyn EventBus>) {
    let start = store.head_position().await.unwrap();
    let d = unique_device("bus");
    let mut events = vec![new_event(&registered(), None)];
    events.extend((0..20).map(|i| new_event(&readings(&format!("b{i}"), vec![]), None)));
    store
        .append(&d, ExpectedVersion::NoStream, events)
        .await
        .unwrap();

    let mut subscription = bus.subscribe("contract", start).await.unwrap();
    let mut seen: Vec<RecordedEvent> = Vec::new();
    while seen.iter().filter(|e| e.stream_id == d).count() < 21 {
        let batch = tokio::time::timeout(Duration::from_secs(10), subscription.next_batch(7))
            .await
            .expect("stored events are delivered")
            .unwrap();
        assert!(
            !batch.is_empty() && batch.len() <= 7,
            "batches respect max: {}",
            batch.len()
        );
        seen.extend(batch);
    }
    subscription.commit().await.unwrap();
    let seqs: Vec<u64> = seen
        .iter()
        .filter(|e| e.stream_id == d)
        .map(|e| e.stream_seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=21).collect::<Vec<_>>(),
        "per-device order, nothing missing"
    );

    // Waiting with nothing new is not an error, and an append wakes the consumer.
    let waiting = tokio::spawn(async move { subscription.next_batch(100).await });
    store
        .append(
            &d,
            ExpectedVersion::Exactly(21),
            vec![new_event(&readings("late", vec![]), None)],
        )
        .await
        .unwrap();
    let late = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("a waiting consumer wakes")
        .unwrap()
        .unwrap();
    assert!(late.iter().any(|e| e.stream_id == d && e.stream_seq == 22));

    // Resuming after a position skips what came before it.
    let resume_after = seen
        .iter()
        .find(|e| e.stream_id == d && e.stream_seq == 10)
        .unwrap()
        .position;
    let mut resumed = bus.subscribe("contract", resume_after).await.unwrap();
    let batch = resumed.next_batch(100).await.unwrap();
    let first_of_ours = batch.iter().find(|e| e.stream_id == d).unwrap();
    assert_eq!(first_of_ours.stream_seq, 11);
}
