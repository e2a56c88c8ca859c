//! The Cosmos DB event store passes the event-store and change-feed contracts against the SDK's
//! in-memory emulator, and keeps what only Cosmos DB can break: no partial appends, no split
//! appends on the feed, leases that outlive a client, and retries that neither give up early nor
//! answer a conflict for an append that landed.

use std::sync::Arc;

use azure_data_cosmos::fault_injection::{
    CustomResponseBuilder, FaultInjectionCondition, FaultInjectionConditionBuilder,
    FaultInjectionErrorType, FaultInjectionResultBuilder, FaultInjectionRuleBuilder,
    FaultOperationType,
};
use watershed_domain::event::{AppendOutcome, ExpectedVersion};
use watershed_domain::ports::{ChangeFeed, EventStore, FeedCursor, StoreError, StreamQuery};
use watershed_domain::DeviceId;
use watershed_infra::cosmos::client_builder;
use watershed_infra::{CosmosEmulator, CosmosEventStore, StoreTailBus};
use watershed_tests::contract::{bus, change_feed, event_store, extremes, history};
use watershed_tests::events::{new_event, readings, register, registered, unique_device};

async fn fresh_store() -> Arc<CosmosEventStore> {
    Arc::new(CosmosEmulator::new().event_store().await.unwrap())
}

/// Only the requests that carry appends.
fn batches() -> FaultInjectionCondition {
    FaultInjectionConditionBuilder::new()
        .with_operation_type(FaultOperationType::BatchItem)
        .build()
}

/// A rule that answers append batches with `error`; the caller may limit its hits.
fn on_batches(id: &str, error: FaultInjectionErrorType) -> FaultInjectionRuleBuilder {
    let result = FaultInjectionResultBuilder::new().with_error(error).build();
    FaultInjectionRuleBuilder::new(id, result).with_condition(batches())
}

/// What came of an append made through a client that met a fault rule.
struct Attempt {
    outcome: Result<AppendOutcome, StoreError>,
    /// How many requests the rule answered.
    hits: u32,
    /// The stream's version afterwards, as a client without faults reads it.
    version: u64,
}

/// Registers a device, then appends `count` readings at version 1 through a second client of
/// the same account, one that meets `rule`.
async fn append_despite(rule: FaultInjectionRuleBuilder, count: usize) -> Attempt {
    let emulator = CosmosEmulator::new();
    let plain = emulator.event_store().await.unwrap();
    let d = unique_device("faulty");
    register(&plain, &d).await;
    let rule = Arc::new(rule.build());
    let builder = client_builder()
        .with_fault_injection_rules(vec![Arc::clone(&rule)])
        .unwrap();
    let client = emulator.client(builder).await.unwrap();
    let faulty = CosmosEventStore::open(&client, CosmosEmulator::DATABASE)
        .await
        .unwrap();
    let events = (0..count)
        .map(|i| new_event(&readings(&format!("f{i}"), vec![]), None))
        .collect();
    let outcome = faulty.append(&d, ExpectedVersion::Exactly(1), events).await;
    Attempt {
        outcome,
        hits: rule.hit_count(),
        version: plain.stream_version(&d).await.unwrap(),
    }
}

fn seqs(outcome: &AppendOutcome) -> Vec<u64> {
    match outcome {
        AppendOutcome::Appended(c) => c.iter().map(|c| c.stream_seq).collect(),
        other => panic!("expected an append, got {other:?}"),
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
async fn cosmos_event_store_keeps_the_history_contract() {
    let store = fresh_store().await;
    history::history_contract(store.clone(), store).await;
}

#[tokio::test]
async fn the_embedded_bus_on_the_cosmos_change_feed_keeps_the_bus_contract() {
    let store = fresh_store().await;
    let bus = Arc::new(StoreTailBus::new(store.clone()));
    bus::event_bus_contract(store, bus).await;
}

#[tokio::test]
async fn cosmos_event_store_carries_the_extremes() {
    extremes::event_store_carries_extremes(&*fresh_store().await).await;
}

#[tokio::test]
async fn alerts_are_decided_once_on_cosmos_db() {
    let store = fresh_store().await;
    let bus = Arc::new(StoreTailBus::new(store.clone()));
    watershed_tests::alerting::alert_evaluator_scenario(store, bus).await;
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
        Err(StoreError::BadCursor(_))
    ));
}

#[tokio::test]
async fn a_throttled_append_is_retried_by_the_sdk_and_lands_once() {
    let attempt = append_despite(
        on_batches("429-twice", FaultInjectionErrorType::TooManyRequests).with_hit_limit(2),
        1,
    )
    .await;
    assert_eq!(seqs(&attempt.outcome.unwrap()), vec![2]);
    assert_eq!((attempt.hits, attempt.version), (2, 2));
}

#[tokio::test]
async fn throttling_that_outlasts_the_retry_budget_is_unavailable_and_writes_nothing() {
    let attempt = append_despite(
        on_batches("429-always", FaultInjectionErrorType::TooManyRequests),
        1,
    )
    .await;
    assert!(
        matches!(attempt.outcome, Err(StoreError::Unavailable(_))),
        "{:?}",
        attempt.outcome
    );
    assert!(attempt.hits > 1, "the SDK retried before giving up");
    assert_eq!(attempt.version, 1);
}

#[tokio::test]
async fn a_batch_throttled_inside_a_207_answer_is_retried_by_the_store() {
    // What the service answers when one operation of a batch is throttled: 207, that operation
    // 429 with its retry-after, the others 424. The SDK hands this back as a success.
    let throttled_op = CustomResponseBuilder::new(207.into())
        .with_body(
            br#"[{"statusCode":424},{"statusCode":429,"substatusCode":3200,"retryAfterMilliseconds":5},{"statusCode":424}]"#
                .to_vec(),
        )
        .build();
    let rule = FaultInjectionRuleBuilder::new(
        "207-429",
        FaultInjectionResultBuilder::new()
            .with_custom_response(throttled_op)
            .build(),
    )
    .with_condition(batches())
    .with_hit_limit(2);
    let attempt = append_despite(rule, 1).await;
    assert_eq!(seqs(&attempt.outcome.unwrap()), vec![2]);
    assert_eq!((attempt.hits, attempt.version), (2, 2));
}

#[tokio::test]
async fn an_append_whose_answer_was_lost_is_acknowledged_not_reported_as_a_conflict() {
    // The batch commits, its answer is lost, and the SDK sends it again: the second try meets
    // the first try's events.
    let attempt = append_despite(
        on_batches(
            "lost-answer",
            FaultInjectionErrorType::ResponseTimeoutAfterService,
        )
        .with_hit_limit(1),
        2,
    )
    .await;
    assert_eq!(seqs(&attempt.outcome.unwrap()), vec![2, 3]);
    assert_eq!((attempt.hits, attempt.version), (1, 3));
}
