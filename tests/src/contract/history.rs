//! What every store's history promises analysts: the filters select exactly what they say, pages
//! resume after every event they read (selected or not) so nothing is repeated or lost, a page
//! with nothing selected is not mistaken for the end, and a cursor from elsewhere is refused.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use watershed_domain::event::ExpectedVersion;
use watershed_domain::ports::{EventHistory, EventStore, FeedCursor, StoreError};
use watershed_domain::{DeviceEvent, DeviceId, HistoryFilter, NewEvent, RecordedEvent, TimeRange};

use crate::events::{new_event, reading, readings, registered, seqs_of, unique_device};

pub async fn history_contract(store: Arc<dyn EventStore>, history: Arc<dyn EventHistory>) {
    let now = Utc::now();
    let (a, b, c) = (
        unique_device("hist-a"),
        unique_device("hist-b"),
        unique_device("hist-c"),
    );
    // a: registered, then batches measured 3 h ago, 2 h ago, and one spanning 5 h ago and now.
    append(&*store, &a, 0, vec![new_event(&registered(), None)]).await;
    for (i, hours) in [vec![3], vec![2], vec![5, 0]].into_iter().enumerate() {
        let at: Vec<_> = hours.iter().map(|h| now - Duration::hours(*h)).collect();
        append(
            &*store,
            &a,
            i as u64 + 1,
            vec![batch(&format!("a{i}"), &at)],
        )
        .await;
    }
    append(&*store, &b, 0, vec![new_event(&registered(), None)]).await;
    append(&*store, &b, 1, vec![batch("b0", &[now])]).await;
    append(&*store, &c, 0, vec![new_event(&registered(), None)]).await;

    let ours = |devices: &[&DeviceId]| HistoryFilter {
        devices: devices.iter().map(|d| (*d).clone()).collect(),
        ..HistoryFilter::default()
    };

    // Everything of a and b, in pages of 1: each stream whole, in order, once; c not at all.
    let all = drain(&*history, &ours(&[&a, &b]), 1).await;
    assert_eq!(seqs_of(&all, &a), vec![1, 2, 3, 4]);
    assert_eq!(seqs_of(&all, &b), vec![1, 2]);
    assert_eq!(all.len(), 6, "nothing of another device: {all:?}");

    // Types narrow.
    let registrations = HistoryFilter {
        types: vec!["DeviceRegistered".to_owned()],
        ..ours(&[&a, &b, &c])
    };
    let found = drain(&*history, &registrations, 2).await;
    assert_eq!(found.len(), 3);
    assert!(found.iter().all(|e| e.event_type == "DeviceRegistered"));

    // Measured-at selects a batch by any of its readings: 4½ h to 2½ h ago is a1 only (measured
    // 3 h ago); a2 has a reading 5 h ago and one now, neither inside.
    let measured = HistoryFilter {
        measured: TimeRange {
            from: Some(now - Duration::minutes(270)),
            to: Some(now - Duration::minutes(150)),
        },
        ..ours(&[&a])
    };
    let found = drain(&*history, &measured, 10).await;
    assert_eq!(seqs_of(&found, &a), vec![2], "{found:?}");
    let around_five = HistoryFilter {
        measured: TimeRange {
            from: Some(now - Duration::minutes(310)),
            to: Some(now - Duration::minutes(290)),
        },
        ..ours(&[&a])
    };
    let found = drain(&*history, &around_five, 10).await;
    assert_eq!(
        seqs_of(&found, &a),
        vec![4],
        "the older reading of a mixed batch counts"
    );

    // Recorded-at: nothing of these was recorded an hour from now.
    let later = HistoryFilter {
        recorded: TimeRange {
            from: Some(now + Duration::hours(1)),
            to: None,
        },
        ..ours(&[&a, &b, &c])
    };
    assert!(drain(&*history, &later, 10).await.is_empty());

    match history
        .read_history(&ours(&[&a]), &FeedCursor("not a cursor".to_owned()), 10)
        .await
    {
        Err(StoreError::BadCursor(_)) => {}
        other => panic!("a foreign cursor is the caller's mistake: {other:?}"),
    }
}

/// A readings batch whose envelope says what the command handler says: `occurred_at` is the
/// newest reading.
fn batch(id: &str, measured: &[DateTime<Utc>]) -> NewEvent {
    let event: DeviceEvent = readings(id, measured.iter().map(|t| reading("t", 1.0, *t)).collect());
    let mut new = new_event(&event, None);
    new.meta.occurred_at = *measured.iter().max().expect("a batch has readings");
    new
}

async fn append(store: &dyn EventStore, stream: &DeviceId, version: u64, events: Vec<NewEvent>) {
    let expected = match version {
        0 => ExpectedVersion::NoStream,
        v => ExpectedVersion::Exactly(v),
    };
    store.append(stream, expected, events).await.unwrap();
}

/// Reads every page from the beginning until the store says it is at the end.
async fn drain(
    history: &dyn EventHistory,
    filter: &HistoryFilter,
    max: usize,
) -> Vec<RecordedEvent> {
    let mut cursor = FeedCursor::beginning();
    let mut all = Vec::new();
    loop {
        let page = history.read_history(filter, &cursor, max).await.unwrap();
        all.extend(page.events);
        if page.at_end {
            return all;
        }
        assert_ne!(
            page.next, cursor,
            "a page that is not the end moves the cursor"
        );
        cursor = page.next;
    }
}
