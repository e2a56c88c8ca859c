//! The `park` policy end to end over one bus: a poison in the middle of the fleet's events parks
//! its device (and that device's later events) while the other devices are projected; a retry
//! still fails while the cause remains; skipping the poison lets the device's parked events in.
//! Run over the embedded bus and Kafka.

use std::sync::Arc;

use chrono::Utc;
use watershed_domain::event::ExpectedVersion;
use watershed_domain::ports::{EventBus, EventStore, ReadModel, StreamQuery};
use watershed_domain::{DeviceId, NewEvent, PoisonPolicy, RecordedEvent};
use watershed_infra::{BroadcastLiveFeed, MemoryDeviceCache};
use watershed_projectors::{DeadLetterDesk, DeadLetterError, Projector, ProjectorConfig};

use crate::events::{new_event, reading, readings, register, unique_device};

/// A projector under the `park` policy, with a fresh consumer group.
pub fn parking_projector(bus: Arc<dyn EventBus>, read_model: Arc<dyn ReadModel>) -> Projector {
    Projector {
        bus,
        read_model,
        cache: Arc::new(MemoryDeviceCache::default()),
        live: Arc::new(BroadcastLiveFeed::default()),
        // Without the store a missing event is a gap, which these contracts park.
        store: None,
        config: ProjectorConfig {
            group: format!("park-{}", uuid::Uuid::now_v7()),
            poison: PoisonPolicy::Park,
            ..ProjectorConfig::default()
        },
    }
}

pub fn desk(store: Arc<dyn EventStore>, read_model: Arc<dyn ReadModel>) -> DeadLetterDesk {
    DeadLetterDesk {
        read_model,
        cache: Arc::new(MemoryDeviceCache::default()),
        store: Some(store),
        raw_retention: chrono::Duration::hours(48),
    }
}

/// A `ReadingsRecorded` whose payload this version cannot read.
pub fn undecodable() -> NewEvent {
    let mut event = new_event(&readings("poison", vec![]), None);
    event.payload = r#"{"batch_id":"poison","readings":"not a list"}"#.to_owned();
    event
}

/// Appends one batch of one reading to `device`'s stream at `version`.
pub async fn append_reading(store: &dyn EventStore, device: &DeviceId, version: u64, v: f64) {
    let batch = readings(&format!("b{version}"), vec![reading("t", v, Utc::now())]);
    store
        .append(
            device,
            ExpectedVersion::Exactly(version),
            vec![new_event(&batch, None)],
        )
        .await
        .expect("appending a batch");
}

/// Every event of `device`, as the store holds them.
pub async fn stream_of(store: &dyn EventStore, device: &DeviceId) -> Vec<RecordedEvent> {
    store
        .read_stream(device, StreamQuery::from(1, 1000))
        .await
        .expect("reading the stream")
}

/// Where the read models stand for `device`.
pub async fn position(read_model: &dyn ReadModel, device: &DeviceId) -> u64 {
    let positions = read_model
        .stream_positions(std::slice::from_ref(device))
        .await
        .expect("positions");
    positions.get(device).copied().unwrap_or(0)
}

/// Over the embedded bus (the store's change feed): the projector's step function is called
/// directly, batch by batch, until both devices' events were seen.
pub async fn parked_poison_waits_and_the_fleet_flows(
    store: Arc<dyn EventStore>,
    bus: Arc<dyn EventBus>,
    read_model: Arc<dyn ReadModel>,
) {
    let (sick, well) = (unique_device("sick"), unique_device("well"));
    register(&*store, &sick).await;
    register(&*store, &well).await;
    store
        .append(&sick, ExpectedVersion::Exactly(1), vec![undecodable()])
        .await
        .unwrap();
    append_reading(&*store, &sick, 2, 1.0).await;
    append_reading(&*store, &well, 1, 2.0).await;

    let projector = parking_projector(bus, Arc::clone(&read_model));
    let mut subscription = projector.subscribe().await.unwrap();
    let mut seen = 0;
    while seen < 5 {
        let batch = subscription.next_batch(2).await.unwrap();
        seen += batch.len();
        projector
            .apply(&batch)
            .await
            .expect("parking never fails the batch");
        subscription.commit().await.unwrap();
    }
    assert_eq!(position(&*read_model, &well).await, 2, "the fleet flows on");
    assert_eq!(
        position(&*read_model, &sick).await,
        1,
        "the poison's device waits"
    );
    let letters = read_model.dead_letters(Some(&sick)).await.unwrap();
    let seqs: Vec<Option<u64>> = letters.iter().map(|l| l.parked.stream_seq).collect();
    assert_eq!(seqs, vec![Some(2), Some(3)]);
    assert!(
        letters[0].parked.error.contains("malformed"),
        "{}",
        letters[0].parked.error
    );
    assert!(letters[1].parked.error.contains("waiting behind"));

    let desk = desk(Arc::clone(&store), Arc::clone(&read_model));
    let again = desk.retry(letters[1].id).await;
    assert!(
        matches!(again, Err(DeadLetterError::StillFailing { .. })),
        "the cause is still there: {again:?}"
    );
    assert!(matches!(
        desk.skip(letters[1].id).await,
        Err(DeadLetterError::NotNext {
            seq: 3,
            applied: 1,
            ..
        })
    ));
    let skipped = desk.skip(letters[0].id).await.unwrap();
    assert_eq!((skipped.applied, skipped.resolved), (1, 2));
    assert_eq!(position(&*read_model, &sick).await, 3);
    assert!(read_model.dead_letters(None).await.unwrap().is_empty());
    assert_eq!(
        stream_of(&*store, &sick).await.len(),
        3,
        "history keeps the poison"
    );
}
