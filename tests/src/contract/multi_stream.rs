//! What a store that appends across streams promises (a bulk import relies on it): every part,
//! gap-free after what each stream holds, or none at all.

use std::sync::Arc;

use watershed_domain::event::ExpectedVersion;
use watershed_domain::ports::{EventStore, MultiStreamAppend, StoreError, StreamAppend};
use watershed_domain::DeviceId;

use crate::events::{new_event, readings, register, registered, unique_device};

pub async fn multi_stream_contract(store: Arc<dyn EventStore>) {
    let parts = store
        .multi_stream()
        .expect("the store appends across streams");
    every_part_is_appended_after_what_its_stream_holds(&*store, parts).await;
    one_stale_part_writes_no_part(&*store, parts).await;
    a_stored_idempotency_key_in_one_part_writes_no_part(&*store, parts).await;
}

fn new_stream(device: &DeviceId) -> StreamAppend {
    StreamAppend {
        stream: device.clone(),
        expected: ExpectedVersion::NoStream,
        events: vec![
            new_event(&registered(), None),
            new_event(&readings("first", vec![]), None),
        ],
    }
}

async fn versions(store: &dyn EventStore, devices: &[&DeviceId]) -> Vec<u64> {
    let mut versions = Vec::new();
    for device in devices {
        versions.push(store.stream_version(device).await.unwrap());
    }
    versions
}

async fn every_part_is_appended_after_what_its_stream_holds(
    store: &dyn EventStore,
    parts: &dyn MultiStreamAppend,
) {
    let (a, b, known) = (
        unique_device("multi-a"),
        unique_device("multi-b"),
        unique_device("multi-known"),
    );
    register(store, &known).await;
    let committed = parts
        .append_streams(vec![
            new_stream(&a),
            StreamAppend {
                stream: known.clone(),
                expected: ExpectedVersion::Exactly(1),
                events: vec![new_event(&readings("later", vec![]), None)],
            },
            new_stream(&b),
        ])
        .await
        .expect("every part is appended");
    let seqs: Vec<Vec<u64>> = committed
        .iter()
        .map(|part| part.iter().map(|c| c.stream_seq).collect())
        .collect();
    assert_eq!(seqs, vec![vec![1, 2], vec![2], vec![1, 2]]);
    assert_eq!(versions(store, &[&a, &known, &b]).await, vec![2, 2, 2]);
}

async fn one_stale_part_writes_no_part(store: &dyn EventStore, parts: &dyn MultiStreamAppend) {
    let (a, taken, c) = (
        unique_device("multi-a"),
        unique_device("multi-taken"),
        unique_device("multi-c"),
    );
    register(store, &taken).await;
    let refused = parts
        .append_streams(vec![new_stream(&a), new_stream(&taken), new_stream(&c)])
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict { stream, expected: 0, actual: 1 }) if *stream == taken),
        "{refused:?}"
    );
    assert_eq!(versions(store, &[&a, &taken, &c]).await, vec![0, 1, 0]);
}

async fn a_stored_idempotency_key_in_one_part_writes_no_part(
    store: &dyn EventStore,
    parts: &dyn MultiStreamAppend,
) {
    let (a, keyed) = (unique_device("multi-a"), unique_device("multi-keyed"));
    register(store, &keyed).await;
    let batch = |key| new_event(&readings("b-1", vec![]), Some(key));
    store
        .append(&keyed, ExpectedVersion::Exactly(1), vec![batch("b-1")])
        .await
        .expect("the first batch is stored");
    let refused = parts
        .append_streams(vec![
            new_stream(&a),
            StreamAppend {
                stream: keyed.clone(),
                expected: ExpectedVersion::Exactly(2),
                events: vec![batch("b-1")],
            },
        ])
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict { stream, .. }) if *stream == keyed),
        "{refused:?}"
    );
    assert_eq!(versions(store, &[&a, &keyed]).await, vec![0, 2]);
}
