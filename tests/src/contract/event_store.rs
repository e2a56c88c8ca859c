//! What every event store promises: optimistic concurrency, gap-free sequences, idempotent
//! appends and filtered stream reads. Tailing every stream is the change feed's contract.

use std::sync::Arc;

use chrono::Utc;
use watershed_domain::event::{AppendOutcome, ExpectedVersion};
use watershed_domain::ports::{EventStore, StoreError, StreamQuery};
use watershed_domain::{BatchId, Device, DeviceId, IdempotencyKey};

use crate::events::{new_event, reading, readings, register, registered, unique_device};

pub async fn event_store_contract(store: Arc<dyn EventStore>) {
    appends_number_events_gap_free(&*store).await;
    a_stale_expected_version_conflicts_and_writes_nothing(&*store).await;
    a_repeated_idempotency_key_answers_with_the_first_event(&*store).await;
    a_key_reused_for_a_different_event_is_refused_and_recalled(&*store).await;
    racing_writers_on_one_version_have_exactly_one_winner(Arc::clone(&store)).await;
    racing_identical_idempotent_appends_store_one_event(Arc::clone(&store)).await;
    stream_reads_filter_by_type_and_page(&*store).await;
}

fn appended(outcome: AppendOutcome) -> Vec<u64> {
    match outcome {
        AppendOutcome::Appended(c) => c.iter().map(|c| c.stream_seq).collect(),
        other => panic!("expected an append, got {other:?}"),
    }
}

async fn appends_number_events_gap_free(store: &dyn EventStore) {
    let d = unique_device("gapfree");
    assert_eq!(store.stream_version(&d).await.unwrap(), 0);
    let first = store
        .append(
            &d,
            ExpectedVersion::NoStream,
            vec![new_event(&registered(), None)],
        )
        .await
        .unwrap();
    assert_eq!(appended(first), vec![1]);
    let batch = vec![
        new_event(&readings("a", vec![]), None),
        new_event(&readings("b", vec![]), None),
    ];
    let next = store
        .append(&d, ExpectedVersion::Exactly(1), batch)
        .await
        .unwrap();
    assert_eq!(appended(next), vec![2, 3]);
    assert_eq!(store.stream_version(&d).await.unwrap(), 3);
    let all = store
        .read_stream(&d, StreamQuery::from(1, 100))
        .await
        .unwrap();
    let seqs: Vec<u64> = all.iter().map(|e| e.stream_seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(all[0].event_type, "DeviceRegistered");
    assert!(all[0].decode().is_ok(), "stored payloads decode");
}

async fn a_stale_expected_version_conflicts_and_writes_nothing(store: &dyn EventStore) {
    let d = unique_device("conflict");
    register(store, &d).await;
    let again = store
        .append(
            &d,
            ExpectedVersion::NoStream,
            vec![new_event(&registered(), None)],
        )
        .await;
    assert!(
        matches!(
            again,
            Err(StoreError::Conflict {
                expected: 0,
                actual: 1,
                ..
            })
        ),
        "{again:?}"
    );
    let ahead = store
        .append(
            &d,
            ExpectedVersion::Exactly(5),
            vec![new_event(&readings("x", vec![]), None)],
        )
        .await;
    assert!(
        matches!(ahead, Err(StoreError::Conflict { actual: 1, .. })),
        "{ahead:?}"
    );
    assert_eq!(store.stream_version(&d).await.unwrap(), 1);
}

async fn a_repeated_idempotency_key_answers_with_the_first_event(store: &dyn EventStore) {
    let d = unique_device("idem");
    register(store, &d).await;
    let batch = readings("batch-1", vec![]);
    let first = store
        .append(
            &d,
            ExpectedVersion::Exactly(1),
            vec![new_event(&batch, Some("batch-1"))],
        )
        .await
        .unwrap();
    let AppendOutcome::Appended(first) = first else {
        panic!("first append must store");
    };
    // Even with a stale expected version, a known key answers with the stored event.
    let repeat = store
        .append(
            &d,
            ExpectedVersion::Exactly(1),
            vec![new_event(&batch, Some("batch-1"))],
        )
        .await
        .unwrap();
    assert_eq!(repeat, AppendOutcome::Duplicate(first[0].clone()));
    assert_eq!(store.stream_version(&d).await.unwrap(), 2);

    // Keys are per stream: another device may use the same batch id.
    let other = unique_device("idem-other");
    let there = store
        .append(
            &other,
            ExpectedVersion::NoStream,
            vec![new_event(&batch, Some("batch-1"))],
        )
        .await
        .unwrap();
    assert_eq!(appended(there), vec![1]);
}

async fn racing_writers_on_one_version_have_exactly_one_winner(store: Arc<dyn EventStore>) {
    let d = unique_device("race");
    register(&*store, &d).await;
    let attempts = (0..8).map(|i| {
        let store = Arc::clone(&store);
        let d = d.clone();
        tokio::spawn(async move {
            store
                .append(
                    &d,
                    ExpectedVersion::Exactly(1),
                    vec![new_event(&readings(&format!("r{i}"), vec![]), None)],
                )
                .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let winners = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(StoreError::Conflict { .. }))))
        .count();
    assert_eq!((winners, conflicts), (1, 7));
    assert_eq!(store.stream_version(&d).await.unwrap(), 2);
}

async fn racing_identical_idempotent_appends_store_one_event(store: Arc<dyn EventStore>) {
    let d = unique_device("idem-race");
    register(&*store, &d).await;
    let attempts = (0..8).map(|_| {
        let store = Arc::clone(&store);
        let d = d.clone();
        tokio::spawn(async move {
            let batch = readings("same", vec![]);
            store
                .append(
                    &d,
                    ExpectedVersion::Exactly(1),
                    vec![new_event(&batch, Some("same"))],
                )
                .await
        })
    });
    let results: Vec<AppendOutcome> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let stored: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            AppendOutcome::Appended(c) => Some(c[0].clone()),
            _ => None,
        })
        .collect();
    assert_eq!(stored.len(), 1, "exactly one append stores: {results:?}");
    for r in &results {
        if let AppendOutcome::Duplicate(c) = r {
            assert_eq!(c, &stored[0]);
        }
    }
    assert_eq!(store.stream_version(&d).await.unwrap(), 2);
}

