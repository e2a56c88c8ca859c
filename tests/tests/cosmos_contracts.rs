//! The Cosmos DB event store passes the event-store and change-feed contracts against the SDK's
//! in-memory emulator, and keeps what only Cosmos DB can break: no partial appends, no split
//! appends on the feed, leases that outlive a client.

use std::sync::Arc;

use watershed_domain::event::{AppendOutcome, ExpectedVersion};
use watershed_domain::ports::{ChangeFeed, EventStore, FeedCursor, StoreError, StreamQuery};
use watershed_domain::DeviceId;
use watershed_infra::{CosmosEmulator, CosmosEventStore};
use watershed_tests::contract::{change_feed, event_store};
use watershed_tests::events::{new_event, readings, registered, unique_device};

async fn fresh_store() -> Arc<CosmosEventStore> {
    Arc::new(CosmosEmulator::new().event_store().await.unwrap())
}

async fn register(store: &dyn EventStore, device: &DeviceId) {
    store
        .append(
            device,
            ExpectedVersion::NoStream,
            vec![new_event(&registered(), None)],
        )
        .await
        .unwrap();
}

fn seqs(outcome: &AppendOutcome) -> Vec<u64> {
    match outcome {
        AppendOutcome::Appended(c) => c.iter().map(|c| c.stream_seq).collect(),
        AppendOutcome::Duplicate(c) => panic!("expected an append, got duplicate {c:?}"),
    }
}

#[tokio::test]
async fn cosmos_event_store_keeps_the_event_store_contract() {
    event_store::event_store_contract(fresh_store().await).await;
}

#[tokio::test]
async fn cosmos_event_store_keeps_the_change_feed_contract() {
    let store = fresh_store().await;
    change_feed::change_feed_contract(store.clone(), store).await;
}

#[tokio::test]
async fn a_stale_append_from_another_client_leaves_no_partial_items() {
    let emulator = CosmosEmulator::new();
    let (one, other) = (
        emulator.event_store().await.unwrap(),
        emulator.event_store().await.unwrap(),
    );
    let d = unique_device("partial");
    register(&one, &d).await;
    let stale = other
        .append(
            &d,
            ExpectedVersion::NoStream,
            vec![
                new_event(&registered(), Some("k-1")),
                new_event(&readings("b", vec![]), None),
            ],
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { actual: 1, .. })),
        "{stale:?}"
    );
    let stored = one.read_stream(&d, StreamQuery::from(1, 10)).await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    // The refused batch's key was not kept either: it still appends.
    let retried = other
        .append(
            &d,
            ExpectedVersion::Exactly(1),
            vec![new_event(&readings("b", vec![]), Some("k-1"))],
        )
        .await
        .unwrap();
    assert_eq!(seqs(&retried), vec![2]);
    assert_eq!(other.stream_version(&d).await.unwrap(), 2);
}

#[tokio::test]
async fn a_writer_ahead_of_the_stream_conflicts_instead_of_leaving_a_gap() {
    let store = fresh_store().await;
    let d = unique_device("ahead");
    register(&*store, &d).await;
    let ahead = store
        .append(
            &d,
            ExpectedVersion::Exactly(2),
            vec![new_event(&readings("x", vec![]), None)],
        )
        .await;
    assert!(
        matches!(
            ahead,
            Err(StoreError::Conflict {
                expected: 2,
                actual: 1,
                ..
            })
        ),
        "{ahead:?}"
    );
    let seqs: Vec<u64> = store
        .read_stream(&d, StreamQuery::from(1, 10))
        .await
        .unwrap()
        .iter()
        .map(|e| e.stream_seq)
        .collect();
    assert_eq!(seqs, vec![1]);
}

#[tokio::test]
async fn an_append_is_never_split_across_feed_pages() {
    let store = fresh_store().await;
    let d = unique_device("whole");
    let events = std::iter::once(new_event(&registered(), None))
        .chain((0..11).map(|i| new_event(&readings(&format!("w{i}"), vec![]), None)))
        .collect();
    store
        .append(&d, ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    let page = store
        .read_changes(&FeedCursor::beginning(), 1)
        .await
        .unwrap();
    let seqs: Vec<u64> = page.events.iter().map(|e| e.stream_seq).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
    assert!(page.events.iter().all(|e| e.position == 0));
}

#[tokio::test]
async fn an_empty_read_keeps_the_cursor_it_was_given() {
    let store = fresh_store().await;
    let page = store
        .read_changes(&FeedCursor::beginning(), 10)
        .await
        .unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.next, FeedCursor::beginning());
}

#[tokio::test]
async fn feed_cursors_live_in_the_lease_container_and_outlive_the_client() {
    let emulator = CosmosEmulator::new();
    let first = emulator.event_store().await.unwrap();
    let (a, b) = (unique_device("lease-a"), unique_device("lease-b"));
    register(&first, &a).await;
    let page = first
        .read_changes(&FeedCursor::beginning(), 10)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    first.save_cursor("relay", &page.next).await.unwrap();
    register(&first, &b).await;
    drop(first);

    let second = emulator.event_store().await.unwrap();
    let resumed = second.load_cursor("relay").await.unwrap();
    assert_eq!(resumed, page.next);
    let rest = second.read_changes(&resumed, 10).await.unwrap();
    let streams: Vec<&DeviceId> = rest.events.iter().map(|e| &e.stream_id).collect();
    assert_eq!(streams, vec![&b], "resumes after what was confirmed");
    assert_eq!(
        second.load_cursor("never-saved").await.unwrap(),
        FeedCursor::beginning()
    );
    assert!(matches!(
        second
            .read_changes(&FeedCursor("not-a-token".into()), 1)
            .await,
        Err(StoreError::Corrupt(_))
    ));
}
