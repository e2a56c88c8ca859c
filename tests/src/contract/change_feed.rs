//! What every change feed promises the relay and the embedded bus: every committed event after a
//! cursor, in per-stream order, a waiter woken by new events, named cursors that resume exactly,
//! and an honest backlog. The suite needs the store to itself while it runs.

use std::sync::Arc;
use std::time::Duration;

use watershed_domain::event::ExpectedVersion;
use watershed_domain::ports::{ChangeFeed, EventStore, FeedCursor};
use watershed_domain::{DeviceId, RecordedEvent};

use crate::events::{new_event, readings, registered, seqs_of, unique_device};

pub async fn change_feed_contract(store: Arc<dyn EventStore>, feed: Arc<dyn ChangeFeed>) {
    let reader = format!("contract-{}", uuid::Uuid::now_v7());
    assert_eq!(
        feed.load_cursor(&reader).await.unwrap(),
        FeedCursor::beginning(),
        "a reader never saved starts at the beginning"
    );
    let (tip, _) = drain(&*feed, &FeedCursor::beginning(), 1000).await;

    let waiter = tokio::spawn({
        let feed = Arc::clone(&feed);
        let tip = tip.clone();
        async move {
            loop {
                feed.wait_for_changes(&tip).await;
                let page = feed.read_changes(&tip, 10).await.unwrap();
                if !page.events.is_empty() {
                    return page.events;
                }
            }
        }
    });
    let (a, b) = (unique_device("feed-a"), unique_device("feed-b"));
    append(&*store, &a, 0, 3).await;
    append(&*store, &b, 0, 2).await;
    append(&*store, &a, 3, 4).await;
    let woken = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("a waiter sees new events within seconds")
        .unwrap();
    assert!(woken.iter().any(|e| e.stream_id == a), "{woken:?}");

    // Small pages: each stream arrives whole and in order, and nothing else is there.
    let (end, seen) = drain(&*feed, &tip, 2).await;
    assert_eq!(seqs_of(&seen, &a), (1..=7).collect::<Vec<_>>());
    assert_eq!(seqs_of(&seen, &b), vec![1, 2]);
    assert_eq!(seen.len(), 9, "only what was appended: {seen:?}");
    let quiet = feed.read_changes(&end, 10).await.unwrap();
    assert!(quiet.events.is_empty());
    assert_eq!(quiet.next, end, "an empty read keeps the cursor");

    // A saved cursor resumes exactly after what was read before it was saved.
    let first = feed.read_changes(&tip, 3).await.unwrap();
    assert!(!first.events.is_empty());
    feed.save_cursor(&reader, &first.next).await.unwrap();
    let resumed = feed.load_cursor(&reader).await.unwrap();
    let (_, rest) = drain(&*feed, &resumed, 1000).await;
    assert_eq!(
        first.events.len() + rest.len(),
        9,
        "no event lost or repeated across a saved cursor"
    );
    for stream in [&a, &b] {
        let mut both = seqs_of(&first.events, stream);
        both.extend(seqs_of(&rest, stream));
        assert_eq!(
            both,
            (1..=seqs_of(&seen, stream).len() as u64).collect::<Vec<_>>()
        );
    }

    let behind = feed.backlog(&tip, 1000).await.unwrap();
    assert_eq!((behind.events, behind.capped), (9, false));
    let oldest = behind
        .oldest_recorded_at
        .expect("the oldest waiting event's time");
    assert!(seen.iter().all(|e| e.meta.recorded_at >= oldest));
    let capped = feed.backlog(&tip, 4).await.unwrap();
    assert!(
        capped.events == 9 || (capped.capped && capped.events >= 4),
        "a capped count says so: {capped:?}"
    );
    let caught_up = feed.backlog(&end, 1000).await.unwrap();
    assert_eq!((caught_up.events, caught_up.oldest_recorded_at), (0, None));
}

/// Appends `count` events to `stream`, which is at `version` (a registration first when new).
async fn append(store: &dyn EventStore, stream: &DeviceId, version: u64, count: usize) {
    let expected = match version {
        0 => ExpectedVersion::NoStream,
        v => ExpectedVersion::Exactly(v),
    };
    let events = (0..count)
        .map(|i| match (version, i) {
            (0, 0) => new_event(&registered(), None),
            _ => new_event(&readings(&format!("f{version}-{i}"), vec![]), None),
        })
        .collect();
    store.append(stream, expected, events).await.unwrap();
}

/// Reads from `from` in pages of `max` until a page comes back empty.
async fn drain(
    feed: &dyn ChangeFeed,
    from: &FeedCursor,
    max: usize,
) -> (FeedCursor, Vec<RecordedEvent>) {
    let mut cursor = from.clone();
    let mut all = Vec::new();
    loop {
        let page = feed.read_changes(&cursor, max).await.unwrap();
        cursor = page.next;
        if page.events.is_empty() {
            return (cursor, all);
        }
        all.extend(page.events);
    }
}