async fn a_key_reused_for_a_different_event_is_refused_and_recalled(store: &dyn EventStore) {
    let d = unique_device("reuse");
    register(store, &d).await;
    let key = IdempotencyKey::batch(&BatchId::parse("b-7").unwrap());
    assert_eq!(store.recall(&d, &key).await.unwrap(), None);
    let first = readings("b-7", vec![reading("t", 1.0, Utc::now())]);
    let stored = appended(
        store
            .append(&d, ExpectedVersion::Exactly(1), vec![keyed(&first, &key)])
            .await
            .unwrap(),
    );
    let other = readings("b-7", vec![reading("t", 2.0, Utc::now())]);
    let reused = store
        .append(&d, ExpectedVersion::Exactly(2), vec![keyed(&other, &key)])
        .await
        .unwrap();
    assert!(
        matches!(&reused, AppendOutcome::KeyReused(c) if c.stream_seq == stored[0]),
        "{reused:?}"
    );
    assert_eq!(
        store.stream_version(&d).await.unwrap(),
        2,
        "nothing written"
    );
    let recalled = store
        .recall(&d, &key)
        .await
        .unwrap()
        .expect("the key is stored");
    assert_eq!(recalled.committed.stream_seq, 2);
    let committed = recalled.committed.clone();
    assert_eq!(
        recalled.answer(&keyed(&first, &key).digest()),
        AppendOutcome::Duplicate(committed)
    );
}

fn keyed(
    event: &watershed_domain::DeviceEvent,
    key: &IdempotencyKey,
) -> watershed_domain::NewEvent {
    let mut new = new_event(event, None);
    new.idempotency_key = Some(key.clone());
    new
}

async fn stream_reads_filter_by_type_and_page(store: &dyn EventStore) {
    let d = unique_device("filter");
    let mut events = vec![new_event(&registered(), None)];
    events.extend((0..5).map(|i| new_event(&readings(&format!("p{i}"), vec![]), None)));
    store
        .append(&d, ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    let page = store
        .read_stream(&d, StreamQuery::from(3, 2))
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.stream_seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    let state_only = StreamQuery {
        from_seq: 1,
        limit: 100,
        only_types: Some(Device::STATE_EVENT_TYPES),
    };
    let lifecycle = store.read_stream(&d, state_only).await.unwrap();
    assert_eq!(lifecycle.len(), 1);
    assert_eq!(lifecycle[0].stream_seq, 1);
    let unknown = DeviceId::parse("never-written").unwrap();
    assert!(store
        .read_stream(&unknown, StreamQuery::from(1, 10))
        .await
        .unwrap()
        .is_empty());
}
